"""A worker's start-up and memory with a large PDQ bank: first start, then a restart that reads the bank cache.

For each ``--sizes`` bank (random PDQ hashes beside the shipped config, as
bench/bench_broker.py writes it), on a broker of its own topics:

1. *first start*: a worker with an empty state folder reads the bank's CSV
   and writes its packed bank to ``<data_dir>/bank-cache`` (detectors/bank_cache.py);
2. *restart*: a second worker with the same state folder reads that cache.

Each is timed from the process start to Faust's "Worker ready" (group joined,
tables recovered), and its VmRSS and VmHWM are read ``--idle-seconds`` later,
with the shipped model loaded.

    .venv/bin/python -m bench.bench_startup --broker 127.0.0.1:9092 --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from bench.bench_broker import Worker, create_topics, delete_topics, modwatch_topics, say, wait_for, write_config


def start(broker: str, name: str, config: Path, folder: Path, idle: float) -> dict:
    asyncio.run(create_topics(broker, modwatch_topics(config, name)))
    worker = Worker(broker, name, config, folder, {"MODWATCH_DATA_DIR": str(folder / "state")})
    try:
        worker.start()
        wait_for(worker.ready, 900, "the worker to be ready")
        time.sleep(idle)
        return {"ready": worker.ready_after, **worker.memory_mb()}
    finally:
        worker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:39092"))
    parser.add_argument("--sizes", type=lambda text: [int(x) for x in text.split(",")], default=[1_000_000])
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:8]
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        for size in args.sizes:
            say(f"writing a {size:,}-entry bank")
            config = write_config(folder / f"bank-{size}", size, [], seed=7)
            shutil.rmtree(folder / "state", ignore_errors=True)
            for attempt in ("first start (reads the CSV, writes the cache)", "restart (reads the cache)"):
                say(f"{size:,}: {attempt}")
                found = start(args.broker, f"bench{run}-{size}-{len(rows)}", config, folder, args.idle_seconds)
                rows.append((size, attempt, found))
    finally:
        asyncio.run(delete_topics(args.broker, f"bench{run}"))
        shutil.rmtree(folder, ignore_errors=True)
    print("\n| bank entries | start | to 'Worker ready' s | VmRSS MB | VmHWM (peak) MB |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for size, attempt, found in rows:
        print(f"| {size:,} | {attempt} | {found['ready']:.1f} | {found['VmRSS']:,.0f} | {found['VmHWM']:,.0f} |")


if __name__ == "__main__":
    main()
