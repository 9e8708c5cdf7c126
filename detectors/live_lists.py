"""Changes to the live hash bank and watchlist: the keyed records their compacted topics carry.

Both topics are compacted, so every record needs a key, and the key is what
makes the latest change per entry the one that survives: ``hash_type:hash``
for the bank, ``platform:account_id`` (or ``platform:@handle``) for the
watchlist (docs/events.md). Every worker reads both topics whole and applies
each change between detection batches (streams/agents/followers.py).

The functions here build those records from an operator's input and check
them exactly as a worker will (the bank's own hash checks, the event parser's
watchlist rules), so a command or an API call refuses a change the workers
would dead-letter; :func:`fold` turns a topic's records into the entries that
are live now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from detectors.events import EventParser, InvalidEvent
from detectors.hashbank import HASH_TYPES, make_entry
from detectors.hashing import normalise_hash

Change = tuple[str, dict]  # (key, record)


class ChangeRefused(ValueError):
    """An operator's change that a worker would refuse: the message names the field."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def bank_addition(hash_type: str, hash: str, label: str, source: str, at: str | None = None) -> Change:
    """The record that adds one hash to every worker's bank."""
    try:
        entry = make_entry(hash_type, hash, label, source)
    except ValueError as error:
        raise ChangeRefused(str(error)) from None
    record = {
        "op": "add",
        "hash_type": entry.hash_type,
        "hash": entry.hash,
        "label": entry.label,
        "source": entry.source,
        "at": at or _now(),
    }
    return f"{entry.hash_type}:{entry.hash}", record


def bank_removal(hash_type: str, hash: str, label: str | None = None, at: str | None = None) -> Change:
    """The record that removes a hash (under one label, or under every label) from every worker's bank."""
    hash_type = (hash_type or "").strip().lower()
    if hash_type not in HASH_TYPES:
        raise ChangeRefused(f"hash_type: {hash_type!r} is not one of {', '.join(HASH_TYPES)}")
    try:
        normalised = normalise_hash(hash_type, hash)
    except ValueError as error:
        raise ChangeRefused(f"hash: {error}") from None
    record = {"op": "remove", "hash_type": hash_type, "hash": normalised, "at": at or _now()}
    if label:
        record["label"] = label
    return f"{hash_type}:{normalised}", record


def watchlist_addition(
    platforms: Iterable[str],
    platform: str,
    account_id: str | None,
    handle: str | None,
    reason: str,
    source: str,
    at: str | None = None,
) -> Change:
    """The record that lists an account (by id, handle or both) on every worker's watchlist."""
    record = {
        "op": "add",
        "platform": platform,
        "account_id": account_id,
        "handle": handle,
        "reason": reason,
        "source": source,
        "at": at or _now(),
    }
    return _watchlist_change(platforms, record)


def watchlist_removal(
    platforms: Iterable[str], platform: str, account_id: str | None, handle: str | None, at: str | None = None
) -> Change:
    """The record that takes an account off every worker's watchlist (keyed as it was listed)."""
    record = {"op": "remove", "platform": platform, "account_id": account_id, "handle": handle, "at": at or _now()}
    return _watchlist_change(platforms, record)


def _watchlist_change(platforms: Iterable[str], record: dict) -> Change:
    try:
        change = EventParser(frozenset(platforms)).watchlist_change(orjson.dumps(record))
    except InvalidEvent as error:
        raise ChangeRefused(str(error)) from None
    clean = {key: value for key, value in dict(record, **change).items() if value is not None}
    return watchlist_key(change["platform"], change["account_id"], change["handle"]), clean


def watchlist_key(platform: str, account_id: str | None, handle: str | None) -> str:
    """``platform:account_id``, or ``platform:@handle`` for an entry known only by its handle."""
    if account_id:
        return f"{platform}:{account_id}"
    return f"{platform}:@{(handle or '').lstrip('@')}"


def fold(records: Iterable[tuple[str | None, dict | None]]) -> dict[str, dict]:
    """The entries live after these records, in topic order: key -> the addition that stands.

    A removal (or a tombstone: a key with no value) ends the entry of its key;
    records without a key are not entries (the broker refuses them on a
    compacted topic anyway).
    """
    live: dict[str, dict] = {}
    for key, record in records:
        if key is not None:
            fold_into(live, key, record)
    return live


def fold_into(live: dict[str, dict], key: str, record: dict | None) -> None:
    """One record of :func:`fold`: an addition stands for its key, a removal or tombstone ends it."""
    if record is None or record.get("op") == "remove":
        live.pop(key, None)
    elif record.get("op") == "add":
        live[key] = record
