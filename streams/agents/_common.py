"""What every agent shares: the dead-letter path, one-record-at-a-time handling, publishing outputs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from detectors.events import InvalidEvent
from streams.deadletter import dead_letter, dead_letter_key
from streams.runtime import current
from streams.tables import post_to_alert
from streams.topics import deadletter_topic

log = logging.getLogger("modwatch.agents")


async def send_dead_letter(event, error: InvalidEvent):
    """An agent's record, its place and the reason to the dead-letter topic; returns the broker's acknowledgement."""
    message = event.message
    return await dead_letter_record(message.topic, message.partition, message.offset, event.key, event.value, error)


async def dead_letter_record(
    topic: str, partition: int, offset: int, key, raw, error: InvalidEvent, *, outside_event: bool = False
):
    """Any record read (by an agent or a follower) to the dead-letter topic; counted and logged in one line.

    In an agent the send belongs to the event being handled (its offset is
    committed after the send); a follower reads outside any event
    (``outside_event``) and sends at once. Returns the broker's acknowledgement.
    """
    metrics = current().metrics
    metrics.events.labels(topic, "deadletter").inc()
    metrics.deadletters.labels(topic, error.reason).inc()
    log.warning(
        "dead letter %s[%s]@%s: %s",
        topic,
        partition,
        offset,
        error,
        extra={"topic": topic, "partition": partition, "offset": offset, "reason": error.reason, "field": error.field},
    )
    letter = dead_letter(topic=topic, partition=partition, offset=offset, key=key, raw=raw, error=error)
    return await deadletter_topic.send(key=dead_letter_key(topic, partition, offset), value=letter, force=outside_event)


def parse_record(event, kind: str):
    """Parse an input record as the contract reads it (value, and key where the contract fixes it)."""
    return current().pipeline.parser.record(kind, event.key, event.value, event.headers)


def count_valid(event) -> None:
    current().metrics.events.labels(event.message.topic, "valid").inc()


async def handle_each(stream, handle: Callable) -> None:
    """Each record once and in order, ``handle(key, value)``; a record that breaks it is dead-lettered alone."""
    async for event in stream.events():
        if not await current().order.admit(event):
            continue
        key, value = event.key, event.value
        try:
            await handle(key, value)
        except Exception as error:  # noqa: BLE001 - one bad record must not stop the agent
            kind = value.get("type") if isinstance(value, dict) else "?"
            log.exception("cannot handle %s event for %r on %s", kind, key, event.message.topic)
            await send_dead_letter(event, InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}"))


def publish_alert(key: str, alert: dict) -> list[asyncio.Future]:
    """Alerts are de-duplicated by their id: a replay raises none twice. Returns the broker's acknowledgement."""
    metrics = current().metrics
    if key in post_to_alert:
        metrics.duplicates.labels("alert").inc()
        return []
    metrics.alerts.labels(alert["type"], alert["severity"]).inc()
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
