"""Failure drills on a replicated cluster: a broker lost mid-stream, and two of three brokers lost.

Against three brokers and three controllers of its own (``deploy/kafka/local.sh --brokers 3``),
two workers (separate processes, data folders and web ports, as on separate hosts) run with
``replication_factor 3`` and ``min_insync_replicas 2`` while bench/chaos.py's traffic and
platform run: violating posts (one alert and one request each), posts for review, clean posts,
and removals. Every half second each worker's ``/readyz`` is asked and the answer kept.

``leader-loss``
    The broker leading the most partitions of modwatch's topics is killed with ``kill -9``
    and started again 15 s later (after the controllers have fenced it and moved its
    leaderships). Both workers must stay ready throughout.
``two-down``
    Two of the three brokers are killed: writes need two in-sync replicas, so every write is
    refused. Both workers must report not-ready, then ready again once one broker returns.

Around the drills the group changes too: the second worker joins while posts flow before
them, and the first leaves after them. Then the outputs are read back and counted as
bench/chaos.py counts them: 0 lost, 0 duplicated alerts, requests and ledger transitions.

Run (about 4 minutes for both, one after the other, on one run of traffic)::

    .venv/bin/python -m bench.cluster_drill
    .venv/bin/python -m bench.cluster_drill --drill leader-loss

The exit code is 1 when anything was lost or duplicated, or readiness was not as above.
``tests/test_replicated_cluster.py`` runs both in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench import chaos
from streams import kafka_probe
from streams.processes import ROOT, LocalCluster, Worker, free_port, worker_environment

TOPIC_NAMES = ("posts", "alerts", "takedown-requests", "ledger", "item-events", "item-state")
# Lines a worker logs at warning level or above, in its JSON or text format.
LOUD = re.compile(rb'"level": ?"(warning|error|critical)"|\[(WARNING|ERROR|CRITICAL)\]')


@dataclass
class Readiness:
    """Each worker's /readyz answers: (monotonic time, ready, problems)."""

    answers: dict[str, list[tuple[float, bool, list]]] = field(default_factory=dict)

    def during(self, start: float, end: float) -> dict[str, list[tuple[float, bool, list]]]:
        return {name: [a for a in found if start <= a[0] <= end] for name, found in self.answers.items()}


@dataclass
class Outcome:
    rows: list
    readiness: Readiness
    marks: dict[str, float]  # what happened when (monotonic)
    loud_lines: dict  # (mark, next mark) -> worker -> its warning and error lines between them


class Poller(threading.Thread):
    """Asks each worker's /readyz every ``interval`` seconds until stopped."""

    def __init__(self, ports: dict[str, int], readiness: Readiness, interval: float = 0.5):
        super().__init__(daemon=True)
        self.ports, self.readiness, self.interval = ports, readiness, interval
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for name, port in self.ports.items():
                self.readiness.answers.setdefault(name, []).append((time.monotonic(), *_readyz(port)))
            self.halt.wait(self.interval)


def _readyz(port: int) -> tuple[bool, list]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
            return True, []
    except urllib.error.HTTPError as error:
        return False, orjson.loads(error.read() or b"{}").get("problems", [f"HTTP {error.code}"])
    except OSError as error:
        return False, [f"no answer: {error}"]


def leaders(bootstrap: str, prefix: str) -> Counter:
    """How many partitions of modwatch's topics each broker leads, from the first broker that answers."""
    topics = [f"{prefix}.{name}" for name in TOPIC_NAMES]
    for address in bootstrap.split(","):
        try:
            _brokers, partitions = kafka_probe.metadata(address, 2.0, topics)
        except (OSError, ValueError) as error:
            chaos.say(f"{address}: {error}")
            continue
        return Counter(leader for _topic, _index, leader, _replicas, _in_sync in partitions)
    raise RuntimeError(f"no broker of {bootstrap} answered")


async def until(condition, timeout: float, what: str, interval: float = 0.5) -> float:
    """Wait until ``condition()`` holds; the time it took. Raises after ``timeout`` seconds."""
    started = time.monotonic()
    while not await asyncio.to_thread(condition):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)
    return time.monotonic() - started


def fully_replicated(bootstrap: str, prefix: str, replicas: int = 3) -> bool:
    topics = [f"{prefix}.{name}" for name in TOPIC_NAMES]
    for address in bootstrap.split(","):
        try:
            _brokers, partitions = kafka_probe.metadata(address, 2.0, topics)
        except (OSError, ValueError):
            continue
        return bool(partitions) and all(len(in_sync) >= replicas for *_, in_sync in partitions)
    return False


class Drill:
    """Two workers on the cluster, the traffic and the platform; the drills' steps share this."""

    def __init__(self, cluster: LocalCluster, folder: Path, posts: int, rate: float):
        self.cluster, self.folder, self.posts, self.rate = cluster, folder, posts, rate
        self.name = f"drill{uuid.uuid4().hex[:8]}"
        self.env = worker_environment(
            cluster.bootstrap,
            self.name,
            config_dir=ROOT / "config",
            MODWATCH_STORE="rocksdb://",
            # The shipped session timeout (30 s), not the tests' 6 s: a group coordinator lost with its
            # broker moves after the controllers fence that broker (9 s), and members that keep within
            # their session while it moves keep their partitions, without a rebalance.
            MODWATCH_SCAN_BATCH_SECONDS="0.05",
            MODWATCH_REPLICATION_FACTOR="3",
            MODWATCH_MIN_INSYNC_REPLICAS="2",
        )
        self.plan, self.stop = chaos.Plan(), asyncio.Event()
        self.workers: dict[str, Worker] = {}
        self.ports: dict[str, int] = {}
        self.readiness = Readiness()
        self.marks: dict[str, float] = {}
        self.log_offsets: dict[str, dict[str, int]] = {}  # mark -> worker -> its log's size then

    async def start_workers(self, *names: str) -> None:
        """Start the workers side by side; return once each is ready."""
        for name in names:
            self.ports[name] = free_port()
            env = dict(self.env, MODWATCH_WEB_PORT=str(self.ports[name]), MODWATCH_DATA_DIR=str(self.folder / name))
            self.workers[name] = Worker(env, self.folder / f"{name}.log").start()
        await asyncio.gather(*(chaos.wait_ready(self.workers[name]) for name in names))
        chaos.say(f"{', '.join(names)} ready")

    def mark(self, what: str) -> None:
        self.marks[what] = time.monotonic()
        self.log_offsets[what] = {name: worker.log_path.stat().st_size for name, worker in self.workers.items()}
        chaos.say(what)

    def loud_lines(self) -> dict[tuple[str, str], dict[str, list[str]]]:
        """Each worker's warning and error lines between each mark and the next."""
        found = {}
        names = list(self.marks)
        for start, end in zip(names, names[1:]):
            found[(start, end)] = {}
            for name, worker in self.workers.items():
                if name not in self.log_offsets[start] or name not in self.log_offsets[end]:
                    continue
                text = worker.log_path.read_bytes()[self.log_offsets[start][name] : self.log_offsets[end][name]]
                found[(start, end)][name] = [
                    line.decode(errors="replace")[:300] for line in text.splitlines() if LOUD.search(line)
                ]
        return found

    async def traffic(self):
        bootstrap = self.cluster.bootstrap
        sender = asyncio.create_task(chaos.traffic(bootstrap, self.name, self.plan, self.posts, self.rate, self.stop))
        remover = asyncio.create_task(chaos.platform(bootstrap, self.name, self.plan, self.stop))
        return sender, remover

    async def finish(self, sender, remover) -> Outcome:
        bootstrap = self.cluster.bootstrap
        await sender
        chaos.say("traffic sent; waiting until the workers have caught up")
        # Quiet for 10 s is caught up here: no worker is restarting (chaos.py waits 20 s for that).
        await chaos.caught_up(bootstrap, self.name, quiet_seconds=10.0)
        self.stop.set()
        await remover
        await chaos.caught_up(bootstrap, self.name, quiet_seconds=10.0)
        topics = ("alerts", "takedown-requests", "ledger")
        alerts, requests, ledger = [await chaos.read_all(bootstrap, f"{self.name}.{topic}", 2.0) for topic in topics]
        rows = chaos.tally(self.plan, alerts, requests, ledger)
        return Outcome(rows, self.readiness, self.marks, self.loud_lines())

    def close(self) -> None:
        self.stop.set()
        for worker in self.workers.values():
            worker.stop(timeout=30)


async def lose_the_leader(drill: Drill) -> None:
    """``kill -9`` of the broker leading the most partitions; started again 15 s later."""
    cluster = drill.cluster
    counts = leaders(cluster.bootstrap, drill.name)
    victim, led = counts.most_common(1)[0]
    drill.mark("leader lost")
    await asyncio.to_thread(cluster.kill, f"broker-{victim}")
    chaos.say(f"kill -9 broker-{victim}, leader of {led} of {sum(counts.values())} partitions")
    await asyncio.sleep(15.0)  # the controllers fence it (broker.session.timeout.ms 9 s) and move its leaders
    await asyncio.to_thread(cluster.start_node, f"broker-{victim}")
    took = await until(lambda: fully_replicated(cluster.bootstrap, drill.name), 120, f"broker-{victim} in every ISR")
    chaos.say(f"broker-{victim} started again; back in every ISR after {took:.0f} s")
    await asyncio.sleep(2.0)
    drill.mark("leader back")


async def lose_two(drill: Drill) -> None:
    """``kill -9`` of two brokers of three; one started again once both workers say not-ready."""
    cluster = drill.cluster
    drill.mark("two lost")
    for victim in ("broker-2", "broker-3"):
        await asyncio.to_thread(cluster.kill, victim)
    chaos.say("kill -9 broker-2 and broker-3: one broker left, min.insync.replicas 2")
    took = await until(lambda: _all_not_ready(drill), 60, "both workers not ready")
    drill.mark("not ready")
    chaos.say(f"both workers not ready {took:.0f} s after the loss")
    await asyncio.sleep(10.0)
    await asyncio.to_thread(cluster.start_node, "broker-2")
    drill.mark("broker-2 back")
    took = await until(lambda: _all_ready(drill), 120, "both workers ready again")
    drill.mark("ready again")
    chaos.say(f"both workers ready {took:.0f} s after broker-2 returned")
    await asyncio.to_thread(cluster.start_node, "broker-3")
    await until(lambda: fully_replicated(cluster.bootstrap, drill.name), 120, "broker-3 in every ISR")
    drill.mark("all back")


DRILLS = {"leader-loss": (lose_the_leader,), "two-down": (lose_two,), "both": (lose_the_leader, lose_two)}


async def run_drills(
    cluster: LocalCluster, folder: Path, drills=DRILLS["both"], posts: int = 800, rate: float = 8.0
) -> Outcome:
    """worker-a, then the traffic; worker-b joins; once both are ready, each drill in turn with
    /readyz asked every half second; then worker-a leaves while posts flow, and the count."""
    drill = Drill(cluster, folder, posts, rate)
    try:
        await drill.start_workers("worker-a")  # creates the topics
        sender, remover = await drill.traffic()
        await asyncio.sleep(3.0)
        await drill.start_workers("worker-b")  # joins while posts flow
        # Both settled (worker-a's tables recovered for its new partitions) before the first fault,
        # so that a not-ready answer from then on is a drill's doing, not the join's.
        await until(lambda: _all_ready(drill), 120, "both workers ready after the join")
        drill.mark("settled")
        poller = Poller(drill.ports, drill.readiness)
        poller.start()
        for step in drills:
            await asyncio.sleep(3.0)
            await step(drill)
        poller.halt.set()
        drill.workers["worker-a"].stop(timeout=60)  # leaves while posts flow: its partitions move to worker-b
        drill.mark("worker-a left")
        return await drill.finish(sender, remover)
    finally:
        drill.close()


def _all_ready(drill: Drill) -> bool:
    return all(_readyz(port)[0] for port in drill.ports.values())


def _all_not_ready(drill: Drill) -> bool:
    return not any(_readyz(port)[0] for port in drill.ports.values())


def report(outcome: Outcome) -> str:
    """The count, when each mark came, and between marks each worker's not-ready answers and loud lines."""
    lines = [chaos.render(outcome.rows)]
    start = min(outcome.marks.values())
    lines.append("marks: " + ", ".join(f"{what} +{at - start:.0f} s" for what, at in outcome.marks.items()))
    for (first, then), loud in outcome.loud_lines.items():
        window = outcome.readiness.during(outcome.marks[first], outcome.marks[then])
        lines.append(f"from {first} to {then}:")
        for name, answers in window.items():
            not_ready = [answer for answer in answers if not answer[1]]
            lines.append(f"  {name}: {len(answers)} /readyz answers, {len(not_ready)} not ready")
            lines.extend(f"      e.g. {problems}" for _at, _ready, problems in not_ready[:1])
        for name, found in loud.items():
            lines.append(f"  {name}: {len(found)} warning or error lines")
            lines.extend(f"      {line}" for line in found[:6])
    return "\n".join(lines)


def readiness_problems(outcome: Outcome) -> list[str]:
    """Where /readyz did not answer as each drill wants: ready while a quorum of replicas remained,
    not ready (saying that writes are refused) while two brokers were lost, ready once one was back."""
    marks, problems = outcome.marks, []
    if "leader lost" in marks:
        for name, answers in outcome.readiness.during(marks["leader lost"], marks["leader back"]).items():
            bad = [problems_then for _, ready, problems_then in answers if not ready]
            if not answers or bad:
                problems.append(f"{name}: not ready {len(bad)} of {len(answers)} times with a quorum left: {bad[:1]}")
    if "two lost" in marks:
        for name, answers in outcome.readiness.during(marks["not ready"], marks["broker-2 back"]).items():
            said = " ".join(" ".join(problems_then) for _, _, problems_then in answers)
            if not answers or any(ready for _, ready, _ in answers) or "writes refused" not in said:
                problems.append(f"{name}: not always not-ready, saying writes are refused, with two brokers lost")
        for name, answers in outcome.readiness.during(marks["ready again"], marks["all back"]).items():
            if not answers or not answers[-1][1]:
                problems.append(f"{name}: not ready again once a second broker was back")
    return problems


async def run(drill_name: str, folder: Path) -> Outcome:
    cluster = LocalCluster(folder / "cluster", quiet=True)
    chaos.say(f"starting 3 controllers and 3 brokers on {cluster.bootstrap}")
    try:
        await asyncio.to_thread(cluster.start)
        return await run_drills(cluster, folder, DRILLS[drill_name])
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drill", choices=sorted(DRILLS), default="both", help="default: both, one after the other")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, broker data)")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the harness's own clients ride out the loss
    folder = Path(tempfile.mkdtemp(prefix="modwatch-drill-"))
    outcome = asyncio.run(run(args.drill, folder))
    print(report(outcome))
    wrong = readiness_problems(outcome)
    print("\n".join(wrong) or "readiness as expected")
    if args.keep:
        print(f"work folder: {folder}")
    else:
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    sys.exit(1 if chaos.failed(outcome.rows) or wrong else 0)


if __name__ == "__main__":
    main()
