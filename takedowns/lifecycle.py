"""The takedown lifecycle of one item, as a pure function of its state and an event.

Per ``platform:post_id`` a request moves through::

    pending_review ──approve──▶ requested ──▶ removed | rejected | expired
          │                        ▲
          └──reject──▶ dismissed   └── reappeared: content removed, then seen
                                       available again, reopens the clock on a
                                       new request linked to the old one

``on_flagged``, ``on_decision``, ``on_status``, ``on_delivery``, ``on_report``
and ``on_tick`` each take the item's state and one event and return an
:class:`Outcome`: the new state with its new transitions, and what to publish
(requests, requests to deliver again, alerts). The agent (streams/agents/items.py ``apply``)
publishes every transition as a ledger record (who or what caused it, when,
and a digest of the evidence) and every output, waits for the broker, and only
then stores the state (table ``item_to_state``, changelog ``item-state``).
Nothing here touches Kafka, so every transition is unit-tested without a
broker.

Times come from the events where the platform says when something happened
(a status event's ``observed_at``) and from ``now`` where modwatch acts; a
request's clock starts at its first successful delivery (``on_delivery``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

OPEN_STATES = frozenset({"requested", "acknowledged"})
CLOSED_STATES = frozenset({"removed", "rejected", "expired", "dismissed", "delivery_failed"})
# Every state a request can be in (GET /takedowns?state= accepts these).
REQUEST_STATES = frozenset({"pending_review", *OPEN_STATES, *CLOSED_STATES})
REMOVAL_STATUSES = frozenset({"removed", "geo_blocked", "restricted"})
# Deadline multiples at which an overdue request raises an sla_breach alert, once each.
BREACH_MULTIPLES = (1, 2)


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    # A request the platform neither removes nor rejects is closed as expired
    # after this long; it stays in the statistics as censored, never as removed.
    expire_after: timedelta = timedelta(days=30)
    # A request with no delivery result this long after it was sent to the
    # dispatcher is sent again (a worker died mid-delivery, or the record was
    # lost): longer than a full retry cycle (about 14 minutes by default).
    redeliver_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: dict | None  # the item's new state; None when nothing changed
    requests: list[dict]  # takedown requests to publish
    alerts: list[dict]  # alerts to publish
    removal: dict | None = None  # {platform, category, jurisdiction, seconds, within_deadline} to observe
    deliver: tuple[dict, ...] = ()  # open requests to send to the dispatcher again


NOTHING = Outcome(None, [], [])


def evidence_digest(evidence: Any) -> str:
    return "sha256:" + hashlib.sha256(orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Transitions an item's state keeps (all its requests together): a request has a handful
# (requested, delivered, removed; a review, retries, a resend), so this is every one but
# for content that reappears again and again.
HISTORY_KEPT = 64


def history_of(state: dict | None, request_id: str) -> list[dict]:
    """The transitions of one request that its item's state still holds, oldest first.
    A state stored before the history was kept has only its last transition."""
    if not state:
        return []
    kept = state.get("history") or ([state["transition"]] if state.get("transition") else [])
    return [transition for transition in kept if transition.get("request_id") == request_id]


def _transition(state: dict, to: str, at: datetime, cause: dict) -> dict:
    request = state["request"]
    state = dict(state)
    request = dict(request)
    state["seq"] = state.get("seq", 0) + 1
    state["transition"] = {
        "seq": state["seq"],
        "request_id": request["request_id"],
        "from": request["state"],
        "to": to,
        "at": _iso(at),
        "cause": cause,
        "evidence_digest": evidence_digest(request.get("evidence")),
    }
    request["state"] = to
    state["request"] = request
    # The item's recent history, for GET /takedowns/{id}; the ledger topic holds all of it.
    state["history"] = [*state.get("history", [])[-(HISTORY_KEPT - 1) :], state["transition"]]
    # Every transition of this step, for the ledger; the agent takes them out
    # before storing the state (reappeared content makes two in one step).
    state["new_transitions"] = list(state.get("new_transitions", [])) + [state["transition"]]
    return state


LEDGER_REQUEST_FIELDS = (
    "target",
    "account_id",
    "state",
    "delivered_at",
    "jurisdiction",
    "legal_basis",
    "citation",
    "categories",
    "severity",
    "url",
    "posted_at",
    "requested_at",
    "deadline",
    "removed_at",
    "removal_status",
    "previous_request_id",
    "evidence",
)


def requests_of(state: dict | None) -> list[dict]:
    """An item's requests, the current one first, then earlier generations (reappeared content)."""
    if not state:
        return []
    return [request for request in [state.get("request"), *state.get("previous_requests", [])] if request]


def request_by_id(state: dict | None, request_id: str) -> dict | None:
    """The item's request with this id, current or earlier; None if it has none."""
    return next((request for request in requests_of(state) if request.get("request_id") == request_id), None)


def ledger_record(state: dict, transition: dict) -> dict:
    """The transition and the request as it stood right after it: enough to audit and to export."""
    request = request_by_id(state, transition["request_id"])
    if request is None:
        raise KeyError(f"item {state.get('key')!r} has no request {transition['request_id']!r}")
    return {
        **transition,
        "platform": state["platform"],
        "post_id": state["post_id"],
        **{name: request.get(name) for name in LEDGER_REQUEST_FIELDS},
    }


def new_item(flagged: dict) -> dict:
    return {
        "key": f"{flagged['platform']}:{flagged['post_id']}",
        "platform": flagged["platform"],
        "post_id": flagged["post_id"],
        "seq": 0,
        "request": None,
        "previous_requests": [],
    }


def on_flagged(state: dict | None, flagged: dict, request: dict, now: datetime) -> Outcome:
    """A scan decided review or takedown; ``request`` is the request that would be sent now."""
    state = state or new_item(flagged)
    current = state.get("request")
    if current is not None:
        return NOTHING  # already tracked: a replay, a duplicate or a re-scan of the same item
    if state.get("removed_at"):
        return NOTHING  # the platform already took it down before anyone asked
    cause = {"type": "detection", "action": flagged["action"], "categories": flagged["categories"]}
    if flagged.get("post") is not None:
        state = dict(state, post=flagged["post"])  # what a reviewer sees (detectors/review_context.py)
    if flagged["action"] == "takedown":
        state = dict(state, request=dict(request, state="new"))
        state = _transition(state, "requested", now, cause)
        return Outcome(state, [state["request"]], [])
    pending = dict(request, state="new", requested_at=None, deadline=None)
    state = _transition(dict(state, request=pending), "pending_review", now, cause)
    return Outcome(state, [], [])


def on_decision(state: dict | None, decision: dict, request_for_now, now: datetime) -> Outcome:
    """A reviewer's decision on a pending item; ``request_for_now(pending)`` restamps the clock.

    ``resend``: an operator sends a request whose delivery failed again (:func:`_resend`).
    """
    if decision["decision"] == "resend":
        return _resend(state, decision, now)
    if state is None or state.get("request") is None or state["request"]["state"] != "pending_review":
        return NOTHING
    cause = {
        "type": "review",
        "decision": decision["decision"],
        "reviewer": decision["reviewer"],
        "reason": decision.get("reason"),
        "decided_at": decision.get("at"),
    }
    if decision.get("category") is not None:
        cause["category"] = decision["category"]  # approved as this category, not the detectors'
    if decision["decision"] == "approve":
        state = dict(state, request=request_for_now(state["request"]))
        state = _transition(state, "requested", now, cause)
        return Outcome(state, [state["request"]], [])
    state = _transition(state, "dismissed", now, cause)
    state["request"] = dict(state["request"], closed_at=_iso(now))
    return Outcome(state, [], [])


def _resend(state: dict | None, decision: dict, now: datetime) -> Outcome:
    """``delivery_failed`` -> ``requested`` again, and the request back to the dispatcher.

    Only the request the decision names, and only while its delivery has
    failed: a resend of anything else (or a repeated one) changes nothing. The
    clock has not started (it starts at the first successful delivery); the
    request counts its resends, so a second failure raises its own alert.
    """
    request = (state or {}).get("request")
    if request is None or request["state"] != "delivery_failed" or request["request_id"] != decision["request_id"]:
        return NOTHING
    cause = {
        "type": "resend",
        "operator": decision["reviewer"],
        "reason": decision.get("reason"),
        "decided_at": decision.get("at"),
    }
    state = _transition(state, "requested", now, cause)
    reopened = {name: value for name, value in state["request"].items() if name != "closed_at"}
    state["request"] = dict(reopened, resends=request.get("resends", 0) + 1)
    return Outcome(state, [], [], deliver=(state["request"],))


def on_status(state: dict | None, status: dict, reopen, now: datetime) -> Outcome:
    """A platform status event. ``reopen(old_request)`` makes the linked request for reappeared content."""
    cause = {
        "type": "status",
        "status": status["status"],
        "source": status["source"],
        "observed_at": status["observed_at"],
    }
    if state is None:
        state = new_item(status)
    request = state.get("request")
    kind = status["status"]
    if request is None or request["state"] == "pending_review":
        return _status_before_request(state, status, cause, now)
    if request["state"] in OPEN_STATES:
        if kind in REMOVAL_STATUSES:
            return _removed(state, status, cause, now)
        if kind == "rejected":
            state = _transition(state, "rejected", now, cause)
            state["request"] = dict(state["request"], closed_at=_iso(now))
            return Outcome(state, [], [])
        return NOTHING  # "available" while open: nothing new
    if (
        request["state"] == "removed"
        and kind == "available"
        and _time(status["observed_at"]) > _time(request["removed_at"])
    ):
        # Removed content is back: close the old request's story, open a new clock.
        state = _transition(state, "reappeared", now, cause)
        old = state["request"]
        new = reopen(old)
        state = dict(
            state, previous_requests=state.get("previous_requests", []) + [old], request=dict(new, state="new")
        )
        state = _transition(state, "requested", now, dict(cause, previous_request_id=old["request_id"]))
        return Outcome(state, [state["request"]], [])
    return NOTHING  # a duplicate, or news about a closed request


def _status_before_request(state: dict, status: dict, cause: dict, now: datetime) -> Outcome:
    """Removed before anyone asked (or while a review waits): remembered, and no request follows."""
    request, kind = state.get("request"), status["status"]
    if kind in REMOVAL_STATUSES and not state.get("removed_at"):
        changed = dict(state, removed_at=status["observed_at"], removal_status=kind)
        if request is not None:
            changed = _transition(changed, "removed", now, dict(cause, before_request=True))
            changed["request"] = dict(
                changed["request"], removed_at=status["observed_at"], removal_status=kind, closed_at=_iso(now)
            )
        return Outcome(changed, [], [])
    if kind == "available" and state.get("removed_at"):
        return Outcome(dict(state, removed_at=None, removal_status=None), [], [])
    return NOTHING


def _removed(state: dict, status: dict, cause: dict, now: datetime) -> Outcome:
    """An open request's content is gone: close it and measure the time to removal."""
    request = state["request"]
    observed = _time(status["observed_at"])
    state = _transition(state, "removed", now, cause)
    seconds = max(0.0, (observed - _time(request["requested_at"])).total_seconds())
    within = observed <= _time(request["deadline"])
    state["request"] = dict(
        state["request"],
        removed_at=status["observed_at"],
        removal_status=status["status"],
        time_to_removal_seconds=seconds,
        within_deadline=within,
        closed_at=_iso(now),
    )
    removal = {
        "platform": request["platform"],
        "jurisdiction": request["jurisdiction"],
        "category": (request["categories"] or ["unknown"])[0],
        "seconds": seconds,
        "within_deadline": within,
    }
    return Outcome(state, [], [], removal)


def on_delivery(state: dict | None, delivery: dict, restamp, now: datetime) -> Outcome:
    """The dispatcher's result. The clock starts at the first successful delivery.

    ``restamp(request, delivered_at)`` sets ``requested_at`` and the deadline
    from the delivery time. A request that could not be delivered ends in
    ``delivery_failed`` with a critical alert: never silently.
    """
    request = (state or {}).get("request")
    if (
        request is None
        or request["request_id"] != delivery["request_id"]
        or request["state"] not in OPEN_STATES
        or request.get("delivered_at")
    ):
        return NOTHING  # a repeated result, or news about a request already closed
    cause = {
        "type": "delivery",
        "channel": delivery["channel"],
        "attempts": delivery["attempts"],
        "outcome": delivery["outcome"],
    }
    if delivery.get("last_attempt"):
        # The attempt that ended the delivery is on the ledger here, not as a record of its own.
        cause["last_attempt"] = {name: delivery["last_attempt"].get(name) for name in LAST_ATTEMPT_FIELDS}
    if delivery["delivered"]:
        delivered_at = _time(delivery["delivered_at"])
        state = dict(state, request=dict(restamp(request, delivered_at), delivered_at=delivery["delivered_at"]))
        return Outcome(_transition(state, "requested", now, cause), [], [])
    state = _transition(state, "delivery_failed", now, dict(cause, reason=delivery["reason"]))
    state["request"] = dict(state["request"], closed_at=_iso(now))
    resends = request.get("resends", 0)
    alert = {
        # One alert per failure: a request sent again that fails again raises another.
        "alert_id": f"delivery_failed:{request['request_id']}" + (f":{resends}" if resends else ""),
        "type": "delivery_failed",
        "platform": request["platform"],
        "post_id": request["post_id"],
        "request_id": request["request_id"],
        "channel": delivery["channel"],
        "attempts": delivery["attempts"],
        "reason": delivery["reason"],
        "severity": "critical",
        "raised_at": _iso(now),
    }
    return Outcome(state, [], [alert])


LAST_ATTEMPT_FIELDS = ("attempt", "status_code", "error", "elapsed_seconds", "at")


def on_tick(state: dict, now: datetime, settings: LifecycleSettings) -> Outcome:
    """Deadline checks: one sla_breach alert per request per multiple, then expiry."""
    request = state.get("request")
    if request is None or request["state"] not in OPEN_STATES:
        return NOTHING
    requested = _time(request["requested_at"])
    allowed = _time(request["deadline"]) - requested
    if now >= requested + settings.expire_after:
        state = _transition(state, "expired", now, {"type": "timer", "expire_after_days": settings.expire_after.days})
        state["request"] = dict(state["request"], closed_at=_iso(now))
        return Outcome(state, [], [])
    deliver: tuple[dict, ...] = ()
    redeliver = _redelivery_due(request, settings)
    if redeliver is not None and now >= redeliver:
        # Once, however late the tick: the next one is due a whole interval after now.
        request = dict(request, redeliveries=int((now - requested) / settings.redeliver_after))
        deliver = (request,)
    breaches = list(request.get("breaches", []))
    alerts = []
    for multiple in BREACH_MULTIPLES:
        if multiple not in breaches and now >= requested + multiple * allowed:
            breaches.append(multiple)
            alerts.append(
                {
                    "alert_id": f"sla_breach:{request['request_id']}:{multiple}",
                    "type": "sla_breach",
                    "platform": request["platform"],
                    "post_id": request["post_id"],
                    "request_id": request["request_id"],
                    "jurisdiction": request["jurisdiction"],
                    "categories": request["categories"],
                    "severity": "high" if multiple == 1 else "critical",
                    "deadline": request["deadline"],
                    "overdue_seconds": (now - _time(request["deadline"])).total_seconds(),
                    "deadline_multiple": multiple,
                    "raised_at": _iso(now),
                }
            )
    if not alerts and not deliver:
        return NOTHING
    state = dict(state, request=dict(request, breaches=breaches))
    return Outcome(state, [], alerts, deliver=tuple(state["request"] for _ in deliver))


def next_check(state: dict, settings: LifecycleSettings) -> datetime | None:
    """When this item next needs a tick, or None when it never will."""
    request = state.get("request")
    if request is None or request["state"] not in OPEN_STATES:
        return None
    requested = _time(request["requested_at"])
    allowed = _time(request["deadline"]) - requested
    due = [
        requested + multiple * allowed for multiple in BREACH_MULTIPLES if multiple not in request.get("breaches", [])
    ]
    redeliver = _redelivery_due(request, settings)
    return min(due + [requested + settings.expire_after] + ([redeliver] if redeliver else []))


def _redelivery_due(request: dict, settings: LifecycleSettings) -> datetime | None:
    """When an undelivered request goes to the dispatcher again; None once delivered."""
    if request.get("delivered_at"):
        return None
    return _time(request["requested_at"]) + settings.redeliver_after * (1 + request.get("redeliveries", 0))


@dataclass(frozen=True, slots=True)
class ReportVelocity:
    """User reports about one item within ``window`` that make it worth a look."""

    threshold: int = 5
    window: timedelta = timedelta(hours=1)


def on_report(state: dict | None, report: dict, velocity: ReportVelocity, now: datetime) -> Outcome:
    """Count a user report; alert once when an item crosses the report-velocity threshold.

    Only the report times inside the window are kept, so the state stays small
    however many reports an item gets. An item modwatch already flagged is
    escalated: its alert is high severity, otherwise medium.
    """
    state = state or new_item(report)
    reported = _time(report["reported_at"])
    # "time|reporter": two people may report in the same second; one person's report twice is one.
    entry = f"{report['reported_at']}|{report['reporter_id']}"
    recent = [kept for kept in state.get("reports", []) if _time(kept.split("|", 1)[0]) > reported - velocity.window]
    if entry in recent:
        return NOTHING  # the same report again
    recent = sorted(recent + [entry])
    state = dict(state, reports=recent)
    alerts = []
    if len(recent) >= velocity.threshold and not state.get("report_velocity_alerted"):
        state["report_velocity_alerted"] = True
        flagged = state.get("request") is not None
        alerts.append(
            {
                "alert_id": f"report_velocity:{state['key']}",
                "type": "report_velocity",
                "platform": state["platform"],
                "post_id": state["post_id"],
                "reports": len(recent),
                "window_seconds": velocity.window.total_seconds(),
                "already_flagged": flagged,
                "request_id": state["request"]["request_id"] if flagged else None,
                "severity": "high" if flagged else "medium",
                "raised_at": _iso(now),
            }
        )
    return Outcome(state, [], alerts)
