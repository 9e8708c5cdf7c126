"""The takedown lifecycle on the real broker: states, ledger, histogram, overdue alerts, restarts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
NAME_ONLY = "A documentary about the Haqqani Network"


@pytest.fixture
def fast_deadline_env(worker_env, tmp_path):
    """The shipped config with a 6-second deadline and a 1-second timer."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    jurisdictions = config / "jurisdictions.yaml"
    text = jurisdictions.read_text()
    jurisdictions.write_text(re.sub(r"deadline_hours: [0-9.]+", "deadline_hours: 0.001667", text))
    return dict(worker_env, MODWATCH_CONFIG_DIR=str(config), MODWATCH_TICK_SECONDS="1")


def status(platform, post_id, kind, at: datetime) -> tuple[bytes, bytes]:
    record = {"platform": platform, "post_id": post_id, "status": kind, "observed_at": at.isoformat(), "source": "test"}
    return f"{platform}:{post_id}".encode(), orjson.dumps(record)


def metrics(env) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}/metrics").read().decode()


def ledger_states(bootstrap, prefix, expect) -> dict[str, list[str]]:
    records = consume(bootstrap, f"{prefix}.ledger", expect=expect, settle=2.0)
    seen: dict[str, dict[int, str]] = {}
    for _, record in records:
        if record.get("kind") == "delivery_attempt":
            continue  # audit detail of the delivery, not a state
        seen.setdefault(record["request_id"], {})[record["seq"]] = record["to"]
    return {request_id: [to for _, to in sorted(steps.items())] for request_id, steps in seen.items()}


def test_scripted_lifecycle_gives_the_expected_states_ledger_histogram_and_overdue_alerts(
    fast_deadline_env, start_worker, kafka_bootstrap
):
    env = fast_deadline_env
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    produce(
        kafka_bootstrap,
        f"{prefix}.posts",
        [
            post("x", "removed-fast", VIOLATING),
            post("x", "ignored", VIOLATING),
            post("tiktok", "approved", NAME_ONLY),
            post("tiktok", "dismissed", NAME_ONLY),
        ],
    )
    requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=2, settle=0.5))
    requested_at = datetime.fromisoformat(requests["x:removed-fast"]["requested_at"])

    # The platform removes one item 3 s after the request, reports it twice, and out of order
    # a stale "available" from before the removal arrives last.
    removed_at = requested_at + timedelta(seconds=3)
    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [
            status("x", "removed-fast", "removed", removed_at),
            status("x", "removed-fast", "removed", removed_at + timedelta(seconds=30)),
            status("x", "removed-fast", "available", requested_at + timedelta(seconds=1)),
        ],
    )
    alerts = dict(consume(kafka_bootstrap, f"{prefix}.alerts", expect=4, settle=0.5))
    review_request_ids = {key: alerts[key]["request_id"] for key in ("tiktok:approved", "tiktok:dismissed")}
    produce(
        kafka_bootstrap,
        f"{prefix}.decisions",
        [
            (
                None,
                orjson.dumps(
                    {
                        "request_id": review_request_ids["tiktok:approved"],
                        "decision": "approve",
                        "reviewer": "rev-1",
                        "reason": "glorifies",
                        "category": "terrorism_promotion",  # the EU regulation lists no bare mention
                        "at": requested_at.isoformat(),
                    }
                ),
            ),
            (
                None,
                orjson.dumps(
                    {
                        "alert_id": "detection:tiktok:dismissed",
                        "decision": "reject",
                        "reviewer": "rev-2",
                        "reason": "documentary",
                        "at": requested_at.isoformat(),
                    }
                ),
            ),
            (None, b'{"decision": "approve", "reviewer": "rev-3"}'),
        ],
    )

    # Five users report "ignored" within the report-velocity window.
    produce(
        kafka_bootstrap,
        f"{prefix}.reports",
        [
            (
                b"x:ignored",
                orjson.dumps(
                    {
                        "platform": "x",
                        "post_id": "ignored",
                        "reporter_id": f"user-{n}",
                        "reason": "terrorism",
                        "reported_at": requested_at.isoformat(),
                    }
                ),
            )
            for n in range(5)
        ],
    )

    # "ignored" is never removed: its 6-second deadline passes, then twice that.
    time.sleep(14)
    states = ledger_states(kafka_bootstrap, prefix, expect=10)  # the 10 transitions asserted below
    by_key = {request_id: states[request_id] for request_id in states}
    # "requested" twice: when modwatch emits the request, then when it is delivered (the clock's start).
    assert by_key[requests["x:removed-fast"]["request_id"]] == ["requested", "requested", "removed"]
    assert by_key[requests["x:ignored"]["request_id"]] == ["requested", "requested"]
    assert by_key[review_request_ids["tiktok:approved"]] == ["pending_review", "requested", "requested"]
    assert by_key[review_request_ids["tiktok:dismissed"]] == ["pending_review", "dismissed"]

    all_requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=3, settle=0.5))
    assert sorted(all_requests) == ["tiktok:approved", "x:ignored", "x:removed-fast"]

    alerts = dict(consume(kafka_bootstrap, f"{prefix}.alerts", expect=7, settle=1.0))
    velocity = alerts["report_velocity:x:ignored"]
    assert velocity["reports"] == 5 and velocity["severity"] == "high"  # already flagged: escalated
    breaches = sorted(key for key, alert in alerts.items() if alert["type"] == "sla_breach")
    ignored_id = requests["x:ignored"]["request_id"]
    assert f"sla_breach:{ignored_id}:1" in breaches and f"sla_breach:{ignored_id}:2" in breaches
    # Only the item nobody acted on is overdue twice; the approved one may be overdue too, once.
    assert all(requests["x:removed-fast"]["request_id"] not in key for key in breaches)

    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=1, settle=0.5)
    assert [(letter["reason"], letter["field"]) for _, letter in dead] == [("missing_field", "request_id")]

    exposed = metrics(env)
    assert re.search(
        r'modwatch_time_to_removal_seconds_count\{category="terrorism_promotion",jurisdiction="PK",platform="x"\} 1\.0',
        exposed,
    )
    assert re.search(
        r'modwatch_time_to_removal_seconds_bucket\{category="terrorism_promotion",jurisdiction="PK",le="60\.0",platform="x"\} 1\.0',
        exposed,
    )
    assert 'modwatch_removals_total{platform="x",within_deadline="yes"} 1.0' in exposed
    assert 'modwatch_review_decisions_total{decision="reject",detector="designated_organisation"} 1.0' in exposed
    assert 'modwatch_takedown_requests_overdue{platform="x"} 1.0' in exposed

    # The same figures from the ledger, as `modwatch report` reads it after any restart.
    report = subprocess.run(
        [sys.executable, "-m", "streams.cli", "report", "--format", "json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    x = orjson.loads(report.stdout)["platform"]["x"]
    assert (x["requests"], x["removed"], x["open"], x["overdue"]) == (2, 1, 1, 1)
    # One of two removed 3 s after the emitted request time; the clock starts at its delivery (at
    # emission if the removal was read first): S = 1/2 then.
    delivered = [
        record["requested_at"]
        for _, record in consume(kafka_bootstrap, f"{prefix}.ledger", expect=10, settle=0.5)
        if record.get("post_id") == "removed-fast" and record.get("cause", {}).get("type") == "delivery"
    ]
    started = datetime.fromisoformat(delivered[0]) if delivered else requested_at
    clock = (removed_at - started).total_seconds()
    assert 0 < clock <= 3.0 and x["km_median_seconds"] == pytest.approx(clock, abs=0.01)


def test_open_requests_and_their_clocks_survive_kill_9(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", f"k{n}", VIOLATING) for n in range(3)])
    before = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=3, settle=0.5))
    delivered = {
        record["post_id"]: record["requested_at"]
        for _, record in consume(kafka_bootstrap, f"{prefix}.ledger", expect=6, settle=0.5)  # requested, delivered
        if record.get("cause", {}).get("type") == "delivery"
    }
    assert len(delivered) == 3
    worker.kill()

    start_worker()
    requested_at = datetime.fromisoformat(before["x:k0"]["requested_at"])
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", f"k{n}", VIOLATING) for n in range(3)])
    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [status("x", "k0", "removed", requested_at + timedelta(seconds=42))],
    )
    ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=7, settle=3.0)  # and k0 removed
    removals = [record for _, record in ledger if record.get("to") == "removed"]
    assert len(removals) == 1
    assert removals[0]["requested_at"] == delivered["k0"]  # the clock, started at delivery, survived the crash
    after = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=3, settle=2.0)
    assert sorted(key for key, _ in after) == ["x:k0", "x:k1", "x:k2"]  # none sent twice
