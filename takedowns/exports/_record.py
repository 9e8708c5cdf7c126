"""The request record both exports read: its fields, its state, how it was restricted, its dates.

A record is the request as ``GET /takedowns/{request_id}`` returns it, or the
latest ledger record of that request. Anything an export cannot use raises
:class:`ExportError` naming the field or the state; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any


class ExportError(ValueError):
    """The request cannot be exported in this format; the message says which field or state."""


OPEN_STATES = frozenset({"requested", "acknowledged"})
DSA_EXPORTABLE_STATES = OPEN_STATES | {"removed", "reappeared"}
LUMEN_EXPORTABLE_STATES = DSA_EXPORTABLE_STATES | {"rejected", "expired"}
# How a platform reported restricting the content (a status callback's removal_status).
REMOVAL_STATUSES = frozenset({"removed", "geo_blocked", "restricted"})


def require_exportable(
    request: Mapping[str, Any], fields: Iterable[str], what: str, states: frozenset[str], refusal: str
) -> None:
    """Raise :class:`ExportError` unless the record has ``fields`` and is in one of ``states``.

    ``refusal`` says why another state has nothing to export, after ``state '…'``.
    """
    missing = [field for field in fields if field not in request]
    if missing:
        raise ExportError(
            f"request {request.get('request_id', '?')}: {what} needs {', '.join(missing)}, which this record lacks "
            "(a ledger record carries fewer fields than the request that GET /takedowns/{request_id} returns)"
        )
    if request["state"] not in states:
        raise ExportError(
            f"request {request['request_id']}: state {request['state']!r} {refusal} "
            f"(exportable: {', '.join(sorted(states))})"
        )


def removal_status_of(request: Mapping[str, Any]) -> str | None:
    """How the platform restricted the content, or None while nothing is restricted."""
    if request["state"] not in {"removed", "reappeared"}:
        return None
    status = request.get("removal_status")
    if status not in REMOVAL_STATUSES or not request.get("removed_at"):
        raise ExportError(
            f"request {request['request_id']}: state {request['state']!r} needs removed_at and a removal_status "
            f"of {', '.join(sorted(REMOVAL_STATUSES))}, got "
            f"removed_at={request.get('removed_at')!r}, removal_status={status!r}"
        )
    return status


def date_of(timestamp: str) -> str:
    """The UTC calendar date of an RFC 3339 timestamp, as YYYY-MM-DD."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()
