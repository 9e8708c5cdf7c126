"""What ordered writes cost: the publish stage of this tree against a revision without them.

Since issue 13 every output (ledger record, takedown request, alert, delivery,
strike) is acknowledged by the broker before the state that remembers it is
stored (streams/agents/items.py ``apply``), and the request and alert tables live in
memory. The cost falls on flagged posts only, so this benchmark sends the worst
case: a backlog where every post is violating (each one an alert, a request,
a ledger record and a delivery).

For each round, in alternating order, a fresh prefix gets ``--posts`` violating
posts, then a worker of one tree starts on them; the rate is the number of
takedown requests over the span from the first request's timestamp to the
last's (the worker's producer stamps them; start-up is not timed). The
figure is the median ratio of this tree's rate to the base revision's in the
same run (the base runs from a ``git worktree`` of ``--against``).

    .venv/bin/python -m bench.bench_ordered_writes --against a3cd95a --posts 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.chaos import wait_ready
from streams.processes import ROOT, LocalBroker, Worker, free_port, worker_environment


def posts(count: int) -> list[tuple[bytes, bytes]]:
    records = []
    for number in range(count):
        record = {
            "platform": "x",
            "post_id": f"p{number}",
            "account_id": f"acct-{number % 50}",
            "text": f"Join the Tehrik-e-Taliban today. Long live TTP! number {number}",
            "posted_at": "2026-11-29T10:00:00Z",
        }
        records.append((f"x:p{number}".encode(), orjson.dumps(record)))
    return records


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def request_span(bootstrap: str, topic: str, expect: int, timeout: float) -> float:
    """Seconds from the first takedown request's timestamp to the ``expect``-th."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    stamps: dict[bytes, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(stamps) < expect:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(stamps)} of {expect} requests on {topic} within {timeout:g} s")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    stamps.setdefault(record.key, record.timestamp)
    finally:
        await consumer.stop()
    return (max(stamps.values()) - min(stamps.values())) / 1000


def one_run(tree: Path, broker: LocalBroker, count: int, folder: Path, timeout: float) -> float:
    name = f"ow{uuid.uuid4().hex[:8]}"
    env = worker_environment(
        broker.bootstrap,
        name,
        config_dir=tree / "config",
        data_dir=folder / name,
        web_port=free_port(),
        MODWATCH_STORE="rocksdb://",
        PYTHONPATH=str(tree),
    )
    worker = Worker(env, folder / f"{name}.log", tree).start()
    asyncio.run(wait_ready(worker))  # it creates the topics; the backlog builds faster than it scans
    asyncio.run(produce(broker.bootstrap, f"{name}.posts", posts(count)))
    try:
        span = asyncio.run(request_span(broker.bootstrap, f"{name}.takedown-requests", count, timeout))
    finally:
        worker.stop()
    return count / span


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="a3cd95a", help="the revision without ordered writes")
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="modwatch-ow-"))
    base = folder / "base"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(base), args.against], cwd=ROOT, check=True, capture_output=True
    )
    broker = LocalBroker.of_its_own(folder / "broker", quiet=True)
    broker.start()
    rates: dict[str, list[float]] = {"this tree": [], args.against: []}
    try:
        for round_number in range(args.rounds):
            order = [("this tree", ROOT), (args.against, base)]
            for label, tree in order if round_number % 2 == 0 else reversed(order):
                rate = one_run(tree, broker, args.posts, folder, args.timeout)
                rates[label].append(rate)
                print(f"round {round_number + 1}: {label}: {rate:.0f} requests/s", file=sys.stderr, flush=True)
    finally:
        broker.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    ratios = [ours / theirs for ours, theirs in zip(rates["this tree"], rates[args.against], strict=True)]
    print(f"{args.posts} violating posts per run, {args.rounds} rounds, alternating order")
    for label, values in rates.items():
        print(
            f"  {label:<12} median {statistics.median(values):.0f} requests/s ({', '.join(f'{v:.0f}' for v in values)})"
        )
    print(
        f"  ratio this tree / {args.against}: median {statistics.median(ratios):.2f} "
        f"({', '.join(f'{ratio:.2f}' for ratio in ratios)})"
    )


if __name__ == "__main__":
    main()
