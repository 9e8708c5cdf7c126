"""Account strikes on the real broker: one account-level request at the threshold, tracked to suspension."""

from __future__ import annotations

import time
import urllib.request

import orjson
import pytest

from tests.conftest import consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
ACCOUNT_KEY = "x:~account~acct-9"


def status(post_id: str, observed_at: str, **extra) -> tuple[bytes, bytes]:
    record = {
        "platform": "x",
        "post_id": post_id,
        "status": "removed",
        "observed_at": observed_at,
        "source": "platform_api",
        **extra,
    }
    return f"x:{post_id}".encode(), orjson.dumps(record)


def account_requests(bootstrap: str, prefix: str, expect: int) -> list[dict]:
    requests = consume(bootstrap, f"{prefix}.takedown-requests", expect=expect, timeout=40, settle=2.0)
    return [request for key, request in requests if key == ACCOUNT_KEY]


def test_one_account_request_at_the_third_strike_tracked_to_suspension_and_kept_across_kill_9(
    worker_env, start_worker, kafka_bootstrap
):
    # config/policy.yaml: 3 confirmed violations within 30 days (acct-9 is not watchlisted).
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    posts = [f"s{n}" for n in range(4)]
    produce(
        kafka_bootstrap, f"{prefix}.posts", [post("x", post_id, VIOLATING, account_id="acct-9") for post_id in posts]
    )
    consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=4, timeout=30, settle=0.5)

    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [status("s0", "2026-11-29T10:00:00Z"), status("s1", "2026-11-29T10:05:00Z")],
    )
    assert account_requests(kafka_bootstrap, prefix, expect=4) == []  # two strikes: below the threshold
    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [status("s2", "2026-11-29T10:10:00Z"), status("s3", "2026-11-29T10:15:00Z")],
    )
    [request] = account_requests(kafka_bootstrap, prefix, expect=5)
    assert (request["target"], request["account_id"], request["categories"]) == ("account", "acct-9", ["account"])
    confirmed = request["evidence"][0]["evidence"]["confirmed"]
    assert [known["item"] for known in confirmed] == ["x:s0", "x:s1", "x:s2"]

    with urllib.request.urlopen(
        f"http://127.0.0.1:{worker_env['MODWATCH_WEB_PORT']}/accounts/x/acct-9", timeout=10
    ) as answer:
        account = orjson.loads(answer.read())
    assert [known["item"] for known in account["strikes"]] == ["x:s0", "x:s1", "x:s2", "x:s3"]
    assert account["account_request_at"] is not None and account["account_item"] == ACCOUNT_KEY

    worker.kill()  # kill -9, then every status again: no second account request
    start_worker()
    produce(
        kafka_bootstrap, f"{prefix}.platform-status", [status(post_id, "2026-11-29T10:20:00Z") for post_id in posts]
    )
    assert len(account_requests(kafka_bootstrap, prefix, expect=5)) == 1

    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [status("s3", "2026-11-29T11:00:00Z", account_id="acct-9", account_status="suspended")],
    )
    # Wait for the account's removal itself: the records before it reach any smaller count first.
    deadline = time.monotonic() + 60
    while True:
        ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=12, timeout=40, settle=1.0)
        account = [record for key, record in ledger if key == ACCOUNT_KEY and "to" in record]
        if account[-1]["to"] == "removed" or time.monotonic() > deadline:
            break
    assert [record["to"] for record in account][-1] == "removed"
    assert account[-1]["removed_at"] == "2026-11-29T11:00:00+00:00"
    alerts = consume(kafka_bootstrap, f"{prefix}.alerts", expect=5, timeout=30, settle=1.0)
    assert [alert["type"] for _, alert in alerts].count("account") == 1


def test_an_account_status_without_its_account_is_dead_lettered(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(
        kafka_bootstrap, f"{prefix}.platform-status", [status("s9", "2026-11-29T10:00:00Z", account_status="suspended")]
    )
    [(_, letter)] = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=1, timeout=30, settle=0.5)
    assert (letter["reason"], letter["field"]) == ("missing_field", "account_id")
    assert worker.alive()
