"""Agents: scan posts in batches, then publish each alert and request once.

``scan_posts``        posts -> validate -> detectors + policy (a batch at a time)
                      -> item-events (review or takedown) | deadletter
``track_items``       item-events -> one alert and at most one open request per item,
                      the lifecycle state and its ledger (takedowns/lifecycle.py)
``forward_statuses``  platform-status -> validate -> item-events (and account-events
                      when the status says an account is suspended) | deadletter
``track_accounts``    account-events -> strikes per account -> one account-level
                      request at the threshold, into item-events (takedowns/accounts.py)
``track_campaigns``   campaign-events -> sightings per fingerprint -> one campaign
                      alert at the thresholds; first removal per platform (takedowns/campaigns.py)
``forward_decisions`` decisions -> validate -> item-events | deadletter
``forward_reports``   reports -> validate -> item-events | deadletter
``deliver_requests``  deliveries -> webhook | email | outbox -> item-events (delivered or failed);
                      every attempt to the ledger (streams/delivery.py)
``check_deadlines``   timer: ticks overdue items, sets the open/overdue gauges
``recheck_open_requests`` timer: polls open requests' URLs on platforms with a
                      ``recheck`` section -> platform-status (streams/poller.py)
``probe_broker``      timer, every second: broker reachability (/readyz)
``publish_lag``       timer: consumer lag per input partition
``follow_hash_bank``  task: every worker reads the whole hashbank topic into its bank

No input event can stop an agent: a record that breaks the contract goes to
the dead-letter topic with its reason, and an unexpected error while handling
one record does the same (reason ``internal_error``) instead of killing the
worker.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka.errors import KafkaError

from detectors.configfile import Problems
from detectors.events import InvalidEvent
from detectors.pipeline import item_key_of_request, request_id_for
from detectors.watchlist import WatchlistEntry
from streams import kafka_auth, kafka_probe
from streams.app import MAX_MESSAGE_BYTES, app, settings
from streams.deadletter import dead_letter, dead_letter_key
from streams.metrics import METRICS
from streams.offsets import Cursor, OffsetProbe
from streams.runtime import (
    BROKER_PROBE_SECONDS,
    BROKER_PROBE_TIMEOUT_SECONDS,
    DELIVERY_CHANNELS,
    HEALTH,
    decision_item_key,
    pipeline,
)
from streams.settings import bootstrap_servers
from streams.tables import (
    account_to_state,
    campaign_to_state,
    item_to_state,
    post_to_alert,
    post_to_takedown_request,
)
from streams.topics import (
    account_events_topic,
    campaign_events_topic,
    deadletter_topic,
    decisions_topic,
    deliveries_topic,
    hashbank_topic,
    item_events_topic,
    ledger_topic,
    platform_status_topic,
    posts_topic,
    reports_topic,
)
from takedowns import accounts, campaigns, lifecycle

log = logging.getLogger("modwatch.agents")

LIFECYCLE = lifecycle.LifecycleSettings(
    expire_after=timedelta(days=settings.expire_after_days),
    redeliver_after=timedelta(minutes=settings.redeliver_after_minutes),
)
# Series for every known label value start at zero (STYLE.md): otherwise Prometheus
# never sees a counter's first increment after a restart, and rates miss it.
for _platform in pipeline.platforms:
    METRICS.account_requests.labels(_platform)
    METRICS.account_requests_open.labels(_platform)
    METRICS.account_time_to_removal.labels(_platform)
    for _cause in ("removed", "review_approved"):
        METRICS.account_strikes.labels(_platform, _cause)
    METRICS.posts_processed.labels(_platform)
    METRICS.rejections.labels(_platform)
    METRICS.takedown_requests.labels(_platform, pipeline.platforms[_platform].jurisdiction)
    for _within in ("yes", "no"):
        METRICS.removals.labels(_platform, _within)
for _topic in ("posts", "reports", "platform-status", "decisions"):
    for _outcome in ("valid", "deadletter"):
        METRICS.events.labels(settings.topic(_topic), _outcome)
for _topic in ("posts", "reports", "platform-status", "decisions", "item-events"):
    METRICS.redeliveries.labels(settings.topic(_topic))
    METRICS.rewinds.labels(settings.topic(_topic))
ACCOUNT_POLICY = accounts.load_account_policy(settings.config_dir / "policy.yaml", _problems := Problems())
CAMPAIGN_POLICY = campaigns.load_campaign_policy(settings.config_dir / "policy.yaml", _problems)
_problems.raise_if_any()
REPORT_VELOCITY = lifecycle.ReportVelocity(
    threshold=settings.report_velocity_threshold, window=timedelta(minutes=settings.report_velocity_window_minutes)
)


async def send_dead_letter(event, error: InvalidEvent) -> None:
    message = event.message
    METRICS.events.labels(message.topic, "deadletter").inc()
    METRICS.deadletters.labels(message.topic, error.reason).inc()
    log.warning(
        "dead letter %s[%s]@%s: %s",
        message.topic,
        message.partition,
        message.offset,
        error,
        extra={
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "reason": error.reason,
            "field": error.field,
        },
    )
    await deadletter_topic.send(
        key=dead_letter_key(message.topic, message.partition, message.offset),
        value=dead_letter(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=event.key,
            raw=event.value,
            error=error,
        ),
    )


def parse_record(event, kind: str):
    """Parse an input record as the contract reads it (value, and key where the contract fixes it)."""
    return pipeline.parser.record(kind, event.key, event.value, event.headers)


# --- each input record once and in order (streams/offsets.py) -----------------------------------

CURSOR = Cursor()
PROBE = OffsetProbe(bootstrap_servers(settings.broker), MAX_MESSAGE_BYTES)


@app.on_partitions_revoked.connect
async def forget_revoked_partitions(sender, revoked, **kwargs) -> None:
    CURSOR.forget(revoked)


async def in_order(event) -> bool:
    """Whether to handle this record: each offset of a partition once, in order."""
    message = event.message
    tp, offset, now = message.tp, message.offset, time.monotonic()
    if not CURSOR.known(tp):
        CURSOR.start(tp, await next_offset_of(tp), now)
    verdict = CURSOR.admit(tp, offset, now)
    if verdict == "handle":
        return True
    if verdict == "duplicate":
        METRICS.redeliveries.labels(tp.topic).inc()
        return False
    if verdict == "gap":
        expected = CURSOR.expected(tp)
        first = await PROBE.first_at_or_after(tp.topic, tp.partition, expected)
        if first == offset:  # offsets in between do not exist (transaction markers)
            CURSOR.accept(tp, offset, now)
            return True
        await rewind(tp, expected, f"offset {offset} arrived while {expected} was expected")
    # Marked done without an ack: Faust will not commit past it; it comes again after the seek.
    message.acked = True
    return False


async def next_offset_of(tp) -> int:
    committed = app.consumer._committed_offset.get(tp)  # Faust keeps no public accessor for it
    if committed is not None and committed >= 0:
        return committed
    earliest = await app.consumer.earliest_offsets(tp)
    return earliest.get(tp) or 0


async def rewind(tp, to: int, why: str) -> None:
    CURSOR.rewound(tp, to, time.monotonic())
    METRICS.rewinds.labels(tp.topic).inc()
    log.warning(
        "rewinding %s[%s] to offset %d: %s",
        tp.topic,
        tp.partition,
        to,
        why,
        extra={"topic": tp.topic, "partition": tp.partition, "offset": to},
    )
    await app.consumer.seek(tp, to)


@app.timer(interval=2.0)
async def rewind_stalled_partitions():
    """Rewind a partition whose records stopped arriving short of its high-water mark."""
    if app.rebalancing:
        return
    consumer = app.consumer
    assigned = consumer.assignment()
    for tp in list(CURSOR.partitions):
        if tp not in assigned or not CURSOR.due(tp, consumer.highwater(tp), time.monotonic()):
            continue
        expected = CURSOR.expected(tp)
        first = await PROBE.first_at_or_after(tp.topic, tp.partition, expected)
        if first is None:
            CURSOR.idle(tp, time.monotonic())
        elif CURSOR.known(tp):
            await rewind(tp, first, f"no record at or after {expected} arrived")


@app.agent(posts_topic)
async def scan_posts(stream):
    async for events in stream.take_events(settings.scan_batch_size, within=settings.scan_batch_seconds):
        parsed = []
        for event in events:
            if not await in_order(event):
                continue
            try:
                parsed.append((event, pipeline.parse_post(event.value, event.key, keyed=True)))
                METRICS.events.labels(event.message.topic, "valid").inc()
            except InvalidEvent as error:
                await send_dead_letter(event, error)
        if not parsed:
            continue
        METRICS.scan_batch_size.observe(len(parsed))
        decided = await scan(parsed)
        decided_at = time.time()
        for event, _ in parsed:
            # From the record's Kafka timestamp (producer or broker time) to the decision.
            METRICS.processing_latency.observe(max(0.0, decided_at - event.message.timestamp))
        for decision in decided:
            post = decision.post
            METRICS.posts_processed.labels(post.platform).inc()
            METRICS.decisions.labels(decision.action, post.platform).inc()
            for finding in decision.findings:
                METRICS.findings.labels(finding.detector, finding.category, post.platform).inc()
            if decision.action != "none":
                flagged = pipeline.flagged(decision)
                flagged["campaign"] = campaigns.fingerprint(flagged, post.text, CAMPAIGN_POLICY)
                await item_events_topic.send(key=post.key, value={"type": "flagged", "flagged": flagged})
                if flagged["campaign"] is not None:
                    seen = campaigns.sighting(
                        flagged, flagged["campaign"], request_id_for(post.platform, post.post_id), post.posted_at
                    )
                    await campaign_events_topic.send(
                        key=flagged["campaign"], value={"type": "sighting", "sighting": seen}
                    )


async def scan(parsed):
    """Run the pipeline over a batch; a post that breaks a detector is dead-lettered alone.

    Detection runs on a worker thread (hashing an image takes tens of
    milliseconds, and the event loop must keep heartbeats and the web API
    going); hash-bank changes are applied between batches, never during one.
    """
    async with SCANNING:
        apply_bank_changes()
        return await _scan_in_thread(parsed)


async def _scan_in_thread(parsed):
    loop = asyncio.get_running_loop()
    try:
        decisions = await loop.run_in_executor(None, pipeline.scan, [post for _, post in parsed])
    except Exception:  # noqa: BLE001 - find the post that broke the batch
        log.exception("detector pipeline failed on a batch of %d posts; retrying one by one", len(parsed))
        decisions = []
        for event, post in parsed:
            try:
                decisions.extend(await loop.run_in_executor(None, pipeline.scan, [post]))
            except Exception as error:  # noqa: BLE001
                log.exception("detector pipeline failed on %s", post.key)
                await send_dead_letter(event, InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}"))
        return decisions
    for detector_name, seconds in pipeline.last_durations.items():
        METRICS.detector_batch_duration.labels(detector_name).observe(seconds)
    return decisions


@app.agent(item_events_topic)
async def track_items(stream):
    """One item's events in order: alerts, requests, lifecycle transitions, the ledger."""
    await handle_each(stream, lambda key, item_event: handle_item_event(key, item_event, datetime.now(UTC)))


async def handle_each(stream, handle: Callable) -> None:
    """Each record once and in order, ``handle(key, value)``; a record that breaks it is dead-lettered alone."""
    async for event in stream.events():
        if not await in_order(event):
            continue
        key, value = event.key, event.value
        try:
            await handle(key, value)
        except Exception as error:  # noqa: BLE001 - one bad record must not stop the agent
            kind = value.get("type") if isinstance(value, dict) else "?"
            log.exception("cannot handle %s event for %r on %s", kind, key, event.message.topic)
            await send_dead_letter(event, InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}"))


async def handle_item_event(key: str, item_event: dict, now: datetime) -> None:
    state = item_to_state.get(key)
    kind = item_event["type"]
    if kind == "flagged":
        flagged = item_event["flagged"]
        # Acknowledged before the state below is stored (as in apply).
        await asyncio.gather(*publish_alert(key, pipeline.alert(flagged, now)))
        outcome = lifecycle.on_flagged(state, flagged, pipeline.takedown_request(flagged, now), now)
        if outcome.state is None and flagged["action"] == "takedown":
            METRICS.duplicates.labels("takedown_request").inc()
    elif kind == "status":
        outcome = lifecycle.on_status(state, item_event["status"], lambda old: pipeline.reopen(old, now), now)
    elif kind == "decision":
        decision = item_event["decision"]
        outcome = lifecycle.on_decision(state, decision, lambda pending: pipeline.stamp(pending, now), now)
        if outcome.state is not None:
            for detector_name in sorted({finding["detector"] for finding in state["request"]["evidence"]}):
                METRICS.review_decisions.labels(decision["decision"], detector_name).inc()
    elif kind == "delivery":
        outcome = lifecycle.on_delivery(state, item_event["delivery"], pipeline.stamp, now)
    elif kind == "report":
        outcome = lifecycle.on_report(state, item_event["report"], REPORT_VELOCITY, now)
    elif kind == "tick":
        outcome = lifecycle.on_tick(state, now, LIFECYCLE) if state else lifecycle.NOTHING
    else:
        raise ValueError(f"unknown item event type {kind!r}")
    await apply(key, outcome)


async def apply(key: str, outcome: lifecycle.Outcome) -> None:
    """Publish an outcome's outputs, wait for the broker to have them all, then store the state.

    The state is what makes a replayed cause a duplicate, so it is written
    last: a crash before it repeats the cause, and every output is
    de-duplicated by its id (requests and alerts by their tables, which are
    their topics; ledger records by request_id and seq; strikes by item). A
    crash can repeat an output's record, never lose it.
    """
    # Posts' compliance metrics count posts' requests; an account's request has its own.
    account = accounts.is_account_key(key)
    acknowledgements: list[asyncio.Future] = []
    state = None
    if outcome.state is not None:
        state = dict(outcome.state)
        transitions = state.pop("new_transitions", [])
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
        for transition in transitions:
            if transition["to"] == "removed" or (
                transition["to"] == "requested" and transition["cause"]["type"] == "review"
            ):
                acknowledgements += await confirm_media(outcome.state, transition["request_id"])
                acknowledgements += await add_strike(outcome.state, transition)
            if transition["to"] == "removed" and outcome.state["request"].get("campaign"):
                removal = {
                    "item": key,
                    "platform": outcome.state["platform"],
                    "removed_at": outcome.state["request"]["removed_at"],
                }
                acknowledgements.append(
                    await campaign_events_topic.send(
                        key=outcome.state["request"]["campaign"],
                        value={"type": "removal", "removal": removal},
                        force=True,
                    )
                )
    for request in outcome.requests:
        published = post_to_takedown_request.get(key)
        if published is not None and published["request_id"] == request["request_id"]:
            # Published, but the state that remembers it was never stored: a crash
            # came in between, and its delivery event may not have landed either.
            # Sent again (the dispatcher's Idempotency-Key makes a second delivery harmless).
            METRICS.duplicates.labels("takedown_request").inc()
            acknowledgements.append(await deliveries_topic.send(key=key, value=published, force=True))
            continue
        published = {name: value for name, value in request.items() if name != "state"}
        acknowledgements.append(publish_through(post_to_takedown_request, key, published))
        if not account:  # account-level requests have metrics of their own (account_requests)
            METRICS.takedown_requests.labels(request["platform"], request["jurisdiction"]).inc()
        acknowledgements.append(await deliveries_topic.send(key=key, value=published, force=True))
    for request in outcome.deliver:
        value = {name: value for name, value in request.items() if name != "state"}
        acknowledgements.append(await deliveries_topic.send(key=key, value=value, force=True))
    for alert in outcome.alerts:
        acknowledgements += publish_alert(alert["alert_id"], alert)
    await asyncio.gather(*acknowledgements)
    if state is not None:
        item_to_state[key] = state
    if outcome.removal is not None and account:
        METRICS.account_time_to_removal.labels(outcome.removal["platform"]).observe(outcome.removal["seconds"])
    elif outcome.removal is not None:
        removal = outcome.removal
        METRICS.time_to_removal.labels(removal["platform"], removal["category"], removal["jurisdiction"]).observe(
            removal["seconds"]
        )
        METRICS.removals.labels(removal["platform"], "yes" if removal["within_deadline"] else "no").inc()
    if (
        outcome.state is not None
        and outcome.state["request"]
        and outcome.state["request"]["state"] == "rejected"
        and not account
    ):
        METRICS.rejections.labels(outcome.state["platform"]).inc()


async def add_strike(state: dict, transition: dict) -> list[asyncio.Future]:
    """A confirmed violation counts against the post's account (takedowns/accounts.py); its acknowledgement."""
    requests = [state.get("request")] + list(state.get("previous_requests", []))
    request = next((found for found in requests if found and found["request_id"] == transition["request_id"]), None)
    cause = "removed" if transition["to"] == "removed" else "review_approved"
    strike = accounts.strike_from(request or {}, cause, datetime.fromisoformat(transition["at"]))
    if strike is None:
        return []
    return [
        await account_events_topic.send(
            key=f"{strike['platform']}:{strike['account_id']}", value={"type": "strike", "strike": strike}, force=True
        )
    ]


@app.agent(account_events_topic)
async def track_accounts(stream):
    """Strikes per account; one account-level request when an account reaches the threshold."""
    await handle_each(stream, handle_account_event)


async def handle_account_event(key: str, account_event: dict) -> None:
    if account_event["type"] == "expire":
        state = account_to_state.get(key)
        if state is not None and accounts.expired(state, datetime.now(UTC), ACCOUNT_POLICY):
            del account_to_state[key]
        return
    if account_event["type"] != "strike":
        raise ValueError(f"unknown account event type {account_event['type']!r}")
    strike = account_event["strike"]
    state, flagged = accounts.on_strike(account_to_state.get(key), strike, ACCOUNT_POLICY)
    if state is None:
        return
    METRICS.account_strikes.labels(strike["platform"], strike["cause"]).inc()
    if flagged is not None:
        # On the broker before the state is stored: after a crash the strike comes again and
        # the request is sent again, which the item lifecycle de-duplicates.
        await (
            await item_events_topic.send(
                key=accounts.account_item_key(strike["platform"], strike["account_id"]),
                value={"type": "flagged", "flagged": flagged},
                force=True,
            )
        )
        METRICS.account_requests.labels(strike["platform"]).inc()
        log.info(
            "account %s reached %d confirmed violations: account-level request",
            key,
            len(state["strikes"]),
            extra={"platform": strike["platform"], "key": key},
        )
    account_to_state[key] = state


@app.agent(campaign_events_topic)
async def track_campaigns(stream):
    """Sightings of the same content by several accounts: one campaign alert at the thresholds."""
    await handle_each(stream, handle_campaign_event)


async def handle_campaign_event(key: str, campaign_event: dict) -> None:
    state = campaign_to_state.get(key)
    if campaign_event["type"] == "sighting":
        state, alert = campaigns.on_sighting(state, campaign_event["sighting"], CAMPAIGN_POLICY)
        if alert is not None:
            # On the broker before the state: a crash repeats the sighting, and publish_alert de-duplicates by id.
            await asyncio.gather(*publish_alert(alert["alert_id"], alert))
            log.info(
                "campaign %s: %d accounts on %s",
                key,
                len(alert["accounts"]),
                ", ".join(alert["platforms"]),
                extra={"key": key},
            )
    elif campaign_event["type"] == "removal":
        state = campaigns.on_removal(state, campaign_event["removal"])
    elif campaign_event["type"] == "expire":
        if state is not None and campaigns.expired(state, datetime.now(UTC), CAMPAIGN_POLICY):
            del campaign_to_state[key]
        return
    else:
        raise ValueError(f"unknown campaign event type {campaign_event['type']!r}")
    if state is not None:
        campaign_to_state[key] = state


async def confirm_media(state: dict, request_id: str) -> list[asyncio.Future]:
    """Re-upload loop: a confirmed request's media joins every worker's hash bank.

    Confirmed means a reviewer approved the request or the platform removed
    the content. The same image on any platform then matches by hash, and the
    finding's evidence names this request (``source: confirmed:<request_id>``).
    """
    requests = [state.get("request")] + list(state.get("previous_requests", []))
    request = next((found for found in requests if found and found["request_id"] == request_id), None)
    acknowledgements = []
    for media_hash in (request or {}).get("media_hashes", []):
        change = {
            "op": "add",
            "hash_type": media_hash["hash_type"],
            "hash": media_hash["hash"],
            "label": "confirmed",
            "source": f"confirmed:{request_id}",
            "at": datetime.now(UTC).isoformat(),
        }
        acknowledgements.append(
            await hashbank_topic.send(key=f"{media_hash['hash_type']}:{media_hash['hash']}", value=change, force=True)
        )
    return acknowledgements


def publish_alert(key: str, alert: dict) -> list[asyncio.Future]:
    """Alerts are de-duplicated by their id: a replay raises none twice. Returns the broker's acknowledgement."""
    if key in post_to_alert:
        METRICS.duplicates.labels("alert").inc()
        return []
    METRICS.alerts.labels(alert["type"], alert["severity"]).inc()
    return [publish_through(post_to_alert, key, alert)]


def publish_through(table, key: str, value: dict) -> asyncio.Future:
    """Set ``table[key]``, whose changelog is an output topic, and return the broker's acknowledgement.

    ``table[key] = value`` does the same but drops the acknowledgement; the
    caller must have it before it stores any state that remembers the output.
    These tables keep no local copy (memory store, streams/tables.py): after a
    crash they are exactly what reached the topic.
    """
    acknowledgement = table.send_changelog(table.partition_for_key(key), key, value)
    table.data[key] = value
    return acknowledgement


@app.agent(reports_topic)
async def forward_reports(stream):
    """Validate user reports and pass them to the item's own partition (report velocity)."""
    async for event in stream.events():
        if not await in_order(event):
            continue
        try:
            report = parse_record(event, "report")
        except InvalidEvent as error:
            await send_dead_letter(event, error)
            continue
        METRICS.events.labels(event.message.topic, "valid").inc()
        record = {
            "platform": report.platform,
            "post_id": report.post_id,
            "reporter_id": report.reporter_id,
            "reason": report.reason,
            "reported_at": report.reported_at.isoformat(),
        }
        await item_events_topic.send(key=report.key, value={"type": "report", "report": record})


@app.agent(platform_status_topic)
async def forward_statuses(stream):
    """Validate platform status events and pass them to the item's own partition."""
    async for event in stream.events():
        if not await in_order(event):
            continue
        try:
            status = parse_record(event, "status")
            account = account_status_of(status)
        except InvalidEvent as error:
            await send_dead_letter(event, error)
            continue
        METRICS.events.labels(event.message.topic, "valid").inc()
        record = {
            "platform": status.platform,
            "post_id": status.post_id,
            "status": status.status,
            "observed_at": status.observed_at.isoformat(),
            "source": status.source,
        }
        await item_events_topic.send(key=status.key, value={"type": "status", "status": record})
        if account is not None:  # the account itself: suspended counts as its removal
            account_id, account_status = account
            account_record = dict(
                record,
                post_id=accounts.ACCOUNT_MARK + account_id,
                status="removed" if account_status == "suspended" else "available",
            )
            await item_events_topic.send(
                key=accounts.account_item_key(status.platform, account_id),
                value={"type": "status", "status": account_record},
            )


ACCOUNT_STATUSES = frozenset({"suspended", "active"})


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
        if not await in_order(event):
            continue
        try:
            decision = pipeline.parser.decision(event.value)
            key = decision_item_key(decision)
        except InvalidEvent as error:
            await send_dead_letter(event, error)
            continue
        METRICS.events.labels(event.message.topic, "valid").inc()
        record = {
            "decision": decision.decision,
            "reviewer": decision.reviewer,
            "reason": decision.reason,
            "at": decision.at.isoformat(),
            "request_id": decision.request_id,
            "alert_id": decision.alert_id,
        }
        await item_events_topic.send(key=key, value={"type": "decision", "decision": record})


@app.timer(interval=settings.tick_seconds)
async def check_deadlines():
    """Tick items whose next deadline has passed; refresh the open and overdue gauges.

    Table writes need the context of an event of the item's partition, so the
    timer does not change state itself: it sends a tick to the item's events.
    """
    now = datetime.now(UTC)
    open_by_platform: dict[str, int] = {platform: 0 for platform in pipeline.platforms}
    overdue_by_platform: dict[str, int] = {platform: 0 for platform in pipeline.platforms}
    open_accounts: dict[str, int] = {platform: 0 for platform in pipeline.platforms}
    for key, state in list(item_to_state.items()):
        request = state.get("request")
        if not request or request["state"] not in lifecycle.OPEN_STATES:
            continue
        if accounts.is_account_key(key):
            open_accounts[state["platform"]] = open_accounts.get(state["platform"], 0) + 1
        else:
            open_by_platform[state["platform"]] = open_by_platform.get(state["platform"], 0) + 1
            if now > datetime.fromisoformat(request["deadline"]):
                overdue_by_platform[state["platform"]] = overdue_by_platform.get(state["platform"], 0) + 1
        due = lifecycle.next_check(state, LIFECYCLE)
        if due is not None and due <= now:
            await item_events_topic.send(key=key, value={"type": "tick", "at": now.isoformat()}, force=True)
    for platform, count in open_by_platform.items():
        METRICS.requests_open.labels(platform).set(count)
        METRICS.requests_overdue.labels(platform).set(overdue_by_platform.get(platform, 0))
    for platform, count in open_accounts.items():
        METRICS.account_requests_open.labels(platform).set(count)


# --- re-checking platforms without callbacks (streams/poller.py) -----------------------------


def _load_rechecks() -> dict:
    from detectors.configfile import Problems
    from streams.poller import load_recheck_config

    problems = Problems()
    rechecks = load_recheck_config(settings.config_dir / "platforms.yaml", problems)
    problems.raise_if_any()
    return rechecks


RECHECKS = _load_rechecks()
for _platform in RECHECKS:
    for _verdict in ("removed", "available", "unknown", "refused"):
        METRICS.rechecks.labels(_platform, _verdict)
RECHECKED_AT: dict[str, float] = {}  # item key -> wall time of its last poll (this worker's items)
RECHECK_REPORTED: dict[str, str] = {}  # item key -> request_id whose removal was sent (in flight to the state)
RECHECK_CONCURRENCY = 8
RECHECK_SESSION: list = []


@app.timer(interval=1.0)
async def recheck_open_requests():
    """Poll each open request's URL every ``interval_seconds`` of its platform's ``recheck``.

    A page that is gone becomes a ``removed`` status event on the
    platform-status topic (source ``recheck``), validated and handled like a
    platform's own callback. A URL the guard refuses is logged and counted,
    never fetched.
    """
    if not RECHECKS:
        return
    now = time.time()
    due = []
    for key, state in list(item_to_state.items()):
        request = state.get("request")
        config = RECHECKS.get(state.get("platform"))
        if config is None or not request or request["state"] not in lifecycle.OPEN_STATES or not request.get("url"):
            RECHECKED_AT.pop(key, None)
            RECHECK_REPORTED.pop(key, None)
            continue
        if RECHECK_REPORTED.get(key) == request["request_id"]:
            continue
        since = RECHECKED_AT.get(key) or datetime.fromisoformat(request["requested_at"]).timestamp()
        if now - since >= config.interval_seconds:
            due.append((key, state["platform"], request, config))
    if not due:
        return
    if not RECHECK_SESSION:
        import aiohttp

        RECHECK_SESSION.append(aiohttp.ClientSession())
    session = RECHECK_SESSION[0]
    limit = asyncio.Semaphore(RECHECK_CONCURRENCY)

    async def check(key: str, platform: str, request: dict, config) -> None:
        from streams.poller import RefusedURL, poll

        async with limit:
            RECHECKED_AT[key] = time.time()
            try:
                result = await poll(
                    session,
                    request["url"],
                    config.hosts,
                    timeout_seconds=config.timeout_seconds,
                    allow_loopback=settings.recheck_allow_loopback,
                )
            except RefusedURL as error:
                METRICS.rechecks.labels(platform, "refused").inc()
                log.warning(
                    "recheck refused for %s: %s",
                    request["request_id"],
                    error,
                    extra={"platform": platform, "request_id": request["request_id"]},
                )
                return
        METRICS.rechecks.labels(platform, result.verdict).inc()
        if result.verdict != "removed":
            return
        status = {
            "platform": platform,
            "post_id": request["post_id"],
            "status": "removed",
            "observed_at": result.observed_at or datetime.now(UTC).isoformat(),
            "source": "recheck",
            "request_id": request["request_id"],
            "evidence": result.reason,
        }
        RECHECK_REPORTED[key] = request["request_id"]
        await platform_status_topic.send(key=key.encode(), value=orjson.dumps(status))

    await asyncio.gather(*(check(*item) for item in due))


@app.timer(interval=300.0)
async def expire_accounts_and_campaigns():
    """Forget campaigns and strikes past their windows, so the tables do not grow without end.

    Like check_deadlines, the timer only finds them: the deletion is an event
    on the key's own partition, checked again there.
    """
    now = datetime.now(UTC)
    for key, state in list(campaign_to_state.items()):
        if campaigns.expired(state, now, CAMPAIGN_POLICY):
            await campaign_events_topic.send(key=key, value={"type": "expire"}, force=True)
    for key, state in list(account_to_state.items()):
        if accounts.expired(state, now, ACCOUNT_POLICY):
            await account_events_topic.send(key=key, value={"type": "expire"}, force=True)


LAG_TOPICS = frozenset(
    settings.topic(name) for name in ("posts", "reports", "platform-status", "decisions", "item-events")
)
LAG_SERIES: set[tuple[str, str]] = set()
LAG_SECONDS = 5.0


async def _metadata_with_auth(address: str, options: dict) -> None:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=address, request_timeout_ms=int(BROKER_PROBE_TIMEOUT_SECONDS * 1000), **options
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=BROKER_PROBE_TIMEOUT_SECONDS)
    except TimeoutError as error:
        raise OSError(f"no metadata answer within {BROKER_PROBE_TIMEOUT_SECONDS:g} s") from error
    finally:
        await client.close()


@app.timer(interval=BROKER_PROBE_SECONDS)
async def probe_broker():
    """Readiness: ask a broker for metadata; the first that answers makes the worker's broker reachable."""
    loop = asyncio.get_running_loop()
    addresses = bootstrap_servers(settings.broker).split(",")
    options = kafka_auth.client_options()
    errors = []
    for address in addresses:
        try:
            if options:  # SASL: the handshake needs a real client; the stdlib probe speaks plaintext only
                await _metadata_with_auth(address, options)
            else:
                await loop.run_in_executor(None, kafka_probe.brokers, address, BROKER_PROBE_TIMEOUT_SECONDS)
        except (OSError, ValueError, struct.error, KafkaError) as error:
            errors.append(f"{address}: {error}")
            continue
        HEALTH.update(broker_ok=True, probed_at=time.monotonic(), broker_error=None)
        METRICS.broker_up.set(1)
        return
    HEALTH.update(broker_ok=False, probed_at=time.monotonic(), broker_error="; ".join(errors))
    METRICS.broker_up.set(0)


@app.timer(interval=LAG_SECONDS)
async def publish_lag():
    """Each owned input partition's lag (committed offset to the end of the partition)."""
    # Only the streams agents consume: a table's changelog is read at recovery and
    # never committed, so its "lag" would be every record ever written.
    consumer = app.consumer
    owned = {tp for tp in consumer.assignment() if tp.topic in LAG_TOPICS}
    for topic, partition in list(LAG_SERIES - {(tp.topic, str(tp.partition)) for tp in owned}):
        METRICS.consumer_lag.remove(topic, partition)  # moved to another worker in a rebalance
        LAG_SERIES.discard((topic, partition))
    for tp in owned:
        committed = consumer._committed_offset.get(tp)  # Faust keeps no public accessor for it
        end = consumer.highwater(tp)
        if end is not None and end >= 0:
            METRICS.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - (committed or 0)))
            LAG_SERIES.add((tp.topic, str(tp.partition)))


# --- the live hash bank ---------------------------------------------------------------------

BANK_CHANGES: list[dict] = []
WATCHLIST_CHANGES: list[dict] = []
# Held while a detection batch runs on its thread: the bank must not change under it.
SCANNING = asyncio.Lock()


def apply_watchlist_changes() -> None:
    watchlist = pipeline.watchlist
    if watchlist is None or not WATCHLIST_CHANGES:
        return
    changes, WATCHLIST_CHANGES[:] = list(WATCHLIST_CHANGES), []
    for change in changes:
        if change["op"] == "add":
            watchlist.add(
                WatchlistEntry(
                    platform=change["platform"],
                    account_id=change["account_id"],
                    handle=change["handle"],
                    reason=change["reason"],
                    source=change["source"],
                    added=_date(change.get("at")),
                )
            )
        else:
            watchlist.remove(change["platform"], change["account_id"], change["handle"])
        log.info(
            "watchlist %s %s:%s",
            change["op"],
            change["platform"],
            change["account_id"] or "@" + (change["handle"] or ""),
            extra={"platform": change["platform"]},
        )


def _date(value: str | None):
    try:
        return datetime.fromisoformat(value).date() if value else None
    except ValueError:
        return None


def apply_bank_changes() -> None:
    """Apply queued hash bank and watchlist changes; on the event loop between detection batches."""
    apply_watchlist_changes()
    media = pipeline.media
    if media is None or not BANK_CHANGES:
        return
    changes, BANK_CHANGES[:] = list(BANK_CHANGES), []
    for change in changes:
        try:
            if change["op"] == "add":
                media.bank.add(change["hash_type"], change["hash"], change["label"], change["source"])
            else:
                media.bank.remove(change["hash_type"], change["hash"], change.get("label"))
        except ValueError as error:
            log.warning("hash bank change refused: %s", error, extra={"hash_type": change.get("hash_type")})
    publish_bank_metrics()


def publish_bank_metrics() -> None:
    media = pipeline.media
    if media is None:
        return
    for hash_type, count in media.bank.counts().items():
        METRICS.hashbank_entries.labels(hash_type).set(count)
    info = {"hashbank_digest": media.bank.digest}
    for detector in pipeline.detectors:
        if hasattr(detector, "model"):
            info.update(text_classifier=detector.model.file_name, text_classifier_sha256=detector.model.sha256)
    METRICS.model_info.info(info)


@app.task
async def follow_hash_bank():
    """Every worker reads the whole compacted hashbank topic, from the start, and follows it.

    Not a Faust agent: an agent would see only this worker's share of the
    partitions, and every worker needs every hash. Changes take effect at the
    next detection batch (and at once when the worker is idle).
    """
    publish_bank_metrics()
    await follow_everywhere("hashbank", pipeline.parser.bank_change, BANK_CHANGES)


@app.task
async def follow_watchlist():
    """Runtime watchlist entries (topic ``watchlist``), on every worker, like the hash bank.

    An entry added on the topic applies from the next detection batch (within
    about a second), and comes back after a restart: the topic is compacted
    and read from the start.
    """
    await follow_everywhere("watchlist", pipeline.parser.watchlist_change, WATCHLIST_CHANGES)


async def follow_everywhere(name: str, parse: Callable, changes: list) -> None:
    """Read a whole compacted topic from the start and follow it; valid changes queue in ``changes``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic(name),
        bootstrap_servers=bootstrap_servers(settings.broker),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_auth.client_options(),
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        changes.append(parse(record.value or b""))
                        METRICS.events.labels(record.topic, "valid").inc()
                    except InvalidEvent as error:
                        METRICS.events.labels(record.topic, "deadletter").inc()
                        METRICS.deadletters.labels(record.topic, error.reason).inc()
                        await deadletter_topic.send(
                            key=dead_letter_key(record.topic, record.partition, record.offset),
                            value=dead_letter(
                                topic=record.topic,
                                partition=record.partition,
                                offset=record.offset,
                                key=record.key,
                                raw=record.value,
                                error=error,
                            ),
                            force=True,
                        )
            if changes and not SCANNING.locked():
                apply_bank_changes()
    finally:
        await consumer.stop()


# --- delivery ---------------------------------------------------------------------------------

DELIVERER: list = []  # created in the worker's event loop, on first use
# Deliveries may wait minutes (retries, Retry-After, an open circuit): several
# run at once so that one slow platform does not hold up the others.
DELIVERY_CONCURRENCY = 4


async def deliverer():
    if not DELIVERER:
        from streams.delivery import Deliverer

        DELIVERER.append(Deliverer(DELIVERY_CHANNELS, on_attempt=record_attempt))
    return DELIVERER[0]


async def record_attempt(attempt: dict) -> None:
    METRICS.delivery_attempts.labels(attempt["platform"], attempt["outcome"]).inc()
    key = item_key_of_request(attempt["request_id"])
    record = orjson.loads(orjson.dumps({"kind": "delivery_attempt", **attempt}, default=str))
    await ledger_topic.send(key=key, value=record, force=True)


@app.agent(deliveries_topic, concurrency=DELIVERY_CONCURRENCY)
async def deliver_requests(stream):
    """Deliver each request once per event (a replay is delivered again: the
    platform de-duplicates by ``Idempotency-Key``), then report the result to
    the item, whose clock starts at the first successful delivery."""
    async for event in stream.events():
        request = event.value
        try:
            result = await (await deliverer()).deliver(request)
            delivery = {
                "request_id": request["request_id"],
                "delivered": result.delivered,
                "delivered_at": result.delivered_at.isoformat() if result.delivered_at else None,
                "channel": result.channel,
                "attempts": result.attempts,
                "outcome": result.outcome,
                "reason": result.reason,
            }
        except Exception as error:  # noqa: BLE001 - a broken request must not stop deliveries
            log.exception("cannot deliver %r", event.key)
            delivery = {
                "request_id": request.get("request_id"),
                "delivered": False,
                "delivered_at": None,
                "channel": None,
                "attempts": 0,
                "outcome": "failed",
                "reason": f"{type(error).__name__}: {error}",
            }
        await item_events_topic.send(key=event.key, value={"type": "delivery", "delivery": delivery})
