"""Shared fixtures: one real Kafka broker per test session, isolated workers per test.

The broker comes from ``KAFKA_BOOTSTRAP_SERVERS`` when it is set; otherwise
``deploy/kafka/local.sh`` starts one on a free port with its data in the
session's temporary folder, and stops it when the session ends. Each test
gets its own topic prefix and app id, so tests never see each other's records.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "deploy" / "kafka" / "local.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A port whose successor is free too: the local broker's controller uses port + 1."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    port = free_port_pair()
    env = dict(os.environ, MODWATCH_KAFKA_PORT=str(port), MODWATCH_KAFKA_DATA=str(tmp_path_factory.mktemp("kafka")))
    subprocess.run([str(LAUNCHER), "start"], env=env, check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(LAUNCHER), "stop"], env=env, check=False)


@pytest.fixture
def worker_env(kafka_bootstrap, tmp_path) -> dict[str, str]:
    """Environment for a worker isolated to this test: own topics, group and state."""
    name = f"t{uuid.uuid4().hex[:10]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODWATCH_")}
    env.update(
        MODWATCH_BROKER="kafka://" + kafka_bootstrap.replace(",", ";"),
        MODWATCH_APP_ID=name,
        MODWATCH_TOPIC_PREFIX=name,
        MODWATCH_WEB_PORT=str(free_port()),
        MODWATCH_DATA_DIR=str(tmp_path / "state"),
        MODWATCH_CONFIG_DIR=str(ROOT / "config"),
        MODWATCH_SESSION_TIMEOUT_SECONDS="6",
        MODWATCH_SCAN_BATCH_SECONDS="0.05",
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        PYTHONUNBUFFERED="1",
    )
    return env


class WorkerProcess:
    """``modwatch worker`` as a real subprocess, with its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> WorkerProcess:
        self._log = self.log_path.open("ab")
        self._ready_offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if b"Worker ready" in self.log_path.read_bytes()[self._ready_offset :]:
                return self
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout}s:\n{self.log()[-4000:]}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, no commit."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._log.close()

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


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
