"""The worker against the real broker: outputs, de-duplication, dead letters, survival."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
CLEAN = "Lovely weather in Lahore, off to the market"


def test_one_request_one_alert_three_dead_letters_and_the_worker_lives(worker_env, start_worker, kafka_bootstrap):
    worker = start_worker()
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    produce(
        kafka_bootstrap,
        f"{prefix}.posts",
        [
            post("x", "v1", VIOLATING),
            post("facebook", "c1", CLEAN),
            post("x", "v1", VIOLATING),  # the same post again: a replay or a re-delivery
            (b"x:bad1", b'{"platform": "x", "post_id": "bad1", "acco'),
            (b"x:bad2", b'{"platform": "x", "post_id": "bad2", "posted_at": "2026-11-29T10:00:00Z"}'),
            post("myspace", "bad3", VIOLATING),
        ],
    )
    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1)
    alerts = consume(kafka_bootstrap, f"{prefix}.alerts", expect=1)
    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=3)

    assert [key for key, _ in requests] == ["x:v1"]
    request = requests[0][1]
    assert request["request_id"].startswith("tr-")
    assert request["platform"] == "x" and request["post_id"] == "v1"
    assert request["categories"] == ["terrorism_promotion"]
    assert request["jurisdiction"] == "PK" and "Prevention of Electronic Crimes Act" in request["legal_basis"]
    assert request["deadline"] > request["requested_at"]
    assert request["evidence"][0]["detector"] == "designated_organisation"

    assert [key for key, _ in alerts] == ["x:v1"]
    assert alerts[0][1]["request_id"] == request["request_id"]

    reasons = sorted((letter["reason"], letter["field"]) for _, letter in dead)
    assert reasons == [("invalid_json", None), ("missing_field", "account_id"), ("unknown_platform", "platform")]
    assert all(letter["topic"] == f"{prefix}.posts" and letter["raw"] for _, letter in dead)

    assert worker.alive()
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker_env['MODWATCH_WEB_PORT']}/metrics").read().decode()
    assert f'modwatch_deadletters_total{{reason="invalid_json",topic="{prefix}.posts"}} 1.0' in metrics
    assert 'modwatch_duplicates_suppressed_total{output="takedown_request"} 1.0' in metrics


def test_scan_file_and_kafka_give_the_same_decisions(worker_env, start_worker, kafka_bootstrap, tmp_path):
    sample = ROOT / "streams" / "samples" / "posts.jsonl"
    scanned = subprocess.run(
        [sys.executable, "-m", "streams.cli", "scan", str(sample)],
        env=worker_env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    decisions = {}
    for line in scanned.stdout.splitlines():
        decision = orjson.loads(line)
        decisions[f"{decision['platform']}:{decision['post_id']}"] = decision
    expected_requests = {key for key, decision in decisions.items() if decision["action"] == "takedown"}
    expected_alerts = {key: decision["action"] for key, decision in decisions.items() if decision["action"] != "none"}
    invalid_lines = len(re.findall(r"posts\.jsonl:\d+: ", scanned.stderr.decode()))
    assert expected_requests and expected_alerts and invalid_lines

    start_worker()
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "produce", str(sample), "--topic", "posts"],
        env=worker_env,
        cwd=ROOT,
        check=True,
    )
    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=len(expected_requests))
    alerts = consume(kafka_bootstrap, f"{prefix}.alerts", expect=len(expected_alerts))
    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=invalid_lines)

    assert sorted(key for key, _ in requests) == sorted(expected_requests)
    assert {key: alert["action"] for key, alert in alerts} == expected_alerts
    for key, alert in alerts:
        assert alert["categories"] == decisions[key]["categories"]
        assert alert["findings"] == decisions[key]["findings"]
    assert len(dead) == invalid_lines


def test_a_restarted_worker_never_sends_a_request_twice(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", f"r{n}", VIOLATING) for n in range(5)])
    assert len(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=5, settle=0.5)) == 5
    worker.kill()  # kill -9: no commit, no flush

    start_worker()
    # The same five again (as after an uncommitted offset) and one new one.
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", f"r{n}", VIOLATING) for n in range(6)])
    requests = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=6, settle=4.0)
    assert sorted(key for key, _ in requests) == [f"x:r{n}" for n in range(6)]


def test_readyz_is_ready_with_a_broker_and_logs_are_json(worker_env, start_worker, kafka_bootstrap):
    worker = start_worker()
    port = worker_env["MODWATCH_WEB_PORT"]
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                ready = orjson.loads(response.read())
                break
        except urllib.error.HTTPError as error:
            if time.monotonic() > deadline:
                raise AssertionError(error.read()) from None
            time.sleep(0.5)
    assert ready["ready"] is True and ready["partitions"] > 0
    produce(kafka_bootstrap, f"{worker_env['MODWATCH_TOPIC_PREFIX']}.posts", [(b"x:bad", b"not json")])
    consume(kafka_bootstrap, f"{worker_env['MODWATCH_TOPIC_PREFIX']}.deadletter", expect=1, settle=0.5)
    lines = [orjson.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    letters = [line for line in lines if line["message"].startswith("dead letter")]
    assert letters and letters[0]["reason"] == "invalid_json" and letters[0]["level"] == "warning"
    assert {"ts", "logger", "topic", "partition", "offset"} <= set(letters[0])
    deadline = time.monotonic() + 20  # lag is published every 5 s (streams/agents/timers.py publish_lag)
    while True:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        if "modwatch_consumer_lag_messages{" in metrics or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "modwatch_broker_reachable 1.0" in metrics
    assert "modwatch_consumer_lag_messages{" in metrics


def test_sigterm_stops_cleanly_and_a_restart_reprocesses_nothing(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [(f"x:bad{n}".encode(), b"{") for n in range(20)])
    assert len(consume(kafka_bootstrap, f"{prefix}.deadletter", expect=20, settle=1.0)) == 20
    started = time.monotonic()
    assert worker.stop(timeout=30) == 0
    assert time.monotonic() - started < 30
    start_worker()  # offsets were committed on the way out: nothing is read again
    produce(kafka_bootstrap, f"{prefix}.posts", [(b"x:after", b"{")])
    letters = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=21, settle=4.0)  # 41 if re-read
    assert len(letters) == 21


def test_alerts_carry_findings_from_every_detector(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    start_worker()
    # acct-99 is on the shipped watchlist; the text names a designated group beside a
    # threat and is abusive enough for the English classifier head.
    text = "ISIS-K will attack you stupid bitch"
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "all-detectors", text, account_id="acct-99", lang="en")])
    [(key, alert)] = consume(kafka_bootstrap, f"{prefix}.alerts", expect=1)
    detectors = {finding["detector"] for finding in alert["findings"]}
    assert {"designated_organisation", "watchlist", "text_classifier"} <= detectors
    assert alert["action"] == "takedown" and alert["severity"] == "critical"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker_env['MODWATCH_WEB_PORT']}/metrics").read().decode()
    info = re.search(r"^modwatch_model_info\{(.*)\} 1\.0$", metrics, re.M)
    assert info and 'text_classifier="text-classifier.skops"' in info.group(1) and "hashbank_digest=" in info.group(1)
    assert re.search(r'^modwatch_hashbank_entries\{hash_type="pdq"\} [1-9]', metrics, re.M)


def test_switching_to_the_batched_reader_resumes_where_the_scan_agent_left_off(
    worker_env, start_worker, kafka_bootstrap
):
    """A new ``<app_id>-scan`` group starts each partition at the agent group's committed offset:
    nothing read twice, nothing skipped."""
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    agent = start_worker(dict(worker_env, MODWATCH_SCAN_CONSUMER="faust"))
    produce(kafka_bootstrap, f"{prefix}.posts", [(f"x:bad{n}".encode(), b"{") for n in range(12)])
    assert len(consume(kafka_bootstrap, f"{prefix}.deadletter", expect=12, settle=1.0)) == 12
    assert agent.stop(timeout=30) == 0  # commits the agent group's offsets on the way out
    start_worker(dict(worker_env, MODWATCH_SCAN_CONSUMER="batched"))
    produce(kafka_bootstrap, f"{prefix}.posts", [(b"x:after", b"{")])
    letters = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=13, settle=4.0)  # 25 if re-read
    keys = sorted(letter["key"] for _, letter in letters)
    assert keys == sorted([*(f"x:bad{n}" for n in range(12)), "x:after"])


def test_modwatch_lag_counts_what_the_scan_group_has_not_handled_even_with_the_worker_stopped(
    worker_env, start_worker, kafka_bootstrap
):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]

    def lags() -> dict[tuple[str, str], int]:
        said = subprocess.run(
            [sys.executable, "-m", "streams.cli", "lag", "--json"], env=worker_env, cwd=ROOT, capture_output=True
        )
        assert said.returncode == 0, said.stderr
        totals: dict[tuple[str, str], int] = {}
        for line in said.stdout.splitlines():
            row = orjson.loads(line)
            totals[(row["group"], row["topic"])] = totals.get((row["group"], row["topic"]), 0) + row["lag"]
        return totals

    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [(f"x:bad{n}".encode(), b"{") for n in range(6)])
    assert len(consume(kafka_bootstrap, f"{prefix}.deadletter", expect=6, settle=0.5)) == 6
    assert worker.stop(timeout=30) == 0
    app_id = worker_env["MODWATCH_APP_ID"]
    before = lags()
    assert {group for (group, topic) in before if topic == f"{prefix}.posts"} == {f"{app_id}-scan"}
    assert before[(f"{app_id}-scan", f"{prefix}.posts")] == 0  # all six handled and committed
    produce(kafka_bootstrap, f"{prefix}.posts", [(f"x:later{n}".encode(), b"{") for n in range(5)])
    after = lags()
    assert after[(f"{app_id}-scan", f"{prefix}.posts")] == 5
    assert after[(app_id, f"{prefix}.reports")] == 0
