"""The worker's web API against the real broker: reviews, decisions, takedowns, scoreboard."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka
TOKEN = "a-token-of-twenty-four-chars"


def call(env, path, body=None, token=None, scheme="Bearer"):
    request = urllib.request.Request(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}{path}", data=body)
    if token:
        request.add_header("Authorization", f"{scheme} {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_review_queue_decisions_and_takedown_views(worker_env, start_worker, kafka_bootstrap):
    env = dict(worker_env, MODWATCH_API_TOKEN=TOKEN)
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "first", "A documentary about the Haqqani Network")])
    wait_for(lambda: call(env, "/reviews", token=TOKEN)[1]["pending_review"])
    assert call(env, "/reviews")[0] == 401  # the posts' text: not without the token
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "second", "History of the Haqqani Network")])
    pending = wait_for(
        lambda: (lambda items: items if len(items) == 2 else None)(
            call(env, "/reviews", token=TOKEN)[1]["pending_review"]
        )
    )
    assert [item["post_id"] for item in pending] == ["first", "second"]  # oldest first

    def modwatch(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "streams.cli", *arguments], env=env, cwd=ROOT, capture_output=True, text=True
        )

    # Piped, as a script reads it: whole ids, the post's text and the evidence; and as JSON.
    listing = modwatch("reviews").stdout
    assert "awaiting review: 2" in listing and all(item["request_id"] in listing for item in pending)
    assert "text: A documentary about the Haqqani Network" in listing and "evidence: Haqqani Network" in listing
    assert (
        orjson.loads(modwatch("reviews", "--json").stdout)["pending_review"]
        == call(env, "/reviews", token=TOKEN)[1]["pending_review"]
    )

    decision = {
        "request_id": pending[0]["request_id"],
        "decision": "approve",
        "reviewer": "rev-1",
        "reason": "glorification",
        "at": "2026-11-29T10:00:00Z",
    }
    assert call(env, "/decisions", orjson.dumps(decision))[0] == 401
    assert call(env, "/decisions", orjson.dumps(decision), token="wrong")[0] == 401
    status, answer = call(env, "/decisions", b'{"decision": "maybe"}', token=TOKEN)
    assert status == 400 and answer["field"] == "request_id"
    status, answer = call(env, "/decisions", orjson.dumps(dict(decision, decision="maybe")), token=TOKEN)
    assert status == 400 and answer["field"] == "decision"
    unknown = dict(decision, request_id=pending[0]["request_id"].split("~")[0] + "~not-made")
    status, answer = call(env, "/decisions", orjson.dumps(unknown), token=TOKEN)
    assert status == 404 and "nothing to decide" in answer["error"]
    status, answer = call(
        env, "/decisions", orjson.dumps(dict(decision, request_id=None, alert_id="detection:x:nope")), token=TOKEN
    )
    assert status == 404
    # PECA lists no bare mention of a group: approved as is, it would cite the law for nothing it covers.
    status, answer = call(env, "/decisions", orjson.dumps(decision), token=TOKEN)
    assert (status, answer["field"]) == (409, "category") and "terrorism_promotion" in answer["error"]
    decision["category"] = "terrorism_promotion"
    status, answer = call(env, "/decisions", orjson.dumps(decision), token=TOKEN, scheme="bearer")  # RFC 7235: no case
    assert status == 202 and answer["item"] == "x:first"

    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1)
    assert [key for key, _ in requests] == ["x:first"]
    shown = wait_for(
        lambda: (lambda found: found if found[1]["request"].get("delivered_at") else None)(
            call(env, f"/takedowns/{pending[0]['request_id']}")
        )
    )
    assert shown[1]["request"]["state"] == "requested"  # approved, then delivered to the outbox
    ledger = [
        record
        for _, record in consume(kafka_bootstrap, f"{prefix}.ledger", expect=4, settle=0.5)
        if record.get("request_id") == pending[0]["request_id"] and record.get("kind") != "delivery_attempt"
    ]
    assert [(record["to"], record["cause"]["type"]) for record in ledger] == [
        ("pending_review", "detection"),
        ("requested", "review"),
        ("requested", "delivery"),
    ]
    assert ledger[1]["cause"]["reviewer"] == "rev-1"
    # The request's history, as the ledger has it.
    history = call(env, f"/takedowns/{pending[0]['request_id']}")[1]["history"]
    assert [(t["seq"], t["from"], t["to"], t["cause"]["type"]) for t in history] == [
        (record["seq"], record["from"], record["to"], record["cause"]["type"]) for record in ledger
    ]
    assert call(env, f"/takedowns/{pending[0]['request_id']}")[1]["last_transition"] == history[-1]
    assert call(env, "/takedowns/tr-bm9uZTpub25l")[0] == 404

    # Pages: one request a page, the cursor leads to the next, the last has none. Oldest request
    # first, those not requested yet (awaiting review) before any.
    first = call(env, "/takedowns?limit=1")[1]
    assert [request["post_id"] for request in first["takedowns"]] == ["second"] and first["next"]
    second = call(env, f"/takedowns?limit=1&after={first['next']}")[1]
    assert [request["post_id"] for request in second["takedowns"]] == ["first"] and second["next"] is None
    assert [request["post_id"] for request in call(env, "/takedowns")[1]["takedowns"]] == ["second", "first"]
    for bad, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("after=%25%25", "after")):
        status, answer = call(env, f"/takedowns?{bad}")
        assert (status, answer["field"]) == (400, field), (bad, answer)

    listed = call(env, "/takedowns?state=pending_review")[1]["takedowns"]
    assert [request["post_id"] for request in listed] == ["second"]
    # From the terminal, as the console's buttons: the same refusal, then a rejection.
    second_id = listed[0]["request_id"]
    refused = modwatch("review", "approve", second_id, "--reviewer", "rev-2")
    assert refused.returncode == 1 and ": 409: PK (" in refused.stderr and "Traceback" not in refused.stderr
    rejected = modwatch("review", "reject", second_id, "--reviewer", "rev-2", "--reason", "a history, not promotion")
    assert rejected.returncode == 0, rejected.stderr
    wait_for(lambda: call(env, f"/takedowns/{second_id}")[1]["request"]["state"] == "dismissed")
    assert call(env, f"/takedowns/{second_id}")[1]["history"][-1]["cause"]["reviewer"] == "rev-2"
    # A filter that can match nothing is a mistake, said as one: not an empty list.
    status, answer = call(env, "/takedowns?state=bogus")
    assert status == 400 and answer["field"] == "state" and "pending_review" in answer["error"]
    assert call(env, "/takedowns?platform=myspace")[1]["field"] == "platform"
    assert call(env, "/takedowns?platform=x&state=delivery_failed") == (
        200,
        {
            "takedowns": [],
            "next": None,
            "scope": "this worker's partitions",
            "partitions": [0, 1, 2, 3],  # a worker alone owns them all
            "partitions_in_all": 4,
        },
    )
    board = call(env, "/scoreboard")[1]["platforms"]["x"]
    assert board["requests"] == 1 and board["open"] == 1 and board["km_median_seconds"] is None
    for scale in ("inf", "1e308", "nan", "0.5", "x"):
        assert call(env, f"/scoreboard?time_scale={scale}")[0] == 400
    assert call(env, "/scoreboard?time_scale=3600")[0] == 200


def test_without_a_token_writes_are_off_and_faust_views_are_closed(worker_env, start_worker):
    worker = start_worker()  # no MODWATCH_API_TOKEN, loopback
    decision = {
        "request_id": "tr-eDpmaXJzdA-AAAA",
        "decision": "approve",
        "reviewer": "rev-1",
        "reason": "r",
        "at": "2026-11-29T10:00:00Z",
    }
    status, answer = call(worker_env, "/decisions", orjson.dumps(decision), token="anything-at-all-here")
    assert status == 401 and "writes are off" in answer["error"]
    assert "writes are off" in worker.log()
    for path in ("/table/", "/table/item_to_state/x:first/", "/router/", "/router/item_to_state/"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{worker_env['MODWATCH_WEB_PORT']}{path}", timeout=10)
            raise AssertionError(f"{path} answered")
        except urllib.error.HTTPError as error:
            assert error.code == 404, path


def test_insecure_is_said_at_every_start(worker_env, start_worker, tmp_path):
    import os

    env = dict(worker_env, MODWATCH_INSECURE="1")
    worker = start_worker(env)
    deadline = time.monotonic() + 30
    while "started with --insecure" not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "started with --insecure" in worker.log()
    worker.stop()
    start_worker(env)
    # The announcement is a startup task: it may land just after the worker answers.
    deadline = time.monotonic() + 30
    while (tmp_path / "worker.log").read_text().count("started with --insecure") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (tmp_path / "worker.log").read_text().count("started with --insecure") == 2
    assert os.environ.get("MODWATCH_INSECURE") is None


def test_status_callbacks_need_the_platforms_signature(worker_env, start_worker, kafka_bootstrap, tmp_path):
    import hashlib
    import hmac
    import re
    import shutil

    from tests.conftest import ROOT

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    platforms = config / "platforms.yaml"
    text = platforms.read_text()
    # x delivers by webhook with a shared secret; the other platforms keep their outbox.
    text = re.sub(
        r"(?m)^  x:\n(    .*\n)+",
        "  x:\n    name: X\n    delivery:\n      channel: webhook\n"
        "      url: http://127.0.0.1:9/modwatch\n      secret_env: MODWATCH_SECRET_X\n",
        text,
    )
    platforms.write_text(text)
    secret = "a-secret-of-32-bytes-for-the-test"
    env = dict(worker_env, MODWATCH_CONFIG_DIR=str(config), MODWATCH_SECRET_X=secret)
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "cb", "Join the Tehrik-e-Taliban today. Long live TTP!")])
    [(_, request)] = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1, settle=0.2)

    def signed(body: bytes, timestamp: int, key: str = secret) -> urllib.request.Request:
        signature = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        call = urllib.request.Request(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}/status", data=body)
        call.add_header("X-Modwatch-Timestamp", str(timestamp))
        call.add_header("X-Modwatch-Signature", f"v1={signature}")
        return call

    def send(call) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(call, timeout=10) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())

    now = int(time.time())
    removed = orjson.dumps(
        {
            "platform": "x",
            "post_id": "cb",
            "status": "removed",
            "source": "x-callback",
            "observed_at": request["requested_at"],
        }
    )
    other = orjson.dumps(
        {
            "platform": "telegram",
            "post_id": "1",
            "status": "removed",
            "source": "t",
            "observed_at": request["requested_at"],
        }
    )
    unsigned = urllib.request.Request(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}/status", data=removed)
    refusals = {
        "wrong secret": signed(removed, now, key="not-the-secret-at-all"),
        "stale": signed(removed, now - 3600),
        "60 s ahead": signed(removed, now + 60),
        "unsigned": unsigned,
        "platform without a secret": signed(other, now),
        "not JSON": signed(b"\xff", now),
    }
    for name, refused in refusals.items():  # one answer for every failure: nothing learned by probing
        assert send(refused) == (401, {"error": "status callback refused"}), name
    assert send(signed(b'{"platform": "x"}', now))[0] == 400  # signed by x: told what is wrong
    good = signed(removed, now)
    status, answer = send(good)
    assert status == 202 and answer["item"] == "x:cb"
    assert send(good) == (401, {"error": "status callback refused"})  # a replay
    assert "x: replay" in worker.log() and "x: future_timestamp" in worker.log()

    def transitions() -> list[dict] | None:  # delivery attempts to the closed port keep coming: wait for the removal
        found = [
            record
            for _, record in consume(kafka_bootstrap, f"{prefix}.ledger", expect=1, settle=0.5)
            if record.get("kind") != "delivery_attempt"
        ]
        return found if any(record["to"] == "removed" for record in found) else None

    ledger = wait_for(transitions, timeout=60)
    # x's webhook points at a closed port: delivery is still retrying when the platform
    # reports the removal, so the request goes from emitted straight to removed.
    assert [record["to"] for record in ledger] == ["requested", "removed"]
    assert ledger[-1]["removal_status"] == "removed"


def test_a_decision_sent_to_either_worker_reaches_the_worker_that_owns_its_item(
    worker_env, start_worker, kafka_bootstrap, tmp_path
):
    """Two workers share the partitions: each decision is forwarded (with its body) to its item's owner."""
    from tests.conftest import WorkerProcess, free_port

    env = dict(worker_env, MODWATCH_API_TOKEN=TOKEN)
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    other = dict(env, MODWATCH_WEB_PORT=str(free_port()), MODWATCH_DATA_DIR=str(tmp_path / "second"))
    second = WorkerProcess(other, tmp_path / "second.log").start()
    try:
        posts = [post("x", f"d{number}", "A documentary about the Haqqani Network") for number in range(8)]
        produce(kafka_bootstrap, f"{prefix}.posts", posts)

        def pending() -> list[dict] | None:
            found = (
                call(env, "/reviews", token=TOKEN)[1]["pending_review"]
                + call(other, "/reviews", token=TOKEN)[1]["pending_review"]
            )
            return found if len(found) == 8 else None

        reviews = wait_for(pending, timeout=60)
        answers = []
        for review in reviews:  # every decision to the first worker, whoever owns the item
            decision = {
                "request_id": review["request_id"],
                "decision": "approve",
                "reviewer": "rev-1",
                "reason": "glorification",
                "category": "terrorism_promotion",
                "at": "2026-11-29T10:00:00Z",
            }
            answers.append(call(env, "/decisions", orjson.dumps(decision), token=TOKEN))
        assert [status for status, _ in answers] == [202] * 8, answers
        unknown = dict(decision, request_id=reviews[0]["request_id"].split("~")[0] + "~not-made")
        assert [
            call(env, "/decisions", orjson.dumps(unknown), token=TOKEN)[0],
            call(other, "/decisions", orjson.dumps(unknown), token=TOKEN)[0],
        ] == [404, 404]
        requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=9, timeout=60)
        # Eight approvals are eight strikes against acct-1: its account-level request comes too.
        assert sorted(key for key, _ in requests) == sorted(f"x:d{number}" for number in range(8)) + [
            "x:~account~acct-1"
        ]
    finally:
        second.stop()
