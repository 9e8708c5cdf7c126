"""A dead letter keeps the whole record it refused (streams/deadletter.py), so a replay can
outlive the input topic's retention: as text when UTF-8, base64 otherwise, null past 15 MiB."""

from __future__ import annotations

import orjson
import pytest

from detectors.events import InvalidEvent
from streams.deadletter import WHOLE_LIMIT_BYTES, dead_letter, whole_record
from takedowns import messages


def letter(raw) -> dict:
    made = dead_letter(
        topic="m.posts", partition=1, offset=7, key=b"x:1", raw=raw, error=InvalidEvent("invalid_json", None, "bad")
    )
    # What travels on the topic, read back as every consumer reads it.
    return messages.DeadLetter.from_dict(orjson.loads(orjson.dumps(made))).to_dict()


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (b'{"platform": "x", "text": "' + "ٹی ٹی پی".encode() + b'"', "utf-8"),
        (b"\xff\xfe not utf-8 \x00", "base64"),
        (b"", "utf-8"),
        (b"{" + b"a" * (5 * 1024 * 1024), "utf-8"),  # past the 4 KiB preview
    ],
)
def test_the_whole_record_comes_back_byte_for_byte(raw, encoding):
    kept = letter(raw)
    assert kept["raw_encoding"] == encoding
    assert whole_record(kept) == raw
    assert kept["raw_bytes"] == len(raw) and kept["raw_truncated"] == (len(raw) > 4096)


def test_a_copy_over_the_limit_is_left_out_and_the_preview_stays():
    raw = b"\xff" * (WHOLE_LIMIT_BYTES * 3 // 4 + 3)  # base64 just over the limit
    kept = letter(raw)
    assert (kept["raw_whole"], kept["raw_encoding"]) == (None, None)
    assert whole_record(kept) is None and kept["raw_truncated"] and kept["raw"]
    # The largest dead letter still fits the 16 MiB message limit.
    biggest = letter(b"\xff" * (WHOLE_LIMIT_BYTES * 3 // 4))
    assert biggest["raw_encoding"] == "base64"
    assert len(orjson.dumps(biggest)) < 16 * 1024 * 1024


def test_text_that_escapes_to_more_than_the_limit_goes_as_base64_or_not_at_all():
    raw = b"\x01" * (WHOLE_LIMIT_BYTES // 5)  # each control byte escapes to \u0001: 6 bytes in JSON
    kept = letter(raw)
    assert kept["raw_encoding"] == "base64" and whole_record(kept) == raw


def test_a_dead_letter_from_before_the_whole_copy_replays_only_an_uncut_preview():
    old = {"raw": '{"platform": "x"}', "raw_truncated": False}
    assert whole_record(old) == b'{"platform": "x"}'
    assert whole_record({"raw": "{" * 4096, "raw_truncated": True}) is None
