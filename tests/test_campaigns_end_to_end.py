"""Campaigns on the real broker: the same image and the same text from five accounts on three platforms."""

from __future__ import annotations

import shutil
import urllib.request

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce
from tests.test_campaigns import OBFUSCATED, TEXT
from tests.test_media_end_to_end import IMAGES, image_post, jpeg, pdq_of

pytestmark = pytest.mark.kafka

# The thresholds this test uses (config/policy.yaml ships 3 accounts, 2 platforms, 3 items).
POLICY = "campaigns:\n  min_accounts: 5\n  min_platforms: 3\n  min_items: 5\n  window_hours: 24\n  min_words: 5\n"
ACCOUNTS = [("x", "a1"), ("tiktok", "a2"), ("telegram", "a3"), ("x", "a4"), ("tiktok", "a5")]
UNRELATED = [  # violating, sharing words with TEXT, but not the same text
    "Join the Tehrik-e-Taliban in Swat today. Long live TTP!",
    "Long live TTP! Join the fight today, brothers, in Waziristan",
    "Brothers, join the Tehrik-e-Taliban now. Victory to TTP",
    "Join the Tehrik-e-Taliban today, sisters and brothers. Long live TTP and its martyrs!",
    "Today join the Tehrik-e-Taliban. Long live TTP forever brothers",
]


@pytest.fixture
def campaign_env(worker_env, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    policy = config / "policy.yaml"
    policy.write_text(policy.read_text().split("\ncampaigns:")[0] + "\n" + POLICY)
    bridge = jpeg(IMAGES / "reg-test-input" / "dih" / "bridge-1-original.jpg")
    (config / "hashbank" / "test-propaganda.csv").write_text(
        f"hash_type,hash,label,source\npdq,{pdq_of(bridge)},test-propaganda,test bank\n"
    )
    return dict(worker_env, MODWATCH_CONFIG_DIR=str(config))


def traffic() -> list[tuple[bytes, bytes]]:
    texts = [TEXT] + OBFUSCATED
    posts = [post(platform, f"t{n}", texts[n], account_id=account) for n, (platform, account) in enumerate(ACCOUNTS)]
    # The banked photo, edited differently by each account: resized, rotated, recompressed.
    edits = [dict(side=512), dict(side=400), dict(side=512, rotate=90), dict(side=300), dict(side=460, rotate=180)]
    posts += [
        image_post(
            platform,
            f"i{n}",
            jpeg(IMAGES / "reg-test-input" / "dih" / "bridge-1-original.jpg", **edits[n]),
            text="look at this",
            account_id=account,
        )
        for n, (platform, account) in enumerate(ACCOUNTS)
    ]
    posts += [
        post(platform, f"u{n}", UNRELATED[n], account_id=f"u-{account}")
        for n, (platform, account) in enumerate(ACCOUNTS)
    ]
    return posts


def campaign_alerts(bootstrap: str, prefix: str) -> list[dict]:
    alerts = consume(bootstrap, f"{prefix}.alerts", expect=17, timeout=60, settle=3.0)
    return [alert for _, alert in alerts if alert["type"] == "campaign"]


def test_one_campaign_per_shared_content_none_for_lookalike_texts_and_none_again_after_kill_9(
    campaign_env, start_worker, kafka_bootstrap
):
    prefix = campaign_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker(campaign_env)
    produce(kafka_bootstrap, f"{prefix}.posts", traffic())
    alerts = campaign_alerts(kafka_bootstrap, prefix)
    by_kind = {alert["fingerprint"].split(":")[0]: alert for alert in alerts}
    assert len(alerts) == 2 and set(by_kind) == {"text", "media"}
    for kind, prefix_letter in (("text", "t"), ("media", "i")):
        alert = by_kind[kind]
        assert alert["accounts"] == sorted(f"{platform}:{account}" for platform, account in ACCOUNTS)
        assert alert["platforms"] == ["telegram", "tiktok", "x"]
        assert sorted(alert["items"]) == sorted(
            f"{platform}:{prefix_letter}{n}" for n, (platform, _) in enumerate(ACCOUNTS)
        )

    port = campaign_env["MODWATCH_WEB_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/campaigns", timeout=10) as answer:
        listed = orjson.loads(answer.read())["campaigns"]
    assert sorted(campaign["fingerprint"] for campaign in listed) == sorted(alert["fingerprint"] for alert in alerts)

    worker.kill()  # kill -9, then the same traffic again: no second alert
    start_worker(campaign_env)
    produce(kafka_bootstrap, f"{prefix}.posts", traffic())
    assert len(campaign_alerts(kafka_bootstrap, prefix)) == 2
