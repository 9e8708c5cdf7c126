"""The records modwatch writes, and the events it passes between its own agents, as types.

One frozen dataclass per output record (``docs/events.md`` has one table per
record, and ``tests/test_messages.py`` holds each table to its type: the same
fields, the same required ones) and one per internal item event.

Records travel as JSON objects (orjson). :meth:`Message.from_dict` reads one
strictly: every required field present, no field the type does not know, and
each value of its declared type; :meth:`Message.to_dict` writes it back. A
field with the default :data:`ABSENT` is optional: absent from the object
unless set. ``Optional`` (``X | None``) means the field is present and may be
null.

Versions: :data:`CONTRACT_VERSION` is the version of the output records'
contract (a change that removes or retypes a field is a new version).
Internal events (item-events, account-events, campaign-events) carry
``"v"``; an event without it is version 1, the format before the field existed.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

CONTRACT_VERSION = 1
INTERNAL_EVENT_VERSION = 1


class _Absent:
    """An optional field left out of the record (not the same as null)."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


class MessageError(ValueError):
    """A record that does not match its type; names the type and the field."""


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches(entry, item) for entry in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


@functools.cache
def _schema(cls: type) -> tuple[dict[str, tuple[Any, bool]], dict[str, str]]:
    """A record type's fields (wire name -> (type, required)) and attribute names, worked out once.

    Every item event is read through its type: resolving the annotations on
    each read cost ~60 µs an event.
    """
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    fields = dataclasses.fields(cls)
    known = {field.name.rstrip("_"): (hints[field.name], field.default is not ABSENT) for field in fields}
    return known, {field.name.rstrip("_"): field.name for field in fields}


class Message:
    """What every record type shares: strict reading, writing, its fields' contract."""

    topic: ClassVar[str]  # where it is written (docs/events.md names the table after it)

    @classmethod
    def fields(cls) -> dict[str, tuple[Any, bool]]:
        """name -> (type, required) in declaration order; a trailing underscore is dropped (``from_``, ``topic_``)."""
        return dict(_schema(cls)[0])

    @classmethod
    def from_dict(cls, record: Any) -> Message:
        if not isinstance(record, dict):
            raise MessageError(f"{cls.__name__}: {type(record).__name__} is not an object")
        known, attributes = _schema(cls)
        unknown = sorted(set(record) - set(known))
        if unknown:
            raise MessageError(f"{cls.__name__}: unknown field {unknown[0]!r}")
        values = {}
        for name, (hint, required) in known.items():
            if name not in record:
                if required:
                    raise MessageError(f"{cls.__name__}.{name}: missing")
                continue
            if not _matches(record[name], hint):
                raise MessageError(f"{cls.__name__}.{name}: {record[name]!r:.80} is not {hint}")
            values[attributes[name]] = record[name]
        return cls(**values)

    def to_dict(self) -> dict:
        record = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not ABSENT:
                record[field.name.rstrip("_")] = value
        return record


Timestamp = str  # ISO 8601 with its offset
Severity = Literal["none", "low", "medium", "high", "critical"]
Channel = Literal["webhook", "email", "outbox"]
AttemptOutcome = Literal["delivered", "retry", "failed", "rejected", "circuit_open"]
ATTEMPT_OUTCOMES: tuple[str, ...] = typing.get_args(AttemptOutcome)


# --- output records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding(Message):
    topic: ClassVar[str] = "findings"
    detector: str
    category: str
    score: float
    evidence: dict


@dataclass(frozen=True, slots=True)
class DetectionAlert(Message):
    topic: ClassVar[str] = "alerts"
    alert_id: str
    type: Literal["detection", "account"]
    platform: str
    post_id: str
    account_id: str
    url: str | None
    action: Literal["review", "takedown"]
    severity: Severity
    categories: list[str]
    findings: list[dict]
    request_id: str
    raised_at: Timestamp


@dataclass(frozen=True, slots=True)
class DeadlineAlert(Message):
    topic: ClassVar[str] = "alerts"
    alert_id: str
    type: Literal["sla_breach"]
    platform: str
    post_id: str
    request_id: str
    jurisdiction: str
    categories: list[str]
    severity: Literal["high", "critical"]
    deadline: Timestamp
    overdue_seconds: float
    deadline_multiple: Literal[1, 2]
    raised_at: Timestamp


@dataclass(frozen=True, slots=True)
class DeliveryAlert(Message):
    topic: ClassVar[str] = "alerts"
    alert_id: str
    type: Literal["delivery_failed"]
    platform: str
    post_id: str
    request_id: str
    channel: Channel | None
    attempts: int
    reason: str | None
    severity: Literal["critical"]
    raised_at: Timestamp


@dataclass(frozen=True, slots=True)
class ReportVelocityAlert(Message):
    topic: ClassVar[str] = "alerts"
    alert_id: str
    type: Literal["report_velocity"]
    platform: str
    post_id: str
    reports: int
    window_seconds: float
    already_flagged: bool
    request_id: str | None
    severity: Literal["high", "medium"]
    raised_at: Timestamp


@dataclass(frozen=True, slots=True)
class CampaignAlert(Message):
    topic: ClassVar[str] = "alerts"
    alert_id: str
    type: Literal["campaign"]
    severity: str
    fingerprint: str
    accounts: list[str]
    platforms: list[str]
    items: list[str]
    request_ids: list[str]
    first_seen: Timestamp
    latest_seen: Timestamp
    thresholds: dict
    raised_at: Timestamp


ALERT_TYPES: dict[str, type[Message]] = {
    "detection": DetectionAlert,
    "account": DetectionAlert,
    "sla_breach": DeadlineAlert,
    "delivery_failed": DeliveryAlert,
    "report_velocity": ReportVelocityAlert,
    "campaign": CampaignAlert,
}


def _alert_severities() -> tuple[tuple[str, str], ...]:
    """Every (type, severity) an alert can carry, from the alert classes' annotations."""
    pairs = []
    for kind, alert in ALERT_TYPES.items():
        allowed = typing.get_args(typing.get_type_hints(alert)["severity"])
        pairs += [(kind, severity) for severity in allowed or typing.get_args(Severity) if severity != "none"]
    return tuple(pairs)


ALERT_SEVERITIES = _alert_severities()


def read_alert(record: Any) -> Message:
    """Any alert, read by its ``type``."""
    kind = record.get("type") if isinstance(record, dict) else None
    if kind not in ALERT_TYPES:
        raise MessageError(f"alert: type {kind!r} is not one of {', '.join(ALERT_TYPES)}")
    return ALERT_TYPES[kind].from_dict(record)


@dataclass(frozen=True, slots=True)
class TakedownRequest(Message):
    topic: ClassVar[str] = "takedown-requests"
    request_id: str
    target: Literal["item", "account"]
    platform: str
    post_id: str
    account_id: str
    url: str | None
    categories: list[str]
    severity: Severity
    evidence: list[dict]
    media_hashes: list[dict]
    jurisdiction: str
    legal_basis: str
    citation: str
    campaign: str | None
    posted_at: Timestamp
    requested_at: Timestamp
    deadline: Timestamp
    designations: list[dict] = ABSENT
    previous_request_id: str = ABSENT


@dataclass(frozen=True, slots=True)
class LedgerTransition(Message):
    topic: ClassVar[str] = "ledger"
    request_id: str
    seq: int
    from_: str
    to: str
    at: Timestamp
    cause: dict
    evidence_digest: str
    platform: str
    post_id: str
    target: Literal["item", "account"]
    account_id: str
    state: str
    jurisdiction: str
    legal_basis: str
    citation: str
    categories: list[str]
    severity: Severity
    url: str | None
    posted_at: Timestamp
    evidence: list[dict]
    requested_at: Timestamp | None
    delivered_at: Timestamp | None
    deadline: Timestamp | None
    removed_at: Timestamp | None
    removal_status: str | None
    previous_request_id: str | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt(Message):
    topic: ClassVar[str] = "ledger"
    kind: Literal["delivery_attempt"]
    request_id: str
    platform: str
    channel: Channel
    attempt: int
    outcome: AttemptOutcome
    status_code: int | None
    error: str | None
    elapsed_seconds: float
    at: Timestamp
    retry_in_seconds: float | None


def read_ledger_record(record: Any) -> Message:
    """A ledger record: a delivery attempt (``kind``) or a transition."""
    if isinstance(record, dict) and record.get("kind") == "delivery_attempt":
        return DeliveryAttempt.from_dict(record)
    return LedgerTransition.from_dict(record)


@dataclass(frozen=True, slots=True)
class DeadLetter(Message):
    topic: ClassVar[str] = "deadletter"
    topic_: str
    partition: int
    offset: int
    key: str | None
    reason: str
    field: str | None
    error: str
    raw: str
    raw_bytes: int
    raw_truncated: bool
    dead_lettered_at: Timestamp
    raw_whole: str | None = ABSENT
    raw_encoding: Literal["utf-8", "base64"] | None = ABSENT


# --- internal events: item-events, account-events, campaign-events -----------------------------


class InternalEvent(Message):
    """One thing that happened to a key of an internal topic; on the wire ``{"type", "v", <body>}``."""

    kind: ClassVar[str]

    def wire(self) -> dict:
        return {"type": self.kind, "v": INTERNAL_EVENT_VERSION, **self.to_dict()}


class ItemEvent(InternalEvent):
    """Everything that happens to one item (``platform:post_id``), in order on its partition."""

    topic: ClassVar[str] = "item-events"


@dataclass(frozen=True, slots=True)
class Flagged(ItemEvent):
    kind: ClassVar[str] = "flagged"
    flagged: dict


@dataclass(frozen=True, slots=True)
class StatusSeen(ItemEvent):
    kind: ClassVar[str] = "status"
    status: dict


@dataclass(frozen=True, slots=True)
class ReviewDecided(ItemEvent):
    kind: ClassVar[str] = "decision"
    decision: dict


@dataclass(frozen=True, slots=True)
class ReportSeen(ItemEvent):
    kind: ClassVar[str] = "report"
    report: dict


@dataclass(frozen=True, slots=True)
class DeliveryDone(ItemEvent):
    kind: ClassVar[str] = "delivery"
    delivery: dict


@dataclass(frozen=True, slots=True)
class Tick(ItemEvent):
    kind: ClassVar[str] = "tick"
    at: Timestamp = ABSENT


class AccountEvent(InternalEvent):
    """Strikes against one account (``platform:account_id``, takedowns/accounts.py)."""

    topic: ClassVar[str] = "account-events"


@dataclass(frozen=True, slots=True)
class StrikeAdded(AccountEvent):
    kind: ClassVar[str] = "strike"
    strike: dict


@dataclass(frozen=True, slots=True)
class AccountExpiry(AccountEvent):
    kind: ClassVar[str] = "expire"


class CampaignEvent(InternalEvent):
    """Sightings of one campaign fingerprint (takedowns/campaigns.py)."""

    topic: ClassVar[str] = "campaign-events"


@dataclass(frozen=True, slots=True)
class Sighting(CampaignEvent):
    kind: ClassVar[str] = "sighting"
    sighting: dict


@dataclass(frozen=True, slots=True)
class CampaignRemoval(CampaignEvent):
    kind: ClassVar[str] = "removal"
    removal: dict


@dataclass(frozen=True, slots=True)
class CampaignExpiry(CampaignEvent):
    kind: ClassVar[str] = "expire"


def _kinds(*events: type[InternalEvent]) -> dict[str, type[InternalEvent]]:
    return {event.kind: event for event in events}


ITEM_EVENTS = _kinds(Flagged, StatusSeen, ReviewDecided, ReportSeen, DeliveryDone, Tick)
ACCOUNT_EVENTS = _kinds(StrikeAdded, AccountExpiry)
CAMPAIGN_EVENTS = _kinds(Sighting, CampaignRemoval, CampaignExpiry)


def _read_event(record: Any, kinds: dict[str, type[InternalEvent]], what: str) -> InternalEvent:
    if not isinstance(record, dict):
        raise MessageError(f"{what}: {type(record).__name__} is not an object")
    body = dict(record)
    kind, version = body.pop("type", None), body.pop("v", 1)
    if kind not in kinds:
        raise MessageError(f"{what}: type {kind!r} is not one of {', '.join(kinds)}")
    if version != INTERNAL_EVENT_VERSION:
        raise MessageError(f"{what}: version {version!r}; this worker reads version {INTERNAL_EVENT_VERSION}")
    return kinds[kind].from_dict(body)


def read_item_event(record: Any) -> ItemEvent:
    """An item event from the wire; MessageError for an unknown type or another version."""
    return _read_event(record, ITEM_EVENTS, "item event")


def read_account_event(record: Any) -> AccountEvent:
    return _read_event(record, ACCOUNT_EVENTS, "account event")


def read_campaign_event(record: Any) -> CampaignEvent:
    return _read_event(record, CAMPAIGN_EVENTS, "campaign event")
