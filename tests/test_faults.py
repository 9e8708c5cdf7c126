"""Faults on the real broker: a rebalance mid-stream keeps exactly one request per item."""

from __future__ import annotations

import time

import pytest

from tests.conftest import WorkerProcess, consume, free_port, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def wave(start: int, count: int):
    return [post("x", f"r{n}", VIOLATING) for n in range(start, start + count)]


def test_a_worker_joining_and_leaving_mid_stream_sends_each_request_once(worker_env, start_worker, kafka_bootstrap, tmp_path):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", wave(0, 20))

    second_env = dict(worker_env, MODWATCH_WEB_PORT=str(free_port()), MODWATCH_DATA_DIR=str(tmp_path / "second"))
    second = WorkerProcess(second_env, tmp_path / "second.log").start()  # joins: partitions move
    try:
        produce(kafka_bootstrap, f"{prefix}.posts", wave(20, 20) + wave(0, 10))  # new items and replays
        time.sleep(3)
        produce(kafka_bootstrap, f"{prefix}.posts", wave(40, 10))
    finally:
        assert second.stop(timeout=30) == 0  # leaves: partitions move back
    produce(kafka_bootstrap, f"{prefix}.posts", wave(50, 10) + wave(20, 10))

    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=60, timeout=90, settle=5.0)
    keys = [key for key, _ in requests]
    assert sorted(set(keys)) == sorted(f"x:r{n}" for n in range(60))
    assert len(keys) == 60, f"{len(keys) - 60} duplicate requests"
