"""Compliance report: Kaplan-Meier time to removal from the ledger, checked by hand."""

from __future__ import annotations

import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from takedowns import compliance as report
from tests.conftest import ROOT

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
T0 = NOW - timedelta(days=3)


def record(
    request_id,
    platform,
    state,
    *,
    removed_after_hours=None,
    category="terrorism_promotion",
    deadline_hours=48,
    closed_after_hours=None,
    seq=2,
) -> dict:
    requested = T0
    at = requested + timedelta(hours=removed_after_hours or closed_after_hours or 0)
    return {
        "request_id": request_id,
        "seq": seq,
        "to": state,
        "state": state,
        "at": at.isoformat(),
        "platform": platform,
        "post_id": request_id,
        "jurisdiction": "PK",
        "categories": [category],
        "requested_at": requested.isoformat(),
        "deadline": (requested + timedelta(hours=deadline_hours)).isoformat(),
        "removed_at": (requested + timedelta(hours=removed_after_hours)).isoformat() if removed_after_hours else None,
    }


def hours(values):
    return [(value * 3600, removed) for value, removed in values]


def test_kaplan_meier_matches_a_hand_worked_example():
    # Removed at 1, 2, 2 and 4 hours; still up (censored) at 3 and 5 hours.
    # S(1) = 5/6; S(2) = 5/6 * 3/5 = 1/2; at 4 h two remain at risk: S(4) = 1/2 * 1/2 = 1/4.
    curve = report.kaplan_meier(hours([(1, True), (2, True), (2, True), (3, False), (4, True), (5, False)]))
    assert [time for time, _ in curve] == [3600, 7200, 14400]
    assert [survival for _, survival in curve] == pytest.approx([5 / 6, 0.5, 0.25])
    assert report.km_quantile(curve, 0.5) == 7200
    assert report.km_quantile(curve, 0.9) is None  # never 90 % removed in the data


def test_removals_and_censorings_at_the_same_time_count_the_removal_first():
    # At 2 h one removal and one censoring: the censored request was still at risk at 2 h.
    curve = report.kaplan_meier(hours([(2, True), (2, False), (3, True)]))
    assert [time for time, _ in curve] == [7200, 10800]
    assert [survival for _, survival in curve] == pytest.approx([2 / 3, 0.0])


def test_open_requests_keep_a_platform_from_looking_fast():
    records = [
        record("a", "slowapp", "removed", removed_after_hours=1),
        record("b", "slowapp", "removed", removed_after_hours=1),
    ]
    records += [record(f"open{n}", "slowapp", "requested", seq=1) for n in range(3)]
    figures = report.build(report.observations(records, NOW))["platform"]["slowapp"]
    assert figures["naive_median_of_removed_seconds"] == 3600  # what an anecdote would say
    assert figures["km_median_seconds"] is None  # 3 of 5 are still up after 3 days: no median yet
    assert (figures["open"], figures["overdue"], figures["removed"]) == (3, 3, 2)


def test_a_compressed_simulator_run_censors_open_requests_at_scaled_time_and_leaves_removals_alone():
    # Requested 3 wall-days ago; at time scale 10 an open request has been up 30 platform days.
    records = [record("a", "sim", "removed", removed_after_hours=5), record("open", "sim", "requested", seq=1)]
    plain = {found.request_id: found for found in report.observations(records, NOW)}
    scaled = {found.request_id: found for found in report.observations(records, NOW, time_scale=10)}
    assert plain["a"].seconds == scaled["a"].seconds == 5 * 3600  # removal times are platform time already
    assert (plain["open"].seconds, scaled["open"].seconds) == (72 * 3600, 720 * 3600)
    assert not scaled["open"].removed and scaled["open"].overdue


def test_one_platform_removing_two_categories_at_different_speeds_shows_both():
    records = [record(f"t{n}", "x", "removed", removed_after_hours=24) for n in range(3)]
    records += [
        record(f"h{n}", "x", "removed", removed_after_hours=240, category="hate", deadline_hours=168) for n in range(3)
    ]
    figures = report.build(report.observations(records, NOW + timedelta(days=20)))["platform_category"]
    assert figures["x / terrorism_promotion"]["km_median_seconds"] == 24 * 3600
    assert figures["x / hate"]["km_median_seconds"] == 240 * 3600
    assert figures["x / hate"]["share_removed_within_deadline"] == 0.0


def test_the_last_record_of_each_request_wins_and_repeats_change_nothing():
    first = dict(record("a", "x", "requested", seq=1))
    removed = record("a", "x", "removed", removed_after_hours=2, seq=2)
    observed = report.observations([first, removed, removed, first], NOW)
    assert [(observation.removed, observation.seconds) for observation in observed] == [(True, 7200.0)]


@pytest.mark.slow
def test_report_command_reads_a_ledger_file_and_writes_a_png(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    records = [
        record("a", "x", "removed", removed_after_hours=2),
        record("b", "telegram", "requested", seq=1),
        record("c", "telegram", "removed", removed_after_hours=30),
    ]
    # One line as `modwatch tail ledger` prints it, the others bare.
    lines = [orjson.dumps({"topic": "modwatch.ledger", "value": records[0]})] + [orjson.dumps(r) for r in records[1:]]
    ledger.write_bytes(b"\n".join(lines) + b"\n")
    png = tmp_path / "curves.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "report",
            "--ledger",
            str(ledger),
            "--format",
            "json",
            "--plot",
            str(png),
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    figures = orjson.loads(result.stdout)
    assert figures["platform"]["x"]["km_median_seconds"] == 7200
    assert figures["platform"]["telegram"]["requests"] == 2
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width >= 600 and height >= 400

    markdown = subprocess.run(
        [sys.executable, "-m", "streams.cli", "report", "--ledger", str(ledger)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "Kaplan–Meier" in markdown and "| x |" in markdown


def test_the_campaigns_section_says_how_long_after_the_first_sighting_each_platform_removed_a_copy():
    alert = {
        "type": "campaign",
        "fingerprint": "text:abc",
        "accounts": ["x:a", "tiktok:b", "x:c"],
        "platforms": ["tiktok", "x"],
        "items": ["x:1", "tiktok:2", "x:3"],
        "request_ids": ["r1", "r2", "r3"],
        "first_seen": (T0 - timedelta(hours=1)).isoformat(),
    }
    records = [
        dict(record("r1", "x", "removed", removed_after_hours=5), request_id="r1"),
        dict(record("r3", "x", "removed", removed_after_hours=2), request_id="r3"),
        dict(record("r2", "tiktok", "requested", seq=1), request_id="r2"),
    ]
    [row] = report.campaigns_section([alert, {"type": "detection"}], records)
    assert row["first_removal_seconds"] == {"tiktok": None, "x": 3 * 3600}
    assert "| text:abc | 3 | 3 |" in report.render_campaigns([row]) and "x 3.0 h" in report.render_campaigns([row])


def run_report(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "report", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_report_refuses_a_file_that_is_not_a_ledger_with_its_line(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    posts = tmp_path / "posts.jsonl"
    ledger.write_bytes(orjson.dumps(record("a", "x", "removed", removed_after_hours=2)) + b"\n")
    posts.write_bytes(b"\n" + orjson.dumps({"platform": "x", "post_id": "1", "text": "hello"}) + b"\n")
    said = run_report("--ledger", str(posts))
    assert said.returncode == 2, said
    assert "Traceback" not in said.stderr
    assert said.stderr.splitlines() == [
        f"Error: --ledger {posts}:2: not a record of this kind (ledger record: request_id is missing or not str)"
    ]
    # Alerts: the whole alert schema.
    said = run_report("--ledger", str(ledger), "--alerts", str(ledger))
    assert said.returncode == 2 and f"--alerts {ledger}:1: not a record of this kind (alert: type" in said.stderr
    # --alerts alone would be ignored: refused instead.
    said = run_report("--alerts", str(ledger))
    assert said.returncode == 2 and "--alerts goes with --ledger" in said.stderr
    assert run_report("--ledger", str(ledger), "--format", "json").returncode == 0
