"""Hostile input: whatever bytes arrive, the parsers answer with InvalidEvent or a valid event.

Property-based (hypothesis): wrong types, missing and extra fields, huge
strings, invalid UTF-8 and lone surrogates, deep nesting, NaN and Infinity,
far past and far future timestamps, unknown platforms, corrupt images. A
parser that raised anything else would make the worker dead-letter the record
as an internal error at best; these tests keep that path for real bugs.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.events import EventParser, InvalidEvent
from detectors.pipeline import Pipeline
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # left out of `make check` (seconds each); `make test` runs it

PARSER = EventParser({"x", "telegram"}, clock=lambda: datetime(2026, 11, 29, tzinfo=UTC))
KINDS = ("post", "report", "status", "decision", "bank_change")
FIELDS = [
    "platform",
    "post_id",
    "account_id",
    "account_handle",
    "text",
    "url",
    "lang",
    "media",
    "posted_at",
    "observed_at",
    "reporter_id",
    "reason",
    "reported_at",
    "status",
    "source",
    "request_id",
    "alert_id",
    "decision",
    "reviewer",
    "at",
    "op",
    "hash_type",
    "hash",
    "label",
    "kind",
    "pdq",
    "md5",
    "sha256",
    "data_b64",
]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80)
json_values = st.recursive(
    json_scalars
    | st.sampled_from(
        [
            "x",
            "telegram",
            "2026-11-29T10:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "removed",
            "approve",
            "image",
            "add",
            "pdq",
        ]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), children, max_size=6),
    max_leaves=25,
)
records = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=14)


def parse(kind: str, raw: bytes):
    try:
        return getattr(PARSER, kind)(raw)
    except InvalidEvent as error:
        assert error.reason in InvalidEvent.REASONS
        return error


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_any_json_object_is_an_event_or_an_invalid_event(kind, record):
    parse(kind, json.dumps(record).encode())


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_an_event_or_an_invalid_event(kind, raw):
    parse(kind, raw)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"platform": "x", "post_id": "\\ud800"}', "invalid_json"),  # a lone surrogate
        (b"\xff\xfe{}", "invalid_utf8"),
        (b'{"platform": NaN}', "invalid_json"),
        (b'{"platform": Infinity}', "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),  # nesting deeper than any parser should follow
        (
            b'{"platform": "x", "post_id": "1", "account_id": "a", "posted_at": "0001-01-01T00:00:00Z"}',
            "invalid_timestamp",
        ),
        (
            b'{"platform": "x", "post_id": "1", "account_id": "a", "posted_at": "9999-12-31T23:59:59Z"}',
            "invalid_timestamp",
        ),
        (
            b'{"platform": "x", "post_id": "1", "account_id": "a", "posted_at": "2026-11-29T10:00:00Z", "text": "'
            + b"a" * (65 * 1024)
            + b'"}',
            "too_large",
        ),
    ],
)
def test_named_hostile_records_are_rejected_with_their_reason(raw, reason):
    error = parse("post", raw)
    assert isinstance(error, InvalidEvent) and error.reason == reason


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=0, max_size=2000))
def test_any_image_bytes_are_hashed_or_rejected_never_raised(data):
    pipeline = _pipeline()
    record = {
        "platform": "x",
        "post_id": "1",
        "account_id": "a",
        "posted_at": "2026-11-29T10:00:00Z",
        "media": [{"kind": "image", "data_b64": base64.b64encode(data).decode()}],
    }
    try:
        post = pipeline.parse_post(orjson.dumps(record))
    except InvalidEvent as error:
        assert error.field == "media[0].data_b64"
        return
    pipeline.scan([post])  # an image that decoded must also scan


_PIPELINE = []


def _pipeline() -> Pipeline:
    if not _PIPELINE:
        _PIPELINE.append(Pipeline.from_config_dir(ROOT / "config"))
    return _PIPELINE[0]


def test_a_valid_record_survives_unknown_extra_fields():
    record = {
        "platform": "x",
        "post_id": "1",
        "account_id": "a",
        "posted_at": "2026-11-29T10:00:00Z",
        "future_field": {"nested": [1, 2, 3]},
    }
    post = PARSER.post(json.dumps(record))
    assert post.extra["future_field"] == {"nested": [1, 2, 3]}


# --- whole Kafka records: key, value and headers, any of them None -------------------------------

VALID_VALUES = {
    "post": {"platform": "x", "post_id": "1", "account_id": "a", "posted_at": "2026-11-28T10:00:00Z", "text": "hi"},
    "report": {
        "platform": "x",
        "post_id": "1",
        "reporter_id": "r",
        "reason": "spam",
        "reported_at": "2026-11-28T10:00:00Z",
    },
    "status": {
        "platform": "x",
        "post_id": "1",
        "status": "removed",
        "observed_at": "2026-11-28T10:00:00Z",
        "source": "api",
    },
    "decision": {"request_id": "tr-eDox", "decision": "approve", "reviewer": "r", "at": "2026-11-28T10:00:00Z"},
}
record_keys = (
    st.none() | st.binary(max_size=40) | st.text(max_size=40) | st.sampled_from([b"x:1", "x:1", b"x:2", b"telegram:1"])
)
record_values = (
    st.none()
    | st.binary(max_size=400)
    | records.map(lambda record: json.dumps(record).encode())
    | st.sampled_from([orjson.dumps(value) for value in VALID_VALUES.values()])
)
record_headers = st.none() | st.lists(st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=40)), max_size=4)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), key=record_keys, value=record_values, headers=record_headers)
def test_any_kafka_record_is_an_event_or_an_invalid_event(kind, key, value, headers):
    try:
        parsed = PARSER.record(kind, key, value, headers)
    except InvalidEvent as error:
        assert error.reason in InvalidEvent.REASONS
        return
    if kind in PARSER.KEYED_KINDS:  # accepted only with the key the contract gives it
        assert (key.decode() if isinstance(key, bytes) else key) == parsed.key


@pytest.mark.parametrize("kind", sorted(VALID_VALUES))
@pytest.mark.parametrize("key", [None, b"", b"x:2", b"\xff", "x:1 "])
def test_a_valid_value_under_the_wrong_key_is_invalid_key_where_the_contract_fixes_the_key(kind, key):
    value = orjson.dumps(VALID_VALUES[kind])
    assert PARSER.record(kind, b"x:1", value, [("trace", None)]) is not None
    if kind in PARSER.KEYED_KINDS:
        with pytest.raises(InvalidEvent) as raised:
            PARSER.record(kind, key, value, None)
        assert (raised.value.reason, raised.value.field) == ("invalid_key", "key")
    else:  # a decision names its request: any key, modwatch routes it
        assert PARSER.record(kind, key, value, None).decision == "approve"


@pytest.mark.parametrize("kind", sorted(VALID_VALUES))
def test_a_tombstone_under_any_key_is_null_value(kind):
    for key in (None, b"x:1"):
        with pytest.raises(InvalidEvent) as raised:
            PARSER.record(kind, key, None, None)
        assert raised.value.reason == "null_value"
