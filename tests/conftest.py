"""Shared fixtures: one real Kafka broker per test session, isolated workers per test.

The broker comes from ``KAFKA_BOOTSTRAP_SERVERS`` when it is set; otherwise
``deploy/kafka/local.sh`` starts one on a free port with its data in the
session's temporary folder, and stops it when the session ends. Each test
gets its own topic prefix and app id, so tests never see each other's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid

import orjson
import pytest

from streams import processes
from streams.processes import LAUNCHER, ROOT, free_port, free_port_pair  # noqa: F401 - tests import them from here

# The files that take minutes (`make test` lists the slowest), started first: with `--dist loadfile`
# each file runs whole on one process, in collection order, and one of these started last would
# run on alone after every other file had finished.
LONGEST_FIRST = (
    "test_replicated_cluster.py",
    "test_broker_outage.py",
    "test_chaos.py",
    "test_extremism_model.py",
    "test_faults.py",
    "test_worker_end_to_end.py",
    "test_simulate_end_to_end.py",
)


def pytest_collection_modifyitems(items):
    """Collection order with LONGEST_FIRST's files ahead, in that order; the rest as they were."""
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@contextlib.contextmanager
def tables_in_memory():
    """Import the Faust app with its tables in memory, as Faust's testing guide asks; only while it
    is made, so that workers other tests start keep the environment they are given."""
    store = os.environ.get("MODWATCH_STORE")
    os.environ["MODWATCH_STORE"] = "memory://"
    try:
        yield
    finally:
        if store is None:
            del os.environ["MODWATCH_STORE"]
        else:
            os.environ["MODWATCH_STORE"] = store


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    broker = processes.LocalBroker.of_its_own(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def worker_env(kafka_bootstrap, tmp_path) -> dict[str, str]:
    """Environment for a worker isolated to this test: own topics, group and state."""
    return processes.worker_environment(
        kafka_bootstrap,
        f"t{uuid.uuid4().hex[:10]}",
        config_dir=ROOT / "config",
        data_dir=tmp_path / "state",
        web_port=free_port(),
        MODWATCH_SESSION_TIMEOUT_SECONDS="6",
        MODWATCH_SCAN_BATCH_SECONDS="0.05",
    )


class WorkerProcess(processes.Worker):
    """``modwatch worker`` as a real subprocess, with its log in a file; ``start`` waits until it is ready."""

    def start(self, timeout: float = 90.0) -> WorkerProcess:
        super().start()
        try:
            self.wait_ready(timeout)
        except processes.ProcessFailed as error:
            raise AssertionError(f"{error}:\n{self.log()[-4000:]}") from None
        return self


@pytest.fixture
def start_worker(worker_env, tmp_path):
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(env or worker_env, tmp_path / "worker.log").start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1024 * 1024)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(_produce(bootstrap, topic, records))


async def _consume(bootstrap: str, topic: str, *, expect: int, timeout: float, settle: float) -> list:
    """Read from the beginning until ``expect`` records arrive, then ``settle`` more seconds for extras."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    records = []
    try:
        deadline = time.monotonic() + timeout
        settle_until = None
        while time.monotonic() < (settle_until or deadline):
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            if settle_until is None and len(records) >= expect:
                settle_until = time.monotonic() + settle
    finally:
        await consumer.stop()
    return [
        (record.key.decode() if record.key else None, orjson.loads(record.value) if record.value else None)
        for record in records
    ]


def consume(bootstrap: str, topic: str, *, expect: int, timeout: float = 60.0, settle: float = 3.0) -> list:
    return asyncio.run(_consume(bootstrap, topic, expect=expect, timeout=timeout, settle=settle))


def post(platform: str, post_id: str, text: str, **extra) -> tuple[bytes, bytes]:
    record = {
        "platform": platform,
        "post_id": post_id,
        "account_id": extra.pop("account_id", "acct-1"),
        "text": text,
        "posted_at": extra.pop("posted_at", "2026-11-29T10:00:00Z"),
        **extra,
    }
    return f"{platform}:{post_id}".encode(), orjson.dumps(record)
