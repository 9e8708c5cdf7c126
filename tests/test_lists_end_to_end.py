"""``modwatch watchlist`` and ``modwatch bank`` against the real broker and a running worker.

An entry added with the command takes effect in the running worker within
5 s (measured: posts are sent every half second from the moment the command
returns, and the first one the worker acts on must be under 5 s old), and
``list`` and ``remove`` see and end it.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka

IMAGE = ROOT / "tests" / "data" / "pdq" / "images" / "misc-images" / "c.png"
VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
CLEAN = "Lovely weather in Lahore, off to the market"


def modwatch(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *arguments], env=env, cwd=ROOT, capture_output=True, text=True
    )


def seconds_until_acted_on(
    bootstrap: str, prefix: str, make_post, acted_on, limit: float = 8.0, tag: str = "p"
) -> float:
    """Send a post every half second; how old the first post the worker acted on (``acted_on``) was.

    Post ids are ``<tag><n>``: each call needs its own tag (an item gets one request).
    """
    sent_at, started = {}, time.monotonic()
    while time.monotonic() - started < limit:
        post_id = f"{tag}{len(sent_at)}"
        sent_at[post_id] = time.monotonic() - started
        produce(bootstrap, f"{prefix}.posts", [make_post(post_id)])
        time.sleep(0.5)
    # Posts sent in the first 5 s may not be acted on; every later one must be.
    expect = len(sent_at) - int(5.0 / 0.5)
    requests = consume(bootstrap, f"{prefix}.takedown-requests", expect=expect, timeout=20, settle=1.0)
    ours = [request for _, request in requests if request.get("post_id") in sent_at]  # not account requests
    first = min((sent_at[request["post_id"]] for request in ours if acted_on(request)), default=None)
    assert first is not None, "no post was acted on"
    return first


def test_a_watchlist_entry_added_with_the_command_is_in_force_within_5_s_and_ends_when_removed(
    worker_env, start_worker, kafka_bootstrap
):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    start_worker()
    added = modwatch(
        worker_env, "watchlist", "add", "--platform", "x", "--account-id", "acct-91", "--handle", "@voice",
        "--reason", "recruiter for a listed group", "--source", "case 2026-118",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    age = seconds_until_acted_on(
        kafka_bootstrap,
        prefix,
        lambda post_id: post("x", post_id, VIOLATING, account_id="acct-91"),
        lambda request: any(finding["detector"] == "watchlist" for finding in request["evidence"]),
    )
    assert age < 5.0

    listed = modwatch(worker_env, "watchlist", "list")
    [entry] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert (entry["key"], entry["handle"], entry["source"]) == ("x:acct-91", "@voice", "case 2026-118")
    assert modwatch(worker_env, "watchlist", "remove", "--platform", "x", "--account-id", "acct-91").returncode == 0
    assert modwatch(worker_env, "watchlist", "list").stdout == ""


def test_a_hash_added_with_the_command_is_matched_within_5_s_and_ends_when_removed(
    worker_env, start_worker, kafka_bootstrap
):
    from detectors.hashing import ImageHasher

    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    start_worker()
    data = IMAGE.read_bytes()
    pdq = ImageHasher().hash_bytes(data).pdq[0].hash
    media = [{"kind": "image", "data_b64": base64.b64encode(data).decode()}]
    added = modwatch(
        worker_env, "bank", "add", "--hash-type", "pdq", "--hash", pdq, "--label", "bench-banned",
        "--source", "case 2026-119",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    age = seconds_until_acted_on(
        kafka_bootstrap,
        prefix,
        lambda post_id: post("x", post_id, CLEAN, media=media),
        lambda request: any(finding["detector"] == "media_hash" for finding in request["evidence"]),
    )
    assert age < 5.0

    [entry] = [orjson.loads(line) for line in modwatch(worker_env, "bank", "list").stdout.splitlines()]
    assert (entry["key"], entry["label"]) == (f"pdq:{pdq}", "bench-banned")
    assert modwatch(worker_env, "bank", "remove", "--hash-type", "pdq", "--hash", pdq).returncode == 0
    assert modwatch(worker_env, "bank", "list").stdout == ""


TOKEN = "a-token-of-twenty-four-chars"


def call(env, path, body=None, token=TOKEN):
    import urllib.error
    import urllib.request

    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}{path}", data=data)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "never"
        time.sleep(0.2)
    return found


def test_the_api_changes_both_lists_and_answers_what_the_bank_holds(worker_env, start_worker, kafka_bootstrap):
    from detectors.hashing import ImageHasher

    env = dict(worker_env, MODWATCH_API_TOKEN=TOKEN)
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    listing = {"op": "add", "platform": "x", "account_id": "acct-92", "reason": "recruiter", "source": "case 120"}
    assert call(env, "/watchlist", listing, token=None)[0] == 401
    assert call(env, "/watchlist", dict(listing, platform="nowhere")) == (
        400,
        {"error": "platform: 'nowhere' is not a configured platform "
         "(facebook, instagram, telegram, tiktok, x, youtube) or '*'", "field": "platform"},
    )  # fmt: skip
    assert call(env, "/watchlist", listing) == (202, {"accepted": True, "key": "x:acct-92", "op": "add"})
    age = seconds_until_acted_on(
        kafka_bootstrap,
        prefix,
        lambda post_id: post("x", post_id, VIOLATING, account_id="acct-92"),
        lambda request: any(finding["detector"] == "watchlist" for finding in request["evidence"]),
    )
    assert age < 5.0
    [entry] = call(env, "/watchlist")[1]["entries"]
    assert (entry["key"], entry["reason"]) == ("x:acct-92", "recruiter")

    data = IMAGE.read_bytes()
    pdq = ImageHasher().hash_bytes(data).pdq[0].hash
    banked = {"op": "add", "hash_type": "pdq", "hash": pdq, "label": "bench-banned", "source": "case 121"}
    assert call(env, "/bank", dict(banked, hash="abc"))[1]["field"] == "hash"
    assert call(env, "/bank", banked)[0] == 202
    media = [{"kind": "image", "data_b64": base64.b64encode(data).decode()}]
    age = seconds_until_acted_on(
        kafka_bootstrap,
        prefix,
        lambda post_id: post("x", post_id, CLEAN, media=media, account_id="acct-93"),
        lambda request: any(f["evidence"].get("label") == "bench-banned" for f in request["evidence"]),
        tag="img",
    )
    assert age < 5.0

    def labels(body) -> dict[str, tuple]:
        # The shipped bank holds this test image too, under the fixture label.
        return {m["label"]: (m["distance"], m["category"]) for m in call(env, "/match", body)[1]["matches"]}

    by_hash = eventually(lambda: (found := labels({"hash_type": "pdq", "hash": pdq})).get("bench-banned") and found)
    assert by_hash["bench-banned"] == (0, "terrorism_promotion") and "modwatch-test-fixture" in by_hash
    assert labels({"image_b64": base64.b64encode(data).decode()}).keys() == by_hash.keys()
    assert call(env, "/match", {"image_b64": base64.b64encode(b"not an image").decode()})[0] == 400
    assert call(env, "/match", {"hash_type": "pdq", "hash": pdq}, token=None)[0] == 401

    assert call(env, "/bank", {"op": "remove", "hash_type": "pdq", "hash": pdq})[0] == 202
    assert call(env, "/watchlist", {"op": "remove", "platform": "x", "account_id": "acct-92"})[0] == 202
    eventually(lambda: not call(env, "/bank")[1]["entries"] and not call(env, "/watchlist")[1]["entries"])
    assert "bench-banned" not in labels({"hash_type": "pdq", "hash": pdq})
