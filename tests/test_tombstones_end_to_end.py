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


def test_tombstone_null_key_and_1mb_value_between_violating_posts_lose_nothing(
    worker_env, start_worker, kafka_bootstrap
):
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


def hostile(topic: str, valid: tuple[bytes, bytes]) -> list[tuple[bytes | None, bytes | None]]:
    """A tombstone, a valid value without its key and a 1 MB value that is not UTF-8."""
    return [(f"x:{topic}-tomb".encode(), None), (None, valid[1]), (b"x:huge", b"\xff" * (1024 * 1024))]


def test_every_input_topic_keeps_its_valid_records_around_hostile_ones(worker_env, start_worker, kafka_bootstrap):
    """Reports, platform-status and decisions: valid records before and after the hostile ones all count."""
    import orjson

    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    flagged = [post("x", f"t{number}", VIOLATING) for number in range(4)]
    reviewed = [post("x", f"r{number}", "A documentary about the Haqqani Network") for number in range(2)]
    produce(kafka_bootstrap, f"{prefix}.posts", flagged + reviewed)
    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=4, timeout=60)
    alerts = consume(kafka_bootstrap, f"{prefix}.alerts", expect=6, timeout=60)
    pending = {record["post_id"]: record for _, record in alerts if record["post_id"].startswith("r")}
    assert len(requests) == 4 and sorted(pending) == ["r0", "r1"]

    def report(reporter: int) -> tuple[bytes, bytes]:
        return b"x:t0", orjson.dumps(
            {
                "platform": "x",
                "post_id": "t0",
                "reporter_id": f"u{reporter}",
                "reason": "terrorism",
                "reported_at": f"2026-11-29T10:0{reporter}:00Z",
            }
        )

    def removed(post_id: str) -> tuple[bytes, bytes]:
        return f"x:{post_id}".encode(), orjson.dumps(
            {
                "platform": "x",
                "post_id": post_id,
                "status": "removed",
                "observed_at": "2026-11-29T11:00:00Z",
                "source": "poller",
            }
        )

    def approve(post_id: str) -> tuple[bytes, bytes]:
        return f"x:{post_id}".encode(), orjson.dumps(
            {
                "request_id": pending[post_id]["request_id"],
                "decision": "approve",
                "reviewer": "rev-1",
                "reason": "promotion",
                "category": "terrorism_promotion",
                "at": "2026-11-29T11:00:00Z",
            }
        )

    # Five reports make a report-velocity alert only if none is skipped.
    produce(
        kafka_bootstrap,
        f"{prefix}.reports",
        [report(1), report(2), report(3)] + hostile("reports", report(9)) + [report(4), report(5)],
    )
    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [removed("t1"), removed("t2")] + hostile("status", removed("t0")) + [removed("t3")],
    )
    produce(
        kafka_bootstrap, f"{prefix}.decisions", [approve("r0")] + hostile("decisions", approve("r0")) + [approve("r1")]
    )

    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=8, timeout=60)
    letters = sorted((letter["topic"].rsplit(".", 1)[1], letter["reason"]) for _, letter in dead)
    # Decisions take any key (README: modwatch routes them by request id): the keyless one is valid.
    assert letters == [("decisions", "invalid_utf8"), ("decisions", "null_value")] + [
        (topic, reason)
        for topic in ("platform-status", "reports")
        for reason in ("invalid_key", "invalid_utf8", "null_value")
    ]
    ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=12, timeout=60, settle=2.0)
    removed_items = sorted({key for key, record in ledger if record.get("to") == "removed"})
    approved = sorted(
        {key for key, record in ledger if record.get("to") == "requested" and record["cause"]["type"] == "review"}
    )
    assert removed_items == ["x:t1", "x:t2", "x:t3"]
    assert approved == ["x:r0", "x:r1"]
    velocity = [
        record
        for _, record in consume(kafka_bootstrap, f"{prefix}.alerts", expect=7, timeout=60)
        if record["type"] == "report_velocity"
    ]
    assert [(record["post_id"], record["reports"]) for record in velocity] == [("t0", 5)]
    assert worker.alive() and "Traceback" not in worker.log() and "crashed" not in worker.log().lower()
