"""Dead-letter records: what was wrong with an input event, and where it came from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from detectors.events import InvalidEvent

# Enough of the raw record to recognise it; the offset finds the rest.
RAW_LIMIT_BYTES = 4096


def dead_letter(*, topic: str, partition: int, offset: int, key: Any, raw: Any, error: InvalidEvent) -> dict:
    if raw is None:
        raw = b""
    elif isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    elif not isinstance(raw, bytes):
        raw = orjson.dumps(raw, default=str)
    if isinstance(key, bytes):
        key = key.decode("utf-8", "backslashreplace")
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key,
        "reason": error.reason,
        "field": error.field,
        "error": str(error),
        "raw": raw[:RAW_LIMIT_BYTES].decode("utf-8", "backslashreplace"),
        "raw_bytes": len(raw),
        "raw_truncated": len(raw) > RAW_LIMIT_BYTES,
        "dead_lettered_at": datetime.now(UTC).isoformat(),
    }


def dead_letter_key(topic: str, partition: int, offset: int) -> str:
    """Stable per source record, so a consumer can drop the copy a crash may repeat."""
    return f"{topic}:{partition}:{offset}"
