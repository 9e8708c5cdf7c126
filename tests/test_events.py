"""The input event contract: what EventParser accepts, and how it names what it rejects."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from detectors.events import (
    MAX_MEDIA_BYTES,
    MAX_MEDIA_ITEMS,
    MAX_TEXT_BYTES,
    EventParser,
    InvalidEvent,
    Post,
    item_key,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MD5 = "D41D8CD98F00B204E9800998ECF8427E"
SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
PDQ = "F" * 64


@pytest.fixture
def parser() -> EventParser:
    return EventParser({"facebook", "tiktok"}, clock=lambda: NOW)


def post_record(**changes) -> dict:
    """A valid post; a change to ``...`` (Ellipsis) removes the field."""
    record = {
        "platform": "facebook",
        "post_id": "p-1",
        "account_id": "acct-1",
        "posted_at": "2025-06-01T10:00:00Z",
        "text": "hello",
    }
    record.update(changes)
    return {name: value for name, value in record.items() if value is not ...}


def encode(record: dict) -> bytes:
    return orjson.dumps(record)


def rejection(parse, raw) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse(raw)
    return caught.value


# -- accepted posts --------------------------------------------------------


def test_valid_post_round_trips_with_utc_times_lower_hex_and_extra_fields(parser):
    image = base64.b64encode(b"\x89PNG fake image").decode()
    raw = encode(
        post_record(
            posted_at="2025-06-01T15:30:00+05:00",
            observed_at="2025-06-01T10:31:00Z",
            url="https://facebook.example/p-1",
            lang="ur",
            media=[
                {"kind": "image", "md5": MD5, "sha256": SHA256, "pdq": PDQ, "data_b64": image},
                {"kind": "video", "sha256": SHA256},
            ],
            campaign="c-7",
            nested={"a": [1, 2]},
        )
    )

    post = parser.post(raw)

    assert post.platform == "facebook"
    assert post.post_id == "p-1"
    assert post.account_id == "acct-1"
    assert post.text == "hello"
    assert post.url == "https://facebook.example/p-1"
    assert post.lang == "ur"
    assert post.posted_at == datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    assert post.posted_at.utcoffset() == timedelta(0)
    assert post.observed_at == datetime(2025, 6, 1, 10, 31, tzinfo=UTC)
    assert post.observed_at.utcoffset() == timedelta(0)
    first, second = post.media
    assert (first.kind, first.md5, first.sha256, first.pdq) == ("image", MD5.lower(), SHA256.lower(), PDQ.lower())
    assert first.data == b"\x89PNG fake image"
    assert (second.kind, second.sha256, second.md5, second.pdq, second.data) == (
        "video",
        SHA256.lower(),
        None,
        None,
        None,
    )
    assert dict(post.extra) == {"campaign": "c-7", "nested": {"a": [1, 2]}}


def test_post_accepts_str_input_as_well_as_bytes(parser):
    assert parser.post(encode(post_record()).decode()) == parser.post(encode(post_record()))


def test_optional_post_fields_default_to_empty(parser):
    post = parser.post(encode(post_record(text=...)))

    assert (post.text, post.url, post.lang, post.media, post.observed_at) == ("", None, None, (), None)
    assert dict(post.extra) == {}


def test_item_key_and_post_key_are_platform_colon_post_id(parser):
    post = parser.post(encode(post_record(platform="tiktok", post_id="7:42")))

    assert item_key("tiktok", "7:42") == "tiktok:7:42"
    assert post.key == "tiktok:7:42"
    assert Post("x", "1", "a", NOW).key == "x:1"


def test_text_of_exactly_64_kib_is_accepted(parser):
    text = "é" * (MAX_TEXT_BYTES // 2)  # two bytes each

    assert parser.post(encode(post_record(text=text))).text == text


def test_timestamp_just_under_a_day_ahead_is_accepted(parser):
    ahead = (NOW + timedelta(days=1) - timedelta(seconds=1)).isoformat()

    assert parser.post(encode(post_record(posted_at=ahead))).posted_at == NOW + timedelta(days=1, seconds=-1)


# -- rejected records ------------------------------------------------------


@pytest.mark.parametrize(
    "raw, reason",
    [
        pytest.param(b'{"platform": "facebook\xff"}', "invalid_utf8", id="invalid-utf8"),
        pytest.param(b'{"platform": ', "invalid_json", id="truncated-json"),
        pytest.param(b'{"platform": "facebook", "score": NaN}', "invalid_json", id="nan"),
        pytest.param(b'{"platform": "facebook", "score": Infinity}', "invalid_json", id="infinity"),
        pytest.param(b'{"platform": "facebook", "score": -Infinity}', "invalid_json", id="minus-infinity"),
        pytest.param(b'[{"platform": "facebook"}]', "not_an_object", id="list"),
        pytest.param(b'"facebook"', "not_an_object", id="string"),
    ],
)
def test_undecodable_record_is_rejected_without_field(parser, raw, reason):
    error = rejection(parser.post, raw)

    assert (error.reason, error.field) == (reason, None)


@pytest.mark.parametrize("missing", ["platform", "post_id", "account_id", "posted_at"])
def test_missing_required_post_field_is_rejected_with_field(parser, missing):
    error = rejection(parser.post, encode(post_record(**{missing: ...})))

    assert (error.reason, error.field) == ("missing_field", missing)


def test_null_required_field_counts_as_missing(parser):
    error = rejection(parser.post, encode(post_record(account_id=None)))

    assert (error.reason, error.field) == ("missing_field", "account_id")


@pytest.mark.parametrize(
    "changes, field",
    [
        pytest.param({"post_id": 12345}, "post_id", id="post_id-number"),
        pytest.param({"account_id": True}, "account_id", id="account_id-boolean"),
        pytest.param({"text": ["hello"]}, "text", id="text-list"),
        pytest.param({"posted_at": 1717236000}, "posted_at", id="posted_at-number"),
    ],
)
def test_wrong_type_is_rejected_with_field(parser, changes, field):
    error = rejection(parser.post, encode(post_record(**changes)))

    assert (error.reason, error.field) == ("invalid_type", field)


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
@pytest.mark.parametrize("field", ["post_id", "account_id"])
def test_empty_or_blank_id_is_rejected_with_field(parser, field, value):
    error = rejection(parser.post, encode(post_record(**{field: value})))

    assert (error.reason, error.field) == ("invalid_value", field)


@pytest.mark.parametrize("value", ["p\x001", "p\n1", "p\x1b[31m", "p\x7f"])
@pytest.mark.parametrize("field", ["post_id", "account_id"])
def test_control_character_in_id_is_rejected_with_field(parser, field, value):
    error = rejection(parser.post, encode(post_record(**{field: value})))

    assert (error.reason, error.field) == ("invalid_value", field)


def test_c1_control_character_in_id_is_rejected(parser):
    # U+0080..U+009F are control characters (Unicode category Cc) just like
    # U+0000..U+001F; the contract says identifiers carry none.
    error = rejection(parser.post, encode(post_record(post_id="p\u00851")))

    assert (error.reason, error.field) == ("invalid_value", "post_id")


def test_id_over_256_characters_is_too_large(parser):
    error = rejection(parser.post, encode(post_record(post_id="p" * 257)))

    assert (error.reason, error.field) == ("too_large", "post_id")


def test_unknown_platform_is_rejected_with_field(parser):
    error = rejection(parser.post, encode(post_record(platform="myspace")))

    assert (error.reason, error.field) == ("unknown_platform", "platform")
    assert "'myspace'" in str(error)


def test_text_over_64_kib_of_utf8_is_rejected_though_under_64k_characters(parser):
    text = "é" * (MAX_TEXT_BYTES // 2 + 1)  # 32769 characters, 65538 bytes
    assert len(text) < MAX_TEXT_BYTES < len(text.encode("utf-8"))

    error = rejection(parser.post, encode(post_record(text=text)))

    assert (error.reason, error.field) == ("too_large", "text")


@pytest.mark.parametrize(
    "posted_at",
    [
        pytest.param("2025-06-01T10:00:00", id="no-offset"),
        pytest.param("2025-06-01", id="date-only"),
        pytest.param("1989-12-31T23:59:59Z", id="before-1990"),
        pytest.param("1990-01-01T00:30:00+01:00", id="before-1990-in-utc"),
        pytest.param((NOW + timedelta(days=1, seconds=1)).isoformat(), id="over-a-day-ahead"),
        pytest.param("yesterday", id="not-a-timestamp"),
        pytest.param("2025-13-01T00:00:00Z", id="month-13"),
    ],
)
def test_bad_timestamp_is_rejected_with_field(parser, posted_at):
    error = rejection(parser.post, encode(post_record(posted_at=posted_at)))

    assert (error.reason, error.field) == ("invalid_timestamp", "posted_at")


def test_future_limit_follows_the_parser_clock():
    moment = "2030-01-01T00:00:00Z"
    early = EventParser({"facebook"}, clock=lambda: datetime(2029, 12, 30, tzinfo=UTC))
    late = EventParser({"facebook"}, clock=lambda: datetime(2029, 12, 31, 3, tzinfo=timezone(timedelta(hours=2))))

    assert rejection(early.post, encode(post_record(posted_at=moment))).reason == "invalid_timestamp"
    assert late.post(encode(post_record(posted_at=moment))).posted_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_media_that_is_not_a_list_is_rejected(parser):
    error = rejection(parser.post, encode(post_record(media={"kind": "image"})))

    assert (error.reason, error.field) == ("invalid_type", "media")


def test_more_than_32_media_items_is_too_large(parser):
    accepted = parser.post(encode(post_record(media=[{"kind": "image"}] * MAX_MEDIA_ITEMS)))
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image"}] * (MAX_MEDIA_ITEMS + 1))))

    assert len(accepted.media) == 32
    assert (error.reason, error.field) == ("too_large", "media")


def test_media_item_that_is_not_an_object_is_rejected_with_index(parser):
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image"}, "image"])))

    assert (error.reason, error.field) == ("invalid_type", "media[1]")


@pytest.mark.parametrize("kind", ["audio", "IMAGE", "", None])
def test_media_kind_other_than_image_or_video_is_rejected(parser, kind):
    item = {"sha256": SHA256} if kind is None else {"kind": kind}

    error = rejection(parser.post, encode(post_record(media=[{"kind": "video"}, item])))

    assert (error.reason, error.field) == ("invalid_value", "media[1].kind")


@pytest.mark.parametrize("kind", [["image"], {"type": "image"}])
def test_media_kind_of_wrong_type_is_an_invalid_event_not_a_crash(parser, kind):
    error = rejection(parser.post, encode(post_record(media=[{"kind": kind}])))

    assert error.reason in {"invalid_type", "invalid_value"}
    assert error.field == "media[0].kind"


@pytest.mark.parametrize(
    "name, value",
    [
        pytest.param("md5", MD5[:-1], id="md5-short"),
        pytest.param("md5", MD5 + "0", id="md5-long"),
        pytest.param("md5", "g" * 32, id="md5-not-hex"),
        pytest.param("sha256", SHA256[:32], id="sha256-md5-length"),
        pytest.param("sha256", "z" + SHA256[1:], id="sha256-not-hex"),
        pytest.param("pdq", "f" * 63, id="pdq-short"),
        pytest.param("pdq", "0x" + "f" * 62, id="pdq-0x-prefix"),
        pytest.param("pdq", "f" * 32 + " " + "f" * 31, id="pdq-inner-space"),
    ],
)
def test_bad_hash_hex_is_rejected_with_field(parser, name, value):
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image", name: value}])))

    assert (error.reason, error.field) == ("invalid_value", f"media[0].{name}")


def test_hash_that_is_not_a_string_is_rejected_with_field(parser):
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image", "pdq": 12345}])))

    assert (error.reason, error.field) == ("invalid_type", "media[0].pdq")


@pytest.mark.parametrize("encoded", ["not base64!", "QUJDRA", "QU=JD", "QUJD-_", "é" * 4])
def test_data_b64_that_is_not_base64_is_rejected(parser, encoded):
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image", "data_b64": encoded}])))

    assert (error.reason, error.field) == ("invalid_value", "media[0].data_b64")


def test_data_b64_with_line_breaks_is_accepted(parser):
    encoded = base64.encodebytes(b"x" * 100).decode()  # a newline every 76 characters
    assert "\n" in encoded

    post = parser.post(encode(post_record(media=[{"kind": "image", "data_b64": encoded}])))

    assert post.media[0].data == b"x" * 100


def test_data_b64_on_a_video_is_rejected(parser):
    encoded = base64.b64encode(b"frames").decode()

    error = rejection(parser.post, encode(post_record(media=[{"kind": "video", "data_b64": encoded}])))

    assert (error.reason, error.field) == ("invalid_value", "media[0].data_b64")


def test_data_b64_decoding_to_more_than_10_mib_is_too_large(parser):
    exactly = base64.b64encode(bytes(MAX_MEDIA_BYTES)).decode()
    over = base64.b64encode(bytes(MAX_MEDIA_BYTES + 1)).decode()

    accepted = parser.post(encode(post_record(media=[{"kind": "image", "data_b64": exactly}])))
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image", "data_b64": over}])))

    assert len(accepted.media[0].data) == MAX_MEDIA_BYTES
    assert (error.reason, error.field) == ("too_large", "media[0].data_b64")


def test_data_b64_far_over_the_limit_is_too_large_before_decoding(parser):
    error = rejection(parser.post, encode(post_record(media=[{"kind": "image", "data_b64": "A" * 20_000_000}])))

    assert (error.reason, error.field) == ("too_large", "media[0].data_b64")


# -- reports and status events ----------------------------------------------


def report_record(**changes) -> dict:
    record = {
        "platform": "tiktok",
        "post_id": "p-1",
        "reporter_id": "r-9",
        "reason": "glorifies an attack",
        "reported_at": "2025-06-01T10:00:00+02:00",
    }
    record.update(changes)
    return {name: value for name, value in record.items() if value is not ...}


def status_record(**changes) -> dict:
    record = {
        "platform": "tiktok",
        "post_id": "p-1",
        "status": "removed",
        "observed_at": "2025-06-02T10:00:00Z",
        "source": "crawler",
    }
    record.update(changes)
    return {name: value for name, value in record.items() if value is not ...}


def test_valid_report_round_trips(parser):
    report = parser.report(encode(report_record(channel="in-app")))

    assert (report.platform, report.post_id, report.reporter_id, report.reason) == (
        "tiktok",
        "p-1",
        "r-9",
        "glorifies an attack",
    )
    assert report.reported_at == datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    assert report.reported_at.utcoffset() == timedelta(0)
    assert report.key == "tiktok:p-1"
    assert dict(report.extra) == {"channel": "in-app"}


def test_report_without_reporter_id_is_rejected_with_field(parser):
    error = rejection(parser.report, encode(report_record(reporter_id=...)))

    assert (error.reason, error.field) == ("missing_field", "reporter_id")


def test_valid_status_round_trips(parser):
    status = parser.status(encode(status_record(status="geo_blocked", region="PK")))

    assert (status.platform, status.post_id, status.status, status.source) == (
        "tiktok",
        "p-1",
        "geo_blocked",
        "crawler",
    )
    assert status.observed_at == datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    assert status.key == "tiktok:p-1"
    assert dict(status.extra) == {"region": "PK"}


def test_status_deleted_is_not_a_known_status(parser):
    error = rejection(parser.status, encode(status_record(status="deleted")))

    assert (error.reason, error.field) == ("invalid_value", "status")
    assert "'deleted'" in str(error)


def test_status_on_unknown_platform_is_rejected_with_field(parser):
    error = rejection(parser.status, encode(status_record(platform="myspace")))

    assert (error.reason, error.field) == ("unknown_platform", "platform")


@pytest.mark.parametrize("value", ["20240101T000000Z", "2024-01-01", "2024-01-01T00:00Z", "2024-W01-1T00:00:00Z"])
def test_timestamp_outside_rfc3339_is_rejected_even_if_iso8601(parser, value):
    error = rejection(parser.post, encode(post_record(posted_at=value)))
    assert (error.reason, error.field) == ("invalid_timestamp", "posted_at")


# --- watchlist changes --------------------------------------------------------------------


def test_a_watchlist_change_names_its_platform_account_reason_and_source(parser):
    change = parser.watchlist_change(
        b'{"op": "add", "platform": "*", "handle": " @voice ", "reason": "r", "source": "s"}'
    )
    assert change == {
        "op": "add",
        "platform": "*",
        "account_id": None,
        "handle": "@voice",
        "reason": "r",
        "source": "s",
        "at": None,
    }
    assert parser.watchlist_change(b'{"op": "remove", "platform": "tiktok", "account_id": "7"}')["op"] == "remove"


@pytest.mark.parametrize(
    "raw, reason, field",
    [
        (
            b'{"op": "add", "platform": "myspace", "account_id": "7", "reason": "r", "source": "s"}',
            "unknown_platform",
            "platform",
        ),
        (b'{"op": "add", "platform": "tiktok", "reason": "r", "source": "s"}', "missing_field", "account_id"),
        (
            b'{"op": "add", "platform": "tiktok", "account_id": " ", "reason": "r", "source": "s"}',
            "invalid_value",
            "account_id",
        ),
        (b'{"op": "add", "platform": "tiktok", "account_id": "7", "source": "s"}', "missing_field", "reason"),
        (b'{"op": "purge", "platform": "tiktok", "account_id": "7"}', "invalid_value", "op"),
        (
            b'{"op": "add", "platform": "tiktok", "account_id": 7, "reason": "r", "source": "s"}',
            "invalid_type",
            "account_id",
        ),
    ],
)
def test_a_bad_watchlist_change_says_what_and_where(parser, raw, reason, field):
    with pytest.raises(InvalidEvent) as raised:
        parser.watchlist_change(raw)
    assert (raised.value.reason, raised.value.field) == (reason, field)


@pytest.mark.parametrize("kind", ["post", "report", "status", "decision"])
def test_a_tombstone_is_an_invalid_event_not_a_crash(kind):
    # A record whose value is null (kcat -Z, a compacted topic's delete marker) must be
    # dead-lettered with its reason, never raise anything else (issue 13, item 1).
    from detectors.events import EventParser, InvalidEvent

    parser = EventParser(frozenset({"x"}))
    with pytest.raises(InvalidEvent) as raised:
        getattr(parser, kind)(None)
    assert raised.value.reason == "null_value"


def test_a_tombstone_becomes_a_dead_letter_with_an_empty_raw_value():
    from detectors.events import InvalidEvent
    from streams.deadletter import dead_letter

    letter = dead_letter(
        topic="modwatch.posts",
        partition=0,
        offset=7,
        key=None,
        raw=None,
        error=InvalidEvent("null_value", None, "a record with no value (a tombstone) is not an event"),
    )
    assert (letter["reason"], letter["raw"], letter["raw_bytes"], letter["key"]) == ("null_value", "", 0, None)


def test_a_resend_names_its_request_and_other_decisions_are_refused(parser):
    base = {"decision": "resend", "reviewer": "ops-1", "at": NOW.isoformat()}
    assert parser.decision(orjson.dumps(dict(base, request_id="tr-eDox"))).decision == "resend"
    with pytest.raises(InvalidEvent) as refused:
        parser.decision(orjson.dumps(dict(base, alert_id="detection:x:1")))
    assert (refused.value.reason, refused.value.field) == ("missing_field", "request_id")
    with pytest.raises(InvalidEvent) as refused:
        parser.decision(orjson.dumps(dict(base, decision="maybe", request_id="tr-eDox")))
    assert refused.value.field == "decision" and "approve, reject or resend" in str(refused.value)
