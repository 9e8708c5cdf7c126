"""Coordinated campaigns: the same content from several accounts, on one or several platforms.

Each flagged post gets one **fingerprint**, the key its sightings are grouped
under (``streams/agents/scan.py`` sends them to the ``campaign-events`` topic keyed
by it, so one partition owns each campaign and its state survives restarts):

``media:<hash_type>:<hash>``
    the hash-bank entry its image matched (the nearest, as the media finding
    reports it). Edited copies of one banned image match the same entry, so
    they group however many bits the edit changed, within the match radius.
``text:<sha256 prefix>``
    otherwise, the post's text after :func:`detectors.text.normalise` (which
    undoes case, look-alike letters, zero-width characters, leetspeak and
    spaced-out letters) keeping letters only, after dropping links, @mentions
    and #hashtags. Obfuscated copies of one text
    group; a text that differs by a word does not (a documented limit: this is
    not MinHash). Texts under ``min_words`` words are not fingerprinted, so
    short common phrases never make a campaign.

A campaign alert is raised once per fingerprint when, within ``window``, its
sightings reach ``min_accounts`` accounts, ``min_platforms`` platforms and
``min_items`` items. Pure functions: no Faust, no Kafka.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from detectors.configfile import VALUE, Problems, load_yaml
from detectors.text import normalise

_NOT_LETTERS = re.compile(r"[^\w]+|[\d_]+")
# Links, mentions and hashtags change from copy to copy (tracking parameters, a
# tagged friend, a trending tag) while the message stays the same.
_DECORATION = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CampaignPolicy:
    min_accounts: int = 3
    min_platforms: int = 2
    min_items: int = 3
    window: timedelta = timedelta(hours=24)
    min_words: int = 5
    severity: str = "high"


CAMPAIGNS_SCHEMA = dict.fromkeys(
    ("min_accounts", "min_platforms", "min_items", "window_hours", "min_words", "severity"), VALUE
)


def load_campaign_policy(path: Path, problems: Problems) -> CampaignPolicy:
    """The ``campaigns`` section of policy.yaml (defaults when absent)."""
    document = load_yaml(path, problems)
    where = ("campaigns",)
    document.mapping(where)
    document.check_keys(CAMPAIGNS_SCHEMA, where)
    defaults = CampaignPolicy()

    def count(name: str, default: int) -> int:
        return int(document.number(where + (name,), default=default, minimum=1))

    return CampaignPolicy(
        min_accounts=count("min_accounts", defaults.min_accounts),
        min_platforms=count("min_platforms", defaults.min_platforms),
        min_items=count("min_items", defaults.min_items),
        window=timedelta(hours=document.number(where + ("window_hours",), default=24, minimum=0.001)),
        min_words=count("min_words", defaults.min_words),
        severity=document.choice(
            where + ("severity",), {"low", "medium", "high", "critical"}, default=defaults.severity
        ),
    )


def text_key(text: str, min_words: int) -> str | None:
    words = _NOT_LETTERS.sub(" ", normalise(_DECORATION.sub(" ", text)).text).split()
    if len(words) < min_words:
        return None
    return "text:" + hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()[:32]


def fingerprint(flagged: dict, text: str, policy: CampaignPolicy) -> str | None:
    """The campaign key of a flagged post (see the module docstring), or None."""
    # Only matches that gave the post an actioned category: a bank may also hold the same
    # photo under a recorded-only label, and the nearest entry must not flip between copies.
    actioned = set(flagged.get("categories") or ())
    matches = [
        finding
        for finding in flagged["findings"]
        if finding["detector"] == "media_hash" and finding.get("category") in actioned
    ]
    if matches:
        best = max(matches, key=lambda finding: (finding["score"], finding["category"]))
        return f"media:{best['evidence']['hash_type']}:{best['evidence']['hash']}"
    return text_key(text, policy.min_words)


def sighting(flagged: dict, key: str, request_id: str, seen_at: datetime) -> dict:
    return {
        "fingerprint": key,
        "item": f"{flagged['platform']}:{flagged['post_id']}",
        "platform": flagged["platform"],
        "account_id": flagged["account_id"],
        "request_id": request_id,
        "action": flagged["action"],
        "at": seen_at.isoformat(),
    }


def on_sighting(state: dict | None, seen: dict, policy: CampaignPolicy) -> tuple[dict | None, dict | None]:
    """(new state or None when nothing changed, a campaign alert or None)."""
    state = state or {"fingerprint": seen["fingerprint"], "sightings": [], "alerted_at": None, "removals": {}}
    if any(known["item"] == seen["item"] for known in state["sightings"]):
        return None, None  # a replay or a re-scan of the same item
    at = datetime.fromisoformat(seen["at"])
    sightings = [known for known in state["sightings"] if at - datetime.fromisoformat(known["at"]) <= policy.window]
    if state["alerted_at"] is not None:
        sightings = list(state["sightings"])  # an alerted campaign keeps its whole history
    sightings.append(seen)
    state = dict(state, sightings=sightings)
    accounts = {(known["platform"], known["account_id"]) for known in sightings}
    platforms = {known["platform"] for known in sightings}
    if (
        state["alerted_at"] is not None
        or len(accounts) < policy.min_accounts
        or len(platforms) < policy.min_platforms
        or len(sightings) < policy.min_items
    ):
        return state, None
    state["alerted_at"] = seen["at"]
    return state, campaign_alert(state, policy)


def on_removal(state: dict | None, removal: dict) -> dict | None:
    """A campaign item was removed: keep each platform's first removal (who acts first)."""
    if state is None or not any(known["item"] == removal["item"] for known in state["sightings"]):
        return None
    removals = dict(state.get("removals", {}))
    first = removals.get(removal["platform"])
    if first is not None and first <= removal["removed_at"]:
        return None
    removals[removal["platform"]] = removal["removed_at"]
    return dict(state, removals=removals)


ALERTED_KEPT = timedelta(days=30)


def expired(state: dict, now: datetime, policy: CampaignPolicy) -> bool:
    """Whether a campaign can be forgotten: below the thresholds and its window passed,
    or alerted and silent for ``ALERTED_KEPT`` (the alert and the ledger keep the record)."""
    latest = max(datetime.fromisoformat(known["at"]) for known in state["sightings"])
    return now - latest > (ALERTED_KEPT if state["alerted_at"] is not None else policy.window)


def campaign_alert(state: dict, policy: CampaignPolicy) -> dict:
    sightings = state["sightings"]
    return {
        "alert_id": f"campaign:{state['fingerprint']}",
        "type": "campaign",
        "severity": policy.severity,
        "fingerprint": state["fingerprint"],
        "accounts": sorted({f"{known['platform']}:{known['account_id']}" for known in sightings}),
        "platforms": sorted({known["platform"] for known in sightings}),
        "items": [known["item"] for known in sightings],
        "request_ids": [known["request_id"] for known in sightings],
        "first_seen": min(known["at"] for known in sightings),
        "latest_seen": max(known["at"] for known in sightings),
        "thresholds": {
            "min_accounts": policy.min_accounts,
            "min_platforms": policy.min_platforms,
            "min_items": policy.min_items,
            "window_hours": policy.window.total_seconds() / 3600,
        },
        "raised_at": state["alerted_at"],
    }


def summary(state: dict) -> dict:
    """A campaign as GET /campaigns shows it: who posted, and when each platform removed its copies."""
    sightings = state["sightings"]
    first_seen = min(known["at"] for known in sightings)
    removals = state.get("removals", {})
    return {
        "fingerprint": state["fingerprint"],
        "alerted": state["alerted_at"] is not None,
        "items": len(sightings),
        "accounts": sorted({f"{known['platform']}:{known['account_id']}" for known in sightings}),
        "platforms": sorted({known["platform"] for known in sightings}),
        "first_seen": first_seen,
        "latest_seen": max(known["at"] for known in sightings),
        "first_removal_by_platform": {
            platform: {
                "removed_at": at,
                "seconds_after_first_seen": (
                    datetime.fromisoformat(at) - datetime.fromisoformat(first_seen)
                ).total_seconds(),
            }
            for platform, at in sorted(removals.items())
        },
    }
