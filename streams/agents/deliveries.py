"""``deliver_requests``: deliveries -> webhook | email | outbox -> item-events (delivered or failed).

Every attempt goes to the ledger (streams/delivery/): an attempt that is
retried as a record of its own, here, as it happens; the attempt that ends the
delivery inside the item's transition it causes (``cause.last_attempt``,
streams/agents/items.py), so a delivery that succeeds at once costs the
ledger one record, not two.
"""

from __future__ import annotations

import logging

import orjson

from streams.app import app
from streams.runtime import current
from streams.topics import deliveries_topic, item_events_topic, ledger_topic
from takedowns.messages import DeliveryDone
from takedowns.requests import item_key_of_request

log = logging.getLogger("modwatch.agents")

# Deliveries may wait minutes (retries, Retry-After, an open circuit): several
# run at once so that one slow platform does not hold up the others.
DELIVERY_CONCURRENCY = 4


def deliverer():
    """The worker's Deliverer, made in its event loop on first use."""
    runtime = current()
    if runtime.deliverer is None:
        from streams.delivery import Deliverer

        runtime.deliverer = Deliverer(runtime.delivery_channels, on_attempt=record_attempt)
    return runtime.deliverer


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


@app.agent(deliveries_topic, concurrency=DELIVERY_CONCURRENCY)
async def deliver_requests(stream):
    """Deliver each request once per event (a replay is delivered again: the
    platform de-duplicates by ``Idempotency-Key``), then report the result to
    the item, whose clock starts at the first successful delivery."""
    async for event in stream.events():
        delivery = await deliver(event.key, event.value)
        await item_events_topic.send(key=event.key, value=DeliveryDone(delivery).wire())


async def deliver(key, request: dict) -> dict:
    """The delivery's result as the item's lifecycle reads it; a broken request fails, never stops the agent."""
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
