"""The crash harness (bench/chaos.py): its counting, and a short run against a real broker."""

from __future__ import annotations

import asyncio

import pytest

from bench import chaos


def plan() -> chaos.Plan:
    found = chaos.Plan(violating={"x:v0", "x:v1"}, review={"x:r2"}, clean={"x:c3"})
    found.account_of = {"x:v0": "acct-0", "x:v1": "acct-0", "x:r2": "acct-0", "x:c3": "acct-0"}
    found.removed = {"x:v0"}
    return found


def ledger(request_id: str, key: str, seq: int, source: str, target: str, cause: str) -> tuple[str, dict]:
    return key, {"request_id": request_id, "seq": seq, "from": source, "to": target, "cause": {"type": cause}}


ALERTS = [("x:v0", {"type": "detection"}), ("x:v1", {"type": "detection"}), ("x:r2", {"type": "detection"})]
REQUESTS = [("x:v0", {"request_id": "tr-0"}), ("x:v1", {"request_id": "tr-1"})]
LEDGER = [
    ledger("tr-0", "x:v0", 1, "none", "requested", "detection"),
    ledger("tr-0", "x:v0", 2, "requested", "removed", "status"),
    ledger("tr-1", "x:v1", 1, "none", "requested", "detection"),
    ("x:v0", {"kind": "delivery_attempt", "request_id": "tr-0", "outcome": "delivered"}),
    ("x:v1", {"kind": "delivery_attempt", "request_id": "tr-1", "outcome": "delivered"}),
]


def rows_by_name(rows):
    return {row.output.strip(): (row.causes, row.lost, row.duplicated) for row in rows}


def test_a_clean_run_counts_every_cause_and_nothing_lost_or_duplicated():
    rows = chaos.tally(plan(), ALERTS, REQUESTS, LEDGER)
    assert not chaos.failed(rows)
    counted = rows_by_name(rows)
    assert counted["detection alerts"] == (3, 0, 0)
    assert counted["takedown requests"] == (2, 0, 0)
    assert counted["ledger transitions"] == (3, 0, 0)


def test_a_lost_alert_a_doubled_request_and_a_transition_under_two_seqs_are_each_counted():
    rows = chaos.tally(
        plan(),
        ALERTS[1:],
        REQUESTS + REQUESTS[:1],
        LEDGER + [ledger("tr-1", "x:v1", 2, "none", "requested", "detection")],
    )
    counted = rows_by_name(rows)
    assert counted["detection alerts"] == (3, 1, 0)
    assert counted["takedown requests"] == (2, 0, 1)
    assert counted["ledger transitions"] == (3, 0, 1)
    assert chaos.failed(rows)


def test_a_removal_missing_from_the_ledger_is_lost_and_a_same_seq_repeat_is_only_shown():
    repeated = LEDGER + [LEDGER[0]]
    rows = chaos.tally(plan(), ALERTS, REQUESTS, [record for record in repeated if record[1].get("to") != "removed"])
    assert rows_by_name(rows)["ledger transitions"][1] == 1
    rows = chaos.tally(plan(), ALERTS, REQUESTS, repeated)
    assert rows_by_name(rows)["same record again (readers de-duplicate)"][2] == 1
    assert not chaos.failed(rows)


def test_three_strikes_earn_one_account_request_and_a_second_is_a_duplicate():
    earned = plan()
    earned.violating |= {"x:v5", "x:v6"}
    earned.account_of.update({"x:v5": "acct-0", "x:v6": "acct-0"})
    earned.removed |= {"x:v5", "x:v6"}
    account = ("x:~account~acct-0", {"request_id": "tr-a"})
    assert rows_by_name(chaos.tally(earned, ALERTS, REQUESTS, LEDGER))["account requests"] == (1, 1, 0)
    assert rows_by_name(chaos.tally(earned, ALERTS, REQUESTS + [account, account], LEDGER))["account requests"] == (
        1,
        0,
        1,
    )


@pytest.mark.kafka
def test_a_short_chaos_run_loses_and_duplicates_nothing(tmp_path):
    """Three kill -9 (one just after ready) and a rebalance while posts and removals flow."""
    rows = asyncio.run(chaos.run(kills=3, outage=0, rebalance=True, posts=240, rate=20.0, seed=7, folder=tmp_path))
    assert not chaos.failed(rows), chaos.render(rows)
    counted = rows_by_name(rows)
    assert counted["takedown requests"][0] >= 90 and counted["account requests"][0] >= 1, chaos.render(rows)


def test_a_delivery_counts_from_its_transition_once_however_often_the_record_repeats():
    delivered = ledger("tr-1", "x:v1", 2, "requested", "requested", "delivery")
    delivered[1]["cause"]["outcome"] = "delivered"
    without_attempt_records = [record for record in LEDGER if record[1].get("kind") != "delivery_attempt"]
    counted = rows_by_name(chaos.tally(plan(), ALERTS, REQUESTS, without_attempt_records + [delivered, delivered]))
    assert counted["deliveries (delivered attempts per request)"] == (2, 1, 0)  # tr-0 was never delivered
    assert counted["delivered again (same Idempotency-Key)"] == (1, 0, 0)
