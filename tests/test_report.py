"""Compliance report: Kaplan-Meier time to removal from the ledger, checked by hand."""

from __future__ import annotations

import csv
import io
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.cli._options import InputRefused
from streams.cli._topics import each_ledger_record, read_ledger_file
from takedowns import compliance as report
from takedowns import compliance_plot
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


def naming(request: dict, *organisations: tuple[str, str]) -> dict:
    """The record with evidence as the designated_organisation detector writes it, naming ``organisations``."""
    finding = {
        "detector": "designated_organisation",
        "category": "terrorism_promotion",
        "score": 0.9,
        "evidence": {
            "organisations": [identifier for identifier, _ in organisations],
            "legal_bases": [
                {
                    "list": "UN 1267",
                    "reference": identifier,
                    "jurisdiction": "*",
                    "organisation": identifier,
                    "name": name,
                }
                for identifier, name in organisations
            ],
        },
    }
    classifier = {"detector": "text_classifier", "category": "terrorism_promotion", "score": 0.8, "evidence": {}}
    return dict(request, evidence=[finding, classifier])


def account(request: dict) -> dict:
    return dict(request, target="account", categories=["account"])


TTP = ("QDe.132", "TEHRIK-E TALIBAN PAKISTAN")
AQ = ("QDe.004", "AL-QAIDA")


def test_requests_count_under_each_organisation_their_evidence_names():
    records = [
        naming(record("a", "x", "removed", removed_after_hours=2), TTP),
        naming(record("b", "x", "removed", removed_after_hours=60), TTP),  # after the 48 h deadline
        naming(record("c", "telegram", "requested", seq=1), TTP, AQ),  # open for 72 h: past the deadline
        naming(record("d", "x", "removed", removed_after_hours=1), AQ),
        record("e", "x", "removed", removed_after_hours=1),  # names no organisation
        naming(account(record("f", "x", "removed", removed_after_hours=1)), TTP),  # an account: never here
    ]
    section = report.build(report.observations(records, NOW))["organisation"]
    assert list(section) == ["QDe.004", "QDe.132"]
    ttp, al_qaida = section["QDe.132"], section["QDe.004"]
    assert (ttp["name"], ttp["requests"], ttp["removed"], ttp["open"]) == ("TEHRIK-E TALIBAN PAKISTAN", 3, 2, 1)
    assert ttp["share_removed"] == pytest.approx(2 / 3)
    assert ttp["share_removed_within_deadline"] == pytest.approx(1 / 3)  # a: in time; b: late; c: open past it
    assert ttp["km_median_seconds"] == 60 * 3600  # S: 2/3 after 2 h, 1/3 after 60 h
    assert (al_qaida["requests"], al_qaida["share_removed"], al_qaida["km_median_seconds"]) == (2, 0.5, 3600)


def test_the_organisation_section_is_in_markdown_csv_and_json(tmp_path):
    records = [naming(record("a", "x", "removed", removed_after_hours=2), TTP), record("e", "x", "requested", seq=1)]
    figures = report.build(report.observations(records, NOW))
    markdown = report.render_markdown(figures, "the start", "now")
    assert "## By designated organisation" in markdown
    assert "| QDe.132 | TEHRIK-E TALIBAN PAKISTAN | 1 | 100 % | 100 % | 2.0 h |" in markdown
    rows = list(csv.DictReader(io.StringIO(report.render_csv(figures))))
    [row] = [row for row in rows if row["dimension"] == "organisation"]
    assert (row["value"], row["name"], row["requests"], row["km_median_seconds"]) == (
        "QDe.132",
        "TEHRIK-E TALIBAN PAKISTAN",
        "1",
        "7200.0",
    )
    assert orjson.loads(report.render_json(figures))["organisation"]["QDe.132"]["share_removed"] == 1.0
    # No request names an organisation: no section in markdown, an empty one in JSON.
    plain = report.build(report.observations([record("e", "x", "requested", seq=1)], NOW))
    assert plain["organisation"] == {} and "designated organisation" not in report.render_markdown(plain, "a", "b")


def write_ledger_file(path, records) -> None:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))


def test_the_plot_counts_what_the_table_counts_account_requests_apart(tmp_path):
    """The reported bug: 26 requests and another median in the legend, 24 in the table."""
    records = [record(f"r{n}", "x", "removed", removed_after_hours=1 + n) for n in range(20)]
    records += [record(f"o{n}", "x", "requested", seq=1) for n in range(4)]
    records += [account(record(f"acct{n}", "x", "removed", removed_after_hours=0.1)) for n in range(2)]
    ledger = tmp_path / "ledger.jsonl"
    write_ledger_file(ledger, records)
    observed = report.observations(report.LatestRecords().add(each_ledger_record(ledger)), NOW)
    table = report.build(observed)["platform"]["x"]
    [curve] = compliance_plot.curves(observed)
    assert (curve.requests, curve.median_seconds) == (table["requests"], table["km_median_seconds"]) == (24, 12 * 3600)
    labels = compliance_plot.plot(observed, tmp_path / "plot.png", "test")
    assert labels == [f"x (n=24, median {report.duration(table['km_median_seconds'])})"] == ["x (n=24, median 12.0 h)"]


def test_each_distinct_deadline_is_marked_once_with_its_jurisdictions():
    def under(request_id, jurisdiction, hours):
        return dict(record(request_id, "x", "requested", seq=1, deadline_hours=hours), jurisdiction=jurisdiction)

    records = [under("a", "PK", 48), under("b", "PK", 48), under("c", "DE", 24), under("d", "AU", 24)]
    records += [under("e", "EU", 1), under("f", "DE", 168), account(under("g", "IN", 3))]
    assert compliance_plot.deadlines(report.observations(records, NOW)) == [
        (3600.0, "EU 1 h"),
        (86400.0, "AU, DE 24 h"),
        (172800.0, "PK 48 h"),
        (604800.0, "DE 7 d"),
    ]


def test_the_time_axis_runs_from_a_minute_to_a_week_or_wider():
    def span(durations):
        observed = [
            report.Observation(f"r{n}", "x", "t", "PK", "removed" if removed else "requested", s, removed, None, False)
            for n, (s, removed) in enumerate(durations)
        ]
        return compliance_plot.time_span(compliance_plot.curves(observed), [])

    week = 7 * 86400 * compliance_plot.RIGHT_MARGIN
    assert span([(7200, True), (3 * 86400, False)]) == (60, week)
    assert span([(40, True), (0, True)]) == (10, week)  # a removal at 40 s; one at 0 s cannot be on a log axis
    assert span([(3600, True), (31 * 86400, False)]) == (60, 31 * 86400 * compliance_plot.RIGHT_MARGIN)


def test_censoring_ticks_sit_on_the_curve_at_each_censored_time():
    records = [record("a", "x", "removed", removed_after_hours=1), record("b", "x", "removed", removed_after_hours=3)]
    records += [record("c", "x", "rejected", closed_after_hours=2), record("d", "x", "requested", seq=1)]
    [curve] = compliance_plot.curves(report.observations(records, NOW))
    assert curve.censored_seconds == (2 * 3600, 72 * 3600)
    assert curve.survival_at(list(curve.censored_seconds)) == pytest.approx([3 / 4, 3 / 4 * 1 / 2])
    assert curve.longest_seconds == 72 * 3600


def test_latest_records_keep_the_latest_of_each_request_reduced_whatever_the_batches():
    first = naming(record("a", "x", "requested", seq=1), TTP)
    removed = naming(record("a", "x", "removed", removed_after_hours=2, seq=2), TTP)
    attempt = {"kind": "delivery_attempt", "request_id": "a", "platform": "x", "attempt": 1}
    batched = report.LatestRecords().add([first, attempt]).add([removed]).add([dict(first)])
    assert batched.by_request == report.latest_records([first, attempt, removed, first])
    kept = batched.by_request["a"]
    removed_at = (T0 + timedelta(hours=2)).timestamp()  # times kept as POSIX seconds
    assert (kept.seq, kept.state, kept.ended_at, kept.organisations) == (2, "removed", removed_at, (TTP,))
    assert kept.category == "terrorism_promotion" and kept.target == "item"
    assert report.latest_records([account(first)])["a"].target == "account"


def test_a_ledger_file_is_read_a_line_at_a_time_and_a_bad_line_refused_when_reached(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(orjson.dumps(record("a", "x", "requested", seq=1)) + b"\n" + b'{"post_id": "1"}\n')
    lines = each_ledger_record(ledger)
    assert next(lines)["request_id"] == "a"  # read before the bad line is
    with pytest.raises(InputRefused, match=r"--ledger .*ledger.jsonl:2: not a record of this kind"):
        next(lines)
    with pytest.raises(InputRefused, match=r":2: "):
        read_ledger_file(ledger)  # the list form refuses the file before handing anything out


def test_report_refuses_a_ledger_time_it_cannot_read_naming_request_field_and_value(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    write_ledger_file(ledger, [dict(record("a", "x", "requested", seq=1), requested_at="yesterday")])
    said = run_report("--ledger", str(ledger))
    assert said.returncode == 2 and "Traceback" not in said.stderr
    assert said.stderr.splitlines() == [
        f"Error: --ledger {ledger}: request 'a' (seq 1): requested_at: 'yesterday' is not an ISO 8601 time "
        "with its UTC offset"
    ]
