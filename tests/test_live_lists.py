"""Changes to the live bank and watchlist (detectors/live_lists.py) and the commands that send them.

The records must be exactly what a worker accepts (the follower parses them
with detectors/events.py), keyed so that compaction keeps the latest change
per entry. The commands are checked here up to the broker; sending them to
Kafka and a worker acting on them is in tests/test_lists_end_to_end.py.
"""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from detectors.events import EventParser
from detectors.live_lists import (
    ChangeRefused,
    bank_addition,
    bank_removal,
    fold,
    watchlist_addition,
    watchlist_removal,
)
from streams.cli import cli

PLATFORMS = ("x", "telegram")
PDQ = "f" * 32 + "0" * 32
PARSER = EventParser(frozenset(PLATFORMS))


def test_a_bank_addition_is_keyed_by_type_and_hash_and_reads_as_a_worker_reads_it():
    key, record = bank_addition("PDQ", PDQ.upper(), "ttp-video", "case 2026-7", at="2026-12-03T10:00:00+00:00")
    assert key == f"pdq:{PDQ}"
    assert record == {
        "op": "add",
        "hash_type": "pdq",
        "hash": PDQ,
        "label": "ttp-video",
        "source": "case 2026-7",
        "at": "2026-12-03T10:00:00+00:00",
    }
    assert PARSER.bank_change(orjson.dumps(record))["hash"] == PDQ


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        (("pdq", "abc", "l", "s"), "hash"),
        (("sha1", PDQ, "l", "s"), "hash_type"),
        (("pdq", PDQ, "", "s"), "label"),
        (("pdq", PDQ, "l", "line\nbreak"), "source"),
    ],
)
def test_a_bank_change_a_worker_would_refuse_is_refused_naming_the_field(arguments, field):
    with pytest.raises(ChangeRefused, match=f"^{field}:"):
        bank_addition(*arguments)


def test_a_bank_removal_has_the_additions_key():
    key, record = bank_removal("pdq", PDQ.upper(), label="ttp-video")
    assert key == bank_addition("pdq", PDQ, "ttp-video", "s")[0]
    assert record["op"] == "remove" and record["label"] == "ttp-video"
    assert PARSER.bank_change(orjson.dumps(record))["op"] == "remove"
    with pytest.raises(ChangeRefused, match="^hash_type:"):
        bank_removal("crc32", PDQ)


def test_a_watchlist_entry_is_keyed_by_account_id_or_else_by_handle():
    by_id, record = watchlist_addition(PLATFORMS, "x", "1234", "@voice", "recruiter", "case 118")
    assert by_id == "x:1234" and record["handle"] == "@voice"
    by_handle, _ = watchlist_addition(PLATFORMS, "*", None, "@voice", "recruiter", "case 118")
    assert by_handle == "*:@voice"
    assert PARSER.watchlist_change(orjson.dumps(record))["account_id"] == "1234"
    key, removal = watchlist_removal(PLATFORMS, "x", "1234", None)
    assert key == by_id and removal["op"] == "remove" and "handle" not in removal


@pytest.mark.parametrize(
    ("platform", "account_id", "handle", "field"),
    [("facebook", "1", None, "platform"), ("x", None, None, "account_id"), ("x", "1", None, None)],
)
def test_a_watchlist_change_a_worker_would_refuse_is_refused(platform, account_id, handle, field):
    if field is None:  # an addition without its reason
        with pytest.raises(ChangeRefused, match="reason"):
            watchlist_addition(PLATFORMS, platform, account_id, handle, "", "case")
        return
    with pytest.raises(ChangeRefused, match=f"{field}"):
        watchlist_addition(PLATFORMS, platform, account_id, handle, "why", "case")


def test_fold_keeps_the_latest_addition_per_key_and_ends_it_at_a_removal_or_tombstone():
    a = {"op": "add", "n": 1}
    records = [
        ("k1", a),
        ("k2", {"op": "add", "n": 2}),
        ("k1", {"op": "add", "n": 3}),  # a later addition replaces the earlier
        ("k2", {"op": "remove"}),
        ("k3", {"op": "add", "n": 4}),
        ("k3", None),  # a tombstone
        (None, {"op": "add", "n": 5}),  # no key: not an entry
        ("k2", {"op": "add", "n": 6}),  # added again after its removal
    ]
    assert fold(records) == {"k1": {"op": "add", "n": 3}, "k2": {"op": "add", "n": 6}}


def test_produce_refuses_what_is_not_an_input_topic_before_touching_the_broker(tmp_path):
    sample = tmp_path / "one.jsonl"
    sample.write_text("{}\n")
    runner = CliRunner()
    for topic, says in (
        ("watchlist", "use modwatch watchlist"),
        ("modwatch.hashbank", "use modwatch bank"),
        ("alerts", "modwatch writes it"),
        ("post", "not an input topic"),
    ):
        result = runner.invoke(cli, ["produce", str(sample), "--topic", topic, "--broker", "127.0.0.1:9"])
        assert result.exit_code == 2 and says in result.output, (topic, result.output)


def test_the_commands_refuse_a_bad_change_and_a_bad_import_before_touching_the_broker(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["bank", "add", "--hash-type", "pdq", "--hash", "abc", "--label", "l", "--source", "s", "--broker", "x:9"]
    )
    assert result.exit_code == 2 and "hash: 'abc' is not a valid pdq hash" in result.output
    result = runner.invoke(
        cli,
        ["watchlist", "add", "--platform", "nowhere", "--account-id", "1", "--reason", "r", "--source", "s"],
    )
    assert result.exit_code == 2 and "platform: 'nowhere' is not a configured platform" in result.output
    rows = tmp_path / "bank.csv"
    rows.write_text(f"hash_type,hash,label,source\npdq,{PDQ},l,s\npdq,nothex,l,s\n")
    result = runner.invoke(cli, ["bank", "import", str(rows), "--broker", "127.0.0.1:9"])
    # The file and the bad line (modwatch's main turns it into one line and exit 2); nothing sent.
    assert result.exception.problems == [f"{rows}:3: hash: 'nothex' is not a valid pdq hash (64 hex digits)"]


def test_a_lookup_answers_what_the_bank_holds_nearest_first_with_each_category():
    from detectors.hashbank import HashBank, make_entry
    from detectors.hashing import ImageHasher, UnreadableImage
    from detectors.media_hash import MediaHashDetector
    from tests.conftest import ROOT

    data = (ROOT / "tests" / "data" / "pdq" / "images" / "misc-images" / "c.png").read_bytes()
    hashes = ImageHasher().hash_bytes(data)
    original = hashes.pdq[0].hash
    near = f"{int(original, 16) ^ 0b111:064x}"  # 3 bits away
    far = f"{int(original, 16) ^ ((1 << 64) - 1):064x}"  # 64 bits away: beyond the radius
    bank = HashBank(
        [
            make_entry("pdq", near, "near-copy", "case 1"),
            make_entry("pdq", original, "original", "case 2"),
            make_entry("pdq", far, "far", "case 3"),
            make_entry("md5", hashes.md5, "the file", "case 4"),
        ]
    )
    detector = MediaHashDetector(bank)
    found = detector.lookup("pdq", original.upper())
    assert [(m["label"], m["distance"]) for m in found] == [("original", 0), ("near-copy", 3)]
    assert {m["category"] for m in found} == {"terrorism_promotion"}  # the default for unmapped labels
    assert [m["label"] for m in detector.lookup("md5", hashes.md5)] == ["the file"]
    assert [m["label"] for m in detector.lookup_image(data)] == ["the file", "original", "near-copy"]
    with pytest.raises(ValueError, match="^hash:"):
        detector.lookup("pdq", "abc")
    with pytest.raises(ValueError, match="^hash_type:"):
        detector.lookup("crc", original)
    with pytest.raises(UnreadableImage):
        detector.lookup_image(b"not an image")


@pytest.mark.parametrize(
    "command",
    [
        ["bank", "list"],
        ["watchlist", "list"],
        ["deadletter", "list"],
        ["lag"],
        ["tail", "ledger", "--timeout", "1"],
        ["report"],
        ["bank", "add", "--hash-type", "md5", "--hash", "0" * 32, "--label", "l", "--source", "s"],
    ],
)
def test_an_unreachable_broker_is_one_line_and_exit_2(command):
    import subprocess
    import sys

    from tests.conftest import ROOT

    said = subprocess.run(
        [sys.executable, "-m", "streams.cli", *command, "--broker", "127.0.0.1:9"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert said.returncode == 2
    assert "Traceback" not in said.stderr
    assert said.stderr.splitlines()[-1].strip().startswith("broker 127.0.0.1:9: not reachable")
