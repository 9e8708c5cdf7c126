"""Timers: deadlines, re-checks, expiry, broker reachability and consumer lag.

``check_deadlines``        ticks overdue items, sets the open/overdue gauges
``recheck_open_requests``  polls open requests' URLs on platforms with a ``recheck``
                           section -> platform-status (streams/poller.py)
``expire_accounts_and_campaigns`` forgets strikes and campaigns past their windows
``probe_broker``           every second: broker reachability (/readyz)
``publish_lag``            consumer lag per input partition

Table writes need the context of an event of the key's partition, so a timer
never changes state itself: it sends an event to the key's own partition.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from datetime import UTC, datetime

import orjson
from aiokafka.errors import KafkaError

from streams import kafka_auth, kafka_probe
from streams.agents.deliveries import dispatcher
from streams.agents.post_reader import READER
from streams.app import app, settings
from streams.runtime import BROKER_PROBE_SECONDS, BROKER_PROBE_TIMEOUT_SECONDS, INPUT_TOPICS, current
from streams.settings import TOPIC_NAMES, bootstrap_servers
from streams.tables import account_to_state, campaign_to_state, item_to_state
from streams.topics import account_events_topic, campaign_events_topic, item_events_topic, platform_status_topic
from takedowns import accounts, campaigns, lifecycle
from takedowns.messages import AccountExpiry, CampaignExpiry, Tick

log = logging.getLogger("modwatch.agents")

RECHECK_CONCURRENCY = 8
LAG_TOPICS = frozenset(settings.topic(name) for name in (*INPUT_TOPICS, "item-events"))
LAG_SECONDS = 5.0
# The topics whose partitions must take writes for the worker to be ready (all of them: every
# one is an input, an output or a table's changelog).
OWN_TOPICS = [settings.topic(name) for name in TOPIC_NAMES]


@app.timer(interval=settings.tick_seconds)
async def check_deadlines():
    """Tick items whose next deadline has passed; refresh the open and overdue gauges.

    Every open request of this worker's items with no delivery result and none
    in flight is handed to the dispatcher (after a crash or a rebalance).
    """
    runtime = current()
    now = datetime.now(UTC)
    deliveries = dispatcher()
    deliveries.forget_stale()
    platforms = runtime.pipeline.platforms
    open_by_platform = dict.fromkeys(platforms, 0)
    overdue_by_platform = dict.fromkeys(platforms, 0)
    open_accounts = dict.fromkeys(platforms, 0)
    for key, state in list(item_to_state.items()):
        request = state.get("request")
        if not request or request["state"] not in lifecycle.OPEN_STATES:
            continue
        platform = state["platform"]
        if accounts.is_account_key(key):
            open_accounts[platform] = open_accounts.get(platform, 0) + 1
        else:
            open_by_platform[platform] = open_by_platform.get(platform, 0) + 1
            if now > datetime.fromisoformat(request["deadline"]):
                overdue_by_platform[platform] = overdue_by_platform.get(platform, 0) + 1
        hand_over_if_undelivered(deliveries, key, request)
        due = lifecycle.next_check(state, runtime.lifecycle)
        if due is not None and due <= now:
            await item_events_topic.send(key=key, value=Tick(at=now.isoformat()).wire(), force=True)
    for platform, count in open_by_platform.items():
        runtime.metrics.requests_open.labels(platform).set(count)
        runtime.metrics.requests_overdue.labels(platform).set(overdue_by_platform.get(platform, 0))
    for platform, count in open_accounts.items():
        runtime.metrics.account_requests_open.labels(platform).set(count)


def hand_over_if_undelivered(deliveries, key: str, request: dict) -> None:
    if request["state"] in lifecycle.OPEN_STATES and not request.get("delivered_at"):
        deliveries.submit(key, request)


@item_to_state.on_recover
async def hand_over_after_recovery() -> None:
    """Once the worker's items are back (a start, a rebalance): deliver what their requests still wait for."""
    deliveries = dispatcher()
    for key, state in list(item_to_state.items()):
        if state.get("request"):
            hand_over_if_undelivered(deliveries, key, state["request"])


# --- re-checking platforms without callbacks (streams/poller.py) -----------------------------


@app.timer(interval=1.0)
async def recheck_open_requests():
    """Poll each open request's URL every ``interval_seconds`` of its platform's ``recheck``.

    A page that is gone becomes a ``removed`` status event on the
    platform-status topic (source ``recheck``), validated and handled like a
    platform's own callback. A URL the guard refuses is logged and counted,
    never fetched.
    """
    runtime = current()
    if not runtime.rechecks:
        return
    due = due_rechecks(runtime, time.time())
    if not due:
        return
    if runtime.recheck_session is None:
        import aiohttp

        runtime.recheck_session = aiohttp.ClientSession()
    limit = asyncio.Semaphore(RECHECK_CONCURRENCY)
    await asyncio.gather(*(recheck(limit, *item) for item in due))


def due_rechecks(runtime, now: float) -> list[tuple]:
    """(key, platform, request, config) of every open request whose re-check is due."""
    due = []
    for key, state in list(item_to_state.items()):
        request = state.get("request")
        config = runtime.rechecks.get(state.get("platform"))
        if config is None or not request or request["state"] not in lifecycle.OPEN_STATES or not request.get("url"):
            runtime.rechecked_at.pop(key, None)
            runtime.recheck_reported.pop(key, None)
            continue
        if runtime.recheck_reported.get(key) == request["request_id"]:
            continue
        since = runtime.rechecked_at.get(key) or datetime.fromisoformat(request["requested_at"]).timestamp()
        if now - since >= config.interval_seconds:
            due.append((key, state["platform"], request, config))
    return due


async def recheck(limit: asyncio.Semaphore, key: str, platform: str, request: dict, config) -> None:
    """Poll one request's URL; a removed page becomes a status event."""
    from streams.poller import RefusedURL, poll

    runtime = current()
    async with limit:
        runtime.rechecked_at[key] = time.time()
        try:
            result = await poll(
                runtime.recheck_session,
                request["url"],
                config.hosts,
                timeout_seconds=config.timeout_seconds,
                allow_loopback=settings.recheck_allow_loopback,
            )
        except RefusedURL as error:
            runtime.metrics.rechecks.labels(platform, "refused").inc()
            log.warning(
                "recheck refused for %s: %s",
                request["request_id"],
                error,
                extra={"platform": platform, "request_id": request["request_id"]},
            )
            return
    runtime.metrics.rechecks.labels(platform, result.verdict).inc()
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
    runtime.recheck_reported[key] = request["request_id"]
    await platform_status_topic.send(key=key.encode(), value=orjson.dumps(status))


@app.timer(interval=300.0)
async def expire_accounts_and_campaigns():
    """Forget campaigns and strikes past their windows, so the tables do not grow without end.

    Like check_deadlines, the timer only finds them: the deletion is an event
    on the key's own partition, checked again there.
    """
    runtime = current()
    now = datetime.now(UTC)
    for key, state in list(campaign_to_state.items()):
        if campaigns.expired(state, now, runtime.campaign_policy):
            await campaign_events_topic.send(key=key, value=CampaignExpiry().wire(), force=True)
    for key, state in list(account_to_state.items()):
        if accounts.expired(state, now, runtime.account_policy):
            await account_events_topic.send(key=key, value=AccountExpiry().wire(), force=True)


# --- broker reachability and lag ------------------------------------------------------------


@app.timer(interval=BROKER_PROBE_SECONDS)
async def probe_broker():
    """Readiness: ask a broker for metadata; the first that answers makes the worker's broker reachable.

    Its answer also names the partitions of modwatch's topics that refuse writes (no leader, or
    fewer in-sync replicas than ``min_insync_replicas``): while there are any, /readyz says not-ready.
    """
    runtime = current()
    loop = asyncio.get_running_loop()
    addresses = bootstrap_servers(settings.broker).split(",")
    options = kafka_auth.client_options()
    errors = []
    for address in addresses:
        try:
            if options:  # SASL: the handshake needs a real client; the stdlib probe speaks plaintext only
                partitions = await kafka_auth.partitions(address, options, OWN_TOPICS, BROKER_PROBE_TIMEOUT_SECONDS)
            else:
                brokers, partitions = await loop.run_in_executor(
                    None, kafka_probe.metadata, address, BROKER_PROBE_TIMEOUT_SECONDS, OWN_TOPICS
                )
                _say_when_brokers_change(runtime.health, brokers)
        except (OSError, ValueError, struct.error, KafkaError) as error:
            errors.append(f"{address}: {error}")
            continue
        short = kafka_probe.short_of_replicas(partitions, settings.min_insync_replicas)
        _say_when_replicas_change(runtime.health.get("short_of_replicas", []), short)
        runtime.health.update(broker_ok=True, probed_at=time.monotonic(), broker_error=None, short_of_replicas=short)
        runtime.metrics.broker_up.set(1)
        runtime.metrics.partitions_short_of_replicas.set(len(short))
        return
    runtime.health.update(broker_ok=False, probed_at=time.monotonic(), broker_error="; ".join(errors))
    runtime.metrics.broker_up.set(0)


def _say_when_brokers_change(health: dict, brokers: list) -> None:
    """One log line when a broker leaves the cluster's metadata (its controllers fenced it) or returns."""
    now = {node_id: f"{host}:{port}" for node_id, host, port in brokers}
    before = health.get("brokers")
    health["brokers"] = now
    if before is None:
        return
    for node_id in sorted(set(before) - set(now)):
        log.warning("broker %d (%s) left the cluster: %d brokers answer", node_id, before[node_id], len(now))
    for node_id in sorted(set(now) - set(before)):
        log.info("broker %d (%s) is back in the cluster: %d brokers answer", node_id, now[node_id], len(now))


def _say_when_replicas_change(before: list[str], now: list[str]) -> None:
    """One log line when writes start being refused, and one when they are accepted again."""
    if now and not before:
        log.warning(
            "writes refused on %d partitions of modwatch's topics (fewer than %d in-sync replicas or no leader), "
            "e.g. %s; outputs wait until a broker returns",
            len(now),
            settings.min_insync_replicas,
            ", ".join(now[:3]),
        )
    elif before and not now:
        log.info(
            "writes accepted again: every partition of modwatch's topics has a leader and %d in-sync replicas",
            settings.min_insync_replicas,
        )


@app.timer(interval=LAG_SECONDS)
async def publish_lag():
    """Each owned input partition's lag (committed offset to the end of the partition)."""
    # Only the streams agents consume: a table's changelog is read at recovery and
    # never committed, so its "lag" would be every record ever written.
    runtime = current()
    consumer, series = app.consumer, runtime.lag_series
    lags = dict(READER.lags())  # the posts topic, when the batched reader reads it
    for tp in consumer.assignment():
        if tp.topic not in LAG_TOPICS or (tp.topic, str(tp.partition)) in lags:
            continue
        committed = consumer._committed_offset.get(tp)  # Faust keeps no public accessor for it
        end = consumer.highwater(tp)
        if end is not None and end >= 0:
            lags[(tp.topic, str(tp.partition))] = max(0, end - (committed or 0))
    for topic, partition in list(series - set(lags)):
        runtime.metrics.consumer_lag.remove(topic, partition)  # moved to another worker in a rebalance
        series.discard((topic, partition))
    for (topic, partition), lag in lags.items():
        runtime.metrics.consumer_lag.labels(topic, partition).set(lag)
        series.add((topic, partition))
