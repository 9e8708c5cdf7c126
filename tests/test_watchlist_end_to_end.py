"""Runtime watchlist entries on the real broker: effective without a restart, and after one."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.conftest import consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def change(op: str, account_id: str, **fields) -> tuple[bytes, bytes]:
    record = {"op": op, "platform": "x", "account_id": account_id, **fields}
    return f"x:{account_id}".encode(), orjson.dumps(record)


def watchlist_detectors(bootstrap: str, prefix: str, expect: int) -> dict[str, bool]:
    """post_id -> whether its takedown request's evidence has a watchlist finding."""
    requests = consume(bootstrap, f"{prefix}.takedown-requests", expect=expect, timeout=30, settle=0.5)
    return {
        request["post_id"]: any(finding["detector"] == "watchlist" for finding in request["evidence"])
        for _, request in requests
    }


def test_an_account_added_on_the_topic_is_watched_within_seconds_and_after_a_restart(
    worker_env, start_worker, kafka_bootstrap
):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "before", VIOLATING, account_id="acct-77")])
    assert watchlist_detectors(kafka_bootstrap, prefix, 1) == {"before": False}

    produce(
        kafka_bootstrap,
        f"{prefix}.watchlist",
        [change("add", "acct-77", reason="recruiter for a listed group", source="test")],
    )
    time.sleep(5)  # the bound: effective within 5 s
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "after", VIOLATING, account_id="acct-77")])
    assert watchlist_detectors(kafka_bootstrap, prefix, 2)["after"] is True

    assert worker.stop() == 0
    start_worker()  # the compacted topic is read again from the start
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "restarted", VIOLATING, account_id="acct-77")])
    assert watchlist_detectors(kafka_bootstrap, prefix, 3)["restarted"] is True

    produce(kafka_bootstrap, f"{prefix}.watchlist", [change("remove", "acct-77")])
    time.sleep(5)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "removed", VIOLATING, account_id="acct-77")])
    assert watchlist_detectors(kafka_bootstrap, prefix, 4)["removed"] is False


def test_a_bad_watchlist_change_is_dead_lettered_with_its_reason(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.watchlist", [change("add", "acct-78", source="no reason given")])
    [(_, letter)] = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=1, timeout=30, settle=0.5)
    assert (letter["reason"], letter["field"]) == ("missing_field", "reason")
    assert worker.alive()
