"""``track_items``: item-events -> one alert and at most one open request per item.

The lifecycle state and its ledger come from takedowns/lifecycle.py; this
module publishes what an outcome asks for and stores the state last.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from detectors.events import InvalidEvent
from streams.agents._batch import Batch, handling
from streams.agents._common import publish_alert, publish_through, send_dead_letter
from streams.agents.deliveries import dispatcher, send_attempt
from streams.app import app, settings
from streams.batching import take_batches
from streams.runtime import current
from streams.tables import item_to_state, post_to_takedown_request
from streams.topics import (
    account_events_topic,
    campaign_events_topic,
    hashbank_topic,
    item_events_topic,
    ledger_topic,
)
from takedowns import accounts, lifecycle, messages

log = logging.getLogger("modwatch.agents")


@app.agent(item_events_topic)
async def track_items(stream):
    """Items' events in order, a batch at a time: alerts, requests, lifecycle transitions, the ledger."""
    batches = take_batches(
        stream, settings.scan_batch_size, within=settings.scan_batch_seconds, idle=settings.scan_idle_seconds
    )
    async for events in batches:
        await handle_batch(events, datetime.now(UTC))


async def handle_batch(events, now: datetime) -> None:
    """Each event in order, its outputs sent; one wait for the broker; then the states (streams/agents/_batch.py)."""
    batch = Batch(item_to_state)
    for event in events:
        with handling(event):
            if not await current().order.admit(event):
                continue
            batch.begin(event.key, event)
            try:
                await handle_item_event(event.key, event.value, now, batch)
            except InvalidEvent as error:  # the event's own fault, said by the lifecycle
                await send_dead_letter(event, error)
            except Exception as error:  # noqa: BLE001 - one bad record must not stop the agent
                kind = event.value.get("type") if isinstance(event.value, dict) else "?"
                log.exception("cannot handle %s event for %r", kind, event.key)
                await send_dead_letter(event, internal_error(error))
    for key, error in (await batch.finish()).items():
        log.error("the broker did not take the outputs of %r: %s", key, error)
        for event in batch.events[key]:
            with handling(event):
                await send_dead_letter(event, internal_error(error))


def internal_error(error: BaseException) -> InvalidEvent:
    return InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}")


async def handle_item_event(key: str, item_event: dict, now: datetime, batch: Batch) -> None:
    runtime = current()
    requests = runtime.requests
    state = batch.state(key)
    match messages.read_item_event(item_event):
        case messages.Flagged(flagged=flagged):
            # Acknowledged, with the rest of the batch, before the state is stored.
            batch.acknowledge(key, publish_alert(key, requests.alert(flagged, now)))
            outcome = lifecycle.on_flagged(state, flagged, requests.takedown_request(flagged, now), now)
            if outcome.state is None and flagged["action"] == "takedown":
                runtime.metrics.duplicates.labels("takedown_request").inc()
        case messages.StatusSeen(status=status):
            outcome = lifecycle.on_status(state, status, lambda old: requests.reopen(old, now), now)
        case messages.ReviewDecided(decision=decision):
            outcome = lifecycle.on_decision(state, decision, lambda pending: approved(pending, decision, now), now)
            if outcome.state is not None and decision["decision"] in ("approve", "reject"):
                count_review(state, decision)
        case messages.DeliveryDone(delivery=delivery):
            dispatcher().settled(delivery["request_id"])
            outcome = lifecycle.on_delivery(state, delivery, requests.stamp, now)
            if outcome.state is None and delivery.get("last_attempt"):
                # No transition to carry the attempt (a repeated delivery, a closed request): its own record.
                batch.acknowledge(key, [await send_attempt(delivery["last_attempt"])])
        case messages.ReportSeen(report=report):
            outcome = lifecycle.on_report(state, report, runtime.report_velocity, now)
            if outcome.state is not None:
                runtime.metrics.reports.labels(report["platform"]).inc()
        case messages.Tick():
            outcome = lifecycle.on_tick(state, now, runtime.lifecycle) if state else lifecycle.NOTHING
    await apply(key, outcome, batch)


def count_review(state: dict, decision: dict) -> None:
    """A reviewer's decision: per detector that flagged the item, per reviewer, and the wait since the flag."""
    metrics = current().metrics
    for detector_name in sorted({finding["detector"] for finding in state["request"]["evidence"]}):
        metrics.review_decisions.labels(decision["decision"], detector_name).inc()
    metrics.reviewer_decisions.labels(decision["reviewer"], decision["decision"]).inc()
    flagged_at = datetime.fromisoformat(state["transition"]["at"])  # the pending_review transition
    metrics.review_wait.observe(max(0.0, (datetime.fromisoformat(decision["at"]) - flagged_at).total_seconds()))


def approved(pending: dict, decision: dict, now: datetime) -> dict:
    """The request an approval sends, its clock started; an approval its jurisdiction's law
    does not cover is refused as the decision's fault (dead-lettered with the reason)."""
    requests = current().requests
    try:
        return requests.stamp(requests.approved(pending, decision.get("category")), now)
    except ValueError as error:
        raise InvalidEvent("invalid_value", "category", str(error)) from None


async def apply(key: str, outcome: lifecycle.Outcome, batch: Batch) -> None:
    """Send an outcome's outputs; the batch stores the state once the broker has them all.

    The state is what makes a replayed cause a duplicate, so it is written
    last: a crash before it repeats the cause, and every output is
    de-duplicated by its id (requests and alerts by their tables, which are
    their topics; ledger records by request_id and seq; strikes by item). A
    crash can repeat an output's record, never lose it.
    """
    acknowledgements: list[asyncio.Future] = []
    state = None
    if outcome.state is not None:
        state = dict(outcome.state)
        transitions = state.pop("new_transitions", [])
        acknowledgements += await publish_transitions(key, state, transitions)
        acknowledgements += await publish_consequences(key, outcome.state, transitions)
    acknowledgements += publish_requests(key, outcome)
    for alert in outcome.alerts:
        acknowledgements += publish_alert(alert["alert_id"], alert)
    batch.acknowledge(key, acknowledgements)
    if state is not None:
        batch.store(key, state)
    batch.then(key, lambda: after_stored(key, outcome))


def after_stored(key: str, outcome: lifecycle.Outcome) -> None:
    """Once the state is stored: count the outcome, and deliver its requests."""
    count_outcome(key, outcome)
    # Delivered once the state holds the request: a crash before this hands it over
    # from the stored state (timers.py check_deadlines), never from nowhere.
    for request in (*outcome.requests, *outcome.deliver):
        dispatcher().submit(key, request)


async def publish_transitions(key: str, state: dict, transitions: list[dict]) -> list[asyncio.Future]:
    """One ledger record per transition, each logged in one line."""
    acknowledgements = []
    for transition in transitions:
        record = lifecycle.ledger_record(state, transition)
        acknowledgements.append(await ledger_topic.send(key=key, value=record, force=True))
        log.info(
            "%s %s -> %s (%s)",
            transition["request_id"],
            transition["from"],
            transition["to"],
            transition["cause"]["type"],
            extra={
                "platform": state["platform"],
                "key": key,
                "request_id": transition["request_id"],
                "state": transition["to"],
            },
        )
    return acknowledgements


async def publish_consequences(key: str, state: dict, transitions: list[dict]) -> list[asyncio.Future]:
    """A confirmed request's media joins the hash bank and strikes its account; a removal ends a campaign's."""
    acknowledgements = []
    for transition in transitions:
        confirmed = transition["to"] == "removed" or (
            transition["to"] == "requested" and transition["cause"]["type"] == "review"
        )
        if confirmed:
            acknowledgements += await confirm_media(state, transition["request_id"])
            acknowledgements += await add_strike(state, transition)
        if transition["to"] == "removed" and state["request"].get("campaign"):
            removal = {"item": key, "platform": state["platform"], "removed_at": state["request"]["removed_at"]}
            acknowledgements.append(
                await campaign_events_topic.send(
                    key=state["request"]["campaign"], value=messages.CampaignRemoval(removal).wire(), force=True
                )
            )
    return acknowledgements


def publish_requests(key: str, outcome: lifecycle.Outcome) -> list[asyncio.Future]:
    """New requests to their table, which is their topic; each once, however often its cause comes again."""
    acknowledgements = []
    for request in outcome.requests:
        published = post_to_takedown_request.get(key)
        if published is not None and published["request_id"] == request["request_id"]:
            # Published, but the state that remembers it was never stored: a crash
            # came in between. Not published again; apply() stores the state and delivers it.
            current().metrics.duplicates.labels("takedown_request").inc()
            continue
        published = {name: value for name, value in request.items() if name != "state"}
        acknowledgements.append(publish_through(post_to_takedown_request, key, published))
        if not accounts.is_account_key(key):  # account-level requests have metrics of their own
            current().metrics.takedown_requests.labels(request["platform"], request["jurisdiction"]).inc()
    return acknowledgements


def count_outcome(key: str, outcome: lifecycle.Outcome) -> None:
    """Time to removal and rejections: posts' compliance metrics count posts' requests only."""
    metrics = current().metrics
    account = accounts.is_account_key(key)
    removal = outcome.removal
    if removal is not None and account:
        metrics.account_time_to_removal.labels(removal["platform"]).observe(removal["seconds"])
    elif removal is not None:
        metrics.time_to_removal.labels(removal["platform"], removal["category"], removal["jurisdiction"]).observe(
            removal["seconds"]
        )
        metrics.removals.labels(removal["platform"], "yes" if removal["within_deadline"] else "no").inc()
    request = outcome.state["request"] if outcome.state is not None else None
    if request and request["state"] == "rejected" and not account:
        metrics.rejections.labels(outcome.state["platform"]).inc()


async def add_strike(state: dict, transition: dict) -> list[asyncio.Future]:
    """A confirmed violation counts against the post's account (takedowns/accounts.py); its acknowledgement."""
    request = lifecycle.request_by_id(state, transition["request_id"])
    cause = "removed" if transition["to"] == "removed" else "review_approved"
    strike = accounts.strike_from(request or {}, cause, datetime.fromisoformat(transition["at"]))
    if strike is None:
        return []
    key = f"{strike['platform']}:{strike['account_id']}"
    return [await account_events_topic.send(key=key, value=messages.StrikeAdded(strike).wire(), force=True)]


async def confirm_media(state: dict, request_id: str) -> list[asyncio.Future]:
    """Re-upload loop: a confirmed request's media joins every worker's hash bank.

    Confirmed means a reviewer approved the request or the platform removed
    the content. The same image on any platform then matches by hash, and the
    finding's evidence names this request (``source: confirmed:<request_id>``).
    """
    request = lifecycle.request_by_id(state, request_id) or {}
    acknowledgements = []
    for media_hash in request.get("media_hashes", []):
        change = {
            "op": "add",
            "hash_type": media_hash["hash_type"],
            "hash": media_hash["hash"],
            "label": "confirmed",
            "source": f"confirmed:{request_id}",
            "at": datetime.now(UTC).isoformat(),
        }
        key = f"{media_hash['hash_type']}:{media_hash['hash']}"
        acknowledgements.append(await hashbank_topic.send(key=key, value=change, force=True))
    return acknowledgements
