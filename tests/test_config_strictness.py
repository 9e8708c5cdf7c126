"""Operator configuration cannot be misread: unknown and repeated keys, bad environment
overrides and undecodable files are refused with their place; absent optional files are said."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from detectors.configfile import ConfigError, Problems, load_yaml
from detectors.hashbank import load_bank_dir
from detectors.pipeline import load_jurisdictions
from detectors.policy import Policy
from detectors.unlist import apply_overlay, read_entities
from detectors.watchlist import WatchlistDetector
from streams.settings import Settings
from takedowns.accounts import load_account_policy
from takedowns.campaigns import load_campaign_policy
from tests.conftest import ROOT

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
UN_SOURCE = ROOT / "detectors" / "datasets" / "un_sc"


@pytest.fixture
def config_dir(tmp_path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    return directory


def replace_line(path: Path, old: str, new: str) -> str:
    """Replace the one line ``old`` of ``path`` with ``new`` (one or more lines); return the new text."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines.count(old) == 1, f"{path.name} no longer has one {old!r} line"
    lines[lines.index(old)] = new
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    return text


def line_of(text: str, line: str) -> int:
    """1-based number of the one line of ``text`` equal to ``line``."""
    numbers = [number for number, candidate in enumerate(text.splitlines(), start=1) if candidate == line]
    assert len(numbers) == 1, f"{line!r} occurs {len(numbers)} times"
    return numbers[0]


def settings_problems(config_dir: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.load(config_dir, environ=environ or {})
    return caught.value.problems


# -- Unknown keys ------------------------------------------------------------------


def test_misspelt_modwatch_setting_is_refused_with_the_nearest_known_key(config_dir):
    path = config_dir / "modwatch.yaml"
    text = replace_line(path, "partitions: 4", "partitons: 4")

    assert settings_problems(config_dir) == [
        f"{path}:{line_of(text, 'partitons: 4')}: partitons: is not a modwatch.yaml setting; did you mean 'partitions'?"
    ]


def test_misspelt_jurisdiction_setting_is_refused_with_the_nearest_known_key(config_dir):
    path = config_dir / "jurisdictions.yaml"
    text = replace_line(path, "    category_deadline_hours:", "    category_deadline_hour:")
    problems = Problems()

    load_jurisdictions(path, problems)

    line = line_of(text, "    category_deadline_hour:")
    assert problems.messages == [
        f"{path}:{line}: jurisdictions.DE.category_deadline_hour: is not a jurisdiction setting; "
        "did you mean 'category_deadline_hours'?"
    ]


def test_key_no_jurisdiction_reads_is_refused_with_the_keys_it_does_read(config_dir):
    # platforms.yaml says which platform falls under which jurisdiction, not jurisdictions.yaml.
    path = config_dir / "jurisdictions.yaml"
    text = replace_line(path, "    deadline_hours: 3", "    deadline_hours: 3\n    platforms: [x, telegram]")
    problems = Problems()

    load_jurisdictions(path, problems)

    assert problems.messages == [
        f"{path}:{line_of(text, '    platforms: [x, telegram]')}: jurisdictions.IN.platforms: is not a jurisdiction "
        "setting (categories, category_deadline_hours, citation, deadline_hours, emergency, legal_basis, name)"
    ]


def test_misspelt_accounts_setting_suggests_the_nearest_known_key(config_dir):
    path = config_dir / "policy.yaml"
    text = replace_line(path, "  window_days: 30", "  window_day: 30")
    problems = Problems()

    load_account_policy(path, problems)

    assert problems.messages == [
        f"{path}:{line_of(text, '  window_day: 30')}: accounts.window_day: is not an accounts setting; "
        "did you mean 'window_days'?"
    ]


def test_comma_in_an_unquoted_flow_value_is_refused_not_read_as_a_key(tmp_path):
    # "reason: a, b" in {...} is the key "b" with no value: the reason would be cut at the comma.
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        (UN_SOURCE / "overlay.yaml").read_text(encoding="utf-8")
        + "  - {reference: QDe.004, alias: Abu Sayyaf, reason: an example, cut at the comma}\n",
        encoding="utf-8",
    )
    problems = Problems()

    apply_overlay(read_entities(UN_SOURCE / "consolidated_list_2024-09-26.xml.gz"), overlay, problems)

    line = len(overlay.read_text(encoding="utf-8").splitlines())
    assert [message for message in problems.messages if "cut at the comma" in message] == [
        f"{overlay}:{line}: exclude[{_exclusions(overlay) - 1}].cut at the comma: is not an exclusion setting "
        "(alias, reason, reference)"
    ]


def _exclusions(overlay: Path) -> int:
    problems = Problems()
    return len(load_yaml(overlay, problems).sequence(("exclude",)))


# -- Repeated keys -----------------------------------------------------------------


def test_key_appearing_twice_is_refused_with_both_lines(config_dir):
    path = config_dir / "modwatch.yaml"
    text = replace_line(path, "log_format: json", "log_format: json\npartitions: 8")

    assert settings_problems(config_dir) == [
        f"{path}:{line_of(text, 'partitions: 8')}: partitions: appears twice (first at line {line_of(text, 'partitions: 4')})"
    ]


def test_nested_key_repeated_in_a_file_several_loaders_read_is_reported_once(config_dir):
    path = config_dir / "policy.yaml"
    text = replace_line(path, "  min_words: 5", "  min_words: 5\n  min_words: 8")
    problems = Problems()

    Policy.from_config(path, problems)
    load_account_policy(path, problems)
    policy = load_campaign_policy(path, problems)

    assert policy.min_words == 8  # the last one, as YAML reads it; refused all the same
    assert problems.messages == [
        f"{path}:{line_of(text, '  min_words: 8')}: campaigns.min_words: appears twice "
        f"(first at line {line_of(text, '  min_words: 5')})"
    ]


# -- Environment overrides ---------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODWATCH_PARTITIONS", "0", "must be at least 1, not 0"),
        ("MODWATCH_WEB_PORT", "-1", "must be at least 1, not -1"),
        ("MODWATCH_WEB_PORT", "70000", "must be at most 65535, not 70000"),
        ("MODWATCH_SCAN_BATCH_SECONDS", "-3", "must be at least 0, not -3"),
        ("MODWATCH_SESSION_TIMEOUT_SECONDS", "0", "must be more than 0, not 0"),
        ("MODWATCH_STORE", "bogus://", "'bogus://' is not one of memory://, rocksdb://"),
        ("MODWATCH_LOG_LEVEL", "loud", "'loud' is not one of debug, info, warning, error"),
    ],
)
def test_invalid_environment_override_is_refused_naming_the_variable(config_dir, variable, value, message):
    assert settings_problems(config_dir, {variable: value}) == [f"environment {variable}: {message}"]


def test_environment_override_is_held_to_the_rule_of_the_key_it_replaces(config_dir):
    path = config_dir / "modwatch.yaml"
    text = replace_line(path, "session_timeout_seconds: 30", "session_timeout_seconds: 0")

    assert settings_problems(config_dir) == [
        f"{path}:{line_of(text, 'session_timeout_seconds: 0')}: session_timeout_seconds: must be more than 0, not 0"
    ]
    replace_line(path, "session_timeout_seconds: 0", "session_timeout_seconds: 30")
    assert settings_problems(config_dir, {"MODWATCH_SESSION_TIMEOUT_SECONDS": "0"}) == [
        "environment MODWATCH_SESSION_TIMEOUT_SECONDS: must be more than 0, not 0"
    ]


def test_every_invalid_override_is_reported_at_once(config_dir):
    environ = {"MODWATCH_PARTITIONS": "0", "MODWATCH_STORE": "bogus://", "MODWATCH_TICK_SECONDS": "soon"}

    assert settings_problems(config_dir, environ) == [
        "environment MODWATCH_PARTITIONS: must be at least 1, not 0",
        "environment MODWATCH_STORE: 'bogus://' is not one of memory://, rocksdb://",
        "environment MODWATCH_TICK_SECONDS: must be a number, not 'soon'",
    ]


def test_store_in_modwatch_yaml_must_be_memory_or_rocksdb(config_dir):
    path = config_dir / "modwatch.yaml"
    text = replace_line(path, "store: rocksdb://", "store: bogus://")

    assert settings_problems(config_dir) == [
        f"{path}:{line_of(text, 'store: bogus://')}: store: 'bogus://' is not one of memory://, rocksdb://"
    ]


def test_bad_log_level_reports_file_and_line(config_dir):
    path = config_dir / "modwatch.yaml"
    text = replace_line(path, "log_level: info", "log_level: loud")

    assert settings_problems(config_dir) == [
        f"{path}:{line_of(text, 'log_level: loud')}: log_level: 'loud' is not one of debug, info, warning, error"
    ]


# -- Optional files ----------------------------------------------------------------


def test_missing_watchlists_file_is_said_once(config_dir, caplog):
    (config_dir / "watchlists.yaml").unlink()
    problems = Problems()

    with caplog.at_level(logging.INFO, logger="modwatch.config"):
        detector = WatchlistDetector.from_config(config_dir, problems, frozenset({"x"}))

    assert detector.entries == () and problems.messages == []
    assert [(record.name, record.getMessage()) for record in caplog.records] == [
        ("modwatch.config", f"{config_dir / 'watchlists.yaml'}: not found; no watchlists loaded")
    ]


# -- Files that are not UTF-8 ------------------------------------------------------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "with-bom"])
def test_hashbank_csv_with_invalid_utf8_reports_the_line_of_the_bad_bytes(tmp_path, bom):
    folder = tmp_path / "hashbank"
    folder.mkdir()
    path = folder / "latin1.csv"
    path.write_bytes(
        bom
        + b"hash_type,hash,label,source\n"
        + f"pdq,{PDQ},group-a,list\n".encode()
        + f"pdq,{PDQ},caf\xe9 list,list\n".encode("latin-1")
    )
    problems = Problems()

    assert load_bank_dir(folder, problems) == []
    column = len(f"pdq,{PDQ},caf") + 1
    assert problems.messages == [
        f"{path}:3: cannot be read: byte 0xe9 at column {column} is not UTF-8 (invalid continuation byte); "
        "save the file as UTF-8"
    ]


def test_yaml_file_with_invalid_utf8_reports_the_line_of_the_bad_bytes(config_dir):
    path = config_dir / "watchlists.yaml"
    path.write_bytes(path.read_bytes().replace(b"source: modwatch sample data", b"source: caf\xe9", 1))
    text = path.read_bytes().decode("latin-1")

    problems = Problems()
    load_yaml(path, problems)

    assert problems.messages == [
        f"{path}:{line_of(text, '    source: caf' + chr(0xE9))}: cannot be read: byte 0xe9 at column 16 is not UTF-8 "
        "(invalid continuation byte); save the file as UTF-8"
    ]
