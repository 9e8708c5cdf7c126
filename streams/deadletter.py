"""Dead-letter records: what was wrong with an input event, and where it came from."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

from detectors.events import InvalidEvent

# A readable preview of the raw record: enough to recognise it.
RAW_LIMIT_BYTES = 4096
# The whole raw record is kept too (``raw_whole``), so that ``modwatch deadletter replay``
# can send it again after the input topic's retention dropped it: as text when it is
# UTF-8 (JSON records are), else as base64, as long as that copy fits in this much of
# the 16 MiB message limit (streams/app.py MAX_MESSAGE_BYTES), the rest of the dead
# letter in the last MiB. A larger copy is left out (null) and only the preview stays.
WHOLE_LIMIT_BYTES = 15 * 1024 * 1024


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
        **whole_copy(raw),
        "dead_lettered_at": datetime.now(UTC).isoformat(),
    }


def dead_letter_key(topic: str, partition: int, offset: int) -> str:
    """Stable per source record, so a consumer can drop the copy a crash may repeat."""
    return f"{topic}:{partition}:{offset}"


def whole_copy(raw: bytes) -> dict:
    """``raw_whole`` and ``raw_encoding`` (utf-8 or base64) for a record's bytes; null when too large."""
    if len(raw) <= WHOLE_LIMIT_BYTES:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if len(orjson.dumps(text)) <= WHOLE_LIMIT_BYTES:  # as the dead letter will carry it, escapes and all
                return {"raw_whole": text, "raw_encoding": "utf-8"}
    if 4 * ((len(raw) + 2) // 3) <= WHOLE_LIMIT_BYTES:
        return {"raw_whole": base64.b64encode(raw).decode("ascii"), "raw_encoding": "base64"}
    return {"raw_whole": None, "raw_encoding": None}


def whole_record(letter: dict) -> bytes | None:
    """The record's bytes from a dead letter's own copy; None when it kept only the preview.
    A dead letter written before the whole copy was kept has it only when ``raw`` was not cut."""
    if "raw_whole" not in letter:
        return None if letter.get("raw_truncated") else letter["raw"].encode("utf-8")
    if letter["raw_whole"] is None:
        return None
    if letter["raw_encoding"] == "base64":
        return base64.b64decode(letter["raw_whole"])
    return letter["raw_whole"].encode("utf-8")
