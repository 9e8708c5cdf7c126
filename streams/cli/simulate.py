"""``modwatch simulate``: the whole loop against simulated platforms, and a check of what it measured.

1. the local Kafka (deploy/kafka/local.sh), unless ``KAFKA_BOOTSTRAP_SERVERS`` names one;
2. the simulated platforms of sim/config.yaml on 127.0.0.1, each with a fresh webhook secret;
3. a worker on topics of its own (``sim-<time>.*``), and Debian's Prometheus when
   installed (scraping it with the repository's rules); the worker's platforms.yaml (a copy of
   config/ under the data dir) delivers each request by signed webhook to its
   platform, and re-checks the pages of platforms that send no callbacks;
4. synthetic traffic for ``--minutes`` at the configured rate, under a live scoreboard;
5. a drain, then ``modwatch report`` over the run's ledger with its plot, and the
   checks of streams/cli/_simulation_checks.py: the accounting (every request
   and removal recorded once) and each platform's measured median against its
   configured one.

The exit status is 0 when the accounting holds, at least one platform was
checked and none disagrees; a platform not checked is shown as such.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.cli._simulation_checks import report_and_check
from streams.cli._topics import read_topic, writing
from streams.cli.demo import ensure_broker, start_worker
from streams.processes import ROOT, ChildProcess, free_port, worker_environment
from streams.settings import REPOSITORY_CONFIG

console = Console(stderr=True)


@click.command()
@click.option(
    "--minutes", type=click.FloatRange(min=0.05), default=3.0, show_default=True, help="How long to send traffic."
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Platform seconds per wall second (default: sim/config.yaml, 600).",
)
@click.option(
    "--rate", type=click.FloatRange(min=0.1), default=None, help="Posts per second (default: sim/config.yaml, 20)."
)
@click.option(
    "--drain",
    "drain_seconds",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="Seconds to keep watching after the last post.",
)
@click.option("--keep-broker", is_flag=True, help="Leave the local Kafka running afterwards.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".modwatch-data"),
    show_default=True,
    help="Where the report's plot goes.",
)
def simulate(minutes, time_scale, rate, drain_seconds, keep_broker, out_dir) -> None:
    """Run modwatch against simulated platforms and check what it measured.

    Starts a local Kafka, six simulated platforms (sim/config.yaml) and a
    worker that delivers to them by signed webhook; sends synthetic
    multilingual traffic; shows a live scoreboard; ends with the compliance
    report, its plot, and a check that each platform's measured median time
    to removal agrees with the configured one. Exit status 1 when a check fails.
    """
    sys.exit(run_simulation(minutes, time_scale, rate, drain_seconds, keep_broker, out_dir))


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
    started_broker = None
    processes: list[ChildProcess] = []  # the worker and Prometheus, stopped on the way out
    run_name = "sim-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    data_dir = Path(os.environ.get("MODWATCH_DATA_DIR", str(ROOT / ".modwatch-data")))
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops everything as Ctrl-C does
    try:
        bootstrap, started_broker = ensure_broker()
        return asyncio.run(
            _simulate(bootstrap, run_name, data_dir, minutes, time_scale, rate, drain_seconds, out_dir, processes)
        )
    except KeyboardInterrupt:
        console.print("interrupted; stopping")
        return 130
    finally:
        for process in processes:
            process.stop()
        if started_broker is not None and not keep_broker:
            started_broker.stop()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


async def _simulate(bootstrap, run_name, data_dir, minutes, time_scale, rate, drain_seconds, out_dir, processes) -> int:
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
        run_config = _run_config(config_dir, data_dir / run_name / "config", handles, platforms_config)
        console.rule(f"3/5  worker on topics {run_name}.*")
        env = worker_environment(
            bootstrap,
            run_name,
            config_dir=run_config,
            data_dir=data_dir,
            web_port=web_port,
            keep_modwatch_settings=True,
            MODWATCH_RECHECK_ALLOW_LOOPBACK="1",
            **{secret_variable(name): secret for name, secret in secrets.items()},
        )
        await _start_worker_and_prometheus(env, data_dir / run_name, web_port, processes)

        posts = max(1, int(minutes * 60 * traffic_config.rate_posts_per_second))
        console.rule(
            f"4/5  {posts} posts at {traffic_config.rate_posts_per_second:g}/s for {minutes:g} min, "
            f"then {drain_seconds:g} s to drain"
        )
        traffic = sim.Traffic(traffic_config, base_urls=handles.base_urls)
        async with writing(bootstrap) as producer:

            async def send(topic: str, key: bytes, value: bytes) -> None:
                await producer.send(f"{run_name}.{topic}", key=key, value=value)

            await _with_scoreboard(traffic.play(send, posts=posts), web_port, scale, handles, drain_seconds)
            await producer.flush()

        console.rule("5/5  the compliance report and the checks")
        ledger = await read_topic(f"{run_name}.ledger", bootstrap)
        return report_and_check(ledger, handles, platforms_config, scale, out_dir / f"{run_name}.png", run_name)
    finally:
        await handles.stop()


def _run_config(config_dir: Path, destination: Path, handles, platforms_config) -> Path:
    """The worker's config for this run (see write_run_config), and where each platform's requests go."""
    polled = {name for name, behaviour in platforms_config.platforms.items() if not behaviour.callback}
    # Poll often enough that the scoreboard follows; the removal time comes from the page itself.
    run_config = write_run_config(config_dir, destination, handles.webhook_urls, polled, recheck_seconds=1.0)
    for name, url in sorted(handles.webhook_urls.items()):
        console.print(
            f"  {name:<10} {url}  " + ("(no callbacks: modwatch re-checks its pages)" if name in polled else "")
        )
    return run_config


async def _start_worker_and_prometheus(env: dict, folder: Path, web_port: int, processes: list) -> None:
    """The worker, once ready, then Prometheus if installed: each added to ``processes`` as soon as it runs."""
    processes.append(await asyncio.to_thread(start_worker, env, folder / "worker.log"))
    console.print(f"worker ready (log: {folder / 'worker.log'}); metrics on http://127.0.0.1:{web_port}/metrics")
    prometheus = _start_prometheus(folder / "prometheus", web_port)
    if prometheus is not None:
        processes.append(prometheus[0])
        console.print(f"Prometheus (the repository's rules, 5 s scrape) on {prometheus[1]}")
    else:
        console.print("Prometheus is not installed: no dashboards this run (apt-get install prometheus)")


def _start_prometheus(folder: Path, web_port: int) -> tuple[ChildProcess, str] | None:
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
    command = [
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    process = ChildProcess(command, os.environ, folder / "prometheus.log", Path.cwd(), name="prometheus").start()
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
