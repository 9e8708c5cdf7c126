"""``modwatch simulate``: the whole loop against simulated platforms, and a check of what it measured.

1. the local Kafka (deploy/kafka/local.sh), unless ``KAFKA_BOOTSTRAP_SERVERS`` names one;
2. the simulated platforms of sim/config.yaml on 127.0.0.1, each with a fresh webhook secret;
3. a worker on topics of its own (``sim-<time>.*``), and Debian's Prometheus when
   installed (scraping it with the repository's rules); the worker's platforms.yaml (a copy of
   config/ under the data dir) delivers each request by signed webhook to its
   platform, and re-checks the pages of platforms that send no callbacks;
4. synthetic traffic for ``--minutes`` at the configured rate, under a live scoreboard;
5. a drain, then ``modwatch report`` over the run's ledger (open requests censored
   at scaled time, see sim/platforms.py) with its plot, and the checks:

   * accounting: every request the platforms accepted is in the ledger once,
     every removal they reported is recorded once, no request is delivered twice
     (an idempotent replay is counted, not a second request);
   * per platform, the configured median time to removal lies in the 99.9 %
     Brookmeyer-Crowley interval of the Kaplan-Meier median modwatch measured
     (``sim.median_agrees``); a platform with fewer than ``MIN_REMOVALS``
     removals is reported as not checked, never as agreeing.

The exit status is 0 when the accounting holds, at least one platform was
checked and none disagrees; a platform not checked is shown as such.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.demo import LAUNCHER, ROOT, _start_worker, ensure_broker, stop_process
from streams.settings import REPOSITORY_CONFIG
from takedowns.accounts import ACCOUNT_MARK

console = Console(stderr=True)
MIN_REMOVALS = 8
# Measured = drawn latency + the delivery delay (milliseconds here); see sim.median_agrees.
DELIVERY_SLACK_SECONDS = 5.0
# A removal reported this recently may still be on its way through the worker.
SETTLE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PlatformCheck:
    platform: str
    requests: int
    removed: int
    expected_median_seconds: float
    measured_median_seconds: float | None
    verdict: str  # agrees | DISAGREES | not checked
    detail: str  # S(configured median) and the allowed distance from 0.5, or why not checked


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def secret_variable(platform: str) -> str:
    return "MODWATCH_SIM_SECRET_" + "".join(char if char.isalnum() else "_" for char in platform.upper())


def write_run_config(
    source: Path, destination: Path, webhook_urls: dict[str, str], polled: set[str], recheck_seconds: float
) -> Path:
    """A copy of ``source`` whose platforms deliver by webhook to the simulator and re-check polled ones."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    path = destination / "platforms.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, platform in document["platforms"].items():
        platform = platform or {}
        if name in webhook_urls:
            platform["delivery"] = {
                "channel": "webhook",
                "url": webhook_urls[name],
                "secret_env": secret_variable(name),
            }
        if name in polled:
            platform["recheck"] = {"interval_seconds": recheck_seconds, "hosts": ["127.0.0.1"]}
        document["platforms"][name] = platform
    header = "# Written by `modwatch simulate` for one run: deliveries go to the simulated platforms.\n"
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return destination


def run_simulation(
    minutes: float, time_scale: float | None, rate: float | None, drain_seconds: float, keep_broker: bool, out_dir: Path
) -> int:
    started_broker = False
    workers: list[subprocess.Popen] = []
    run_name = "sim-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    data_dir = Path(os.environ.get("MODWATCH_DATA_DIR", str(ROOT / ".modwatch-data")))
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops everything as Ctrl-C does
    try:
        bootstrap, started_broker = ensure_broker()
        return asyncio.run(
            _simulate(bootstrap, run_name, data_dir, minutes, time_scale, rate, drain_seconds, out_dir, workers)
        )
    except KeyboardInterrupt:
        console.print("interrupted; stopping")
        return 130
    finally:
        for worker in workers:
            stop_process(worker)
        if started_broker and not keep_broker:
            subprocess.run([str(LAUNCHER), "stop"], check=False)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


async def _simulate(bootstrap, run_name, data_dir, minutes, time_scale, rate, drain_seconds, out_dir, workers) -> int:
    from aiokafka import AIOKafkaProducer

    import sim

    config_dir = Path(os.environ.get("MODWATCH_CONFIG_DIR", str(REPOSITORY_CONFIG)))
    config = sim.load_config(config_dir=config_dir)
    platforms_config = config.platforms.with_time_scale(time_scale) if time_scale else config.platforms
    traffic_config = config.traffic.with_overrides(rate_posts_per_second=rate) if rate else config.traffic
    scale = platforms_config.time_scale
    web_port = free_port()
    secrets = sim.generate_secrets(platforms_config.platforms)

    console.rule(f"2/5  simulated platforms (time scale {scale:g}: one wall second is {scale:g} platform seconds)")
    handles = await sim.start_platforms(platforms_config, f"http://127.0.0.1:{web_port}/status", secrets)
    try:
        polled = {name for name, behaviour in platforms_config.platforms.items() if not behaviour.callback}
        # Poll often enough that the scoreboard follows; the removal time comes from the page itself.
        run_config = write_run_config(
            config_dir, data_dir / run_name / "config", handles.webhook_urls, polled, recheck_seconds=1.0
        )
        for name, url in sorted(handles.webhook_urls.items()):
            console.print(
                f"  {name:<10} {url}  " + ("(no callbacks: modwatch re-checks its pages)" if name in polled else "")
            )

        console.rule(f"3/5  worker on topics {run_name}.*")
        env = dict(
            os.environ,
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            MODWATCH_BROKER="kafka://" + bootstrap.replace(",", ";"),
            MODWATCH_APP_ID=run_name,
            MODWATCH_TOPIC_PREFIX=run_name,
            MODWATCH_CONFIG_DIR=str(run_config),
            MODWATCH_DATA_DIR=str(data_dir),
            MODWATCH_WEB_PORT=str(web_port),
            MODWATCH_RECHECK_ALLOW_LOOPBACK="1",
            PYTHONUNBUFFERED="1",
            **{secret_variable(name): secret for name, secret in secrets.items()},
        )
        log_path = data_dir / run_name / "worker.log"
        workers.append(await asyncio.to_thread(_start_worker, env, log_path))
        console.print(f"worker ready (log: {log_path}); metrics on http://127.0.0.1:{web_port}/metrics")
        prometheus = _start_prometheus(data_dir / run_name / "prometheus", web_port)
        if prometheus is not None:
            workers.append(prometheus[0])
            console.print(f"Prometheus (the repository's rules, 5 s scrape) on {prometheus[1]}")
        else:
            console.print("Prometheus is not installed: no dashboards this run (apt-get install prometheus)")

        posts = max(1, int(minutes * 60 * traffic_config.rate_posts_per_second))
        console.rule(
            f"4/5  {posts} posts at {traffic_config.rate_posts_per_second:g}/s for {minutes:g} min, "
            f"then {drain_seconds:g} s to drain"
        )
        traffic = sim.Traffic(traffic_config, base_urls=handles.base_urls)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1024 * 1024)
        await producer.start()
        try:

            async def send(topic: str, key: bytes, value: bytes) -> None:
                await producer.send(f"{run_name}.{topic}", key=key, value=value)

            await _with_scoreboard(traffic.play(send, posts=posts), web_port, scale, handles, drain_seconds)
            await producer.flush()
        finally:
            await producer.stop()

        console.rule("5/5  the compliance report and the checks")
        from streams.cli_io import read_topic

        ledger = await read_topic(f"{run_name}.ledger", bootstrap)
        return _report_and_check(ledger, handles, platforms_config, scale, out_dir / f"{run_name}.png", run_name)
    finally:
        await handles.stop()


def _start_prometheus(folder: Path, web_port: int) -> tuple[subprocess.Popen, str] | None:
    """Debian's prometheus, if installed, scraping this run's worker with deploy/prometheus's rules."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    source = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": "5s", "evaluation_interval": "5s"}
    config["rule_files"] = [str(source.parent / pattern) for pattern in config["rule_files"]]
    config.pop("alerting", None)
    for job in config["scrape_configs"]:
        if job["job_name"] == "modwatch":
            job["static_configs"] = [{"targets": [f"127.0.0.1:{web_port}"]}]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=(folder / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


async def _with_scoreboard(play, web_port: int, scale: float, handles, drain_seconds: float) -> None:
    task = asyncio.ensure_future(play)
    try:
        await _watch(task, web_port, scale, handles, drain_seconds)
    finally:
        if not task.done():  # interrupted: stop sending before the producer closes
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _watch(task, web_port: int, scale: float, handles, drain_seconds: float) -> None:
    with Live(_scoreboard(None, handles, "sending"), console=console, refresh_per_second=2) as live:
        while not task.done():
            live.update(_scoreboard(await _fetch_scoreboard(web_port, scale), handles, "sending"))
            await asyncio.wait([task], timeout=2.0)
        task.result()
        drain_until = time.monotonic() + drain_seconds
        while time.monotonic() < drain_until:
            left = drain_until - time.monotonic()
            live.update(_scoreboard(await _fetch_scoreboard(web_port, scale), handles, f"draining, {left:.0f} s left"))
            await asyncio.sleep(min(2.0, max(0.1, left)))


async def _fetch_scoreboard(web_port: int, scale: float) -> dict | None:
    def fetch():
        url = f"http://127.0.0.1:{web_port}/scoreboard?time_scale={scale:g}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return orjson.loads(answer.read())

    try:
        return await asyncio.to_thread(fetch)
    except OSError:
        return None


def _scoreboard(board: dict | None, handles, phase: str) -> Table:
    from takedowns.compliance import duration

    table = Table(
        title=f"modwatch scoreboard ({phase})", caption="median: Kaplan-Meier, open requests count as not removed yet"
    )
    for column in ("platform", "requests", "removed", "open", "overdue", "median to removal", "platform says removed"):
        table.add_column(column, justify="left" if column == "platform" else "right")
    figures = (board or {}).get("platforms", {})
    truth = {}
    for record in handles.ground_truth():
        truth[record.platform] = truth.get(record.platform, 0) + (record.removed_wall_at is not None)
    for platform in sorted(set(figures) | set(truth)):
        row = figures.get(platform, {})
        table.add_row(
            platform,
            str(row.get("requests", 0)),
            str(row.get("removed", 0)),
            str(row.get("open", 0)),
            str(row.get("overdue", 0)),
            duration(row.get("km_median_seconds")),
            str(truth.get(platform, 0)),
        )
    return table


def _report_and_check(
    ledger: list[dict], handles, platforms_config, scale: float, plot_path: Path, run_name: str
) -> int:
    import sim
    from takedowns import compliance

    now = datetime.now(UTC)
    observed = compliance.observations(ledger, now, time_scale=scale)
    print(compliance.render_markdown(compliance.build(observed), "the start of the run", "now"))
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    compliance.plot(observed, plot_path, f"{run_name}: requested items still up (simulated platforms)")
    console.print(f"wrote {plot_path}")

    problems = _accounting_problems(ledger, handles)
    checks = []
    latest = compliance.latest_records(ledger)
    for platform, behaviour in sorted(platforms_config.platforms.items()):
        # Posts' requests: account-level ones (takedowns/accounts.py) carry no page to re-check.
        group = [found for found in observed if found.platform == platform and found.target == "item"]
        deadlines = [
            (
                datetime.fromisoformat(record["deadline"]) - datetime.fromisoformat(record["requested_at"])
            ).total_seconds()
            for record in latest.values()
            if record["platform"] == platform and record.get("deadline")
        ]
        expected = behaviour.expected_median_seconds(deadlines[0] if deadlines else None)
        durations = [(found.seconds, found.removed) for found in group]
        removed = sum(found.removed for found in group)
        curve = compliance.kaplan_meier(durations)
        measured = compliance.km_quantile(curve, 0.5)
        if removed < MIN_REMOVALS:
            checks.append(
                PlatformCheck(
                    platform, len(group), removed, expected, measured, "not checked", f"needs {MIN_REMOVALS} removals"
                )
            )
            continue
        check = sim.median_agrees(durations, expected, slack_seconds=DELIVERY_SLACK_SECONDS)
        detail = f"S = {check.survival_at_expected:.2f}, 0.5 ± {check.z * check.standard_error:.2f}"
        checks.append(
            PlatformCheck(
                platform, len(group), removed, expected, measured, "agrees" if check.agrees else "DISAGREES", detail
            )
        )
    _show_checks(checks, problems)
    checked = [check for check in checks if check.verdict != "not checked"]
    if not checked:
        console.print("[bold red]no platform had enough removals to check: run longer (--minutes)[/]")
    return 0 if not problems and checked and all(check.verdict == "agrees" for check in checked) else 1


def _accounting_problems(ledger: list[dict], handles) -> list[str]:
    """Every accepted request in the ledger once; every reported removal recorded once."""
    problems = []
    transitions = [record for record in ledger if "to" in record and record.get("kind") != "delivery_attempt"]
    requested = {record["request_id"] for record in transitions if record["to"] == "requested"}
    removals: dict[str, set] = {}
    for record in transitions:
        if record["to"] == "removed":
            removals.setdefault(record["request_id"], set()).add(record.get("seq"))
    for record in handles.ground_truth():
        if record.post_id.startswith(ACCOUNT_MARK) and not handles_callback(handles, record):
            continue  # an account-level request has no page the poller could see go: not observable there
        if record.request_id not in requested:
            problems.append(f"{record.platform}: {record.request_id} reached the platform but is not in the ledger")
        called_back = record.callback_status is not None and 200 <= record.callback_status < 300
        reported = record.removed_wall_at is not None and (called_back or not handles_callback(handles, record))
        settled = reported and (datetime.now(UTC) - record.removed_wall_at).total_seconds() > SETTLE_SECONDS
        if settled and record.request_id not in removals:
            problems.append(
                f"{record.platform}: {record.request_id} was removed and reported, but modwatch did not record it"
            )
    latest = {record["request_id"]: record for record in transitions}
    for record in handles.ground_truth():
        measured = latest.get(record.request_id)
        if not measured or measured["to"] != "removed" or record.removed_at is None:
            continue
        seconds = (
            datetime.fromisoformat(measured["removed_at"]) - datetime.fromisoformat(measured["requested_at"])
        ).total_seconds()
        if abs(seconds - record.latency_seconds) > DELIVERY_SLACK_SECONDS:
            problems.append(
                f"{record.platform}: {record.request_id} measured {seconds:.1f} s to removal, "
                f"the platform took {record.latency_seconds:.1f} s"
            )
    for request_id, seqs in removals.items():
        if len(seqs) > 1:
            problems.append(f"{request_id}: removal recorded {len(seqs)} times")
    delivered = [record.request_id for record in handles.ground_truth()]
    if len(delivered) != len(set(delivered)):
        problems.append(f"{len(delivered) - len(set(delivered))} requests reached a platform twice as new requests")
    return problems


def handles_callback(handles, record) -> bool:
    return handles.config.platforms[record.platform].callback


def _show_checks(checks: list[PlatformCheck], problems: list[str]) -> None:
    from takedowns.compliance import duration

    table = Table(
        title="Does modwatch measure what the platforms did?",
        caption="S: Kaplan-Meier share still up at the configured median; it agrees within 0.5 ± 3.29 "
        "standard errors (99.9 % Brookmeyer-Crowley)",
    )
    for column in ("platform", "requests", "removed", "configured median", "measured median", "check", "verdict"):
        table.add_column(column)
    for check in checks:
        style = {"agrees": "green", "DISAGREES": "bold red"}.get(check.verdict, "yellow")
        table.add_row(
            check.platform,
            str(check.requests),
            str(check.removed),
            duration(check.expected_median_seconds),
            duration(check.measured_median_seconds),
            check.detail,
            f"[{style}]{check.verdict}[/]",
        )
    console.print(table)
    if problems:
        console.print(f"[bold red]{len(problems)} accounting problem(s):[/]")
        for problem in problems[:20]:
            console.print(f"  {problem}")
    else:
        console.print(
            "[green]accounting: every accepted request is in the ledger once, every reported removal recorded once[/]"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_simulation(3, None, None, 20, False, ROOT / ".modwatch-data"))
