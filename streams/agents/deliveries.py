"""Deliveries: this worker's open requests -> webhook | email | outbox -> item-events (delivered or failed).

``track_items`` hands each request it publishes to the worker's
:class:`Dispatcher` once the item's state is stored (streams/agents/items.py
``apply``), in memory, not through a topic: a delivery costs no record and no
trip through Faust until its result. The state, which holds the request, is
what makes a delivery certain. ``check_deadlines`` (streams/agents/timers.py)
hands over again every open request of the worker's own items that has no
delivery result and is not in flight, so a worker that died mid-delivery, or a
rebalance that moved an item, leaves none undelivered; the platform
de-duplicates a second delivery by ``Idempotency-Key``.

Every attempt goes to the ledger (streams/delivery/): an attempt that is
retried as a record of its own, here, as it happens; the attempt that ends the
delivery inside the item's transition it causes (``cause.last_attempt``,
streams/agents/items.py), so a delivery that succeeds at once costs the
ledger one record, not two.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from streams.app import app
from streams.runtime import current, is_built
from streams.topics import item_events_topic, ledger_topic
from takedowns.messages import DeliveryDone
from takedowns.requests import item_key_of_request

log = logging.getLogger("modwatch.agents")

# Deliveries may wait minutes (retries, Retry-After, an open circuit): a few run
# at once per platform, so that one slow platform does not hold up the others.
DELIVERIES_PER_PLATFORM = 4
# Requests in flight on one worker; beyond it, check_deadlines hands the rest over as slots free.
MAX_IN_FLIGHT = 10_000
# A result sent but not yet read by its item (it may now live on another worker):
# after this long the request may be handed over again if it is still undelivered.
RESULT_GRACE_SECONDS = 120.0


def deliverer():
    """The worker's Deliverer, made in its event loop on first use."""
    runtime = current()
    if runtime.deliverer is None:
        from streams.delivery import Deliverer

        runtime.deliverer = Deliverer(runtime.delivery_channels, on_attempt=record_attempt)
    return runtime.deliverer


def dispatcher() -> Dispatcher:
    """The worker's Dispatcher, made on first use."""
    runtime = current()
    if runtime.dispatcher is None:
        runtime.dispatcher = Dispatcher()
    return runtime.dispatcher


class Dispatcher:
    """Delivers requests in the background, each once while it is in flight.

    A request stays in flight from :meth:`submit` until its item has read the
    result (:meth:`settled`), or until ``RESULT_GRACE_SECONDS`` after the result
    was sent; a delivery that could not send its result leaves at once, to be
    handed over again.
    """

    def __init__(self, per_platform: int = DELIVERIES_PER_PLATFORM, limit: int = MAX_IN_FLIGHT):
        self.per_platform = per_platform
        self.limit = limit
        self.in_flight: dict[str, float | None] = {}  # request_id -> when its result was sent (None: delivering)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task] = set()

    def submit(self, key: str, request: dict) -> bool:
        """Start delivering ``request`` (as published: without its lifecycle ``state``) unless it is
        in flight already or the worker is full."""
        request_id = request["request_id"]
        if request_id in self.in_flight or len(self.in_flight) >= self.limit:
            return False
        request = {name: value for name, value in request.items() if name != "state"}
        self.in_flight[request_id] = None
        task = asyncio.get_running_loop().create_task(self._deliver(key, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def settled(self, request_id: str) -> None:
        """The item has read this request's result."""
        self.in_flight.pop(request_id, None)

    def forget_stale(self, now: float | None = None) -> None:
        """Results sent long ago that no item here read (the item moved): in flight no more."""
        now = time.monotonic() if now is None else now
        for request_id, sent in list(self.in_flight.items()):
            if sent is not None and now - sent > RESULT_GRACE_SECONDS:
                del self.in_flight[request_id]

    async def _deliver(self, key: str, request: dict) -> None:
        request_id = request["request_id"]
        try:
            slot = self._slots.setdefault(str(request.get("platform")), asyncio.Semaphore(self.per_platform))
            async with slot:
                delivery = await deliver(key, request)
            await (await item_events_topic.send(key=key, value=DeliveryDone(delivery).wire(), force=True))
        except Exception:  # noqa: BLE001 - handed over again by the next check
            log.exception("delivery of %s for %r did not reach its item", request_id, key)
            self.in_flight.pop(request_id, None)
            return
        if request_id in self.in_flight:
            self.in_flight[request_id] = time.monotonic()

    async def close(self) -> None:
        """Cancel the deliveries in flight (at shutdown: their items hand them over again)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@app.on_before_shutdown.connect
async def stop_deliveries(sender=None, **_) -> None:
    """Deliveries in flight stop with the worker; their items hand them over again after the restart."""
    if is_built() and current().dispatcher is not None:
        await current().dispatcher.close()


async def record_attempt(attempt: dict) -> None:
    """Count every attempt; a retried one goes to the ledger now (the last one travels with the result)."""
    current().metrics.delivery_attempts.labels(attempt["platform"], attempt["outcome"]).inc()
    if attempt["retry_in_seconds"] is None:
        return
    await send_attempt(attempt)


async def send_attempt(attempt: dict):
    """An attempt as a ledger record of its own (``kind: delivery_attempt``); the broker's acknowledgement."""
    key = item_key_of_request(attempt["request_id"])
    record = orjson.loads(orjson.dumps({"kind": "delivery_attempt", **attempt}, default=str))
    return await ledger_topic.send(key=key, value=record, force=True)


async def deliver(key, request: dict) -> dict:
    """The delivery's result as the item's lifecycle reads it; a broken request fails, never stops deliveries."""
    try:
        result = await deliverer().deliver(request)
    except Exception as error:  # noqa: BLE001 - a broken request must not stop deliveries
        log.exception("cannot deliver %r", key)
        return {
            "request_id": request.get("request_id") if isinstance(request, dict) else None,
            "delivered": False,
            "delivered_at": None,
            "channel": None,
            "attempts": 0,
            "outcome": "failed",
            "reason": f"{type(error).__name__}: {error}",
            "last_attempt": None,
        }
    return {
        "request_id": request["request_id"],
        "delivered": result.delivered,
        "delivered_at": result.delivered_at.isoformat() if result.delivered_at else None,
        "channel": result.channel,
        "attempts": result.attempts,
        "outcome": result.outcome,
        "reason": result.reason,
        "last_attempt": orjson.loads(orjson.dumps(result.last_attempt, default=str)),
    }
