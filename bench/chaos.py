"""Crash harness: known traffic, ``kill -9`` at random points, a rebalance and a broker outage; then a count.

What it does, against a broker of its own (deploy/kafka/local.sh):

1. Traffic runs for the whole test: violating posts (each must give one alert
   and one takedown request), posts for review (one alert each) and clean posts
   (nothing), from a few accounts. A "platform" removes every second requested
   post as soon as its request appears, so strikes build up and each account
   earns one account-level request.
2. A worker (RocksDB store, as in production) is killed with ``kill -9``
   ``--kills`` times: a third of the kills land in the first second after
   "Worker ready" (tables just recovered), the rest 1-6 s later, while posts
   and statuses keep arriving (so most kills land inside a batch).
3. A second worker joins (a rebalance) and is killed; the broker is stopped for
   ``--outage`` seconds under a running worker and started again.
4. A last worker drains everything, and every output topic is read back.

It prints one row per output: how many causes, how many lost, how many
duplicated. Duplicated means a second output for the same cause: a second
alert or request record for one item, a second account request for one
account, or the same ledger transition (request, from, to, cause) under two
sequence numbers. A ledger record repeated with the *same* sequence number is
not a duplicate transition (the ledger's readers de-duplicate by request_id and
seq, docs/events.md); its count is shown on a row of its own.

Run (about 10 minutes for 50 kills)::

    .venv/bin/python -m bench.chaos --kills 50 --outage 30

The exit code is 1 when anything was lost or duplicated. ``tests/test_chaos.py``
runs a short version in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.processes import ROOT, LocalBroker, ProcessFailed, Worker, free_port, worker_environment

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP! Post {n}"
REVIEW = "A documentary about the Haqqani Network, part {n}"
CLEAN = "The cricket match in Lahore was rained off again, day {n}"
ACCOUNTS = 6
STRIKES_FOR_ACCOUNT_REQUEST = 3  # config/policy.yaml accounts.confirmed_violations


def say(message: str) -> None:
    print(f"chaos {time.strftime('%H:%M:%S')}: {message}", file=sys.stderr, flush=True)


@dataclass
class Plan:
    """What was sent, and so what must come out."""

    violating: set[str] = field(default_factory=set)
    review: set[str] = field(default_factory=set)
    clean: set[str] = field(default_factory=set)
    account_of: dict[str, str] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)  # items the platform removed (a status was sent)


def post_record(kind: str, number: int) -> tuple[str, bytes]:
    post_id = f"{kind[0]}{number}"
    text = {"violating": VIOLATING, "review": REVIEW, "clean": CLEAN}[kind].format(n=number)
    record = {
        "platform": "x",
        "post_id": post_id,
        "account_id": f"acct-{number % ACCOUNTS}",
        "text": text,
        "posted_at": datetime.now(UTC).isoformat(),
    }
    return f"x:{post_id}", orjson.dumps(record)


async def send(producer: AIOKafkaProducer, topic: str, key: str, value: bytes, stop: asyncio.Event) -> None:
    """Send and wait for the broker, retrying through an outage (a retry may repeat the record: at-least-once)."""
    while True:
        try:
            await (await producer.send(topic, key=key.encode(), value=value))
            return
        except Exception as error:  # noqa: BLE001 - the broker is down on purpose
            if stop.is_set():
                raise SystemExit(f"could not send to {topic}: {error}") from error
            await asyncio.sleep(1.0)


async def traffic(bootstrap: str, prefix: str, plan: Plan, posts: int, rate: float, stop: asyncio.Event) -> None:
    """Posts at ``rate`` per second: 40 % violating, 20 % for review, 40 % clean."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000)
    await producer.start()
    try:
        for number in range(posts):
            kind = ("violating", "violating", "review", "clean", "clean")[number % 5]
            key, value = post_record(kind, number)
            getattr(plan, kind).add(key)
            plan.account_of[key] = f"acct-{number % ACCOUNTS}"
            await send(producer, f"{prefix}.posts", key, value, stop)
            await asyncio.sleep(1 / rate)
    finally:
        await producer.stop()


async def platform(bootstrap: str, prefix: str, plan: Plan, stop: asyncio.Event) -> None:
    """Removes every second requested post once its request appears on the takedown-requests topic."""
    consumer = AIOKafkaConsumer(
        f"{prefix}.takedown-requests",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        request_timeout_ms=10000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except Exception:  # noqa: BLE001 - the broker is down on purpose
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    key = record.key.decode()
                    post_id = key.split(":", 1)[1]
                    if post_id.startswith("~") or key in plan.removed or int(post_id[1:]) % 10 not in {0, 1, 2, 3, 4}:
                        continue
                    plan.removed.add(key)
                    status = {
                        "platform": "x",
                        "post_id": post_id,
                        "status": "removed",
                        "source": "chaos-platform",
                        "observed_at": datetime.now(UTC).isoformat(),
                    }
                    await send(producer, f"{prefix}.platform-status", key, orjson.dumps(status), stop)
    finally:
        await consumer.stop()
        await producer.stop()


async def caught_up(bootstrap: str, prefix: str, quiet_seconds: float = 20.0, timeout: float = 1800.0) -> None:
    """Wait until no output topic has grown for ``quiet_seconds``: the worker has worked off its backlog.

    A fixed wait would count posts still queued behind many restarts as lost.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        topics = [f"{prefix}.{name}" for name in ("alerts", "takedown-requests", "ledger", "item-events")]
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        last, quiet_since, deadline = None, time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = sum((await consumer.end_offsets(partitions)).values())
            if ends != last:
                last, quiet_since = ends, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_seconds:
                return
            await asyncio.sleep(2.0)
        say(f"outputs still growing after {timeout:g} s; counting anyway")
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
    return consumer.partitions_for_topic(topic) or set()


async def read_all(bootstrap: str, topic: str, settle: float = 5.0) -> list[tuple[str, dict]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    found: list[tuple[str, dict]] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    found.append((record.key.decode() if record.key else "", orjson.loads(record.value)))
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return found


@dataclass
class Row:
    output: str
    causes: int
    lost: int
    duplicated: int
    examples: list[str] = field(default_factory=list)


def tally(plan: Plan, alerts, requests, ledger) -> list[Row]:
    rows = []
    alert_counts = Counter(key for key, _ in alerts)
    wanted = plan.violating | plan.review
    rows.append(_row("detection alerts", wanted, {key: alert_counts[key] for key in wanted}))
    other = Counter(key for key, alert in alerts if alert.get("type") in {"campaign", "account"})
    rows.append(Row("campaign and account alerts", len(other), 0, sum(1 for count in other.values() if count > 1)))
    request_counts = Counter(key for key, _ in requests)
    rows.append(_row("takedown requests", plan.violating, {key: request_counts[key] for key in plan.violating}))
    strikes = Counter(plan.account_of[key] for key in plan.removed)
    earned = {f"x:~account~{account}" for account, count in strikes.items() if count >= STRIKES_FOR_ACCOUNT_REQUEST}
    rows.append(
        _row(
            "account requests",
            earned,
            {key: request_counts[key] for key in earned},
            extra={key for key in request_counts if "~account~" in key} - earned,
        )
    )

    transitions: dict[tuple, set[int]] = defaultdict(set)
    repeats = Counter()
    removed_items = set()
    delivered = Counter()
    delivered_in = set()  # (request_id, seq) of transitions a delivered attempt caused
    for key, record in ledger:
        if record.get("kind") == "delivery_attempt":
            delivered[record["request_id"]] += record["outcome"] == "delivered"
            continue
        cause = record["cause"]["type"]
        if cause == "delivery" and record["cause"].get("outcome") == "delivered":
            # The attempt that ended a delivery travels in its transition (streams/agents/deliveries.py).
            delivered_in.add((record["request_id"], record["seq"]))
        transitions[(record["request_id"], record["from"], record["to"], cause)].add(record["seq"])
        repeats[(record["request_id"], record["seq"])] += 1
        if record["to"] == "removed":
            removed_items.add(key)
    duplicated = [name for name, seqs in transitions.items() if len(seqs) > 1]
    lost_removals = sorted((plan.removed & plan.violating) - removed_items)
    rows.append(
        Row(
            "ledger transitions",
            len(transitions),
            len(lost_removals),
            len(duplicated),
            [str(name) for name in duplicated[:3]] + lost_removals[:3],
        )
    )
    rows.append(
        Row(
            "  same record again (readers de-duplicate)",
            sum(repeats.values()),
            0,
            sum(count - 1 for count in repeats.values()),
        )
    )
    for request_id, _ in delivered_in:
        delivered[request_id] += 1
    request_ids = {request["request_id"] for _, request in requests}
    lost_deliveries = sorted(request_id for request_id in request_ids if not delivered[request_id])
    rows.append(
        Row(
            "deliveries (delivered attempts per request)",
            len(request_ids),
            len(lost_deliveries),
            0,
            lost_deliveries[:3],
        )
    )
    # A replayed delivery event is delivered again under the same Idempotency-Key (streams/agents/deliveries.py
    # Dispatcher): the platform de-duplicates, so it is shown, not counted as a duplicate.
    rows.append(
        Row(
            "  delivered again (same Idempotency-Key)",
            sum(delivered.values()),
            0,
            sum(count - 1 for count in delivered.values() if count > 1),
        )
    )
    return rows


def _row(name: str, wanted: set[str], counts: dict[str, int], extra: set[str] = frozenset()) -> Row:
    lost = sorted(key for key in wanted if counts[key] == 0)
    doubled = sorted(key for key in wanted if counts[key] > 1)
    return Row(name, len(wanted), len(lost), len(doubled) + len(extra), (lost + doubled + sorted(extra))[:5])


def render(rows: list[Row]) -> str:
    lines = [f"{'output':<44} {'causes':>7} {'lost':>6} {'duplicated':>11}"]
    for row in rows:
        lines.append(f"{row.output:<44} {row.causes:>7} {row.lost:>6} {row.duplicated:>11}")
        if row.examples and (row.lost or (row.duplicated and not row.output.startswith("  "))):
            lines.append(f"{'':<4}e.g. {', '.join(row.examples)}")
    return "\n".join(lines)


def failed(rows: list[Row]) -> bool:
    return any(row.lost or (row.duplicated and not row.output.startswith("  ")) for row in rows)


async def wait_ready(worker: Worker, timeout: float = 180) -> None:
    """Until the worker is ready, while traffic and the platform keep running; a failure ends the harness."""
    try:
        await asyncio.to_thread(worker.wait_ready, timeout)
    except ProcessFailed as error:
        raise SystemExit(str(error)) from None


async def run(
    kills: int, outage: float, rebalance: bool, posts: int, rate: float, seed: int, folder: Path, tree: Path = ROOT
) -> list[Row]:
    rng = random.Random(seed)
    broker = LocalBroker.of_its_own(folder / "broker", quiet=True)
    say(f"starting a broker on {broker.bootstrap}")
    broker.start()
    name = f"chaos{uuid.uuid4().hex[:8]}"
    env = worker_environment(
        broker.bootstrap,
        name,
        config_dir=tree / "config",
        MODWATCH_STORE="rocksdb://",
        MODWATCH_SESSION_TIMEOUT_SECONDS="6",
        MODWATCH_SCAN_BATCH_SECONDS="0.05",
    )

    plan = Plan()
    stop = asyncio.Event()
    started: list[Worker] = []

    def worker(number: int) -> Worker:
        started.append(
            Worker(
                dict(env, MODWATCH_WEB_PORT=str(free_port()), MODWATCH_DATA_DIR=str(folder / f"state-{number}")),
                folder / f"worker-{number}.log",
                tree,
            )
        )
        return started[-1]

    try:
        first = worker(0).start()
        await wait_ready(first)  # creates the topics
        sender = asyncio.create_task(traffic(broker.bootstrap, name, plan, posts, rate, stop))
        remover = asyncio.create_task(platform(broker.bootstrap, name, plan, stop))
        current = first
        for kill in range(kills):
            early = kill % 3 == 0
            await asyncio.sleep(rng.uniform(0.0, 1.0) if early else rng.uniform(1.0, 6.0))
            current.kill()
            say(f"kill -9 {kill + 1}/{kills} ({'just after ready' if early else 'mid-stream'})")
            current = worker(0).start()  # same data dir: RocksDB state from before the kill
            await wait_ready(current)
        if rebalance:
            second = worker(1).start()
            await wait_ready(second)
            await asyncio.sleep(rng.uniform(2.0, 5.0))
            second.kill()
            say("rebalance: a second worker joined and was killed")
        if outage:
            await asyncio.sleep(2.0)
            broker.stop()
            say(f"broker stopped for {outage:g} s")
            await asyncio.sleep(outage)
            broker.start()
            say("broker started again")
        await sender
        say("traffic sent; waiting until the worker has caught up")
        await caught_up(broker.bootstrap, name)  # the platform keeps removing meanwhile
        stop.set()
        await remover
        await caught_up(broker.bootstrap, name)  # the last removals reach the ledger
        alerts = await read_all(broker.bootstrap, f"{name}.alerts")
        requests = await read_all(broker.bootstrap, f"{name}.takedown-requests")
        ledger = await read_all(broker.bootstrap, f"{name}.ledger")
        current.stop(timeout=60)
        return tally(plan, alerts, requests, ledger)
    finally:
        stop.set()
        for started_worker in started:
            started_worker.kill()
        broker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="kill -9 count (default 50)")
    parser.add_argument("--outage", type=float, default=30.0, help="broker outage in seconds; 0 for none (default 30)")
    parser.add_argument("--no-rebalance", action="store_true", help="leave out the second worker")
    parser.add_argument("--posts", type=int, default=None, help="posts to send (default: enough for the run)")
    parser.add_argument("--rate", type=float, default=4.0, help="posts per second (default 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, broker data)")
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="run the worker from this source tree (a git worktree of an older revision)",
    )
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the harness's own clients ride out the outage
    posts = args.posts or int(args.rate * (args.kills * 12 + args.outage + 30))
    folder = Path(tempfile.mkdtemp(prefix="modwatch-chaos-"))
    started = time.monotonic()
    rows = asyncio.run(
        run(args.kills, args.outage, not args.no_rebalance, posts, args.rate, args.seed, folder, args.tree)
    )
    print(
        f"{args.kills} kill -9, {'a rebalance, ' if not args.no_rebalance else ''}"
        f"{f'a {args.outage:g} s broker outage, ' if args.outage else ''}{posts} posts, {time.monotonic() - started:.0f} s (seed {args.seed})"
    )
    print(render(rows))
    if not args.keep:
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    else:
        print(f"work folder: {folder}")
    sys.exit(1 if failed(rows) else 0)


if __name__ == "__main__":
    main()
