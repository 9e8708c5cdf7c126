"""Tasks every worker runs: follow the whole hash bank and watchlist topics.

``follow_hash_bank``  every worker reads the whole hashbank topic into its bank
``follow_watchlist``  likewise for runtime watchlist entries
Changes wait in the runtime and are applied between detection batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from detectors.events import InvalidEvent
from detectors.live_lists import fold_into
from detectors.watchlist import WatchlistEntry
from streams import kafka_auth
from streams.agents._common import dead_letter_record
from streams.app import app, settings
from streams.runtime import current
from streams.settings import bootstrap_servers

log = logging.getLogger("modwatch.agents")


def apply_watchlist_changes() -> None:
    runtime = current()
    watchlist = runtime.pipeline.watchlist
    if watchlist is None or not runtime.watchlist_changes:
        return
    changes, runtime.watchlist_changes[:] = list(runtime.watchlist_changes), []
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
    runtime = current()
    media = runtime.pipeline.media
    if media is None or not runtime.bank_changes:
        return
    changes, runtime.bank_changes[:] = list(runtime.bank_changes), []
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
    runtime = current()
    media = runtime.pipeline.media
    if media is None:
        return
    for hash_type, count in media.bank.counts().items():
        runtime.metrics.hashbank_entries.labels(hash_type).set(count)
    info = {"hashbank_digest": media.bank.digest}
    for detector in runtime.pipeline.detectors:
        if hasattr(detector, "model"):
            info.update(text_classifier=detector.model.file_name, text_classifier_sha256=detector.model.sha256)
    runtime.metrics.model_info.info(info)


@app.task
async def follow_hash_bank():
    """Every worker reads the whole compacted hashbank topic, from the start, and follows it.

    Not a Faust agent: an agent would see only this worker's share of the
    partitions, and every worker needs every hash. Changes take effect at the
    next detection batch (and at once when the worker is idle).
    """
    publish_bank_metrics()
    runtime = current()
    await follow_everywhere("hashbank", runtime.pipeline.parser.bank_change, runtime.bank_changes)


@app.task
async def follow_watchlist():
    """Runtime watchlist entries (topic ``watchlist``), on every worker, like the hash bank.

    An entry added on the topic applies from the next detection batch (within
    about a second), and comes back after a restart: the topic is compacted
    and read from the start.
    """
    runtime = current()
    await follow_everywhere("watchlist", runtime.pipeline.parser.watchlist_change, runtime.watchlist_changes)


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
                    await _queue_change(record, parse, changes, current().live_entries[name])
            if changes and not current().scanning.locked():
                apply_bank_changes()
    finally:
        await consumer.stop()


async def _queue_change(record, parse: Callable, changes: list, live: dict) -> None:
    """Queue a valid change (and keep ``live``, the entries in force by key, for GET /bank and
    /watchlist); dead-letter the others."""
    try:
        change = parse(record.value or b"")
        changes.append(change)
        if record.key is not None:
            fold_into(live, record.key.decode(errors="replace"), change)
    except InvalidEvent as error:
        await dead_letter_record(
            record.topic, record.partition, record.offset, record.key, record.value, error, outside_event=True
        )
        return
    current().metrics.events.labels(record.topic, "valid").inc()
