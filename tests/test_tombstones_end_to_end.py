"""Records Kafka can deliver that no producer of ours would send: each is a dead letter, nothing else is lost.

A tombstone (null value), a null key and a 1 MB value arrive between valid
violating posts in one batch: every valid post still gets its request and its
alert, every bad record one dead letter with its reason, and the worker lives.
Tombstones on the other input topics are dead-lettered the same way
(issue 13, item 1: before, a tombstone killed the scan agent and the posts of
its batch were lost).
"""

from __future__ import annotations

import pytest

from tests.conftest import consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def test_tombstone_null_key_and_1mb_value_between_violating_posts_lose_nothing(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    # Produced before the worker starts, so that they arrive in one batch.
    records = [post("x", f"v{number}", VIOLATING) for number in range(5)]
    records += [
        (b"x:tomb", None),  # a tombstone
        (None, post("x", "nokey", VIOLATING)[1]),  # a valid post without its key
        (b"x:huge", b"\xff" * (1024 * 1024)),  # 1 MB of bytes that are not UTF-8
    ]
    records += [post("x", f"v{number}", VIOLATING) for number in range(5, 10)]
    produce(kafka_bootstrap, f"{prefix}.posts", records)
    for topic in ("reports", "platform-status", "decisions"):
        produce(kafka_bootstrap, f"{prefix}.{topic}", [(b"x:tomb", None)])
    worker = start_worker()

    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=10, timeout=120)
    alerts = consume(kafka_bootstrap, f"{prefix}.alerts", expect=10)
    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=6)

    wanted = sorted(f"x:v{number}" for number in range(10))
    assert sorted(key for key, _ in requests) == wanted
    assert sorted(key for key, _ in alerts) == wanted
    letters = sorted((letter["topic"].rsplit(".", 1)[1], letter["reason"]) for _, letter in dead)
    assert letters == [
        ("decisions", "null_value"),
        ("platform-status", "null_value"),
        ("posts", "invalid_key"),
        ("posts", "invalid_utf8"),
        ("posts", "null_value"),
        ("reports", "null_value"),
    ]
    huge = next(letter for _, letter in dead if letter["reason"] == "invalid_utf8")
    assert huge["raw_bytes"] == 1024 * 1024 and huge["raw_truncated"]
    assert worker.alive()
    assert "Traceback" not in worker.log()
