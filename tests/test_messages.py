"""The record types (takedowns/messages.py) against the contract in docs/events.md and the records the core makes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from takedowns import campaigns, lifecycle, messages
from takedowns.messages import (
    CampaignAlert,
    DeadLetter,
    DeadlineAlert,
    DeliveryAlert,
    DeliveryAttempt,
    DetectionAlert,
    Finding,
    LedgerTransition,
    MessageError,
    ReportVelocityAlert,
    TakedownRequest,
)
from takedowns.requests import Requests
from tests.conftest import ROOT
from tests.test_lifecycle import flagged as lifecycle_flagged

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SETTINGS = lifecycle.LifecycleSettings(expire_after=timedelta(days=30), redeliver_after=timedelta(days=365))
DOCUMENTED = {
    "Finding": Finding,
    "Detection alert": DetectionAlert,
    "Deadline alert": DeadlineAlert,
    "Delivery alert": DeliveryAlert,
    "Report-velocity alert": ReportVelocityAlert,
    "Campaign alert": CampaignAlert,
    "Takedown request": TakedownRequest,
    "Ledger transition": LedgerTransition,
    "Delivery attempt": DeliveryAttempt,
    "Dead letter": DeadLetter,
}


def documented_tables() -> dict[str, dict[str, bool]]:
    """Heading -> {field: required} of each field table in docs/events.md."""
    tables, heading = {}, None
    for line in (ROOT / "docs" / "events.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            heading = re.sub(r"\s*\(.*$", "", line[4:]).strip()
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if heading is None or len(cells) < 3 or not cells[0].startswith("`"):
            continue
        required = cells[2] == "yes"
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            tables.setdefault(heading, {})[name] = required
    return tables


@pytest.mark.parametrize("heading", sorted(DOCUMENTED))
def test_each_documented_record_has_the_fields_of_its_type(heading):
    documented = documented_tables()[heading]
    typed = {name: required for name, (_, required) in DOCUMENTED[heading].fields().items()}
    assert typed == documented


def test_every_output_record_type_is_documented():
    output_types = {
        value
        for value in vars(messages).values()
        if isinstance(value, type)
        and issubclass(value, messages.Message)
        and value is not messages.Message
        and not issubclass(value, messages.InternalEvent)
    }
    assert output_types == set(DOCUMENTED.values())


def test_reading_is_strict_and_names_the_field():
    record = {"detector": "watchlist", "category": "hate", "score": 0.5, "evidence": {}}
    assert Finding.from_dict(record).to_dict() == record
    with pytest.raises(MessageError, match=r"Finding.score: 'high'"):
        Finding.from_dict(dict(record, score="high"))
    with pytest.raises(MessageError, match=r"Finding.category: missing"):
        Finding.from_dict({key: value for key, value in record.items() if key != "category"})
    with pytest.raises(MessageError, match=r"unknown field 'extra'"):
        Finding.from_dict(dict(record, extra=1))
    with pytest.raises(MessageError, match=r"Finding.score: True"):
        Finding.from_dict(dict(record, score=True))


def test_item_events_are_versioned_and_read_by_type():
    tick = messages.Tick(at=T0.isoformat())
    assert tick.wire() == {"type": "tick", "v": 1, "at": T0.isoformat()}
    assert messages.read_item_event(tick.wire()) == tick
    assert messages.read_item_event({"type": "tick"}) == messages.Tick()  # before "v" existed: version 1
    with pytest.raises(MessageError, match="version 2"):
        messages.read_item_event({"type": "tick", "v": 2})
    with pytest.raises(MessageError, match="'moved' is not one of"):
        messages.read_item_event({"type": "moved"})
    assert messages.read_account_event({"type": "expire", "v": 1}) == messages.AccountExpiry()
    assert messages.read_campaign_event(messages.Sighting({"item": "x:1"}).wire()).sighting == {"item": "x:1"}
    with pytest.raises(MessageError, match="campaign event: type 'strike'"):
        messages.read_campaign_event(messages.StrikeAdded({}).wire())


# --- what the core makes is what the types say ----------------------------------------------


@pytest.fixture(scope="module")
def requests() -> Requests:
    return Requests.from_config_dir(ROOT / "config")


def flagged(post_id: str = "p1", action: str = "takedown") -> dict:
    """The lifecycle tests' flagged post, with the fields the scan stage adds."""
    return dict(lifecycle_flagged(action, post_id), media_hashes=[], campaign=None)


def published(request: dict) -> dict:
    return {name: value for name, value in request.items() if name != "state"}


def ledger(state: dict) -> list[dict]:
    return [lifecycle.ledger_record(state, transition) for transition in state.get("new_transitions", [])]


def test_a_request_its_alert_and_its_ledger_read_as_their_types(requests):
    outcome = lifecycle.on_flagged(None, flagged(), requests.takedown_request(flagged(), T0), T0)
    [request] = outcome.requests
    TakedownRequest.from_dict(published(request))
    DetectionAlert.from_dict(requests.alert(flagged(), T0))
    for record in ledger(outcome.state):
        assert isinstance(messages.read_ledger_record(record), LedgerTransition)
    for finding in request["evidence"]:
        Finding.from_dict(finding)


def test_every_alert_the_lifecycle_raises_reads_as_its_type(requests):
    state = lifecycle.on_flagged(None, flagged(), requests.takedown_request(flagged(), T0), T0).state
    late = lifecycle.on_tick(state, T0 + timedelta(days=5), SETTINGS)
    failed_delivery = {
        "request_id": state["request"]["request_id"],
        "delivered": False,
        "delivered_at": None,
        "channel": "webhook",
        "attempts": 3,
        "outcome": "failed",
        "reason": "HTTP 503 after 3 attempts",
    }
    undelivered = lifecycle.on_delivery(state, failed_delivery, requests.stamp, T0)
    velocity = lifecycle.ReportVelocity(threshold=2, window=timedelta(minutes=10))
    reported, alerts = state, []
    for reporter in ("r1", "r2"):
        report = {
            "platform": "x",
            "post_id": "p1",
            "reporter_id": reporter,
            "reason": "t",
            "reported_at": T0.isoformat(),
        }
        outcome = lifecycle.on_report(reported, report, velocity, T0)
        reported, alerts = outcome.state or reported, alerts + outcome.alerts
    raised = late.alerts + undelivered.alerts + alerts
    assert {alert["type"] for alert in raised} == {"sla_breach", "delivery_failed", "report_velocity"}
    for alert in raised:
        messages.read_alert(alert)
    for record in ledger(late.state) + ledger(undelivered.state):
        messages.read_ledger_record(record)


def test_a_campaign_alert_reads_as_its_type():
    policy = campaigns.CampaignPolicy(
        min_accounts=2, min_platforms=2, min_items=2, window=timedelta(hours=24), min_words=5
    )
    state, raised = None, []
    for index, platform in enumerate(("x", "tiktok")):
        item = dict(flagged(str(index)), platform=platform, account_id=f"a{index}")
        sighting = campaigns.sighting(item, "text:k", f"tr-{index}", T0 + timedelta(minutes=index))
        state, alert = campaigns.on_sighting(state, sighting, policy)
        raised += [alert] if alert else []
    [alert] = raised
    assert isinstance(messages.read_alert(alert), CampaignAlert)
