"""The input event contract: JSON posts, reports and platform-status events.

Every input is hostile until it parses here. :class:`EventParser` turns raw
bytes into frozen dataclasses or raises :class:`InvalidEvent` naming the field
and the reason, which the stream shell sends to the dead-letter topic. Unknown
extra fields are kept in ``extra``, not rejected: producers may add fields
before modwatch knows them.

Limits are part of the contract (docs/events.md):

* ``text`` at most 64 KiB of UTF-8;
* each ``media[].data_b64`` at most 10 MiB once decoded, at most 32 media items;
* identifiers at most 256 characters, without control characters;
* timestamps are RFC 3339 with a UTC offset, between 1990 and one day ahead of
  the parser's clock (a later time is a producer's broken clock, not news).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson

MAX_TEXT_BYTES = 64 * 1024
MAX_MEDIA_BYTES = 10 * 1024 * 1024
MAX_MEDIA_ITEMS = 32
MAX_ID_CHARS = 256
# Base64 of 10 MiB plus padding and line breaks some encoders insert.
_MAX_B64_CHARS = (MAX_MEDIA_BYTES // 3 + 1) * 4 + MAX_MEDIA_BYTES // 57 + 16
EARLIEST_TIMESTAMP = datetime(1990, 1, 1, tzinfo=UTC)
# Clocks of producers drift; a day ahead is the most we accept as "now".
FUTURE_TOLERANCE = timedelta(days=1)

MEDIA_KINDS = frozenset({"image", "video"})
STATUSES = frozenset({"removed", "geo_blocked", "restricted", "available", "rejected"})

_HEX = re.compile(r"[0-9a-f]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc: C0, DEL and C1
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_HASH_LENGTHS = {"md5": 32, "sha256": 64, "pdq": 64}


class InvalidEvent(ValueError):
    """An input event that breaks the contract.

    ``reason`` is a short code from a bounded set (it labels a metric);
    ``field`` names the offending field (``media[2].pdq``) or is ``None``
    when the whole record is at fault; the message quotes the bad value.
    """

    REASONS = frozenset(
        {
            "null_value",
            "invalid_utf8",
            "invalid_json",
            "not_an_object",
            "missing_field",
            "invalid_type",
            "invalid_value",
            "unknown_platform",
            "too_large",
            "invalid_timestamp",
            "invalid_key",
            "internal_error",
        }
    )

    def __init__(self, reason: str, field: str | None, message: str):
        assert reason in self.REASONS, reason
        self.reason = reason
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True, slots=True)
class Media:
    kind: str
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Post:
    platform: str
    post_id: str
    account_id: str
    posted_at: datetime
    text: str = ""
    url: str | None = None
    lang: str | None = None
    media: tuple[Media, ...] = ()
    observed_at: datetime | None = None
    account_handle: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> str:
        return item_key(self.platform, self.post_id)


@dataclass(frozen=True, slots=True)
class Report:
    platform: str
    post_id: str
    reporter_id: str
    reason: str
    reported_at: datetime
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> str:
        return item_key(self.platform, self.post_id)


@dataclass(frozen=True, slots=True)
class StatusEvent:
    platform: str
    post_id: str
    status: str
    observed_at: datetime
    source: str
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> str:
        return item_key(self.platform, self.post_id)


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """A reviewer's decision on a request waiting in review (or named by its alert), or an
    operator's ``resend`` of a request whose delivery failed."""

    decision: str  # approve | reject | resend
    reviewer: str
    at: datetime
    request_id: str | None = None
    alert_id: str | None = None
    reason: str | None = None
    # approve only: the category the reviewer approves it as, instead of the detectors' (its
    # jurisdiction must list it: takedowns/requests.py Requests.approved).
    category: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


REVIEW_DECISIONS = frozenset({"approve", "reject", "resend"})
BANK_OPS = frozenset({"add", "remove"})


def item_key(platform: str, post_id: str) -> str:
    """The record key of every topic: one item's events meet in one partition."""
    return f"{platform}:{post_id}"


class EventParser:
    """Parses and validates input events against the configured platforms."""

    POST_FIELDS = frozenset(
        {
            "platform",
            "post_id",
            "account_id",
            "account_handle",
            "url",
            "text",
            "lang",
            "media",
            "posted_at",
            "observed_at",
        }
    )
    REPORT_FIELDS = frozenset({"platform", "post_id", "reporter_id", "reason", "reported_at"})
    STATUS_FIELDS = frozenset({"platform", "post_id", "status", "observed_at", "source"})
    DECISION_FIELDS = frozenset({"request_id", "alert_id", "decision", "reviewer", "reason", "at", "category"})

    def __init__(self, platforms: frozenset[str] | set[str], clock=lambda: datetime.now(UTC)):
        self.platforms = frozenset(platforms)
        self._clock = clock

    # -- public -----------------------------------------------------------

    # The record kinds whose key the contract fixes as ``platform:post_id``. A
    # decision names its request (any key: modwatch routes it); bank and
    # watchlist changes are keyed by what they change and checked by their parsers.
    KEYED_KINDS = frozenset({"post", "report", "status"})

    def record(self, kind: str, key: bytes | str | None, value: bytes | str | None, headers: Any = None):
        """A whole Kafka record as the contract reads it: the value parsed as ``kind``, then its key.

        ``headers`` are accepted and not read: nothing in the contract lives in
        them, so no header can make a record valid or invalid.
        """
        parsed = getattr(self, kind)(value)
        if kind in self.KEYED_KINDS:
            given = key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray, memoryview)) else key
            if isinstance(given, memoryview):
                given = bytes(given).decode("utf-8", "replace")
            if given != parsed.key:
                shown = "no key" if given is None else repr(given[:80]) if isinstance(given, str) else repr(given)
                raise InvalidEvent("invalid_key", "key", f"{shown} is not {parsed.key!r} (platform:post_id)")
        return parsed

    def post(self, raw: bytes | str) -> Post:
        record = self._object(raw)
        return Post(
            platform=self._platform(record),
            post_id=self._identifier(record, "post_id"),
            account_id=self._identifier(record, "account_id"),
            posted_at=self._timestamp(record, "posted_at"),
            text=self._text(record),
            url=self._optional_string(record, "url", 4096),
            lang=self._optional_string(record, "lang", 35),
            media=self._media(record),
            observed_at=self._timestamp(record, "observed_at", required=False),
            account_handle=self._optional_string(record, "account_handle", MAX_ID_CHARS),
            extra=_extra(record, self.POST_FIELDS),
        )

    def report(self, raw: bytes | str) -> Report:
        record = self._object(raw)
        return Report(
            platform=self._platform(record),
            post_id=self._identifier(record, "post_id"),
            reporter_id=self._identifier(record, "reporter_id"),
            reason=self._string(record, "reason", 1024),
            reported_at=self._timestamp(record, "reported_at"),
            extra=_extra(record, self.REPORT_FIELDS),
        )

    def status(self, raw: bytes | str) -> StatusEvent:
        record = self._object(raw)
        status = self._string(record, "status", 32)
        if status not in STATUSES:
            raise InvalidEvent("invalid_value", "status", f"{status!r} is not one of {', '.join(sorted(STATUSES))}")
        return StatusEvent(
            platform=self._platform(record),
            post_id=self._identifier(record, "post_id"),
            status=status,
            observed_at=self._timestamp(record, "observed_at"),
            source=self._string(record, "source", MAX_ID_CHARS),
            extra=_extra(record, self.STATUS_FIELDS),
        )

    def decision(self, raw: bytes | str) -> ReviewDecision:
        record = self._object(raw)
        request_id = self._optional_string(record, "request_id", 1024)
        alert_id = self._optional_string(record, "alert_id", 1024)
        if request_id is None and alert_id is None:
            raise InvalidEvent("missing_field", "request_id", "a decision needs request_id or alert_id")
        decision = self._string(record, "decision", 16)
        if decision not in REVIEW_DECISIONS:
            raise InvalidEvent("invalid_value", "decision", f"{decision!r} is not approve, reject or resend")
        if decision == "resend" and request_id is None:
            raise InvalidEvent("missing_field", "request_id", "a resend names the request to deliver again")
        reason = record.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise InvalidEvent("invalid_type", "reason", f"must be a string, not {_type_name(reason)}")
        if reason is not None and len(reason) > 4096:
            raise InvalidEvent("too_large", "reason", f"is {len(reason)} characters; the limit is 4096")
        category = self._optional_string(record, "category", 64)
        if category is not None and decision != "approve":
            raise InvalidEvent("invalid_value", "category", f"only an approval names a category, not a {decision}")
        return ReviewDecision(
            decision=decision,
            reviewer=self._identifier(record, "reviewer"),
            at=self._timestamp(record, "at"),
            request_id=request_id,
            alert_id=alert_id,
            reason=reason,
            category=category,
            extra=_extra(record, self.DECISION_FIELDS),
        )

    def bank_change(self, raw: bytes | str) -> dict:
        """A change to the live media hash bank: ``{op: add|remove, hash_type, hash, label, source, at}``.

        The hash itself is checked by the bank when the change is applied.
        """
        record = self._object(raw)
        op = self._string(record, "op", 16)
        if op not in BANK_OPS:
            raise InvalidEvent("invalid_value", "op", f"{op!r} is not add or remove")
        change = {
            "op": op,
            "hash_type": self._string(record, "hash_type", 16),
            "hash": self._string(record, "hash", 128),
        }
        if op == "add":
            change.update(
                label=self._string(record, "label", MAX_ID_CHARS), source=self._string(record, "source", 1024)
            )
        elif record.get("label") is not None:
            change["label"] = self._string(record, "label", MAX_ID_CHARS)
        return change

    def watchlist_change(self, raw: bytes | str) -> dict:
        """A runtime watchlist change: ``{op: add|remove, platform, account_id, handle, reason, source, at}``.

        ``platform`` is a configured platform or ``*``; an entry needs an
        ``account_id`` or a ``handle``; an addition needs ``reason`` and ``source``.
        """
        record = self._object(raw)
        op = self._string(record, "op", 16)
        if op not in BANK_OPS:
            raise InvalidEvent("invalid_value", "op", f"{op!r} is not add or remove")
        platform = self._string(record, "platform", 64)
        if platform != "*" and platform not in self.platforms:
            raise InvalidEvent(
                "unknown_platform",
                "platform",
                f"{platform!r} is not a configured platform ({', '.join(sorted(self.platforms))}) or '*'",
            )
        account_id = self._optional_string(record, "account_id", MAX_ID_CHARS)
        handle = self._optional_string(record, "handle", MAX_ID_CHARS)
        if not (account_id or "").strip() and not (handle or "").strip():
            raise InvalidEvent("missing_field", "account_id", "an entry needs an account_id or a handle")
        change = {
            "op": op,
            "platform": platform,
            "account_id": (account_id or "").strip() or None,
            "handle": (handle or "").strip() or None,
        }
        if op == "add":
            change.update(
                reason=self._string(record, "reason", 1024),
                source=self._string(record, "source", 1024),
                at=self._optional_string(record, "at", 64),
            )
        return change

    # -- fields -----------------------------------------------------------

    @staticmethod
    def _object(raw: bytes | str | None) -> dict:
        if raw is None:
            # Kafka delivers a record with a null value (a tombstone) like any other.
            raise InvalidEvent("null_value", None, "a record with no value (a tombstone) is not an event")
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        elif not isinstance(raw, (bytes, bytearray, memoryview)):
            raise InvalidEvent("invalid_value", None, f"a record value must be bytes, not {type(raw).__name__}")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidEvent("invalid_utf8", None, f"not UTF-8 at byte {error.start}") from None
        try:
            # orjson rejects NaN, Infinity, lone surrogates and nesting deeper than 1024.
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidEvent("invalid_json", None, f"not JSON: {error}") from None
        if not isinstance(record, dict):
            raise InvalidEvent("not_an_object", None, f"must be a JSON object, not {type(record).__name__}")
        return record

    def _platform(self, record: dict) -> str:
        platform = self._string(record, "platform", 64)
        if platform not in self.platforms:
            raise InvalidEvent(
                "unknown_platform",
                "platform",
                f"{platform!r} is not a configured platform ({', '.join(sorted(self.platforms))})",
            )
        return platform

    def _identifier(self, record: dict, name: str) -> str:
        value = self._string(record, name, MAX_ID_CHARS)
        if _CONTROL.search(value):
            raise InvalidEvent("invalid_value", name, f"{value[:40]!r} contains control characters")
        return value

    @staticmethod
    def _string(record: dict, name: str, max_chars: int) -> str:
        if name not in record or record[name] is None:
            raise InvalidEvent("missing_field", name, "is required")
        value = record[name]
        if not isinstance(value, str):
            raise InvalidEvent("invalid_type", name, f"must be a string, not {_type_name(value)}")
        if not value.strip():
            raise InvalidEvent("invalid_value", name, "is empty")
        if len(value) > max_chars:
            raise InvalidEvent("too_large", name, f"is {len(value)} characters; the limit is {max_chars}")
        return value

    def _optional_string(self, record: dict, name: str, max_chars: int) -> str | None:
        if record.get(name) is None:
            return None
        return self._string(record, name, max_chars)

    @staticmethod
    def _text(record: dict) -> str:
        value = record.get("text")
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidEvent("invalid_type", "text", f"must be a string, not {_type_name(value)}")
        size = len(value.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise InvalidEvent("too_large", "text", f"is {size} bytes of UTF-8; the limit is {MAX_TEXT_BYTES}")
        return value

    def _timestamp(self, record: dict, name: str, *, required: bool = True) -> datetime | None:
        value = record.get(name)
        if value is None:
            if required:
                raise InvalidEvent("missing_field", name, "is required")
            return None
        if not isinstance(value, str):
            raise InvalidEvent("invalid_type", name, f"must be an RFC 3339 string, not {_type_name(value)}")
        if not _RFC3339.fullmatch(value):
            raise InvalidEvent("invalid_timestamp", name, f"{value[:64]!r} is not an RFC 3339 timestamp with offset")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidEvent("invalid_timestamp", name, f"{value[:64]!r} is not an RFC 3339 timestamp") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidEvent("invalid_timestamp", name, f"{value[:64]!r} has no UTC offset")
        if moment < EARLIEST_TIMESTAMP:
            raise InvalidEvent("invalid_timestamp", name, f"{value[:64]!r} is before 1990")
        if moment > self._clock() + FUTURE_TOLERANCE:
            raise InvalidEvent("invalid_timestamp", name, f"{value[:64]!r} is more than a day in the future")
        return moment.astimezone(UTC)

    def _media(self, record: dict) -> tuple[Media, ...]:
        items = record.get("media")
        if items is None:
            return ()
        if not isinstance(items, list):
            raise InvalidEvent("invalid_type", "media", f"must be a list, not {_type_name(items)}")
        if len(items) > MAX_MEDIA_ITEMS:
            raise InvalidEvent("too_large", "media", f"has {len(items)} items; the limit is {MAX_MEDIA_ITEMS}")
        return tuple(self._media_item(item, f"media[{index}]") for index, item in enumerate(items))

    @staticmethod
    def _media_item(item: Any, where: str) -> Media:
        if not isinstance(item, dict):
            raise InvalidEvent("invalid_type", where, f"must be an object, not {_type_name(item)}")
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in MEDIA_KINDS:
            raise InvalidEvent("invalid_value", f"{where}.kind", f"{kind!r} is not one of image, video")
        hashes: dict[str, str | None] = {}
        for name, length in _HASH_LENGTHS.items():
            value = item.get(name)
            if value is None:
                hashes[name] = None
                continue
            if not isinstance(value, str):
                raise InvalidEvent("invalid_type", f"{where}.{name}", f"must be a hex string, not {_type_name(value)}")
            value = value.strip().lower()
            if len(value) != length or not _HEX.fullmatch(value):
                raise InvalidEvent(
                    "invalid_value", f"{where}.{name}", f"{value[:80]!r} is not a valid {name} ({length} hex digits)"
                )
            hashes[name] = value
        data = None
        encoded = item.get("data_b64")
        if encoded is not None:
            if kind != "image":
                raise InvalidEvent("invalid_value", f"{where}.data_b64", "only images may carry data_b64")
            if not isinstance(encoded, str):
                raise InvalidEvent("invalid_type", f"{where}.data_b64", f"must be a string, not {_type_name(encoded)}")
            if len(encoded) > _MAX_B64_CHARS:
                raise InvalidEvent(
                    "too_large", f"{where}.data_b64", f"decodes to more than the {MAX_MEDIA_BYTES} byte limit"
                )
            try:
                data = base64.b64decode(encoded.replace("\n", "").replace("\r", ""), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidEvent("invalid_value", f"{where}.data_b64", "is not valid base64") from None
            if len(data) > MAX_MEDIA_BYTES:
                raise InvalidEvent(
                    "too_large", f"{where}.data_b64", f"decodes to {len(data)} bytes; the limit is {MAX_MEDIA_BYTES}"
                )
        return Media(kind=kind, data=data, **hashes)


def _extra(record: dict, known: frozenset[str]) -> Mapping[str, Any]:
    return MappingProxyType({name: value for name, value in record.items() if name not in known})


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
