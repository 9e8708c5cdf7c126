"""``modwatch demo``: the embedded default, end to end on a real local broker.

1. start the local Kafka (deploy/kafka/local.sh) unless ``KAFKA_BOOTSTRAP_SERVERS`` names one;
2. start a worker on topics of its own (``demo-<time>.*``), so runs never mix;
3. send the sample traffic;
4. show the alerts, takedown requests and dead letters the worker published;
5. play the platforms (half the requests are removed) and print ``modwatch report``;
6. stop the worker and, if the demo started it, the broker. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from streams.cli._options import existing_file_option
from streams.cli._topics import reading, writing
from streams.processes import ROOT, LocalBroker, ProcessFailed, Worker, worker_environment
from streams.settings import REPOSITORY_CONFIG

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

console = Console(stderr=True)


@click.command()
@existing_file_option("--posts", default=SAMPLES / "posts.jsonl", show_default=True, help="Sample traffic to send.")
@click.option("--wait", type=float, default=60.0, show_default=True, help="Seconds to wait for the worker's outputs.")
@click.option("--keep-broker/--stop-broker", default=False, help="Leave the local broker running afterwards.")
def demo(posts: Path, wait: float, keep_broker: bool) -> None:
    """Start a local Kafka and a worker, send sample traffic, show what modwatch decided."""
    sys.exit(run_demo(posts, wait, keep_broker))


def run_demo(posts: Path, wait: float, keep_broker: bool) -> int:
    started_broker = None
    worker = None
    run_name = "demo-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    try:
        bootstrap, started_broker = ensure_broker()
        env = worker_environment(
            bootstrap,
            run_name,
            config_dir=os.environ.get("MODWATCH_CONFIG_DIR", str(REPOSITORY_CONFIG)),
            data_dir=ROOT / ".modwatch-data",
            keep_modwatch_settings=True,
        )
        console.rule(f"2/5  worker on topics {run_name}.*")
        log_path = ROOT / ".modwatch-data" / f"{run_name}.log"
        worker = start_worker(env, log_path)
        console.print(f"worker ready (log: {log_path}); metrics on http://127.0.0.1:{_web_port(env)}/metrics")

        console.rule(f"3/5  sending {posts}")
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "produce", str(posts), "--topic", "posts"], env=env, check=True
        )
        console.rule("4/5  what modwatch published")
        outputs = asyncio.run(_collect(bootstrap, run_name, wait))
        _show(outputs)
        console.rule("5/5  platforms answer; the compliance report")
        asyncio.run(_platforms_answer(bootstrap, run_name, outputs["takedown-requests"]))
        time.sleep(3)
        subprocess.run([sys.executable, "-m", "streams.cli", "report"], env=env, check=True)
        return 0
    except KeyboardInterrupt:
        console.print("interrupted; stopping")
        return 130
    finally:
        if worker is not None:
            worker.stop()
        if started_broker is not None and not keep_broker:
            started_broker.stop()


def ensure_broker() -> tuple[str, LocalBroker | None]:
    """``KAFKA_BOOTSTRAP_SERVERS`` if set, else the local Kafka, started if needed: (bootstrap, the broker we started)."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        console.rule(f"1/5  using Kafka at {bootstrap}")
        return bootstrap, None
    console.rule("1/5  local Apache Kafka")
    broker = LocalBroker()
    was_running = broker.running()
    broker.start()
    return broker.bootstrap, None if was_running else broker


def start_worker(env: dict, log_path: Path, timeout: float = 120.0) -> Worker:
    """A worker, once it is ready; a worker that exits or is not ready in time ends the run with its log's path."""
    worker = Worker(env, log_path).start()
    try:
        with console.status("waiting for the worker to join the group and recover its tables"):
            worker.wait_ready(timeout, interval=0.3)
    except ProcessFailed as error:
        worker.kill()
        raise SystemExit(str(error)) from None
    return worker


def _web_port(env: dict) -> str:
    return env.get("MODWATCH_WEB_PORT", "6066")


async def _collect(bootstrap: str, prefix: str, wait: float) -> dict[str, list[dict]]:
    """Read the output topics until nothing new arrives for a few seconds after the first (or ``wait`` passes)."""
    names = ("alerts", "takedown-requests", "deadletter")
    outputs: dict[str, list[dict]] = {name: [] for name in names}
    quiet_since = None  # the worker may take a while to publish its first output
    async with reading(*(f"{prefix}.{name}" for name in names), bootstrap=bootstrap) as consumer:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and (quiet_since is None or time.monotonic() - quiet_since < 5.0):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    outputs[record.topic.removeprefix(prefix + ".")].append(orjson.loads(record.value))
                    quiet_since = time.monotonic()
    return outputs


async def _platforms_answer(bootstrap: str, prefix: str, requests: list[dict]) -> None:
    """Play the platforms for the demo: every other request is removed, a few minutes "later"."""
    async with writing(bootstrap) as producer:
        for index, request in enumerate(sorted(requests, key=lambda request: request["request_id"])):
            if index % 2:
                continue  # left open: the report counts it as not removed yet
            removed_at = datetime.fromisoformat(request["requested_at"]) + timedelta(minutes=7 * (index + 1))
            status = {
                "platform": request["platform"],
                "post_id": request["post_id"],
                "status": "removed",
                "observed_at": removed_at.isoformat(),
                "source": "demo platform",
            }
            key = f"{request['platform']}:{request['post_id']}".encode()
            await producer.send_and_wait(f"{prefix}.platform-status", orjson.dumps(status), key=key)
            console.print(f"{request['platform']} removed {request['post_id']} ({request['request_id']})")


def _show(outputs: dict[str, list[dict]]) -> None:
    out = Console()
    alerts = Table(title=f"alerts ({len(outputs['alerts'])})")
    for column in ("platform", "post", "action", "severity", "categories", "evidence"):
        alerts.add_column(column)
    for alert in sorted(outputs["alerts"], key=lambda alert: (alert["platform"], alert["post_id"])):
        quotes = [
            mention["quote"] for finding in alert["findings"] for mention in finding["evidence"].get("mentions", [])
        ]
        alerts.add_row(
            alert["platform"],
            alert["post_id"],
            alert["action"],
            alert["severity"],
            ", ".join(alert["categories"]),
            ", ".join(quotes),
        )
    out.print(alerts)
    requests = Table(title=f"takedown requests ({len(outputs['takedown-requests'])})")
    for column in ("request", "platform", "post", "jurisdiction", "deadline"):
        requests.add_column(column)
    for request in outputs["takedown-requests"]:
        requests.add_row(
            request["request_id"], request["platform"], request["post_id"], request["jurisdiction"], request["deadline"]
        )
    out.print(requests)
    dead = Table(title=f"dead letters ({len(outputs['deadletter'])})")
    for column in ("source", "reason", "field", "error"):
        dead.add_column(column)
    for letter in outputs["deadletter"]:
        dead.add_row(
            f"{letter['topic']}[{letter['partition']}]@{letter['offset']}",
            letter["reason"],
            letter["field"] or "",
            letter["error"][:80],
        )
    out.print(dead)
