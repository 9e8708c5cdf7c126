"""Validate input records and pass them to the partition of the item they are about.

``forward_reports``   reports -> item-events (report velocity) | deadletter
``forward_statuses``  platform-status -> item-events (and the account's item when the
                      status says its account is suspended) | deadletter
``forward_decisions`` decisions -> item-events | deadletter
"""

from __future__ import annotations

from detectors.events import InvalidEvent
from streams.agents._common import count_valid, parse_record, send_dead_letter
from streams.app import app
from streams.runtime import current, decision_item_key
from streams.topics import decisions_topic, item_events_topic, platform_status_topic, reports_topic
from takedowns import accounts
from takedowns.messages import ReportSeen, ReviewDecided, StatusSeen

ACCOUNT_STATUSES = frozenset({"suspended", "active"})


@app.agent(reports_topic)
async def forward_reports(stream):
    """Validate user reports and pass them to the item's own partition (report velocity)."""
    async for event in stream.events():
        if not await current().order.admit(event):
            continue
        try:
            report = parse_record(event, "report")
        except InvalidEvent as error:
            await send_dead_letter(event, error)
            continue
        count_valid(event)
        record = {
            "platform": report.platform,
            "post_id": report.post_id,
            "reporter_id": report.reporter_id,
            "reason": report.reason,
            "reported_at": report.reported_at.isoformat(),
        }
        await item_events_topic.send(key=report.key, value=ReportSeen(record).wire())


@app.agent(platform_status_topic)
async def forward_statuses(stream):
    """Validate platform status events and pass them to the item's own partition."""
    async for event in stream.events():
        if not await current().order.admit(event):
            continue
        try:
            status = parse_record(event, "status")
            account = account_status_of(status)
        except InvalidEvent as error:
            await send_dead_letter(event, error)
            continue
        count_valid(event)
        record = {
            "platform": status.platform,
            "post_id": status.post_id,
            "status": status.status,
            "observed_at": status.observed_at.isoformat(),
            "source": status.source,
        }
        await item_events_topic.send(key=status.key, value=StatusSeen(record).wire())
        if account is not None:  # the account itself: suspended counts as its removal
            account_id, account_status = account
            account_record = dict(
                record,
                post_id=accounts.ACCOUNT_MARK + account_id,
                status="removed" if account_status == "suspended" else "available",
            )
            await item_events_topic.send(
                key=accounts.account_item_key(status.platform, account_id),
                value=StatusSeen(account_record).wire(),
            )


def account_status_of(status) -> tuple[str, str] | None:
    """(account_id, suspended | active) when a status event also reports on the post's account."""
    extra = status.extra or {}
    if extra.get("account_status") is None:
        return None
    account_status, account_id = extra["account_status"], extra.get("account_id")
    if account_status not in ACCOUNT_STATUSES:
        raise InvalidEvent("invalid_value", "account_status", f"{account_status!r} is not suspended or active")
    if not isinstance(account_id, str) or not account_id.strip() or len(account_id) > 256:
        raise InvalidEvent("missing_field", "account_id", "an account_status needs the account_id it is about")
    return account_id.strip(), account_status


@app.agent(decisions_topic)
async def forward_decisions(stream):
    """Validate reviewers' decisions and pass them to the partition of the item they decide."""
    async for event in stream.events():
        if not await current().order.admit(event):
            continue
        try:
            decision = current().pipeline.parser.decision(event.value)
            key = decision_item_key(decision)
        except InvalidEvent as error:
            await send_dead_letter(event, error)
            continue
        count_valid(event)
        record = {
            "decision": decision.decision,
            "reviewer": decision.reviewer,
            "reason": decision.reason,
            "at": decision.at.isoformat(),
            "request_id": decision.request_id,
            "alert_id": decision.alert_id,
        }
        if decision.category is not None:
            record["category"] = decision.category
        await item_events_topic.send(key=key, value=ReviewDecided(record).wire())
