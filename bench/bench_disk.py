"""Broker disk per post and per record, topic by topic: one real worker, a broker of its own, simulated platforms.

    .venv/bin/python -m bench.bench_disk [--posts 8000] [--rate 100] [--time-scale 3600] [--day-rate 2000]

1. A Kafka broker of its own (deploy/kafka/local.sh through
   ``streams.processes.LocalBroker``) on free ports with a fresh data folder,
   so every byte under that folder is this run's.
2. sim/'s simulated platforms (sim/config.yaml: each platform's removal
   latency, ignored share, callback or page; waiting compressed by
   ``--time-scale``) and one modwatch worker whose platforms.yaml delivers to
   them by signed webhook and re-checks the pages of those without callbacks,
   wired as ``modwatch simulate`` wires it. Its config is a copy of config/
   whose hash bank also holds the banked images' hashes. The worker creates
   its topics with modwatch's own specs (streams/admin.py: compaction, the
   ledger kept forever), replication factor 1.
3. ``--posts`` posts of bench_broker.py's realistic mix (1 % violating, 3 %
   with a 0.5-2 MP JPEG, 10 % of those images banked), spread round-robin over
   the platforms, each with its page URL; ``--invalid-share`` of them with an
   unreadable ``posted_at`` (dead letters); produced at ``--rate`` posts/s.
4. It waits until every post is scanned, every request published, and the
   outputs have been quiet for ``--quiet`` seconds (removals come back in
   compressed platform time; a request still open then stays open).
5. Per topic: records and key + value bytes (read back; the posts as sent),
   distinct keys and the bytes of the latest record per key (what compaction
   keeps), and bytes on disk: the sizes of the topic's segment files
   (``*.log``) under the broker's data folder. Index files are left out: they
   are preallocated sparse files, a few tenths of a per cent of the log.

It prints the per-topic table and bytes per day at ``--day-rate`` posts/s,
times ``--replication``, written and kept (compaction keeps one record per
key; the ledger is kept forever; other topics for the broker's retention).
Posts are produced with ``linger_ms`` 5 at a low rate, so record batches are
small: per-record batch overhead is an upper bound for a busier producer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.bench_broker import (
    MAX_MESSAGE_BYTES,
    MIXES,
    Worker,
    make_inputs,
    metric_sum,
    paced_produce,
    say,
    write_config,
)
from bench.chaos import caught_up
from streams.processes import LocalBroker

SECONDS_PER_DAY = 86_400
GB = 1e9
# cleanup.policy of each topic, as streams/admin.py creates them.
COMPACTED_NOTE, FOREVER_NOTE, RETAINED_NOTE = "compact", "kept forever", "delete (broker retention)"


@dataclass
class TopicFigures:
    """One topic's records and bytes at the end of the run."""

    records: int = 0
    payload_bytes: int = 0  # key + value of every record
    latest_payload_bytes: int = 0  # key + value of the latest record per key
    keys: set = field(default_factory=set)
    disk_bytes: int = 0  # segment files (*.log) on the broker
    by_kind: Counter = field(default_factory=Counter)  # ledger: transitions by target state

    def kept_after_compaction(self) -> float:
        """Disk bytes of the latest record per key: the disk bytes scaled by their share of the payload."""
        return self.disk_bytes * self.latest_payload_bytes / self.payload_bytes if self.payload_bytes else 0.0


# --- inputs ----------------------------------------------------------------------------------


def realistic_posts(args) -> tuple[list[dict], list[str]]:
    """bench_broker.py's realistic mix as records (dicts), and the banked images' PDQ hashes."""
    inputs = make_inputs(args.posts, **MIXES["realistic"], banked_share=0.1, seed=args.seed)
    say(f"{len(inputs.records):,} posts, {inputs.images} with a JPEG, {len(inputs.banked_pdq)} of those banked")
    return [orjson.loads(value) for _, value in inputs.records], inputs.banked_pdq


def spread_over_platforms(posts: list[dict], base_urls: dict[str, str], invalid_share: float, seed: int) -> list:
    """(key, value) records: round-robin over the platforms with each post's page URL; a share made invalid."""
    rng = random.Random(seed)
    platforms = sorted(base_urls)
    records = []
    for index, post in enumerate(posts):
        platform = platforms[index % len(platforms)]
        post = dict(post, platform=platform, url=f"{base_urls[platform]}/p/{post['post_id']}")
        if rng.random() < invalid_share:
            post["posted_at"] = "yesterday"  # refused by the event contract: a dead letter
        records.append((f"{platform}:{post['post_id']}".encode(), orjson.dumps(post)))
    return records


# --- the run ---------------------------------------------------------------------------------


async def run(args, folder: Path) -> tuple[dict[str, TopicFigures], dict]:
    """A broker of its own around :func:`traffic_run`; then the bytes on its disk, per topic."""
    posts, banked = realistic_posts(args)
    base_config = write_config(folder, 0, banked, args.seed)
    broker = LocalBroker.of_its_own(folder / "broker", quiet=True)
    say(f"starting a broker on {broker.bootstrap}, data in {folder / 'broker'}")
    broker.start()
    name = f"disk{uuid.uuid4().hex[:8]}"
    try:
        figures, facts = await traffic_run(args, folder, broker.bootstrap, name, posts, base_config)
    finally:
        broker.stop()  # closes the segments: their sizes are what was written
    sizes = disk_bytes(folder / "broker", name)
    facts["consumer_offsets_bytes"] = sizes.pop("__consumer_offsets", 0)
    for topic, size in sizes.items():
        figures.setdefault(topic, TopicFigures()).disk_bytes = size
    return figures, facts


async def traffic_run(args, folder: Path, bootstrap: str, name: str, posts: list[dict], base_config: Path):
    """Platforms, worker, posts at ``--rate``; wait until all is handled and quiet; read every topic back."""
    import sim
    from streams.cli.simulate import secret_variable, write_run_config

    platforms_config = sim.load_config().platforms.with_time_scale(args.time_scale)
    secrets = sim.generate_secrets(platforms_config.platforms)
    environment = {secret_variable(platform): secret for platform, secret in secrets.items()}
    environment.update(MODWATCH_RECHECK_ALLOW_LOOPBACK="1", MODWATCH_STORE="rocksdb://")
    worker = Worker(bootstrap, name, folder / "run-config", folder, environment)
    handles = await sim.start_platforms(platforms_config, f"http://127.0.0.1:{worker.port}/status", secrets)
    try:
        polled = {platform for platform, behaviour in platforms_config.platforms.items() if not behaviour.callback}
        write_run_config(base_config, folder / "run-config", handles.webhook_urls, polled, recheck_seconds=1.0)
        worker.start()
        await asyncio.to_thread(worker.wait_ready, 300)
        records = spread_over_platforms(posts, handles.base_urls, args.invalid_share, args.seed)
        say(f"worker {name} ready; {len(records):,} posts at {args.rate:g}/s")
        started = time.monotonic()
        achieved = await paced_produce(bootstrap, f"{name}.posts", records, args.rate, {})
        await asyncio.to_thread(wait_scanned, worker, len(records), args.timeout)
        say(f"every post scanned; waiting until the outputs are quiet for {args.quiet:g} s")
        await caught_up(bootstrap, name, quiet_seconds=args.quiet, timeout=args.timeout)
        facts = {"rate": achieved, "seconds": time.monotonic() - started, "posts": len(records)}
        facts.update(
            cpu_seconds=worker.cpu_seconds(),
            requests_received=len(handles.ground_truth()),
            removals_reported=len(handles.removals()),
        )
        return await read_topics(bootstrap, name, records), facts
    finally:
        worker.stop()
        await handles.stop()


def wait_scanned(worker: Worker, expect: int, timeout: float) -> None:
    """Until every post is scanned or dead-lettered and every decided takedown request is published."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.ready()  # raises if the worker died
        page = worker.metrics() or ""
        handled = metric_sum(page, "modwatch_posts_processed_total") + metric_sum(
            page, "modwatch_events_total", having='outcome="deadletter"'
        )
        decided = metric_sum(page, "modwatch_decisions_total", having='action="takedown"')
        if handled >= expect and metric_sum(page, "modwatch_takedown_requests_total") >= decided:
            return
        time.sleep(1.0)
    raise SystemExit(f"posts not all handled within {timeout:g} s; see {worker.log_path}")


async def read_topics(bootstrap: str, name: str, posts: list[tuple[bytes, bytes]]) -> dict[str, TopicFigures]:
    """Every topic of the run read back (the posts counted as sent): records, bytes, keys, latest per key."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [topic for topic in await admin.list_topics() if topic.startswith(name) and topic != name + ".posts"]
    finally:
        await admin.close()
    figures = {short_name(name, topic): TopicFigures() for topic in topics}
    figures["posts"] = TopicFigures()
    for key, value in posts:
        add_record(figures["posts"], key, value, {}, "posts")
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    latest: dict[str, dict] = {}
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 3.0:
            for partition, batch in (await consumer.getmany(timeout_ms=500)).items():
                topic = short_name(name, partition.topic)
                for record in batch:
                    add_record(figures[topic], record.key, record.value, latest.setdefault(topic, {}), topic)
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    for topic, sizes in latest.items():
        figures[topic].latest_payload_bytes = sum(sizes.values())
    figures["posts"].latest_payload_bytes = figures["posts"].payload_bytes
    return figures


def add_record(figures: TopicFigures, key: bytes | None, value: bytes | None, latest: dict, topic: str) -> None:
    size = len(key or b"") + len(value or b"")
    figures.records += 1
    figures.payload_bytes += size
    figures.keys.add(key)
    latest[key] = size
    if topic == "ledger" and value:
        record = orjson.loads(value)
        figures.by_kind[record.get("to") or record.get("kind") or "?"] += 1


def short_name(name: str, topic: str) -> str:
    """``disk1234.item-state`` -> ``item-state``; Faust's own ``disk1234-__assignor-__leader`` -> ``__assignor-__leader``."""
    return topic[len(name) :].lstrip(".-")


def disk_bytes(data_folder: Path, name: str) -> dict[str, int]:
    """Bytes of the segment files (``*.log``) in each ``<topic>-<partition>`` folder of the run's topics
    (and of the broker's ``__consumer_offsets``, where the run's groups commit)."""
    sizes: Counter = Counter()
    for segment in data_folder.rglob("*.log"):
        topic, _, partition = segment.parent.name.rpartition("-")
        if partition.isdigit() and (topic.startswith(name) or topic == "__consumer_offsets"):
            sizes[short_name(name, topic) if topic.startswith(name) else topic] += segment.stat().st_size
    return dict(sizes)


# --- report ----------------------------------------------------------------------------------


def policy(topic: str) -> str:
    from streams.admin import COMPACTED, KEPT_FOREVER

    if topic in COMPACTED:
        return COMPACTED_NOTE
    return FOREVER_NOTE if topic in KEPT_FOREVER else RETAINED_NOTE


def report(args, figures: dict[str, TopicFigures], facts: dict) -> None:
    """The per-topic table and the bytes per day, as Markdown for bench/RESULTS.md."""
    posts = facts["posts"]
    requests = figures.get("takedown-requests", TopicFigures())
    print(
        f"\n{posts:,} posts at {facts['rate']:.0f}/s, {facts['seconds']:.0f} s from the first post to quiet outputs; "
        f"worker CPU {facts['cpu_seconds']:.0f} s in all; {requests.records} takedown requests "
        f"({len(requests.keys)} items), {facts['requests_received']} received by the platforms, "
        f"{facts['removals_reported']} removed by them before the end"
    )
    if "ledger" in figures:
        kinds = ", ".join(f"{kind} {count}" for kind, count in figures["ledger"].by_kind.most_common())
        print(f"ledger records by target state: {kinds}")
    print(
        "\n| topic | cleanup | records | per 1,000 posts | key + value B/record | on disk B/record | on disk B/post "
        "| distinct keys | kept after compaction B/post |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for topic, found in sorted(figures.items(), key=lambda item: -item[1].disk_bytes):
        if not found.records:
            continue
        kept = found.kept_after_compaction() if policy(topic) == COMPACTED_NOTE else found.disk_bytes
        print(
            f"| {topic} | {policy(topic)} | {found.records:,} | {1000 * found.records / posts:,.1f} | "
            f"{found.payload_bytes / found.records:,.0f} | {found.disk_bytes / found.records:,.0f} | "
            f"{found.disk_bytes / posts:,.1f} | {len(found.keys):,} | {kept / posts:,.1f} |"
        )
    print(
        f"\nThe broker's __consumer_offsets (compacted, one record per group and partition once cleaned): "
        f"{facts['consumer_offsets_bytes']:,} bytes written in the run"
    )
    report_per_day(args, figures, posts)


def report_per_day(args, figures: dict[str, TopicFigures], posts: int) -> None:
    """GB per day at ``--day-rate`` posts/s: written, and what each cleanup policy keeps of a day."""
    scale = args.day_rate * SECONDS_PER_DAY / posts / GB
    print(
        f"\nAt {args.day_rate:,} posts/s ({args.day_rate * SECONDS_PER_DAY:,} posts a day), GB per day, "
        f"x{args.replication} for replication:\n\n| topic | cleanup | written GB/day | x{args.replication} "
        f"| kept GB/day after compaction | x{args.replication} |\n| --- | --- | ---: | ---: | ---: | ---: |"
    )
    totals = [0.0, 0.0]
    for topic, found in sorted(figures.items(), key=lambda item: -item[1].disk_bytes):
        if not found.disk_bytes:
            continue
        written = found.disk_bytes * scale
        kept = found.kept_after_compaction() * scale if policy(topic) == COMPACTED_NOTE else written
        totals = [totals[0] + written, totals[1] + kept]
        print(
            f"| {topic} | {policy(topic)} | {written:,.2f} | {written * args.replication:,.2f} | {kept:,.2f} "
            f"| {kept * args.replication:,.2f} |"
        )
    print(
        f"| **all topics** | | **{totals[0]:,.2f}** | **{totals[0] * args.replication:,.2f}** "
        f"| **{totals[1]:,.2f}** | **{totals[1] * args.replication:,.2f}** |"
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=8000, help="posts of the realistic mix to send")
    parser.add_argument("--rate", type=float, default=100.0, help="posts per second sent")
    parser.add_argument("--invalid-share", type=float, default=0.002, help="share of posts made invalid")
    parser.add_argument(
        "--time-scale", type=float, default=3600.0, help="platform seconds per wall second (sim/config.yaml: 600)"
    )
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds without output growth that end the run")
    parser.add_argument("--timeout", type=float, default=900.0, help="longest wait for each stage")
    parser.add_argument("--day-rate", type=int, default=2000, help="posts/s for the bytes-per-day table")
    parser.add_argument("--replication", type=int, default=3, help="replication factor for the bytes-per-day table")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (broker data, logs, config)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-disk-"))
    try:
        figures, facts = asyncio.run(run(args, folder))
        say("done")
        report(args, figures, facts)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
