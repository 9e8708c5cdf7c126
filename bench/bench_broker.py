"""modwatch against a real Kafka broker: throughput, scaling, end-to-end latency, memory.

    .venv/bin/python -m bench.bench_broker [--broker HOST:PORT] [--posts N] [--bank N] [--py-spy PATH] ...

Every measurement gets its own fresh topics (``bench<run>-<phase>.*``) and
consumer group, so no phase sees another's records or offsets; the topics
are deleted at the end (``--keep`` keeps them and the logs). Phases:

1. baseline A: a raw aiokafka consumer that only ``orjson.loads`` each of N
   pre-produced post records (best of ``--repeats``);
2. baseline B: a minimal faust-streaming app in a subprocess whose one agent
   only decodes each record; the agent itself notes the wall time of the first
   and of the N-th record; run at the start and again at the end, to bracket
   drift on a shared machine (ratios use the mean of the two);
   baseline C: a raw aiokafka loop in this process running modwatch's
   detectors a fetch at a time and producing each flagged post's record
   (the scan stage with nothing around it: an upper bound for the scan rate);
3. one modwatch worker (``python -m streams.cli worker``: the shipped config
   plus a bank of ``--bank`` random PDQ hashes) over the same N records;
   (``--compare-scan-consumer``: again with the other ``scan_consumer``);
4. two modwatch workers in one group sharing the 4 partitions, same records;
5. end-to-end latency, once per ``--latency-loads`` share of the one-worker
   end-to-end rate: a fresh worker on empty topics, posts produced at that
   rate; per takedown request, from handing the post to the producer to the
   broker's append of the request on ``<prefix>.takedown-requests`` (created
   with ``LogAppendTime``), split at the item's ``flagged`` record on
   item-events (scan stage, then publish stage); the median of the first and
   of the last third of the requests shows whether the worker kept up;
6. memory: the worker's VmRSS idle after start-up and at the end of a run,
   and, as a baseline, a worker with the shipped config (its small example
   bank) idle;
7. optionally (``--py-spy``) one more one-worker run with py-spy attached,
   summarised by agent and by the code that held the interpreter lock.

Posts are bench/corpus.py's 150-character posts in four languages
(``--violating-share`` name a designated group beside a cue); ``--image-share``
of them carry one generated image (every one different: the worker caches
hashes by content) as ``media[].data_b64``; the PDQ hashes of
``--banked-share`` of those images are put in the bank too, so the match path
runs. The bank is a CSV in a temporary copy of ``config/hashbank/``. Two mixes
(``--mix``): ``stress`` (the default: 10 % violating, 10 % with a 256x256 PNG
of about 2 KB) and ``realistic`` (1 % violating, 3 % with a JPEG photo-sized
between 0.5 and 2 megapixels, 100-300 KB); ``--violating-share``,
``--image-share`` and ``--image-kind`` override a mix's values.

How throughput is timed. Every throughput phase consumes a backlog produced
before its consumer started, from the first record to the last, so start-up
(Faust's group join, modwatch's bank and model loading) is not timed. For
modwatch, the worker's ``/metrics`` is polled every ``--poll`` seconds (one
page takes the worker tens of milliseconds to render: polling faster
than once a second costs it several per cent):

* *scan rate*: ``modwatch_posts_processed_total`` between two polls taken
  while every worker was scanning (with two workers, the window in which
  both were: the second one's join costs the first a rebalance, which would
  otherwise be timed as scaling);
* *first to last*: from the first poll that saw progress until every post
  was scanned;
* *end to end*: the same start, until ``modwatch_takedown_requests_total``
  had caught up with the takedown decisions
  (``modwatch_decisions_total{action="takedown"}``): every post scanned and
  every request it called for published;
* *worker CPU per post*: user + system time of the worker processes
  (``/proc/<pid>/stat``) over the same span, divided by the posts: less
  sensitive to other work on the machine than any rate, and "cores busy"
  (CPU time over wall time) says whether the workers got the CPU they wanted.

The machine has 2 cores shared with the broker and other work: compare the
ratios, not the absolute figures.
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
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.corpus import posts as corpus_posts
from streams import processes
from streams.processes import ChildProcess, ProcessFailed, free_port, worker_environment

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# The whole of baseline B: a Faust app whose one agent decodes each record and does nothing else.
FAUST_NOOP_APP = """
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
"""


def say(message: str) -> None:
    """A progress line with the 1-minute load average: the machine is shared, this says how busy it was."""
    print(f"[{time.strftime('%H:%M:%S')}] (load {os.getloadavg()[0]:.1f}) {message}", flush=True)


# --- inputs ----------------------------------------------------------------------------------


@dataclass
class Inputs:
    """The post records (key, value) and what they hold."""

    records: list[tuple[bytes, bytes]]
    images: int = 0
    banked_pdq: list[str] = field(default_factory=list)


def png(seed: int, side: int = 256) -> bytes:
    """A small PNG (about 2 KB) of coloured shapes, different for every seed."""
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


def jpeg(seed: int) -> bytes:
    """A photo-sized JPEG (0.5 to 2 megapixels, quality 85) of shapes over a gradient, different for every seed."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    pixels = rng.uniform(0.5e6, 2e6)
    aspect = rng.choice((4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4))
    width = int((pixels * aspect) ** 0.5)
    height = int(pixels / width)
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, gradient.rotate(90, expand=False), gradient.transpose(Image.FLIP_LEFT_RIGHT)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(width), rng.randrange(height)
        size = rng.randrange(20, max(21, min(width, height) // 2))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + size, y + size), fill=tuple(rng.randrange(256) for _ in range(3)))
    # Sensor-like noise: a photo's detail, which is what makes a JPEG of this size 100-300 KB.
    image = Image.blend(image, Image.effect_noise((width, height), 30).convert("RGB"), 0.15)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


MIXES = {
    "stress": {"violating_share": 0.1, "image_share": 0.1, "image_kind": "png"},
    "realistic": {"violating_share": 0.01, "image_share": 0.03, "image_kind": "jpeg"},
}


def make_inputs(
    count: int,
    *,
    image_share: float,
    banked_share: float,
    seed: int,
    id_prefix: str = "",
    violating_share: float = 0.1,
    image_kind: str = "png",
) -> Inputs:
    """bench/corpus.py posts as event-contract JSON; a share with one image, some of those banked."""
    from detectors.hashing import ImageHasher

    rng = random.Random(seed)
    hasher = ImageHasher()
    inputs = Inputs(records=[])
    make_image = jpeg if image_kind == "jpeg" else png
    for post in corpus_posts(count, matching_share=violating_share, seed=seed):
        post_id = id_prefix + post.post_id
        record = {
            "platform": post.platform,
            "post_id": post_id,
            "account_id": post.account_id,
            "text": post.text,
            "lang": post.lang,
            "posted_at": post.posted_at.isoformat(),
        }
        if rng.random() < image_share:
            data = make_image(seed * 1_000_003 + int(post.post_id))
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
        out.writelines(f"pdq,{hexes[i * 64 : (i + 1) * 64]},bench-random,bench\n" for i in range(bank_size))
        # Labels hashing.yaml does not map get its default category, terrorism_promotion: a match is a takedown.
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
    """modwatch's own topic specs (streams/admin.py) for ``prefix``, with one change.

    ``takedown-requests`` stamps records with the broker's append time
    (``LogAppendTime``), so a request's timestamp says when it reached Kafka,
    not when the worker's producer queued it.
    """
    from streams.admin import topic_specs
    from streams.settings import Settings

    settings = Settings.load(config, environ={"MODWATCH_TOPIC_PREFIX": prefix, "MODWATCH_PARTITIONS": str(PARTITIONS)})
    specs = topic_specs(settings)
    for spec in specs:
        if spec.name == settings.topic("takedown-requests"):
            spec.topic_configs = dict(spec.topic_configs, **{"message.timestamp.type": "LogAppendTime"})
    return specs


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send every record without waiting for each ack, then flush."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=MAX_MESSAGE_BYTES
    )
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def fresh_topic(bootstrap: str, name: str, inputs: Inputs) -> str:
    """``<name>.posts`` with 4 partitions, holding every input record."""
    topic = name + ".posts"
    asyncio.run(create_topics(bootstrap, [NewTopic(topic, PARTITIONS, 1)]))
    asyncio.run(produce(bootstrap, topic, inputs.records))
    return topic


def wait_for(condition, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- baselines -------------------------------------------------------------------------------


async def consume_and_decode(bootstrap: str, topic: str, expect: int) -> float:
    """Records/s of a bare aiokafka loop that decodes each record with orjson, first to last record."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
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


def baseline_aiokafka(bootstrap: str, name: str, inputs: Inputs, repeats: int) -> float:
    """Baseline A: the best of ``repeats`` reads of one topic (no group, so each read starts at offset 0)."""
    topic = fresh_topic(bootstrap, name, inputs)
    return max(asyncio.run(consume_and_decode(bootstrap, topic, len(inputs.records))) for _ in range(repeats))


async def consume_detect_produce(bootstrap: str, topic: str, expect: int, pipeline) -> float:
    """Posts/s of a bare aiokafka loop running modwatch's detectors a fetch at a time, in this process.

    Each fetch (at most 500 records) is parsed (images hashed here, on one
    core), scanned with ``Pipeline.scan``, each flagged post's record produced
    (acks=all) and waited for, and the offsets committed: the scan stage with
    none of the worker's machinery around it, an upper bound for its scan rate.
    """
    from detectors.events import InvalidEvent

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic + "-c",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        seen, first = 0, None
        while seen < expect:
            fetched = await consumer.getmany(timeout_ms=500, max_records=500)
            posts = []
            for record in (record for batch in fetched.values() for record in batch):
                first = first or time.perf_counter()
                seen += 1
                try:
                    posts.append(pipeline.parse_post(record.value, record.key, keyed=True))
                except InvalidEvent:
                    pass
            acks = [
                await producer.send(
                    topic + "-flagged", key=d.post.key.encode(), value=orjson.dumps(pipeline.flagged(d))
                )
                for d in pipeline.scan(posts)
                if d.action != "none"
            ]
            await asyncio.gather(*acks)
            if fetched:
                await consumer.commit()
        return (expect - 1) / (time.perf_counter() - first)
    finally:
        await producer.stop()
        await consumer.stop()


def baseline_detectors(bootstrap: str, name: str, inputs: Inputs, config: Path) -> float:
    """Baseline C: raw aiokafka + the project's detectors, batched, flagged records produced (one core)."""
    from detectors.pipeline import Pipeline

    topic = fresh_topic(bootstrap, name, inputs)
    asyncio.run(create_topics(bootstrap, [NewTopic(topic + "-flagged", PARTITIONS, 1)]))
    pipeline = Pipeline.from_config_dir(config)
    return asyncio.run(consume_detect_produce(bootstrap, topic, len(inputs.records), pipeline))


def baseline_faust(bootstrap: str, name: str, inputs: Inputs, folder: Path, timeout: float = 300) -> float:
    """Baseline B: records/s of a Faust agent that only decodes JSON, first to N-th record as the agent saw them."""
    topic = fresh_topic(bootstrap, name, inputs)
    app_file, out, log_path = folder / f"{name}_noop.py", folder / f"{name}.json", folder / f"{name}.log"
    app_file.write_text(FAUST_NOOP_APP)
    env = dict(
        os.environ,
        BENCH_APP_ID=name,
        BENCH_BROKER=f"kafka://{bootstrap}",
        BENCH_TOPIC=topic,
        BENCH_PARTITIONS=str(PARTITIONS),
        BENCH_EXPECT=str(len(inputs.records)),
        BENCH_OUT=str(out),
    )
    app = ChildProcess([sys.executable, str(app_file), "worker", "-l", "warn"], env, log_path, folder).start()
    try:
        wait_for(lambda: out.exists() or not app.alive(), timeout, f"the faust no-op app ({name})")
    finally:
        app.stop()
    if not out.exists():
        raise SystemExit(f"faust no-op app exited with {app.process.returncode}; see {log_path}")
    stamps = orjson.loads(out.read_bytes())
    return (stamps["count"] - 1) / (stamps["last"] - stamps["first"])


# --- modwatch workers -------------------------------------------------------------------------


class Worker(processes.Worker):
    """``python -m streams.cli worker`` in a subprocess, with its log, /metrics and /proc memory."""

    def __init__(self, bootstrap: str, name: str, config: Path, folder: Path, extra_env: dict[str, str]):
        self.port = free_port()
        env = worker_environment(
            bootstrap,
            name,
            config_dir=config,
            data_dir=folder / f"state-{self.port}",
            web_port=self.port,
            **extra_env,
        )
        super().__init__(env, folder / f"{name}-{self.port}.log")
        self.ready_after = None

    def ready(self) -> bool:
        """Whether Faust logged "Worker ready" (group joined, tables recovered); an exit is fatal."""
        try:
            ready = super().ready()
        except ProcessFailed as error:
            raise SystemExit(str(error)) from None
        if ready and self.ready_after is None:
            self.ready_after = time.monotonic() - self.started_at
        return ready

    def metrics(self) -> str | None:
        """The /metrics page, or None while the web server is not up (or too busy to answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None

    def memory_mb(self) -> dict[str, float]:
        """VmRSS (resident now) and VmHWM (peak resident) from /proc, in MB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}

    def cpu_seconds(self) -> float:
        """User + system CPU time the worker has used so far (/proc/<pid>/stat), all threads."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_ready(workers: list[Worker], timeout: float = 300) -> None:
    """Start the workers together and wait until every one has logged "Worker ready"."""
    for worker in workers:
        worker.start()
    wait_for(lambda: all(worker.ready() for worker in workers), timeout, "modwatch workers to be ready")


def metric_sum(page: str, name: str, *, having: str = "") -> float:
    """Sum of every sample of ``name`` whose labels contain ``having``."""
    total = 0.0
    for line in page.splitlines():
        if line.startswith(name + "{") and having in line.split("}", 1)[0]:
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Counts:
    """One worker's counters at one poll."""

    scanned: float = 0.0
    dead: float = 0.0
    takedowns_decided: float = 0.0
    takedowns_published: float = 0.0
    cpu: float = 0.0  # seconds of CPU the worker process has used

    @classmethod
    def of(cls, page: str, posts_topic: str, cpu: float) -> Counts:
        return cls(
            cpu=cpu,
            scanned=metric_sum(page, "modwatch_posts_processed_total"),
            dead=metric_sum(page, "modwatch_events_total", having=f'topic="{posts_topic}",outcome="deadletter"'),
            takedowns_decided=metric_sum(page, "modwatch_decisions_total", having='action="takedown"'),
            takedowns_published=metric_sum(page, "modwatch_takedown_requests_total"),
        )


@dataclass
class Sample:
    at: float
    workers: list[Counts]

    @property
    def scanned(self) -> float:
        return self.total("scanned")

    def total(self, counter: str) -> float:
        return sum(getattr(counts, counter) for counts in self.workers)

    def finished(self, expect: int) -> bool:
        """Every post scanned (or dead-lettered) and every request decided so far published."""
        return self.total("scanned") + self.total("dead") >= expect and self.total("takedowns_published") >= self.total(
            "takedowns_decided"
        )


def poll_until_done(
    workers: list[Worker], posts_topic: str, expect: int, interval: float, timeout: float
) -> list[Sample]:
    """Poll every worker's /metrics until the work is finished; a poll that fails repeats the worker's last counts."""
    samples: list[Sample] = []
    last = [Counts() for _ in workers]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, worker in enumerate(workers):
            worker.ready()  # raises if the worker died
            page = worker.metrics()
            if page is not None:
                last[index] = Counts.of(page, posts_topic, worker.cpu_seconds())
        samples.append(Sample(time.perf_counter(), list(last)))
        if samples[-1].finished(expect):
            return samples
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s; last counts {last}")


@dataclass
class Throughput:
    scan_rate: float  # posts/s while every worker was scanning (polls inside the run only)
    window: float  # seconds between those two polls
    first_to_last: float  # posts/s, first progress to every post scanned
    end_to_end: float  # posts/s, first progress to every decided request published
    shares: list[int]  # posts scanned by each worker
    dead: int
    takedowns: int
    cpu_ms_per_post: float  # worker CPU (all workers, all threads), first progress to finished
    cores: float  # that CPU time over the wall time: how many cores the workers kept busy


def throughput(samples: list[Sample], expect: int) -> Throughput:
    """Rates from the polled counters.

    The scan rate uses two polls taken while every worker was scanning (each
    had counted some posts and not yet all of its own), so neither end of the
    window waits on a poll. The first-to-last and end-to-end rates need the
    moment the work ended: it is put halfway between the last poll before and
    the first poll after (at most half a poll interval off).
    """
    workers = range(len(samples[0].workers))
    final = [samples[-1].workers[w].scanned for w in workers]
    scanning = [s for s in samples if all(0 < s.workers[w].scanned < final[w] for w in workers)]
    inside = (scanning[0], scanning[-1]) if len(scanning) >= 2 else (samples[-1], samples[-1])
    begun = next(s for s in samples if s.scanned > 0)
    all_scanned = ended_at(samples, lambda s: s.scanned >= sum(final))
    finished = ended_at(samples, lambda s: s.finished(expect))
    done = next(s for s in samples if s.finished(expect))
    cpu = done.total("cpu") - begun.total("cpu")
    return Throughput(
        # nan when fewer than two polls fell inside the window: too few posts for the poll interval.
        scan_rate=(inside[1].scanned - inside[0].scanned) / (inside[1].at - inside[0].at or float("nan")),
        window=inside[1].at - inside[0].at,
        first_to_last=(sum(final) - begun.scanned) / (all_scanned - begun.at),
        end_to_end=(sum(final) - begun.scanned) / (finished - begun.at),
        shares=[int(count) for count in final],
        dead=int(samples[-1].total("dead")),
        takedowns=int(samples[-1].total("takedowns_published")),
        cpu_ms_per_post=1000 * cpu / (done.scanned - begun.scanned),
        cores=cpu / (done.at - begun.at),
    )


def ended_at(samples: list[Sample], done) -> float:
    """Halfway between the last poll at which ``done`` was false and the first at which it was true."""
    index = next(i for i, s in enumerate(samples) if done(s))
    return (samples[index - 1].at + samples[index].at) / 2 if index else samples[index].at


def modwatch_throughput(bootstrap, name, config, folder, inputs, count, args, profiler=None) -> dict:
    """N pre-produced posts, then ``count`` workers in one group, polled until every post is handled."""
    asyncio.run(create_topics(bootstrap, modwatch_topics(config, name)))
    asyncio.run(produce(bootstrap, name + ".posts", inputs.records))
    workers = [Worker(bootstrap, name, config, folder, args.worker_env) for _ in range(count)]
    try:
        start_ready(workers)
        tracer = profiler(workers[0]) if profiler else None
        samples = poll_until_done(workers, name + ".posts", len(inputs.records), args.poll, args.timeout)
        if tracer:
            tracer.stop()
        memory = [worker.memory_mb() for worker in workers]
    finally:
        for worker in workers:
            worker.stop()
    return {
        "throughput": throughput(samples, len(inputs.records)),
        "memory": memory,
        "ready_after": [w.ready_after for w in workers],
        # Counted on the broker: every record the workers produced, per topic.
        "records": asyncio.run(produced_records(bootstrap, name)),
    }


async def produced_records(bootstrap: str, prefix: str) -> dict[str, int]:
    """Records the workers wrote to each topic of ``prefix`` (end minus first offset; compaction
    leaves the offsets), the input topic left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        names = [
            topic
            for topic in sorted(await admin.list_topics())
            if topic.startswith(prefix + ".") and topic != prefix + ".posts"
        ]
        counts = {}
        for described in await admin.describe_topics(names) if names else []:
            topic = described["topic"]
            partitions = [TopicPartition(topic, part["partition"]) for part in described["partitions"]]
            ends, starts = await consumer.end_offsets(partitions), await consumer.beginning_offsets(partitions)
            counts[topic[len(prefix) + 1 :]] = sum(ends[part] - starts[part] for part in partitions)
        return counts
    finally:
        await consumer.stop()
        await admin.close()


def idle_memory(bootstrap, name, config, folder, args) -> dict:
    """VmRSS of a worker on empty topics, ``--idle-seconds`` after it is ready."""
    asyncio.run(create_topics(bootstrap, modwatch_topics(config, name)))
    worker = Worker(bootstrap, name, config, folder, args.worker_env)
    try:
        start_ready([worker])
        time.sleep(args.idle_seconds)
        return dict(worker.memory_mb(), ready_after=worker.ready_after)
    finally:
        worker.stop()


# --- end-to-end latency ----------------------------------------------------------------------


async def paced_produce(bootstrap: str, topic: str, records, rate: float, sent_at: dict[str, float]) -> float:
    """Send records at ``rate`` per second, noting each post's send time (wall clock); return the rate achieved."""
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
    item-events (CreateTime: the worker's clock when the scan agent sent it).
    ``requested``: the broker's append time of the request on
    takedown-requests (LogAppendTime). One machine, one clock.
    """
    topics = {f"{name}.item-events": "flagged", f"{name}.takedown-requests": "requested"}
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )
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


async def latency_run(bootstrap: str, worker: Worker, name: str, records, rate: float, timeout: float) -> dict:
    """Produce at ``rate``, wait until every post is scanned and every decided request has arrived."""
    sent_at: dict[str, float] = {}
    stamps: dict[str, dict[str, float]] = {"flagged": {}, "requested": {}}
    stop = asyncio.Event()
    collector = asyncio.create_task(collect_outputs(bootstrap, name, stamps, stop))
    cpu_before = worker.cpu_seconds()
    achieved = await paced_produce(bootstrap, name + ".posts", records, rate, sent_at)
    loop = asyncio.get_running_loop()
    decided, deadline = 0.0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = await loop.run_in_executor(None, worker.metrics) or ""
        decided = metric_sum(page, "modwatch_decisions_total", having='action="takedown"')
        if metric_sum(page, "modwatch_posts_processed_total") >= len(records) and len(stamps["requested"]) >= decided:
            break
        await asyncio.sleep(0.5)
    cpu = worker.cpu_seconds() - cpu_before
    stop.set()
    await collector
    sent, flagged, requested = sent_at, stamps["flagged"], stamps["requested"]
    keys = sorted((key for key in requested if key in sent and key in flagged), key=sent.get)
    third = max(1, len(keys) // 3)
    return {
        "cpu_ms_per_post": 1000 * cpu / len(records),
        # Median latency of the first and the last third of the requests, by send time:
        # a worker that keeps up shows the same; one that falls behind, a growing one.
        "drift": [
            statistics.median(requested[key] - sent[key] for key in part) if part else float("nan")
            for part in (keys[:third], keys[-third:])
        ],
        "rate": rate,
        "achieved_rate": achieved,
        "posts": len(records),
        "total": sorted(requested[key] - sent[key] for key in keys),
        "scan_stage": sorted(flagged[key] - sent[key] for key in keys),
        "publish_stage": sorted(requested[key] - flagged[key] for key in keys),
        "decided": int(decided),
        "received": len(requested),
    }


def modwatch_latency(bootstrap, name, config, folder, rate: float, args, seed: int) -> dict:
    """A fresh worker on empty topics: RSS idle after start-up, then ``rate`` posts/s, then RSS again."""
    count = max(1, int(rate * args.latency_seconds))
    inputs = make_inputs(count, **mix_of(args), banked_share=args.banked_share, seed=seed, id_prefix="lat-")
    asyncio.run(create_topics(bootstrap, modwatch_topics(config, name)))
    worker = Worker(bootstrap, name, config, folder, args.worker_env)
    try:
        start_ready([worker])
        cpu_before = worker.cpu_seconds()
        time.sleep(args.idle_seconds)
        idle = dict(worker.memory_mb(), cores=(worker.cpu_seconds() - cpu_before) / args.idle_seconds)
        result = asyncio.run(latency_run(bootstrap, worker, name, inputs.records, rate, args.timeout))
        result.update(idle=idle, end=worker.memory_mb(), ready_after=worker.ready_after)
    finally:
        worker.stop()
    return result


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return values[min(len(values) - 1, max(0, int(np.ceil(share * len(values))) - 1))]


# --- profiling (optional) ----------------------------------------------------------------------


class PySpy:
    """``py-spy record --gil`` on one worker while it scans, as raw collapsed stacks.

    ``--gil`` samples only the thread holding the interpreter lock: the worker
    is one process with one GIL, so these samples are where its Python CPU
    time goes (waiting on sockets, fsync or the thread pool is not sampled).
    """

    def __init__(self, executable: str, worker: Worker, out: Path):
        self.process = subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(worker.process.pid),
                "--gil",
                "--format",
                "raw",
                "--rate",
                "100",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        self.process.wait(60)


# Which agent (or other part of the worker) a stack belongs to: the first of these found in it.
AGENTS = (
    ("Pipeline.scan", "scan_posts: detectors + policy (executor thread)"),
    ("scan_posts", "scan_posts: parse + validate (hashes images), metrics, send (event loop)"),
    ("track_items", "track_items: alerts, requests, lifecycle, ledger"),
    ("write_outbox", "Dispatcher: outbox files (executor thread)"),
    ("_deliver", "Dispatcher: event loop part"),
    ("metrics_handler", "GET /metrics (this benchmark's polling)"),
    ("follow_hash_bank", "timers and tasks"),
    ("probe_broker", "timers and tasks"),
    ("publish_lag", "timers and tasks"),
    ("rewind_stalled_partitions", "timers and tasks"),
    ("check_deadlines", "timers and tasks"),
)
# Which code ran: the innermost frame from one of these paths (numpy and the
# standard library count for the code that called them).
COMPONENTS = (
    (("detectors/hashing.py", "PIL/", "pdqhash"), "image decoding + PDQ hashing"),
    (
        ("detectors/hashbank.py", "detectors/pdq_index.py", "detectors/media_hash.py"),
        "PDQ bank search and exact lookups",
    ),
    (
        ("detectors/classifier.py", "detectors/text_classifier.py", "detectors/model_files.py", "sklearn/", "scipy/"),
        "text classifier",
    ),
    (
        ("detectors/designations.py", "detectors/threats.py", "detectors/text.py", "detectors/watchlist.py"),
        "rule detectors",
    ),
    (("detectors/events.py",), "event parsing and validation"),
    (("detectors/policy.py", "detectors/pipeline.py"), "policy and pipeline"),
    (("streams/delivery/", "takedowns/notice.py", "takedowns/findings.py"), "delivery (notice, HTML page, fsync)"),
    (("takedowns/lifecycle.py", "takedowns/requests.py", "takedowns/messages.py"), "lifecycle"),
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
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        agent = next(
            (name for needle, name in AGENTS if any(needle in frame for frame in frames)),
            "faust/mode/aiokafka internals (fetching, stream delivery, commits, producing)",
        )
        agents[agent] += int(count)
        components[component_of(frames)] += int(count)
    total = sum(agents.values())
    lines = [f"{total} samples of the thread holding the GIL; stacks in {path}", "by agent:"]
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


# --- the run ---------------------------------------------------------------------------------


def run_phases(args, run: str, folder: Path) -> dict:
    broker, name = args.broker, lambda phase: f"bench{run}-{phase}"
    say(f"generating {args.posts} posts and a {args.bank:,}-entry PDQ bank")
    inputs = make_inputs(args.posts, **mix_of(args), banked_share=args.banked_share, seed=args.seed)
    config = write_config(folder, args.bank, inputs.banked_pdq, args.seed)
    results: dict = {"inputs": inputs, "config": config}
    say("baseline A: raw aiokafka consumer")
    results["aiokafka"] = baseline_aiokafka(broker, name("a"), inputs, args.repeats)
    say("baseline B: faust no-op agent")
    results["faust"] = [baseline_faust(broker, name("b1"), inputs, folder)]
    say("baseline C: raw aiokafka + the detectors, batched, flagged records produced")
    results["detectors"] = baseline_detectors(broker, name("c"), inputs, config)
    say("modwatch: 1 worker")
    results["one"] = modwatch_throughput(broker, name("one"), config, folder, inputs, 1, args)
    if args.compare_scan_consumer:
        other = "faust" if args.worker_env.get("MODWATCH_SCAN_CONSUMER", "batched") == "batched" else "batched"
        say(f"modwatch: 1 worker, scan_consumer {other}")
        swapped = argparse.Namespace(**vars(args))
        swapped.worker_env = dict(args.worker_env, MODWATCH_SCAN_CONSUMER=other)
        results["one_other"] = modwatch_throughput(broker, name("oneb"), config, folder, inputs, 1, swapped)
        results["one_other"]["consumer"] = other
    say("modwatch: 2 workers")
    results["two"] = modwatch_throughput(broker, name("two"), config, folder, inputs, 2, args)
    results["latency"] = []
    for index, load in enumerate(args.latency_loads):
        rate = load * results["one"]["throughput"].end_to_end
        say(
            f"latency: {rate:,.0f} posts/s ({load:.0%} of the 1-worker end-to-end rate) for {args.latency_seconds:.0f} s"
        )
        latency = modwatch_latency(broker, name(f"lat{index}"), config, folder, rate, args, seed=args.seed + 1 + index)
        results["latency"].append(dict(latency, load=load))
    say("memory baseline: a worker with the shipped config, idle")
    results["shipped_idle"] = idle_memory(broker, name("mem"), ROOT / "config", folder, args)
    say("baseline B again")
    results["faust"].append(baseline_faust(broker, name("b2"), inputs, folder))
    return results


def profile(args, run: str, folder: Path, inputs: Inputs, config: Path) -> list[str]:
    """One more 1-worker run with py-spy attached while it scans (sampling slows it: not a figure)."""
    out = Path(tempfile.gettempdir()) / f"bench-broker-{run}-profile.txt"  # kept after the run
    say("profiling one worker with py-spy")
    result = modwatch_throughput(
        args.broker,
        f"bench{run}-profile",
        config,
        folder,
        inputs,
        1,
        args,
        profiler=lambda worker: PySpy(args.py_spy, worker, out),
    )
    return [
        f"py-spy --gil over one worker's run ({result['throughput'].scan_rate:,.0f} posts/s scanned under py-spy):",
        *summarise_profile(out),
    ]


# --- report ----------------------------------------------------------------------------------


def report(args, results: dict) -> None:
    """Markdown tables for bench/RESULTS.md."""
    inputs, baseline = results["inputs"], statistics.mean(results["faust"])
    one, two = results["one"]["throughput"], results["two"]["throughput"]
    print(
        f"\n{len(inputs.records):,} posts ({args.mix} mix, {mix_of(args)['violating_share']:.0%} violating), "
        f"{inputs.images:,} with {IMAGE_KINDS[mix_of(args)['image_kind']]}, {len(inputs.banked_pdq)} of those "
        f"banked; bank {args.bank:,} random PDQ hashes + the banked ones; {one.takedowns:,} takedown requests "
        f"per run; dead letters {one.dead} and {two.dead}"
    )
    rows = [("A: aiokafka consumer + `orjson.loads`", results["aiokafka"], f"best of {args.repeats}")]
    rows += [(f"B: Faust no-op agent, run {i + 1}", rate, "") for i, rate in enumerate(results["faust"])]
    rows.append(("C: aiokafka + detectors, a fetch at a time, flags produced", results["detectors"], "one core"))
    runs = [("1 worker", one), ("2 workers", two)]
    if "one_other" in results:
        runs.insert(
            1, (f"1 worker, scan_consumer {results['one_other']['consumer']}", results["one_other"]["throughput"])
        )
    for label, run in runs:
        cost = f"worker CPU {run.cpu_ms_per_post:.2f} ms/post, {run.cores:.2f} cores busy"
        rows += [
            (f"modwatch, {label}: scan rate", run.scan_rate, f"{run.window:.1f} s window; shares {run.shares}"),
            (f"modwatch, {label}: first to last post scanned", run.first_to_last, ""),
            (f"modwatch, {label}: end to end (every request published)", run.end_to_end, cost),
        ]
    print("\n| posts or records per second | /s | vs B (mean) | notes |\n| --- | ---: | ---: | --- |")
    for label, rate, note in rows:
        print(f"| {label} | {rate:,.0f} | {rate / baseline:.2f}x | {note} |")
    print(
        f"\nScaling, 2 workers / 1 worker: scan rate {two.scan_rate / one.scan_rate:.2f}x; first to last "
        f"{two.first_to_last / one.first_to_last:.2f}x; end to end {two.end_to_end / one.end_to_end:.2f}x"
    )
    report_records(results["one"]["records"], one.takedowns)
    report_latency(results["latency"])
    report_memory(args, results)


def report_records(records: dict[str, int], takedowns: int) -> None:
    """Records produced per takedown request, per topic, counted on the broker (one worker's run)."""
    total = sum(records.values())
    print(f"\n| topic (1 worker's run) | records | per takedown ({takedowns:,} requests) |\n| --- | ---: | ---: |")
    for topic, count in sorted(records.items(), key=lambda item: -item[1]):
        if count:
            print(f"| {topic} | {count:,} | {count / max(takedowns, 1):.2f} |")
    print(f"| **all topics** | {total:,} | **{total / max(takedowns, 1):.2f}** |")


def report_latency(runs: list[dict]) -> None:
    print(
        "\n| load | posts/s | requests | worker CPU ms/post | p50 first/last third ms | stage | p50 ms | p90 ms "
        "| p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
    )
    stages = (
        ("total", "post sent -> request appended"),
        ("scan_stage", "post sent -> flagged item-event"),
        ("publish_stage", "flagged item-event -> request appended"),
    )
    for run in runs:
        for key, label in stages:
            values = [1000 * value for value in run[key]] or [float("nan")]
            about = ["", "", "", "", ""]
            if key == "total":
                about = [
                    f"{run['load']:.0%}",
                    f"{run['achieved_rate']:,.0f}",
                    f"{run['received']:,}/{run['decided']:,}",
                    f"{run['cpu_ms_per_post']:.2f}",
                    " / ".join(f"{1000 * d:,.0f}" for d in run["drift"]),
                ]
            print(
                f"| {' | '.join(about)} | {label} | {percentile(values, 0.5):,.0f} | "
                f"{percentile(values, 0.9):,.0f} | {percentile(values, 0.99):,.0f} | {values[-1]:,.0f} |"
            )


def report_memory(args, results: dict) -> None:
    shipped, first_latency = results["shipped_idle"], results["latency"][0]
    one = results["one"]["memory"][0]
    rows = [
        (f"shipped config (example bank), idle {args.idle_seconds:.0f} s after ready", shipped),
        (f"{args.bank:,}-entry bank + model, idle {args.idle_seconds:.0f} s after ready", first_latency["idle"]),
        (f"same, after the {first_latency['load']:.0%} latency run", first_latency["end"]),
        ("same, after the 1-worker throughput run", one),
    ]
    print("\n| worker | VmRSS MB | VmHWM (peak) MB |\n| --- | ---: | ---: |")
    for label, memory in rows:
        print(f"| {label} | {memory['VmRSS']:,.0f} | {memory['VmHWM']:,.0f} |")
    ready = results["one"]["ready_after"] + results["two"]["ready_after"]
    print(
        f"\nIdle worker ({args.bank:,} bank), {args.idle_seconds:.0f} s after ready: "
        f"{first_latency['idle']['cores']:.3f} cores of CPU"
    )
    print(
        f"Start to 'Worker ready': shipped config {shipped['ready_after']:.1f} s; with the {args.bank:,} bank "
        f"{ready[0]:.1f} s alone, {ready[1]:.1f} and {ready[2]:.1f} s for two started together"
    )


IMAGE_KINDS = {"png": "a 256x256 PNG", "jpeg": "a 0.5-2 MP JPEG"}


def mix_of(args) -> dict:
    """The mix's shares and image kind, with any given on the command line instead."""
    chosen = dict(MIXES[args.mix])
    for name in chosen:
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    return chosen


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:39092"))
    parser.add_argument("--posts", type=int, default=20_000, help="posts per throughput phase")
    parser.add_argument("--bank", type=int, default=1_000_000, help="random PDQ hashes in the bank")
    parser.add_argument("--mix", choices=sorted(MIXES), default="stress", help="violating and image shares (above)")
    parser.add_argument("--violating-share", type=float, help="share of posts that name a group beside a cue")
    parser.add_argument("--image-share", type=float, help="share of posts carrying an image")
    parser.add_argument("--image-kind", choices=sorted(IMAGE_KINDS), help="png: 256x256 shapes; jpeg: 0.5-2 MP")
    parser.add_argument("--banked-share", type=float, default=0.1, help="share of those images put in the bank")
    parser.add_argument("--repeats", type=int, default=3, help="reads of baseline A (best kept)")
    parser.add_argument(
        "--latency-loads",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[0.5, 0.25],
        help="latency runs, each at this share of the 1-worker end-to-end rate (comma-separated)",
    )
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="wait after 'Worker ready' before idle RSS")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between /metrics polls")
    parser.add_argument("--timeout", type=float, default=300.0, help="longest wait for one phase to finish")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for every modwatch worker, e.g. MODWATCH_SCAN_BATCH_SECONDS=0.05",
    )
    parser.add_argument(
        "--compare-scan-consumer",
        action="store_true",
        help="one more 1-worker run with the other scan_consumer (batched or faust), in the same run",
    )
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy executable: profile one more 1-worker run")
    parser.add_argument("--keep", action="store_true", help="keep the topics and the temporary folder (logs, config)")
    args = parser.parse_args(argv)
    args.worker_env = dict(item.split("=", 1) for item in args.worker_env)
    return args


def main() -> None:
    args = parse_arguments()
    run = uuid.uuid4().hex[:10]
    folder = Path(tempfile.mkdtemp(prefix=f"bench-broker-{run}-"))
    say(f"run {run}: topics bench{run}-*, files in {folder}")
    try:
        results = run_phases(args, run, folder)
        profiled = profile(args, run, folder, results["inputs"], results["config"]) if args.py_spy else []
        say("done")
        report(args, results)
        print("\n" + "\n".join(profiled))
    finally:
        if args.keep:
            print(f"kept {folder} and the topics bench{run}-*")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            asyncio.run(delete_topics(args.broker, f"bench{run}-"))


if __name__ == "__main__":
    main()
