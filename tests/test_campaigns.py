"""Coordinated campaigns (takedowns/campaigns.py): grouping keys and thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detectors.configfile import ConfigError, Problems
from takedowns import campaigns

POLICY = campaigns.CampaignPolicy(min_accounts=5, min_platforms=3, min_items=5, window=timedelta(hours=24), min_words=5)
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
TEXT = "Join the Tehrik-e-Taliban today, brothers. Long live TTP!"
OBFUSCATED = [
    "JOIN the Tehrik-e-Taliban today brothers... long live TTP",
    "Jo\u200bin the T3hrik-e-Tal1ban today, brothers! Long live T.T.P!",
    "join  the  tehrik e taliban  today brothers long live ttp 🔥",
    "Join the Tehrik-e-Тaliban today, brothers. Long live TTP!",  # a Cyrillic Т
]


def flagged(platform: str, post_id: str, account_id: str, findings=()) -> dict:
    return {
        "platform": platform,
        "post_id": post_id,
        "account_id": account_id,
        "action": "takedown",
        "findings": list(findings) or [{"detector": "designated_organisation", "score": 0.9, "evidence": {}}],
    }


def test_obfuscated_copies_of_a_text_share_one_key_and_a_different_text_does_not():
    key = campaigns.text_key(TEXT, 5)
    assert key and all(campaigns.text_key(copy, 5) == key for copy in OBFUSCATED)
    assert campaigns.text_key("Join the Tehrik-e-Taliban tomorrow, brothers. Long live TTP!", 5) != key
    assert campaigns.text_key("Long live TTP!", 5) is None  # too short to group


def test_a_bank_match_groups_by_the_entry_matched():
    match = {
        "detector": "media_hash",
        "category": "terrorism_promotion",
        "score": 0.95,
        "evidence": {"hash_type": "pdq", "hash": "ab" * 32},
    }
    recorded_only = dict(match, category="media_hash_test", score=1.0, evidence={"hash_type": "pdq", "hash": "cd" * 32})
    with_media = dict(flagged("x", "1", "a", [recorded_only, match]), categories=["terrorism_promotion"])
    assert campaigns.fingerprint(with_media, TEXT, POLICY) == "media:pdq:" + "ab" * 32
    assert campaigns.fingerprint(flagged("x", "1", "a"), TEXT, POLICY) == campaigns.text_key(TEXT, 5)


def sightings(posts, start=T0):
    return [
        campaigns.sighting(flagged(platform, post_id, account), "text:k", f"tr-{post_id}", start + timedelta(minutes=n))
        for n, (platform, post_id, account) in enumerate(posts)
    ]


FIVE_ON_THREE = [("x", "1", "a"), ("tiktok", "2", "b"), ("x", "3", "c"), ("telegram", "4", "d"), ("tiktok", "5", "e")]


def test_five_accounts_on_three_platforms_make_one_campaign_alert_listing_all():
    state, alerts = None, []
    for seen in sightings(FIVE_ON_THREE + [("x", "6", "f")]):
        changed, alert = campaigns.on_sighting(state, seen, POLICY)
        state = changed or state
        alerts.append(alert)
    assert [alert is not None for alert in alerts] == [False, False, False, False, True, False]
    alert = alerts[4]
    assert alert["accounts"] == ["telegram:d", "tiktok:b", "tiktok:e", "x:a", "x:c"]
    assert alert["platforms"] == ["telegram", "tiktok", "x"] and alert["request_ids"][0] == "tr-1"
    assert len(state["sightings"]) == 6  # later copies join the campaign, no second alert


def test_one_account_reposting_or_a_replay_is_not_a_campaign():
    state = None
    for seen in sightings([("x", str(n), "a") for n in range(6)]) + sightings([("x", "0", "a")]):
        changed, alert = campaigns.on_sighting(state, seen, POLICY)
        state = changed or state
        assert alert is None
    assert len(state["sightings"]) == 6


def test_sightings_older_than_the_window_drop_out_before_the_alert():
    state = None
    for seen in sightings(FIVE_ON_THREE[:4]) + sightings(FIVE_ON_THREE[4:], start=T0 + timedelta(hours=30)):
        changed, alert = campaigns.on_sighting(state, seen, POLICY)
        state = changed or state
        assert alert is None
    assert [known["item"] for known in state["sightings"]] == ["tiktok:5"]


def test_each_platforms_first_removal_is_kept():
    state = None
    for seen in sightings(FIVE_ON_THREE):
        state = campaigns.on_sighting(state, seen, POLICY)[0] or state
    state = campaigns.on_removal(state, {"item": "x:3", "platform": "x", "removed_at": "2026-11-29T09:00:00+00:00"})
    state = campaigns.on_removal(state, {"item": "x:1", "platform": "x", "removed_at": "2026-11-29T08:30:00+00:00"})
    assert (
        campaigns.on_removal(state, {"item": "x:3", "platform": "x", "removed_at": "2026-11-29T10:00:00+00:00"}) is None
    )
    summary = campaigns.summary(state)
    assert summary["first_removal_by_platform"] == {
        "x": {"removed_at": "2026-11-29T08:30:00+00:00", "seconds_after_first_seen": 1800.0}
    }


def test_the_campaigns_policy_is_read_and_every_fault_named(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("campaigns:\n  min_accounts: 4\n  window_hours: 6\n")
    problems = Problems()
    policy = campaigns.load_campaign_policy(path, problems)
    problems.raise_if_any()
    assert (policy.min_accounts, policy.window, policy.min_platforms) == (4, timedelta(hours=6), 2)
    path.write_text("campaigns:\n  min_acounts: 4\n")
    problems = Problems()
    campaigns.load_campaign_policy(path, problems)
    with pytest.raises(ConfigError, match=r"policy.yaml:2: campaigns.min_acounts: is not a campaigns setting"):
        problems.raise_if_any()


def test_campaigns_below_the_thresholds_expire_after_the_window_and_alerted_ones_after_30_days():
    state = None
    for seen in sightings(FIVE_ON_THREE[:2]):
        state = campaigns.on_sighting(state, seen, POLICY)[0] or state
    assert not campaigns.expired(state, T0 + timedelta(hours=23), POLICY)
    assert campaigns.expired(state, T0 + timedelta(hours=25), POLICY)
    for seen in sightings(FIVE_ON_THREE[2:], start=T0 + timedelta(minutes=2)):
        state = campaigns.on_sighting(state, seen, POLICY)[0] or state
    assert state["alerted_at"] and not campaigns.expired(state, T0 + timedelta(days=29), POLICY)
    assert campaigns.expired(state, T0 + timedelta(days=31), POLICY)
