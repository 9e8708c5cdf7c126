"""Atheris harness: arbitrary bytes against the event parser and the text normaliser.

Every input is fed to

* every :class:`detectors.events.EventParser` method (``post``, ``report``,
  ``status``, ``decision``, ``bank_change``, ``watchlist_change``), as bytes and
  as ``str`` (decoded with ``errors="replace"`` and with ``"surrogatepass"``,
  which yields lone surrogates). The only exception a parser may raise is
  :class:`InvalidEvent`, and its ``reason`` must be one of ``InvalidEvent.REASONS``;
* :meth:`EventParser.record` for each input topic's kind, the input read as a
  whole Kafka record (first byte: flags for a null key, a null value and
  headers; second byte: the key's length; then key and value): only
  ``InvalidEvent`` may come out, and a post, report or status is accepted only
  under its own ``platform:post_id`` key;
* :func:`detectors.text.normalise` (with and without offsets; both paths must
  give the same key, and every key character must map back into the original),
  :func:`detectors.text.handle_key` and :func:`takedowns.campaigns.text_key`,
  on both decodings;
* the designated-organisation detector's ``detect()``: on the post itself when
  the input parses as a post, and on a valid post carrying the input as its
  ``text`` (built with orjson and parsed, so the detector sees only what the
  parser lets through).

Any other exception propagates, and atheris reports it as a crash and writes
the input to ``-artifact_prefix`` (``crash-<sha1>``). ``fuzz/events.dict`` (the
contract's field names and values, characters the normaliser folds) is passed
as ``-dict=`` unless the command line names another dictionary.

Run from the repository root::

    .venv/bin/python -m fuzz.fuzz_inputs -max_total_time=60 fuzz/corpus

libFuzzer adds the new inputs it finds to the *first* corpus folder; to keep
``fuzz/corpus`` as committed, name a scratch folder (which must exist) first::

    mkdir -p /tmp/modwatch-corpus
    .venv/bin/python -m fuzz.fuzz_inputs -max_total_time=3600 -rss_limit_mb=2048 \
        -artifact_prefix=fuzz/crashes/ /tmp/modwatch-corpus fuzz/corpus

Replay one input (a crash file) with ``.venv/bin/python -m fuzz.fuzz_inputs <file>``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import atheris

# Third-party modules first, outside the instrumentation: coverage feedback is
# wanted for modwatch's own code only.
import orjson
import yaml

with atheris.instrument_imports(include=["detectors"]):
    from detectors.configfile import Problems
    from detectors.designations import DesignatedOrganisationDetector
    from detectors.events import EventParser, InvalidEvent, Post
    from detectors.text import handle_key, normalise
    from takedowns.campaigns import text_key

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
DICTIONARY = Path(__file__).resolve().parent / "events.dict"
# Used when config/platforms.yaml cannot be read, so the harness still runs.
FIXED_PLATFORMS = frozenset({"facebook", "instagram", "youtube", "x", "telegram", "tiktok"})
# A fixed clock: a crash found once reproduces on any later day.
CLOCK = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
METHODS = ("post", "report", "status", "decision", "bank_change", "watchlist_change")


def _platforms() -> frozenset[str]:
    try:
        document = yaml.safe_load((CONFIG / "platforms.yaml").read_text(encoding="utf-8"))
        names = frozenset(str(name) for name in document["platforms"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return FIXED_PLATFORMS
    return names or FIXED_PLATFORMS


PLATFORMS = _platforms()
PARSER = EventParser(PLATFORMS, clock=lambda: CLOCK)
_problems = Problems()
DETECTOR = DesignatedOrganisationDetector.from_config(CONFIG, _problems)
_problems.raise_if_any()
TEMPLATE_PLATFORM = "x" if "x" in PLATFORMS else min(PLATFORMS)


def _parse(method: str, raw: bytes | str):
    """The parsed event, or None when the parser rejected it with a well-formed InvalidEvent."""
    try:
        return getattr(PARSER, method)(raw)
    except InvalidEvent as error:
        if error.reason not in InvalidEvent.REASONS:
            raise AssertionError(f"{method}: InvalidEvent with unknown reason {error.reason!r}") from error
        return None


def _check_text(text: str) -> None:
    plain = normalise(text)
    located = normalise(text, with_offsets=True)
    if plain.text != located.text:
        raise AssertionError(f"normalise keys differ with and without offsets: {plain.text!r} != {located.text!r}")
    offsets = located.offsets
    if offsets is None or len(offsets) != len(located.text):
        raise AssertionError(f"normalise: {len(offsets or ())} offsets for a key of {len(located.text)} characters")
    if any(not 0 <= offset < len(text) for offset in offsets):
        raise AssertionError("normalise: an offset points outside the original text")
    if located.text:
        located.quote(0, len(located.text))
    handle_key(text)
    for min_words in (1, 5):
        key = text_key(text, min_words)
        if key is not None and not key.startswith("text:"):
            raise AssertionError(f"text_key returned {key!r}")


def _detect(post: Post) -> None:
    findings = DETECTOR.detect([post])
    if len(findings) != 1:
        raise AssertionError(f"detect() returned {len(findings)} lists for one post")


def TestOneInput(data: bytes) -> None:
    replaced = data.decode("utf-8", errors="replace")
    surrogates = data.decode("utf-8", errors="surrogatepass") if _decodes_with_surrogates(data) else None

    for method in METHODS:
        event = _parse(method, data)
        _parse(method, replaced)
        if surrogates is not None:
            _parse(method, surrogates)
        if method == "post" and event is not None:
            _detect(event)

    _check_record(data)
    _check_text(replaced)
    if surrogates is not None and surrogates != replaced:
        _check_text(surrogates)

    # The input as the text of a valid post: the path a real post's text takes.
    record = {
        "platform": TEMPLATE_PLATFORM,
        "post_id": "fuzz-1",
        "account_id": "fuzz-account",
        "posted_at": "2026-11-29T10:00:00Z",
        "text": replaced,
    }
    post = _parse("post", orjson.dumps(record))
    if post is not None:
        _detect(post)


RECORD_KINDS = ("post", "report", "status", "decision")


def _check_record(data: bytes) -> None:
    """The input as a whole Kafka record: flags (null key, null value, headers), key length, key, value."""
    if len(data) < 2:
        return
    flags, key_length, rest = data[0], data[1] % 64, data[2:]
    key = None if flags & 1 else rest[:key_length]
    value = None if flags & 2 else rest[key_length:]
    headers = [("h", rest[:8]), ("", None)] if flags & 4 else None
    for kind in RECORD_KINDS:
        try:
            parsed = PARSER.record(kind, key, value, headers)
        except InvalidEvent as error:
            if error.reason not in InvalidEvent.REASONS:
                raise AssertionError(f"record {kind}: InvalidEvent with unknown reason {error.reason!r}") from error
            continue
        if kind in PARSER.KEYED_KINDS and (key or b"").decode("utf-8", "replace") != parsed.key:
            raise AssertionError(f"record {kind}: accepted under key {key!r}, not {parsed.key!r}")


def _decodes_with_surrogates(data: bytes) -> bool:
    try:
        data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if not any(argument.startswith("-dict=") for argument in argv):
        argv.insert(1, f"-dict={DICTIONARY}")  # field names and values help mutations reach past the JSON parser
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
