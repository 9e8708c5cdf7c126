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


def seconds_until_acted_on(bootstrap: str, prefix: str, make_post, acted_on, limit: float = 8.0) -> float:
    """Send a post every half second; how old the first post the worker acted on (``acted_on``) was."""
    sent_at, started = {}, time.monotonic()
    while time.monotonic() - started < limit:
        number = len(sent_at)
        sent_at[f"p{number}"] = time.monotonic() - started
        produce(bootstrap, f"{prefix}.posts", [make_post(f"p{number}")])
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
