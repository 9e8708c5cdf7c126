"""The takedown lifecycle as a pure function: every transition without a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from takedowns import lifecycle
from takedowns.requests import Requests, item_key_of_request, request_id_for
from tests.conftest import ROOT

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
# Redelivery far off: these tests are about deadlines; redelivery has its own below.
SETTINGS = lifecycle.LifecycleSettings(expire_after=timedelta(days=30), redeliver_after=timedelta(days=365))


@pytest.fixture(scope="module")
def requests() -> Requests:
    return Requests.from_config_dir(ROOT / "config")


def flagged(action="takedown", post_id="p1") -> dict:
    return {
        "platform": "x",
        "post_id": post_id,
        "account_id": "a",
        "url": None,
        "action": action,
        "severity": "critical",
        "categories": ["terrorism_promotion"],
        "posted_at": T0.isoformat(),
        "findings": [
            {
                "detector": "designated_organisation",
                "category": "terrorism_promotion",
                "score": 0.9,
                "evidence": {"organisations": ["QDe.132"]},
            }
        ],
    }


def status(kind: str, at: datetime) -> dict:
    return {"platform": "x", "post_id": "p1", "status": kind, "observed_at": at.isoformat(), "source": "test"}


def requested(requests, at=T0):
    return lifecycle.on_flagged(None, flagged(), requests.takedown_request(flagged(), at), at)


def test_takedown_decision_opens_a_request_with_its_clock(requests):
    outcome = requested(requests)
    request = outcome.state["request"]
    assert request["state"] == "requested" and request["requested_at"] == T0.isoformat()
    assert request["deadline"] == (T0 + timedelta(hours=48)).isoformat()  # PK: 48 hours
    assert outcome.requests == [request]
    transition = outcome.state["transition"]
    assert (transition["from"], transition["to"], transition["seq"]) == ("new", "requested", 1)
    assert transition["evidence_digest"].startswith("sha256:")


def test_the_same_item_flagged_again_changes_nothing(requests):
    state = requested(requests).state
    again = lifecycle.on_flagged(state, flagged(), requests.takedown_request(flagged(), T0 + timedelta(hours=1)), T0)
    assert again is lifecycle.NOTHING


def test_removal_closes_the_request_and_measures_time_to_removal(requests):
    state = requested(requests).state
    outcome = lifecycle.on_status(state, status("geo_blocked", T0 + timedelta(hours=5)), None, T0 + timedelta(hours=6))
    request = outcome.state["request"]
    assert request["state"] == "removed" and request["removal_status"] == "geo_blocked"
    assert request["time_to_removal_seconds"] == 5 * 3600 and request["within_deadline"] is True
    assert outcome.removal == {
        "platform": "x",
        "jurisdiction": "PK",
        "category": "terrorism_promotion",
        "seconds": 5 * 3600.0,
        "within_deadline": True,
    }


def test_removal_after_the_deadline_is_counted_late(requests):
    state = requested(requests).state
    outcome = lifecycle.on_status(state, status("removed", T0 + timedelta(hours=50)), None, T0 + timedelta(hours=50))
    assert outcome.removal["within_deadline"] is False


def test_a_duplicated_removal_is_counted_once(requests):
    state = requested(requests).state
    removed = lifecycle.on_status(state, status("removed", T0 + timedelta(hours=2)), None, T0).state
    assert lifecycle.on_status(removed, status("removed", T0 + timedelta(hours=3)), None, T0) is lifecycle.NOTHING


def test_removal_reported_before_the_request_time_counts_as_zero_not_negative(requests):
    state = requested(requests).state
    outcome = lifecycle.on_status(state, status("removed", T0 - timedelta(minutes=5)), None, T0)
    assert outcome.removal["seconds"] == 0.0


def test_status_before_the_request_is_remembered_and_no_request_follows(requests):
    removed_first = lifecycle.on_status(None, status("removed", T0), None, T0).state
    assert removed_first["removed_at"] == T0.isoformat()
    later = lifecycle.on_flagged(removed_first, flagged(), requests.takedown_request(flagged(), T0), T0)
    assert later is lifecycle.NOTHING


def test_platform_rejection_closes_the_request(requests):
    state = requested(requests).state
    outcome = lifecycle.on_status(state, status("rejected", T0 + timedelta(hours=1)), None, T0 + timedelta(hours=1))
    assert outcome.state["request"]["state"] == "rejected" and outcome.removal is None


def test_reappeared_content_opens_a_new_linked_request_with_a_new_clock(requests):
    state = requested(requests).state
    removed = lifecycle.on_status(state, status("removed", T0 + timedelta(hours=1)), None, T0).state
    later = T0 + timedelta(days=2)
    outcome = lifecycle.on_status(removed, status("available", later), lambda old: requests.reopen(old, later), later)
    new = outcome.state["request"]
    old = outcome.state["previous_requests"][-1]
    assert old["state"] == "reappeared" and new["state"] == "requested"
    assert new["previous_request_id"] == old["request_id"] and new["request_id"] != old["request_id"]
    assert new["requested_at"] == later.isoformat()
    assert item_key_of_request(new["request_id"]) == "x:p1"
    assert outcome.requests == [new]


def test_review_waits_then_approval_starts_the_clock(requests):
    pending = lifecycle.on_flagged(None, flagged("review"), requests.takedown_request(flagged("review"), T0), T0)
    assert pending.state["request"]["state"] == "pending_review" and pending.requests == []
    assert pending.state["request"]["requested_at"] is None
    approved_at = T0 + timedelta(hours=3)
    decision = {
        "decision": "approve",
        "reviewer": "rev-1",
        "reason": "clear glorification",
        "at": approved_at.isoformat(),
    }
    outcome = lifecycle.on_decision(
        pending.state, decision, lambda draft: requests.stamp(draft, approved_at), approved_at
    )
    assert outcome.state["request"]["state"] == "requested"
    assert outcome.state["request"]["requested_at"] == approved_at.isoformat()
    assert outcome.state["transition"]["cause"]["reviewer"] == "rev-1"
    assert outcome.requests == [outcome.state["request"]]


def test_rejection_by_a_reviewer_dismisses_without_a_request(requests):
    pending = lifecycle.on_flagged(None, flagged("review"), requests.takedown_request(flagged("review"), T0), T0).state
    decision = {"decision": "reject", "reviewer": "rev-1", "reason": "news report", "at": T0.isoformat()}
    outcome = lifecycle.on_decision(pending, decision, None, T0)
    assert outcome.state["request"]["state"] == "dismissed" and outcome.requests == []


def test_a_decision_on_an_item_not_in_review_changes_nothing(requests):
    state = requested(requests).state
    decision = {"decision": "reject", "reviewer": "rev-1", "at": T0.isoformat()}
    assert lifecycle.on_decision(state, decision, None, T0) is lifecycle.NOTHING


def test_sla_breach_alerts_once_per_deadline_multiple(requests):
    state = requested(requests).state
    assert lifecycle.on_tick(state, T0 + timedelta(hours=47), SETTINGS) is lifecycle.NOTHING
    first = lifecycle.on_tick(state, T0 + timedelta(hours=49), SETTINGS)
    assert [alert["deadline_multiple"] for alert in first.alerts] == [1]
    assert lifecycle.on_tick(first.state, T0 + timedelta(hours=60), SETTINGS) is lifecycle.NOTHING
    second = lifecycle.on_tick(first.state, T0 + timedelta(hours=97), SETTINGS)
    assert [alert["deadline_multiple"] for alert in second.alerts] == [2]
    assert second.alerts[0]["alert_id"].endswith(":2") and second.alerts[0]["severity"] == "critical"


def test_a_late_first_tick_raises_both_breaches_at_once(requests):
    state = requested(requests).state
    outcome = lifecycle.on_tick(state, T0 + timedelta(days=5), SETTINGS)
    assert [alert["deadline_multiple"] for alert in outcome.alerts] == [1, 2]


def test_unanswered_request_expires(requests):
    state = requested(requests).state
    outcome = lifecycle.on_tick(state, T0 + timedelta(days=31), SETTINGS)
    assert outcome.state["request"]["state"] == "expired"


def test_next_check_is_the_earliest_pending_deadline(requests):
    state = requested(requests).state
    assert lifecycle.next_check(state, SETTINGS) == T0 + timedelta(hours=48)
    after_first = lifecycle.on_tick(state, T0 + timedelta(hours=49), SETTINGS).state
    assert lifecycle.next_check(after_first, SETTINGS) == T0 + timedelta(hours=96)


def test_request_ids_are_stable_and_name_their_item():
    assert request_id_for("x", "p1") == request_id_for("x", "p1")
    assert item_key_of_request(request_id_for("telegram", "a:b/c")) == "telegram:a:b/c"
    assert item_key_of_request(request_id_for("x", "p1", 3)) == "x:p1"
    with pytest.raises(ValueError):
        item_key_of_request("tr-!!!")


def test_each_shipped_jurisdiction_gives_its_deadline(requests):
    hours = {
        code: jurisdiction.deadline.total_seconds() / 3600 for code, jurisdiction in requests.jurisdictions.items()
    }
    assert hours == {"PK": 48, "EU": 1, "DE": 24, "IN": 3, "AU": 24}
    assert all(jurisdiction.citation and jurisdiction.legal_basis for jurisdiction in requests.jurisdictions.values())


def test_category_and_emergency_deadlines_override_the_default(requests):
    germany = requests.jurisdictions["DE"]
    assert germany.deadline_for(["hate"], "high") == timedelta(days=7)
    assert germany.deadline_for(["terrorism_promotion", "hate"], "critical") == timedelta(hours=24)
    pakistan = requests.jurisdictions["PK"]
    assert pakistan.deadline_for(["terrorism_promotion"], "critical") == timedelta(
        hours=48
    )  # no emergency severities shipped
    emergency = type(pakistan)(
        **{**{f: getattr(pakistan, f) for f in pakistan.__slots__}, "emergency_severities": frozenset({"critical"})}
    )
    assert emergency.deadline_for(["terrorism_promotion"], "critical") == timedelta(hours=12)


def test_platform_override_picks_the_request_jurisdiction(tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    platforms = config / "platforms.yaml"
    platforms.write_text(
        platforms.read_text().replace("  tiktok: {name: TikTok}", "  tiktok: {name: TikTok, jurisdiction: EU}")
    )
    requests = Requests.from_config_dir(config)
    request = requests.takedown_request(dict(flagged(), platform="tiktok"), T0)
    assert request["jurisdiction"] == "EU" and request["deadline"] == (T0 + timedelta(hours=1)).isoformat()
    assert "2021/784" in request["legal_basis"]


def report(n: int, at: datetime) -> dict:
    return {
        "platform": "x",
        "post_id": "p1",
        "reporter_id": f"r{n}",
        "reason": "terrorism",
        "reported_at": at.isoformat(),
    }


def test_report_velocity_alerts_once_when_the_threshold_is_crossed_in_the_window():
    velocity = lifecycle.ReportVelocity(threshold=3, window=timedelta(minutes=10))
    state = None
    raised = []
    for n, minutes in enumerate([0, 20, 25, 28, 29]):  # the report at 0 falls out of the window
        outcome = lifecycle.on_report(state, report(n, T0 + timedelta(minutes=minutes)), velocity, T0)
        state = outcome.state or state
        raised += outcome.alerts
    assert [alert["type"] for alert in raised] == ["report_velocity"]
    assert raised[0]["reports"] == 3 and raised[0]["severity"] == "medium"


def test_report_velocity_on_a_flagged_item_is_escalated(requests):
    velocity = lifecycle.ReportVelocity(threshold=2, window=timedelta(minutes=10))
    state = requested(requests).state
    state = lifecycle.on_report(state, report(1, T0), velocity, T0).state
    outcome = lifecycle.on_report(state, report(2, T0 + timedelta(minutes=1)), velocity, T0)
    assert outcome.alerts[0]["severity"] == "high" and outcome.alerts[0]["already_flagged"] is True


def test_the_same_report_twice_counts_once_but_two_reporters_in_one_second_count_twice():
    velocity = lifecycle.ReportVelocity(threshold=2, window=timedelta(minutes=10))
    state = lifecycle.on_report(None, report(1, T0), velocity, T0).state
    assert lifecycle.on_report(state, report(1, T0), velocity, T0) is lifecycle.NOTHING
    assert lifecycle.on_report(state, report(2, T0), velocity, T0).alerts


def test_reappearance_records_both_transitions_for_the_ledger(requests):
    state = requested(requests).state
    removed = lifecycle.on_status(
        dict(state, new_transitions=[]), status("removed", T0 + timedelta(hours=1)), None, T0
    ).state
    later = T0 + timedelta(days=2)
    outcome = lifecycle.on_status(
        dict(removed, new_transitions=[]), status("available", later), lambda old: requests.reopen(old, later), later
    )
    transitions = outcome.state["new_transitions"]
    assert [(t["from"], t["to"]) for t in transitions] == [("removed", "reappeared"), ("new", "requested")]
    records = [lifecycle.ledger_record(outcome.state, transition) for transition in transitions]
    assert records[0]["request_id"] != records[1]["request_id"]
    assert records[0]["state"] == "reappeared" and records[0]["removed_at"] == (T0 + timedelta(hours=1)).isoformat()
    assert records[1]["previous_request_id"] == records[0]["request_id"]
    assert records[1]["evidence"] and records[1]["legal_basis"]


def delivery(request_id: str, delivered: bool, at: datetime | None = None) -> dict:
    return {
        "request_id": request_id,
        "delivered": delivered,
        "delivered_at": at.isoformat() if at else None,
        "channel": "webhook",
        "attempts": 3,
        "outcome": "delivered" if delivered else "failed",
        "reason": None if delivered else "HTTP 503 after 3 attempts",
    }


def test_the_clock_starts_at_the_first_successful_delivery(requests):
    state = requested(requests).state
    request_id = state["request"]["request_id"]
    at = T0 + timedelta(minutes=4)
    outcome = lifecycle.on_delivery(state, delivery(request_id, True, at), requests.stamp, at)
    request = outcome.state["request"]
    assert request["requested_at"] == at.isoformat() and request["delivered_at"] == at.isoformat()
    assert request["deadline"] == (at + timedelta(hours=48)).isoformat()
    assert outcome.state["transition"]["cause"]["type"] == "delivery"
    again = lifecycle.on_delivery(
        outcome.state, delivery(request_id, True, at + timedelta(minutes=1)), requests.stamp, at
    )
    assert again is lifecycle.NOTHING  # a replayed result does not move the clock


def test_the_attempt_that_ended_a_delivery_is_on_the_ledger_in_the_transitions_cause(requests):
    state = requested(requests).state
    at = T0 + timedelta(minutes=4)
    last = {
        "request_id": state["request"]["request_id"],
        "platform": "x",
        "channel": "webhook",
        "attempt": 3,
        "outcome": "delivered",
        "status_code": 202,
        "error": None,
        "elapsed_seconds": 0.25,
        "at": at.isoformat(),
        "retry_in_seconds": None,
    }
    result = dict(delivery(state["request"]["request_id"], True, at), last_attempt=last)
    outcome = lifecycle.on_delivery(state, result, requests.stamp, at)
    record = lifecycle.ledger_record(outcome.state, outcome.state["transition"])
    assert record["cause"]["last_attempt"] == {
        "attempt": 3,
        "status_code": 202,
        "error": None,
        "elapsed_seconds": 0.25,
        "at": at.isoformat(),
    }
    # A result from before the field existed still makes its transition, without it.
    assert (
        "last_attempt"
        not in lifecycle.on_delivery(state, delivery(last["request_id"], True, at), requests.stamp, at).state[
            "transition"
        ]["cause"]
    )


def test_an_undeliverable_request_ends_visibly_with_a_critical_alert(requests):
    state = requested(requests).state
    outcome = lifecycle.on_delivery(state, delivery(state["request"]["request_id"], False), requests.stamp, T0)
    assert outcome.state["request"]["state"] == "delivery_failed"
    [alert] = outcome.alerts
    assert (alert["type"], alert["severity"], alert["reason"]) == (
        "delivery_failed",
        "critical",
        "HTTP 503 after 3 attempts",
    )
    assert (
        lifecycle.on_tick(outcome.state, T0 + timedelta(days=5), SETTINGS) is lifecycle.NOTHING
    )  # closed: no overdue alerts


def resend(request_id: str, by: str = "ops-1") -> dict:
    return {
        "decision": "resend",
        "reviewer": by,
        "reason": "endpoint fixed",
        "at": T0.isoformat(),
        "request_id": request_id,
    }


def test_a_failed_delivery_is_sent_again_on_an_operators_resend_and_a_second_failure_alerts_again(requests):
    state = requested(requests).state
    request_id = state["request"]["request_id"]
    failed = lifecycle.on_delivery(state, delivery(request_id, False), requests.stamp, T0).state
    failed.pop("new_transitions")
    later = T0 + timedelta(hours=2)
    outcome = lifecycle.on_decision(failed, resend(request_id), None, later)
    request = outcome.state["request"]
    assert request["state"] == "requested" and "closed_at" not in request and request["resends"] == 1
    assert outcome.deliver == (request,) and outcome.requests == [] and outcome.alerts == []
    transition = outcome.state["transition"]
    assert (transition["from"], transition["to"]) == ("delivery_failed", "requested")
    assert transition["cause"] == {
        "type": "resend",
        "operator": "ops-1",
        "reason": "endpoint fixed",
        "decided_at": T0.isoformat(),
    }
    state = dict(outcome.state)
    state.pop("new_transitions")
    again = lifecycle.on_delivery(state, delivery(request_id, False), requests.stamp, later)
    first_alert = lifecycle.on_delivery(
        requested(requests).state, delivery(request_id, False), requests.stamp, T0
    ).alerts[0]
    # Its own alert id: the first failure's alert does not swallow the second.
    assert again.alerts[0]["alert_id"] == first_alert["alert_id"] + ":1"
    delivered = lifecycle.on_delivery(state, delivery(request_id, True, later), requests.stamp, later)
    assert delivered.state["request"]["delivered_at"] == later.isoformat()


def test_a_resend_of_a_request_that_has_not_failed_or_of_another_changes_nothing(requests):
    state = requested(requests).state
    request_id = state["request"]["request_id"]
    assert lifecycle.on_decision(state, resend(request_id), None, T0) is lifecycle.NOTHING  # still open
    failed = lifecycle.on_delivery(state, delivery(request_id, False), requests.stamp, T0).state
    assert lifecycle.on_decision(failed, resend("tr-other"), None, T0) is lifecycle.NOTHING
    assert lifecycle.on_decision(None, resend(request_id), None, T0) is lifecycle.NOTHING


REDELIVER = lifecycle.LifecycleSettings(expire_after=timedelta(days=30), redeliver_after=timedelta(minutes=30))


def test_an_undelivered_request_is_sent_again_once_per_interval_however_late_the_tick(requests):
    state = requested(requests).state
    assert lifecycle.next_check(state, REDELIVER) == T0 + timedelta(minutes=30)
    assert lifecycle.on_tick(state, T0 + timedelta(minutes=29), REDELIVER) is lifecycle.NOTHING
    outcome = lifecycle.on_tick(state, T0 + timedelta(minutes=95), REDELIVER)  # a late tick
    [again] = outcome.deliver
    assert again["request_id"] == state["request"]["request_id"] and not outcome.alerts
    assert lifecycle.next_check(outcome.state, REDELIVER) == T0 + timedelta(minutes=120)
    assert lifecycle.on_tick(outcome.state, T0 + timedelta(minutes=100), REDELIVER) is lifecycle.NOTHING


def test_a_delivered_request_is_never_sent_again(requests):
    state = requested(requests).state
    delivered = lifecycle.on_delivery(
        state, delivery(state["request"]["request_id"], True, T0), requests.stamp, T0
    ).state
    assert lifecycle.next_check(delivered, REDELIVER) == T0 + timedelta(hours=48)  # the deadline, not a redelivery
    assert lifecycle.on_tick(delivered, T0 + timedelta(hours=1), REDELIVER) is lifecycle.NOTHING


def test_redelivery_and_a_breach_due_at_the_same_tick_both_happen(requests):
    state = requested(requests).state
    outcome = lifecycle.on_tick(state, T0 + timedelta(hours=49), REDELIVER)
    assert len(outcome.deliver) == 1 and [alert["type"] for alert in outcome.alerts] == ["sla_breach"]
    assert outcome.state["request"]["breaches"] == [1] and outcome.deliver[0]["breaches"] == [1]


def test_a_reopened_request_is_delivered_and_timed_afresh(requests):
    """The old request's delivery is not the new one's: the new clock starts at its own delivery."""
    state = requested(requests).state
    first = state["request"]["request_id"]
    state = lifecycle.on_delivery(state, delivery(first, True, T0), requests.stamp, T0).state
    state = lifecycle.on_status(state, status("removed", T0 + timedelta(hours=1)), None, T0).state
    later = T0 + timedelta(days=2)
    reopened = lifecycle.on_status(state, status("available", later), lambda old: requests.reopen(old, later), later)
    new = reopened.state["request"]
    assert "delivered_at" not in new and "redeliveries" not in new
    delivered = later + timedelta(minutes=3)
    outcome = lifecycle.on_delivery(reopened.state, delivery(new["request_id"], True, delivered), requests.stamp, later)
    assert outcome.state["request"]["delivered_at"] == delivered.isoformat()
    assert outcome.state["request"]["requested_at"] == delivered.isoformat()
