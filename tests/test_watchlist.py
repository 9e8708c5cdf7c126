"""Account watchlists: a listed author is a finding of its own, never a takedown on its own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from detectors.base import Finding
from detectors.configfile import ConfigError, Problems
from detectors.events import Post
from detectors.pipeline import Pipeline
from detectors.policy import CategoryPolicy, Policy, WatchlistPolicy
from detectors.text import handle_key
from detectors.watchlist import WatchlistDetector, WatchlistEntry, load_watchlist
from tests.conftest import ROOT

ENTRIES = (
    WatchlistEntry("x", "acct-99", None, "threats", "test", date(2026, 11, 1)),
    WatchlistEntry("*", None, "@Khorasan_Voice", "propaganda channel", "test", None),
)


def post(account_id="someone", handle=None, platform="x", text="hello") -> Post:
    return Post(platform, "1", account_id, datetime(2026, 11, 29, tzinfo=UTC), text=text, account_handle=handle)


def test_watchlisted_account_id_is_a_finding_with_its_reason():
    [findings] = WatchlistDetector(ENTRIES).detect([post(account_id="acct-99")])
    assert [(finding.category, finding.score) for finding in findings] == [("watchlisted_account", 1.0)]
    assert findings[0].evidence["matched_on"] == "account_id"
    assert findings[0].evidence["reason"] == "threats"


def test_account_id_on_another_platform_is_not_the_same_account():
    assert WatchlistDetector(ENTRIES).detect([post(account_id="acct-99", platform="tiktok")]) == [[]]


@pytest.mark.parametrize("handle", ["@khorasan_voice", "KHORASAN_VOICE", "@Khоrasan_Vоice", "@khorasan_\u200bvoice"])
def test_watchlist_match_ignores_handle_case_at_sign_homoglyphs_and_zero_width(handle):
    # The third spelling uses Cyrillic о; the fourth hides a zero-width space.
    [findings] = WatchlistDetector(ENTRIES).detect([post(handle=handle, platform="telegram")])
    assert findings and findings[0].evidence["matched_on"] == "handle"


def test_handles_differing_in_punctuation_are_different_accounts():
    assert handle_key("@john_doe") != handle_key("john.doe")
    assert WatchlistDetector(ENTRIES).detect([post(handle="@khorasan.voice")]) == [[]]


def policy() -> Policy:
    return Policy(
        [
            CategoryPolicy("terrorism_promotion", "high", review_at=0.5, takedown_at=0.95),
            CategoryPolicy("watchlisted_account", "medium", review_at=None, takedown_at=None),
        ],
        WatchlistPolicy(escalate_to_takedown=frozenset({"terrorism_promotion"}), raise_severity_by=1),
    )


def watch_finding() -> Finding:
    return Finding("watchlist", "watchlisted_account", 1.0)


def test_watchlist_hit_alone_never_asks_for_anything():
    decision = policy().decide(post(account_id="acct-99"), [watch_finding()])
    assert (decision.action, decision.severity) == ("none", "none")


def test_watchlisted_author_turns_review_into_takedown_and_raises_severity():
    content = Finding("designated_organisation", "terrorism_promotion", 0.6)
    assert policy().decide(post(), [content]).action == "review"
    decision = policy().decide(post(account_id="acct-99"), [content, watch_finding()])
    assert (decision.action, decision.severity) == ("takedown", "critical")


def test_shipped_watchlist_and_policy_load_and_act_together():
    pipeline = Pipeline.from_config_dir(ROOT / "config")
    [decision] = pipeline.scan([post(account_id="acct-99", text="Lovely weather in Lahore")])
    assert "watchlist" in [finding.detector for finding in decision.findings]
    assert decision.action == "none"


def test_watchlist_entry_without_id_or_handle_is_reported_with_its_line(tmp_path):
    path = tmp_path / "watchlists.yaml"
    path.write_text(
        "accounts:\n  - platform: x\n    reason: r\n    source: s\n  - platform: myspace\n    account_id: a\n    reason: r\n    source: s\n"
    )
    problems = Problems()
    load_watchlist(path, problems, frozenset({"x"}))
    assert problems.messages == [
        f"{path}:2: accounts[0]: needs an account_id or a handle",
        f"{path}:5: accounts[1].platform: 'myspace' is not a configured platform (or '*')",
    ]
    with pytest.raises(ConfigError):
        problems.raise_if_any()


# --- runtime changes (the watchlist topic) -------------------------------------------------


def test_entries_added_and_removed_at_runtime_match_and_stop_matching():
    detector = WatchlistDetector(ENTRIES)
    assert detector.detect([post(account_id="acct-7")]) == [[]]
    detector.add(WatchlistEntry("x", "acct-7", "@seven", "recruiter", "topic", None))
    [by_id] = detector.detect([post(account_id="acct-7")])
    [by_handle] = detector.detect([post(account_id="other", handle="@SEVEN")])
    assert by_id[0].evidence["reason"] == by_handle[0].evidence["reason"] == "recruiter"
    assert detector.remove("x", "acct-7", None)  # by id: the handle goes with the entry
    assert detector.detect([post(account_id="acct-7"), post(account_id="other", handle="@seven")]) == [[], []]
    assert not detector.remove("x", "acct-7", None)
    assert detector.remove("*", None, "@khorasan_voice")  # a file entry can be removed too
    assert detector.entries == (ENTRIES[0],)


def test_adding_an_account_again_replaces_its_entry():
    detector = WatchlistDetector(ENTRIES)
    detector.add(WatchlistEntry("x", "acct-99", None, "now a recruiter", "topic", None))
    [findings] = detector.detect([post(account_id="acct-99")])
    assert [finding.evidence["reason"] for finding in findings] == ["now a recruiter"]
    assert len(detector.entries) == 2
