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


def call(env, path, body=None, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}{path}", data=body)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
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
    env = dict(worker_env, MODWATCH_API_TOKEN="s3cret")
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "first", "A documentary about the Haqqani Network")])
    wait_for(lambda: call(env, "/reviews")[1]["pending_review"])
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "second", "History of the Haqqani Network")])
    pending = wait_for(lambda: (lambda items: items if len(items) == 2 else None)(call(env, "/reviews")[1]["pending_review"]))
    assert [item["post_id"] for item in pending] == ["first", "second"]  # oldest first

    listing = subprocess.run([sys.executable, "-m", "streams.cli", "reviews"], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "awaiting review (2)" in listing and pending[0]["request_id"][:12] in listing

    decision = {"request_id": pending[0]["request_id"], "decision": "approve", "reviewer": "rev-1",
                "reason": "glorification", "at": "2026-11-29T10:00:00Z"}  # fmt: skip
    assert call(env, "/decisions", orjson.dumps(decision))[0] == 401
    assert call(env, "/decisions", orjson.dumps(decision), token="wrong")[0] == 401
    status, answer = call(env, "/decisions", b'{"decision": "maybe"}', token="s3cret")
    assert status == 400 and answer["field"] == "request_id"
    status, answer = call(env, "/decisions", orjson.dumps(dict(decision, decision="maybe")), token="s3cret")
    assert status == 400 and answer["field"] == "decision"
    status, answer = call(env, "/decisions", orjson.dumps(decision), token="s3cret")
    assert status == 202 and answer["item"] == "x:first"

    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1)
    assert [key for key, _ in requests] == ["x:first"]
    shown = wait_for(lambda: (lambda found: found if found[1]["request"]["state"] == "requested" else None)(
        call(env, f"/takedowns/{pending[0]['request_id']}")))  # fmt: skip
    assert shown[1]["last_transition"]["cause"]["reviewer"] == "rev-1"
    assert call(env, "/takedowns/tr-bm9uZTpub25l")[0] == 404

    listed = call(env, "/takedowns?state=pending_review")[1]["takedowns"]
    assert [request["post_id"] for request in listed] == ["second"]
    board = call(env, "/scoreboard")[1]["platforms"]["x"]
    assert board["requests"] == 1 and board["open"] == 1 and board["km_median_seconds"] is None
