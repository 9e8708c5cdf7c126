"""Faults on the real broker: a rebalance mid-stream keeps exactly one request per item."""

from __future__ import annotations

import time

import pytest

from tests.conftest import WorkerProcess, consume, free_port, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def wave(start: int, count: int):
    return [post("x", f"r{n}", VIOLATING) for n in range(start, start + count)]


def test_a_worker_joining_and_leaving_mid_stream_sends_each_request_once(
    worker_env, start_worker, kafka_bootstrap, tmp_path
):
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


def test_workers_joining_and_leaving_again_and_again_lose_no_request_and_duplicate_none(
    worker_env, start_worker, kafka_bootstrap, tmp_path
):
    """Four rebalances each way with posts in flight: before streams/offsets.py, about one
    run in ten lost a prefetched record that Faust cleared and never redelivered."""
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    start_worker()
    sent = 0
    for cycle in range(4):
        produce(kafka_bootstrap, f"{prefix}.posts", wave(sent, 10))
        env = dict(worker_env, MODWATCH_WEB_PORT=str(free_port()), MODWATCH_DATA_DIR=str(tmp_path / f"second{cycle}"))
        second = WorkerProcess(env, tmp_path / f"second{cycle}.log").start()
        try:
            produce(kafka_bootstrap, f"{prefix}.posts", wave(sent + 10, 10) + wave(sent, 5))  # new and replayed
            time.sleep(2)
        finally:
            assert second.stop(timeout=30) == 0
        produce(kafka_bootstrap, f"{prefix}.posts", wave(sent + 20, 10))
        sent += 30

    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=sent, timeout=90, settle=5.0)
    keys = [key for key, _ in requests]
    assert sorted(set(f"x:r{n}" for n in range(sent)) - set(keys)) == []
    assert len(keys) == sent, f"{len(keys) - sent} duplicate requests"
