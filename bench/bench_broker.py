"""modwatch against a real Kafka broker: throughput, scaling, end-to-end latency, memory.

    .venv/bin/python -m bench.bench_broker [--broker HOST:PORT] [--posts N] [--bank N] ...

Every measurement gets its own fresh topics (prefix ``bench<uuid>-<phase>``) and
consumer group, so no phase sees another's records or offsets. Phases, in order:

1. baseline A: a raw aiokafka consumer that only ``orjson.loads`` each of N
   pre-produced post records (best of ``--repeats``);
2. baseline B: a minimal faust-streaming app in a subprocess whose agent only
   decodes each record; the agent itself stamps the first and the N-th record;
3. one modwatch worker (``python -m streams.cli worker``, the shipped config plus
   a 1,000,000-entry PDQ bank) over the same N records, already waiting in
   the topic when it starts;
4. two modwatch workers in one group over the 4 partitions, same N records;
5. end-to-end latency: a fresh worker, posts produced at ``--latency-load``
   times the rate measured in 3; per takedown request, the time from handing
   the post to the producer to the broker's append of the request on
   ``<prefix>.takedown-requests``;
6. baseline B again, to bracket drift on a shared machine;

and the worker's resident memory (VmRSS) idle after start-up and at the end.

Posts are bench/corpus.py's 150-character multilingual posts (10 % name a
designated group beside a cue), a share of them (``--image-share``) carrying a
small generated PNG as ``media[].data_b64``. The bank is ``--bank`` random
256-bit PDQ hashes plus the hashes of ``--banked-share`` of the posted
images, written as a CSV into a temporary copy of ``config/``.

Throughput is always measured from a backlog that was produced before the
consumer started, from the first record consumed to the last, so consumer
start-up (Faust's group join, modwatch's bank and model loading) is not timed.
For modwatch, the worker's ``/metrics`` (``modwatch_posts_processed_total``) is
polled every ``--poll`` seconds; the rate counts from the first poll that saw
progress to the poll that saw every post scanned. With two workers, the rate
is taken over the window in which both were scanning (the second worker's
join costs the first a rebalance, which would otherwise be timed as scaling).

The machine is shared: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.corpus import posts as corpus_posts

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# The whole of baseline B: a Faust app whose one agent decodes each record and does nothing else.
FAUST_NOOP_APP = '''
import os, time
import faust, orjson

app = faust.App(os.environ["BENCH_APP_ID"], broker=os.environ["BENCH_BROKER"], store="memory://",
                topic_partitions=int(os.environ["BENCH_PARTITIONS"]), web_enabled=False)
topic = app.topic(os.environ["BENCH_TOPIC"], key_type=bytes, key_serializer="raw",
                  value_type=bytes, value_serializer="raw")
EXPECT, OUT = int(os.environ["BENCH_EXPECT"]), os.environ["BENCH_OUT"]
SEEN = {"count": 0, "first": None}


@app.agent(topic)
async def decode(stream):
    async for value in stream:
        orjson.loads(value)
        SEEN["count"] += 1
        if SEEN["first"] is None:
            SEEN["first"] = time.time()
        if SEEN["count"] == EXPECT:
            with open(OUT, "wb") as out:
                out.write(orjson.dumps({"first": SEEN["first"], "last": time.time(), "count": EXPECT}))


if __name__ == "__main__":
    app.main()
'''


# --- inputs ----------------------------------------------------------------------------------


@dataclass
class Inputs:
    """The post records (key, value) and what they hold."""

    records: list[tuple[bytes, bytes]]
    images: int = 0
    banked_pdq: list[str] = field(default_factory=list)


def png(seed: int, side: int = 256) -> bytes:
    """A small PNG of coloured shapes, different for every seed (the worker caches hashes by content)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (side, side), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = rng.randrange(side), rng.randrange(side)
        width, height = rng.randrange(20, side // 2), rng.randrange(20, side // 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + width, y + height), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_inputs(count: int, *, image_share: float, banked_share: float, seed: int, id_prefix: str = "") -> Inputs:
    """bench/corpus.py posts as event-contract JSON; a share with one PNG, some of those banked."""
    from detectors.hashing import ImageHasher

    rng = random.Random(seed)
    hasher = ImageHasher()
    inputs = Inputs(records=[])
    for post in corpus_posts(count, seed=seed):
        post_id = id_prefix + post.post_id
        record = {"platform": post.platform, "post_id": post_id, "account_id": post.account_id,
                  "text": post.text, "lang": post.lang, "posted_at": post.posted_at.isoformat()}  # fmt: skip
        if rng.random() < image_share:
            data = png(seed * 1_000_003 + int(post.post_id))
            record["media"] = [{"kind": "image", "data_b64": base64.b64encode(data).decode()}]
            inputs.images += 1
            if rng.random() < banked_share:
                inputs.banked_pdq.append(hasher.hash_bytes(data).pdq[0].hash)
        inputs.records.append((f"{post.platform}:{post_id}".encode(), orjson.dumps(record)))
    return inputs


def write_config(folder: Path, bank_size: int, banked_pdq: list[str], seed: int) -> Path:
    """A copy of config/ whose hashbank/ also holds ``bank_size`` random PDQ hashes and the banked images."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    rows = np.random.default_rng(seed).integers(0, 256, size=(bank_size, 32), dtype=np.uint8)
    hexes = rows.tobytes().hex()
    with (config / "hashbank" / "bench-random.csv").open("w") as out:
        out.write("hash_type,hash,label,source\n")
        out.writelines(f"pdq,{hexes[i * 64:(i + 1) * 64]},bench-random,bench\n" for i in range(bank_size))
        # Unmapped labels get hashing.yaml's default category (terrorism_promotion): a match is a takedown.
        out.writelines(f"pdq,{pdq},bench-banned,bench\n" for pdq in banked_pdq)
    return config


# --- Kafka helpers ---------------------------------------------------------------------------


async def create_topics(bootstrap: str, topics: list[NewTopic]) -> None:
    """Create the topics and wait until every partition has a leader (producing earlier only retries)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(topics)
        for _ in range(100):
            described = await admin.describe_topics([topic.name for topic in topics])
            if all(not t["error_code"] and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the partition leaders learn it a moment after the metadata says so
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic of this run (``bench<run>-*``, Faust's own included)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


def modwatch_topics(config: Path, prefix: str) -> list[NewTopic]:
    """modwatch's own topic specs (streams/admin.py) for ``prefix``.

    One change: ``takedown-requests`` stamps records with the broker's append
    time (``LogAppendTime``), so a request's timestamp is when it reached
    Kafka, not when the worker's producer queued it.
    """
    from streams.admin import topic_specs
    from streams.settings import Settings

    settings = Settings.load(config, environ={"MODWATCH_TOPIC_PREFIX": prefix, "MODWATCH_PARTITIONS": str(PARTITIONS)})
    specs = topic_specs(settings)
    for spec in specs:
        if spec.name == settings.topic("takedown-requests"):
            spec.topic_configs = dict(spec.topic_configs, **{"message.timestamp.type": "LogAppendTime"})
    return specs


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Send every record (not waiting for each ack), flush; return the seconds it took."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=MAX_MESSAGE_BYTES)
    await producer.start()
    try:
        started = time.perf_counter()
        for key, value in records:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
        return time.perf_counter() - started
    finally:
        await producer.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_prefix(run: str, phase: str) -> str:
    return f"bench{run}-{phase}"


# --- baseline A: raw aiokafka ----------------------------------------------------------------


async def consume_and_decode(bootstrap: str, topic: str, expect: int) -> float:
    """Records/s of a bare aiokafka loop that decodes each record with orjson, first to last record."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        seen, first = 0, None
        while seen < expect:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    orjson.loads(record.value)
                    seen += 1
                    first = first or time.perf_counter()
        return (expect - 1) / (time.perf_counter() - first)
    finally:
        await consumer.stop()


def baseline_aiokafka(bootstrap: str, run: str, inputs: Inputs, repeats: int) -> float:
    topic = unique_prefix(run, "a") + ".posts"
    asyncio.run(create_topics(bootstrap, [NewTopic(topic, PARTITIONS, 1)]))
    asyncio.run(produce(bootstrap, topic, inputs.records))
    return max(asyncio.run(consume_and_decode(bootstrap, topic, len(inputs.records))) for _ in range(repeats))


# --- baseline B: a no-op Faust agent -----------------------------------------------------------


def baseline_faust(bootstrap: str, run: str, phase: str, inputs: Inputs, folder: Path, timeout: float = 300) -> float:
    """Records/s of a Faust agent that only decodes JSON, timed by the agent itself (first to N-th record)."""
    name = unique_prefix(run, phase)
    topic = name + ".posts"
    asyncio.run(create_topics(bootstrap, [NewTopic(topic, PARTITIONS, 1)]))
    asyncio.run(produce(bootstrap, topic, inputs.records))
    app_file, out = folder / f"{name}_noop.py", folder / f"{name}.json"
    app_file.write_text(FAUST_NOOP_APP)
    env = dict(os.environ, BENCH_APP_ID=name, BENCH_BROKER=f"kafka://{bootstrap}", BENCH_TOPIC=topic,
               BENCH_PARTITIONS=str(PARTITIONS), BENCH_EXPECT=str(len(inputs.records)), BENCH_OUT=str(out))  # fmt: skip
    with (folder / f"{name}.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, str(app_file), "worker", "-l", "warn"], env=env, cwd=folder,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_for(lambda: out.exists() or process.poll() is not None, timeout, f"faust no-op app ({name})")
        finally:
            stop_process(process)
    if not out.exists():
        raise SystemExit(f"faust no-op app exited with {process.returncode}; see {folder / (name + '.log')}")
    stamps = orjson.loads(out.read_bytes())
    return (stamps["count"] - 1) / (stamps["last"] - stamps["first"])


def wait_for(condition, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it does not exit; only ever our own child."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- modwatch workers -------------------------------------------------------------------------


class Worker:
    """``python -m streams.cli worker`` in a subprocess, with its log, /metrics and /proc memory."""

    def __init__(self, bootstrap: str, name: str, config: Path, folder: Path, extra_env: dict[str, str]):
        self.port = free_port()
        self.log_path = folder / f"{name}-{self.port}.log"
        env = {key: value for key, value in os.environ.items() if not key.startswith("MODWATCH_")}
        env.update(MODWATCH_BROKER=f"kafka://{bootstrap}", MODWATCH_APP_ID=name, MODWATCH_TOPIC_PREFIX=name,
                   MODWATCH_WEB_PORT=str(self.port), MODWATCH_DATA_DIR=str(folder / f"state-{self.port}"),
                   MODWATCH_CONFIG_DIR=str(config), PYTHONUNBUFFERED="1", **extra_env)  # fmt: skip
        self.env = env
        self.process: subprocess.Popen | None = None
        self.started_at = self.ready_after = None

    def start(self) -> Worker:
        self._log = self.log_path.open("wb")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=self.env, cwd=ROOT,
                                        stdout=self._log, stderr=subprocess.STDOUT)  # fmt: skip
        return self

    def ready(self) -> bool:
        """Whether Faust logged "Worker ready" (group joined, tables recovered); exits are fatal."""
        if self.process.poll() is not None:
            raise SystemExit(f"worker exited with {self.process.returncode}; see {self.log_path}")
        if self.ready_after is None and b"Worker ready" in self.log_path.read_bytes():
            self.ready_after = time.monotonic() - self.started_at
        return self.ready_after is not None

    def metrics(self) -> str | None:
        """The /metrics page, or None while the web server is not up yet."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None

    def memory_mb(self) -> dict[str, float]:
        """VmRSS (resident now) and VmHWM (peak resident) from /proc, in MB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


def metric_sum(page: str | None, name: str, *, having: str = "") -> float:
    """Sum of every sample of ``name`` whose labels contain ``having``."""
    total = 0.0
    for line in (page or "").splitlines():
        if line.startswith(name + "{") and having in line.split("}", 1)[0]:
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Sample:
    at: float
    scanned: list[float]
    dead: float = 0.0
    takedowns_decided: float = 0.0
    takedowns_published: float = 0.0


def sample(workers: list[Worker], posts_topic: str) -> Sample:
    pages = [worker.metrics() for worker in workers]
    at = time.perf_counter()
    return Sample(
        at=at,
        scanned=[metric_sum(page, "modwatch_posts_processed_total") for page in pages],
        dead=sum(metric_sum(page, "modwatch_events_total", having=f'topic="{posts_topic}",outcome="deadletter"') for page in pages),
        takedowns_decided=sum(metric_sum(page, "modwatch_decisions_total", having='action="takedown"') for page in pages),
        takedowns_published=sum(metric_sum(page, "modwatch_takedown_requests_total") for page in pages),
    )


def poll_until_done(workers: list[Worker], posts_topic: str, expect: int, interval: float, timeout: float) -> list[Sample]:
    """Poll every worker's /metrics until all ``expect`` posts are scanned and every decided request is out."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            worker.ready()  # raises if a worker died
        now = sample(workers, posts_topic)
        samples.append(now)
        if sum(now.scanned) + now.dead >= expect and now.takedowns_published >= now.takedowns_decided:
            return samples
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s: {samples[-1] if samples else 'no samples'}")


@dataclass
class Throughput:
    rate: float  # posts scanned per second over the window
    window: float  # seconds
    total_rate: float  # all posts, first progress to last post scanned
    drained_rate: float  # all posts, first progress to the last takedown request published
    shares: list[int]  # posts scanned by each worker
    dead: int
    takedowns: int


def throughput(samples: list[Sample]) -> Throughput:
    """Rates from the polled counters.

    ``rate``: over the window in which every worker was scanning, from the
    latest first-progress sample to the earliest sample at which a worker had
    scanned its final count (for one worker: first progress to the end).
    """
    workers = range(len(samples[0].scanned))
    final = [samples[-1].scanned[w] for w in workers]
    first = [next(s for s in samples if s.scanned[w] > 0) for w in workers]
    done = [next(s for s in samples if s.scanned[w] >= final[w]) for w in workers]
    start, end = max(first, key=lambda s: s.at), min(done, key=lambda s: s.at)
    window = end.at - start.at
    scanned_in_window = sum(end.scanned) - sum(start.scanned)
    begun = min(first, key=lambda s: s.at)
    all_scanned = next(s for s in samples if sum(s.scanned) >= sum(final))
    return Throughput(
        rate=scanned_in_window / window if window > 0 else float("nan"),
        window=window,
        total_rate=(sum(final) - sum(begun.scanned)) / (all_scanned.at - begun.at),
        drained_rate=(sum(final) - sum(begun.scanned)) / (samples[-1].at - begun.at),
        shares=[int(count) for count in final],
        dead=int(samples[-1].dead),
        takedowns=int(samples[-1].takedowns_published),
    )


def start_ready(workers: list[Worker], timeout: float = 300) -> None:
    for worker in workers:
        worker.start()
    wait_for(lambda: all(worker.ready() for worker in workers), timeout, "modwatch workers to be ready")


def modwatch_throughput(bootstrap, run, phase, config, folder, inputs, count, args, profiler=None) -> dict:
    """N pre-produced posts, then ``count`` workers in one group; posts scanned per second."""
    name = unique_prefix(run, phase)
    asyncio.run(create_topics(bootstrap, modwatch_topics(config, name)))
    asyncio.run(produce(bootstrap, name + ".posts", inputs.records))
    workers = [Worker(bootstrap, name, config, folder, args.worker_env) for _ in range(count)]
    try:
        start_ready(workers)
        tracer = profiler(workers[0]) if profiler else None
        samples = poll_until_done(workers, name + ".posts", len(inputs.records), args.poll, timeout=args.timeout)
        if tracer:
            tracer.stop()
        memory = [worker.memory_mb() for worker in workers]
    finally:
        for worker in workers:
            worker.stop()
    return {"throughput": throughput(samples), "memory": memory, "ready_after": [w.ready_after for w in workers]}


# --- end-to-end latency ----------------------------------------------------------------------


async def paced_produce(bootstrap: str, topic: str, records, rate: float, sent_at: dict[str, float]) -> float:
    """Send records at ``rate`` per second; note each post's send time (wall clock); return the achieved rate."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=MAX_MESSAGE_BYTES)
    await producer.start()
    try:
        started = time.perf_counter()
        for index, (key, value) in enumerate(records):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[key.decode()] = time.time()
            await producer.send(topic, value=value, key=key)
        await producer.flush()
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def collect_outputs(bootstrap: str, name: str, stamps: dict[str, dict[str, float]], stop: asyncio.Event) -> None:
    """When each item's scan decision left the scan agent, and when its takedown request reached the broker.

    ``flagged``: the Kafka timestamp of the item's ``flagged`` record on
    item-events (CreateTime: the worker's producer clock when the scan agent
    sent it). ``requested``: the broker's append time of the request on
    takedown-requests (created with LogAppendTime). Same machine, same clock.
    """
    topics = {f"{name}.item-events": "flagged", f"{name}.takedown-requests": "requested"}
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=MAX_MESSAGE_BYTES)  # fmt: skip
    await consumer.start()
    try:
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                stage = topics[tp.topic]
                for record in records:
                    if stage == "flagged" and orjson.loads(record.value).get("type") != "flagged":
                        continue
                    stamps[stage].setdefault(record.key.decode(), record.timestamp / 1000)
    finally:
        await consumer.stop()


async def latency_run(bootstrap: str, worker: Worker, name: str, records, rate: float, settle: float) -> dict:
    sent_at: dict[str, float] = {}
    stamps: dict[str, dict[str, float]] = {"flagged": {}, "requested": {}}
    appended_at = stamps["requested"]
    stop = asyncio.Event()
    collector = asyncio.create_task(collect_outputs(bootstrap, name, stamps, stop))
    achieved = await paced_produce(bootstrap, name + ".posts", records, rate, sent_at)
    loop = asyncio.get_running_loop()
    decided, deadline = 0.0, time.monotonic() + settle
    while time.monotonic() < deadline:  # every post scanned and every decided request received
        page = await loop.run_in_executor(None, worker.metrics)
        scanned = metric_sum(page, "modwatch_posts_processed_total")
        decided = metric_sum(page, "modwatch_decisions_total", having='action="takedown"')
        if scanned >= len(records) and len(appended_at) >= decided:
            break
        await asyncio.sleep(0.5)
    stop.set()
    await collector
    requested = [key for key in appended_at if key in sent_at and key in stamps["flagged"]]
    return {
        "achieved_rate": achieved,
        "latencies": sorted(appended_at[key] - sent_at[key] for key in requested),
        "scan_stage": sorted(stamps["flagged"][key] - sent_at[key] for key in requested),
        "publish_stage": sorted(appended_at[key] - stamps["flagged"][key] for key in requested),
        "decided": int(decided),
        "received": len(appended_at),
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return values[min(len(values) - 1, max(0, int(np.ceil(share * len(values))) - 1))]


def modwatch_latency(bootstrap, run, config, folder, rate: float, args) -> dict:
    """A fresh worker on empty topics: RSS idle after start-up, then paced traffic, then RSS again."""
    name = unique_prefix(run, "latency")
    count = max(1, int(rate * args.latency_seconds))
    inputs = make_inputs(count, image_share=args.image_share, banked_share=args.banked_share, seed=args.seed + 1,
                         id_prefix="lat-")  # fmt: skip
    asyncio.run(create_topics(bootstrap, modwatch_topics(config, name)))
    worker = Worker(bootstrap, name, config, folder, args.worker_env)
    try:
        start_ready([worker])
        time.sleep(args.idle_seconds)
        idle = worker.memory_mb()
        result = asyncio.run(latency_run(bootstrap, worker, name, inputs.records, rate, settle=args.timeout))
        result.update(idle=idle, end=worker.memory_mb(), posts=count, ready_after=worker.ready_after)
    finally:
        worker.stop()
    return result


# --- profiling (optional) ----------------------------------------------------------------------


class PySpy:
    """``py-spy record --gil`` on one worker while it scans, as raw collapsed stacks.

    ``--gil`` samples only the thread holding the interpreter lock: the worker
    is one process with one GIL, so these samples are where its Python CPU
    time goes (waiting on sockets, fsync or the thread pool is not sampled).
    """

    def __init__(self, executable: str, worker: Worker, out: Path):
        self.out = out
        self.process = subprocess.Popen(
            [executable, "record", "--pid", str(worker.process.pid), "--gil", "--format", "raw", "--rate", "100",
             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        self.process.wait(60)


# Which agent (or other part of the worker) a stack belongs to: the first of these
# found in it, outermost frame first.
AGENTS = (
    ("Pipeline.scan", "scan_posts: detectors + policy (executor thread)"),
    ("scan_posts", "scan_posts: parse + validate + hash images, metrics, send (event loop)"),
    ("track_items", "track_items: alerts, requests, lifecycle, ledger"),
    ("write_outbox", "deliver_requests: outbox files (executor thread)"),
    ("deliver_requests", "deliver_requests: event loop part"),
    ("follow_hash_bank", "follow_hash_bank"),
    ("probe_broker_and_lag", "timers (lag probe, rewinds, deadlines)"),
    ("rewind_stalled_partitions", "timers (lag probe, rewinds, deadlines)"),
    ("check_deadlines", "timers (lag probe, rewinds, deadlines)"),
)
# Which code runs: the innermost frame from one of these paths (numpy and the
# standard library count for the code that called them).
COMPONENTS = (
    (("detectors/hashing.py", "PIL/", "pdqhash"), "image decoding + PDQ hashing"),
    (("detectors/hashbank.py",), "PDQ bank search and exact lookups"),
    (("detectors/classifier.py", "sklearn/", "scipy/"), "text classifier"),
    (("detectors/designations.py", "detectors/text.py", "detectors/watchlist.py"), "rule detectors"),
    (("detectors/events.py",), "event parsing and validation"),
    (("detectors/policy.py", "detectors/pipeline.py"), "policy and pipeline"),
    (("streams/delivery.py",), "delivery (notice, HTML page, fsync)"),
    (("streams/lifecycle.py",), "lifecycle"),
    (("logging/", "streams/logs.py"), "logging (JSON lines)"),
    (("prometheus_client/", "streams/metrics.py"), "Prometheus metrics"),
    (("aiokafka/", "kafka/"), "aiokafka client"),
    (("faust/",), "faust"),
    (("mode/",), "mode"),
    (("asyncio/", "selectors.py"), "asyncio event loop"),
    (("streams/",), "other modwatch stream code"),
)


def summarise_profile(path: Path) -> list[str]:
    """Shares of the GIL-holding samples, by agent and by the code that ran."""
    agents: Counter = Counter()
    components: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        agents[next((name for needle, name in AGENTS if any(needle in frame for frame in frames)),
                    "faust/mode/aiokafka internals (consumer thread, commits, producer)")] += int(count)  # fmt: skip
        components[component_of(frames)] += int(count)
    lines = [f"py-spy --gil: {total} samples of the thread holding the GIL; stacks in {path}", "by agent:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in agents.most_common()]
    lines += ["by code that ran:"] + [f"  {100 * n / total:5.1f}%  {name}" for name, n in components.most_common()]
    return lines


def component_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        location = frame.rsplit("(", 1)[-1]
        for needles, name in COMPONENTS:
            if any(location.startswith(needle) or "/" + needle in location for needle in needles):
                return name
    return "other"


# --- report ----------------------------------------------------------------------------------


def report(args, results: dict) -> None:
    baseline_b = statistics.mean(results["faust"])
    one, two, latency = results["one"], results["two"], results["latency"]
    rows = [
        ("A: raw aiokafka + orjson.loads", results["aiokafka"], f"best of {args.repeats}"),
        *((f"B: faust no-op agent (run {i + 1})", rate, "") for i, rate in enumerate(results["faust"])),
        ("modwatch, 1 worker: posts scanned", one["throughput"].rate,
         f"{one['throughput'].window:.1f} s; all takedowns out: {one['throughput'].drained_rate:,.0f}/s"),
        ("modwatch, 2 workers: both scanning", two["throughput"].rate,
         f"{two['throughput'].window:.1f} s of {sum(two['throughput'].shares)} posts; shares {two['throughput'].shares}"),
        ("modwatch, 2 workers: first to last post", two["throughput"].total_rate, "includes the join of the second worker"),
    ]  # fmt: skip
    print(f"\nposts: {len(results['inputs'].records)} ({results['inputs'].images} with an image, "
          f"{len(results['inputs'].banked_pdq)} images banked); bank: {args.bank:,} random PDQ + banked")  # fmt: skip
    print("\n| measurement | records/s | vs baseline B (mean) | notes |\n| --- | ---: | ---: | --- |")
    for label, rate, note in rows:
        print(f"| {label} | {rate:,.0f} | {rate / baseline_b:.2f}x | {note} |")
    print(f"\nscaling, 2 workers / 1 worker: {two['throughput'].rate / one['throughput'].rate:.2f}x (both scanning), "
          f"{two['throughput'].total_rate / one['throughput'].total_rate:.2f}x (first to last post)")  # fmt: skip
    print(f"dead letters: 1 worker {one['throughput'].dead}, 2 workers {two['throughput'].dead}; "
          f"takedown requests: {one['throughput'].takedowns} and {two['throughput'].takedowns}")  # fmt: skip
    values = latency["latencies"]
    print(f"\nlatency at {args.latency_load:.0%} of the 1-worker rate: {latency['achieved_rate']:,.0f} posts/s for "
          f"{args.latency_seconds:.0f} s ({latency['posts']} posts); {latency['received']} requests "
          f"(worker decided {latency['decided']})")  # fmt: skip
    if values:
        print(f"post handed to producer -> request appended on the broker: p50 {1000 * percentile(values, 0.5):.0f} ms, "
              f"p90 {1000 * percentile(values, 0.9):.0f} ms, p99 {1000 * percentile(values, 0.99):.0f} ms, "
              f"max {1000 * values[-1]:.0f} ms")  # fmt: skip
        for label, stage in (("scan stage (post sent -> flagged item-event created)", latency["scan_stage"]),
                             ("publish stage (flagged item-event -> request appended)", latency["publish_stage"])):
            print(f"  {label}: p50 {1000 * percentile(stage, 0.5):.0f} ms, p99 {1000 * percentile(stage, 0.99):.0f} ms")
    print("\nmemory (MB) | VmRSS | VmHWM (peak)\n--- | ---: | ---:")
    print(f"latency worker, idle {args.idle_seconds:.0f} s after ready | {latency['idle']['VmRSS']:,.0f} | {latency['idle']['VmHWM']:,.0f}")
    print(f"latency worker, end of run | {latency['end']['VmRSS']:,.0f} | {latency['end']['VmHWM']:,.0f}")
    print(f"throughput worker, end of run | {one['memory'][0]['VmRSS']:,.0f} | {one['memory'][0]['VmHWM']:,.0f}")
    print(f"\nworker start-up to 'Worker ready' (1M bank, model): {one['ready_after'][0]:.1f} s alone; "
          f"{', '.join(f'{s:.1f}' for s in two['ready_after'])} s for two started together")  # fmt: skip


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:39092"))
    parser.add_argument("--posts", type=int, default=20_000, help="posts per throughput phase")
    parser.add_argument("--bank", type=int, default=1_000_000, help="random PDQ hashes in the bank")
    parser.add_argument("--image-share", type=float, default=0.1, help="share of posts carrying a PNG")
    parser.add_argument("--banked-share", type=float, default=0.1, help="share of those images put in the bank")
    parser.add_argument("--repeats", type=int, default=3, help="runs of baseline A (best kept)")
    parser.add_argument("--latency-load", type=float, default=0.5, help="latency phase rate, times the 1-worker rate")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="wait after 'Worker ready' before idle RSS")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between /metrics polls")
    parser.add_argument("--timeout", type=float, default=300.0, help="longest wait for one phase to finish")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the modwatch workers (e.g. MODWATCH_SCAN_BATCH_SECONDS=0.05)")
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy executable: profile one more 1-worker run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, config, profile)")
    args = parser.parse_args()
    args.worker_env = dict(item.split("=", 1) for item in args.worker_env)
    return args


def main() -> None:
    args = parse_arguments()
    run = uuid.uuid4().hex[:10]
    folder = Path(tempfile.mkdtemp(prefix=f"bench-broker-{run}-"))
    print(f"run {run}: topics bench{run}-*, files in {folder}", flush=True)
    try:
        results = run_phases(args, run, folder)
        report(args, results)
        if args.py_spy:
            profile(args, run, folder, results["inputs"], results["config"])
    finally:
        if args.keep or args.py_spy:
            print(f"kept {folder} and the topics bench{run}-*")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            asyncio.run(delete_topics(args.broker, f"bench{run}-"))


def run_phases(args, run: str, folder: Path) -> dict:
    def phase(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    phase(f"generating {args.posts} posts and a {args.bank:,}-entry PDQ bank")
    inputs = make_inputs(args.posts, image_share=args.image_share, banked_share=args.banked_share, seed=args.seed)
    config = write_config(folder, args.bank, inputs.banked_pdq, args.seed)
    results: dict = {"inputs": inputs, "config": config, "faust": []}
    phase("baseline A: raw aiokafka consumer")
    results["aiokafka"] = baseline_aiokafka(args.broker, run, inputs, args.repeats)
    phase("baseline B: faust no-op agent")
    results["faust"].append(baseline_faust(args.broker, run, "b1", inputs, folder))
    phase("modwatch: 1 worker")
    results["one"] = modwatch_throughput(args.broker, run, "one", config, folder, inputs, 1, args)
    phase("modwatch: 2 workers")
    results["two"] = modwatch_throughput(args.broker, run, "two", config, folder, inputs, 2, args)
    rate = args.latency_load * results["one"]["throughput"].rate
    phase(f"latency: {rate:,.0f} posts/s for {args.latency_seconds:.0f} s")
    results["latency"] = modwatch_latency(args.broker, run, config, folder, rate, args)
    phase("baseline B again")
    results["faust"].append(baseline_faust(args.broker, run, "b2", inputs, folder))
    return results


def profile(args, run: str, folder: Path, inputs: Inputs, config: Path) -> None:
    """One more 1-worker run with py-spy attached while it scans (not timed: sampling slows it)."""
    out = folder / "worker-profile.txt"
    print(f"\n[{time.strftime('%H:%M:%S')}] profiling one worker with py-spy", flush=True)
    result = modwatch_throughput(args.broker, run, "profile", config, folder, inputs, 1, args,
                                 profiler=lambda worker: PySpy(args.py_spy, worker, out))  # fmt: skip
    print(f"(under py-spy: {result['throughput'].rate:,.0f} posts/s)")
    print("\n".join(summarise_profile(out)))


if __name__ == "__main__":
    main()
