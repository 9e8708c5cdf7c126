"""A synthetic ledger for benchmarks and tests of ``modwatch report``: realistic records, any length.

Every record is what the worker writes: each request goes through the real
lifecycle (takedowns/lifecycle.py ``on_flagged``, ``on_decision``,
``on_delivery``, ``on_status``, ``on_tick``) and each transition becomes its
``ledger_record``, evidence and all. Six platforms under four jurisdictions
(so four deadlines: EU 1 h, IN 3 h, DE 24 h, PK 48 h), removal times drawn per
platform from minutes to weeks, a share of each platform's requests never
removed (rejected, expired after 30 days or still open), reviews, retried
deliveries (``delivery_attempt`` records), reappeared content (a second
request for the same item) and a few account-level requests. Five designated
organisations are named, as the designated_organisation detector names them
(``organisations`` and ``legal_bases``), in about half the requests.

Deterministic from a seed; requests are made over the 45 days before ``now``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from detectors.pipeline import Platform
from takedowns import lifecycle
from takedowns.requests import Requests


@dataclass(frozen=True, slots=True)
class Behaviour:
    jurisdiction: str
    median_hours: float  # of a lognormal time to removal
    spread: float  # its sigma
    never_removed: float  # share the platform never removes (it rejects some, leaves the rest open)


PLATFORMS = {
    "facebook": Behaviour("EU", 0.08, 1.0, 0.03),
    "instagram": Behaviour("EU", 0.4, 1.1, 0.06),
    "tiktok": Behaviour("DE", 1.5, 1.2, 0.08),
    "youtube": Behaviour("IN", 2.5, 1.3, 0.15),
    "x": Behaviour("PK", 9.0, 1.5, 0.25),
    "telegram": Behaviour("PK", 40.0, 1.6, 0.45),
}
# (id, name) as in config/designations.yaml; weights: how often each is named.
ORGANISATIONS = (
    (("QDe.132", "TEHRIK-E TALIBAN PAKISTAN"), 5),
    (("QDe.161", "ISLAMIC STATE IN IRAQ AND THE LEVANT - KHORASAN"), 4),
    (("QDe.118", "LASHKAR-E-TAYYIBA"), 3),
    (("QDe.019", "JAISH-I-MOHAMMED"), 2),
    (("QDe.004", "AL-QAIDA"), 1),
)
NAMING_SHARE = 0.5  # requests whose evidence names an organisation
REVIEW_SHARE = 0.15  # requests a reviewer approves (or dismisses) first
RETRY_SHARE = 0.1  # deliveries that needed a second attempt
REAPPEARED_SHARE = 0.03  # removed content seen available again: a new request
ACCOUNT_SHARE = 0.02  # account-level requests
SETTINGS = lifecycle.LifecycleSettings(expire_after=timedelta(days=30), redeliver_after=timedelta(days=365))
PERIOD = timedelta(days=45)  # longer than expire_after: the oldest requests have expired


def write_ledger(path: Path, lines: int, now: datetime, seed: int = 16) -> dict:
    """Write about ``lines`` ledger lines (whole items, so a few more) to ``path``; what was written."""
    rng = random.Random(seed)
    requests = _requests()
    written = items = 0
    with path.open("wb") as out:
        while written < lines:
            records = _one_item(rng, requests, items, now)
            out.write(b"".join(orjson.dumps(record) + b"\n" for record in records))
            written += len(records)
            items += 1
    return {"lines": written, "items": items, "bytes": path.stat().st_size}


def _requests() -> Requests:
    """The shipped jurisdictions, with the platforms spread over four of them."""
    shipped = Requests.from_config_dir(Path(__file__).resolve().parent.parent / "config")
    platforms = {name: Platform(name, name.title(), behaviour.jurisdiction) for name, behaviour in PLATFORMS.items()}
    return Requests(platforms, shipped.jurisdictions)


def _one_item(rng: random.Random, requests: Requests, number: int, now: datetime) -> list[dict]:
    """Every ledger record of one item (a post or an account): its request from detection to its
    last state before ``now``, and its second request if the content reappeared."""
    platform = rng.choice(list(PLATFORMS))
    flagged = _flagged(rng, platform, number)
    flagged_at = now - PERIOD * rng.random()
    records: list[dict] = []
    state = _apply(records, None, _flagged_outcome(rng, requests, flagged, flagged_at))
    if state is None or state["request"]["state"] != "requested":
        return records
    state = _delivered(rng, records, requests, state, flagged_at + timedelta(seconds=rng.uniform(1, 30)))
    state = _platform_acts(rng, records, state, PLATFORMS[platform], now)
    if state["request"]["state"] == "removed" and rng.random() < REAPPEARED_SHARE:
        seen = datetime.fromisoformat(state["request"]["removed_at"]) + timedelta(days=rng.uniform(0.5, 5))
        if seen < now:
            status = _status(state, "available", seen)
            reopened = lifecycle.on_status(state, status, lambda old: requests.reopen(old, seen), seen)
            state = _apply(records, state, reopened)
            state = _delivered(rng, records, requests, state, seen + timedelta(seconds=rng.uniform(1, 30)))
            state = _platform_acts(rng, records, state, PLATFORMS[platform], now)
    return records


def _flagged_outcome(rng, requests: Requests, flagged: dict, at: datetime) -> lifecycle.Outcome:
    """Detection: straight to a request, or to review and a reviewer's decision."""
    request = requests.takedown_request(flagged, at)
    if rng.random() >= REVIEW_SHARE:
        return lifecycle.on_flagged(None, flagged, request, at)
    pending = lifecycle.on_flagged(None, dict(flagged, action="review"), request, at)
    decided = at + timedelta(minutes=rng.uniform(5, 240))
    decision = {
        "decision": "approve" if rng.random() < 0.9 else "reject",
        "reviewer": f"reviewer-{rng.randint(1, 6)}",
        "reason": None,
        "at": decided.isoformat(),
    }
    return lifecycle.on_decision(pending.state, decision, lambda old: requests.stamp(old, decided), decided)


def _delivered(rng, records: list[dict], requests: Requests, state: dict, at: datetime) -> dict:
    request = state["request"]
    attempts = 2 if rng.random() < RETRY_SHARE else 1
    if attempts == 2:
        records.append(
            {
                "kind": "delivery_attempt",
                "request_id": request["request_id"],
                "platform": request["platform"],
                "channel": "webhook",
                "attempt": 1,
                "outcome": "retry",
                "status_code": 503,
                "error": "HTTP 503",
                "elapsed_seconds": 0.41,
                "at": at.isoformat(),
                "retry_in_seconds": 2.0,
            }
        )
    delivery = {
        "request_id": request["request_id"],
        "channel": "webhook",
        "attempts": attempts,
        "outcome": "delivered",
        "delivered": True,
        "delivered_at": at.isoformat(),
        "last_attempt": {"attempt": attempts, "status_code": 202, "error": None, "elapsed_seconds": 0.2, "at": None},
    }
    return _apply(records, state, lifecycle.on_delivery(state, delivery, requests.stamp, at))


def _platform_acts(rng, records: list[dict], state: dict, behaviour: Behaviour, now: datetime) -> dict:
    """Removal at a lognormal time, or never: rejected, expired by the timer, or still open at ``now``."""
    requested = datetime.fromisoformat(state["request"]["requested_at"])
    if rng.random() >= behaviour.never_removed:
        hours = behaviour.median_hours * rng.lognormvariate(0, behaviour.spread)
        removed = requested + timedelta(hours=hours)
        if removed < now and hours < 30 * 24:
            kind = rng.choice(("removed", "removed", "removed", "geo_blocked", "restricted"))
            return _apply(records, state, lifecycle.on_status(state, _status(state, kind, removed), None, removed))
    elif rng.random() < 0.3:
        rejected = requested + timedelta(hours=rng.uniform(1, 96))
        if rejected < now:
            return _apply(
                records, state, lifecycle.on_status(state, _status(state, "rejected", rejected), None, rejected)
            )
    expiry = requested + SETTINGS.expire_after
    if expiry < now:
        return _apply(records, state, lifecycle.on_tick(state, expiry, SETTINGS))
    return state


def _apply(records: list[dict], state: dict | None, outcome: lifecycle.Outcome) -> dict | None:
    """The outcome's new state, its transitions appended to ``records`` as ledger records."""
    if outcome.state is None:
        return state
    new_state = dict(outcome.state)
    for transition in new_state.pop("new_transitions", []):
        records.append(lifecycle.ledger_record(new_state, transition))
    return new_state


def _status(state: dict, kind: str, at: datetime) -> dict:
    return {
        "platform": state["platform"],
        "post_id": state["post_id"],
        "status": kind,
        "observed_at": at.isoformat(),
        "source": "callback",
    }


def _flagged(rng: random.Random, platform: str, number: int) -> dict:
    """What the scan stage hands the item stage: a post, or an account with strikes, and its findings."""
    account = f"acct-{rng.randint(1, 40_000)}"
    if rng.random() < ACCOUNT_SHARE:
        account = f"acct-strikes-{number}"  # one account request per account
        return {
            "platform": platform,
            "post_id": f"~account~{account}",
            "account_id": account,
            "target": "account",
            "action": "takedown",
            "severity": "high",
            "categories": ["account"],
            "findings": [_strikes(rng, platform)],
            "url": None,
            "posted_at": None,
            "media_hashes": [],
        }
    category = rng.choice(("terrorism_promotion", "terrorism_promotion", "violent_threat", "hate"))
    findings = [_classifier_finding(rng, category)]
    if rng.random() < NAMING_SHARE:
        findings.insert(0, _designated_finding(rng, category))
    return {
        "platform": platform,
        "post_id": f"{number:09d}",
        "account_id": account,
        "url": f"https://{platform}.example/{account}/{number}",
        "action": "takedown",
        "severity": "critical" if category == "terrorism_promotion" else "high",
        "categories": [category],
        "posted_at": None,
        "findings": findings,
        "media_hashes": [],
    }


def _designated_finding(rng: random.Random, category: str) -> dict:
    population = [organisation for organisation, _ in ORGANISATIONS]
    weights = [weight for _, weight in ORGANISATIONS]
    named = sorted(set(rng.choices(population, weights, k=2 if rng.random() < 0.1 else 1)))
    return {
        "detector": "designated_organisation",
        "category": category,
        "score": 0.92,
        "evidence": {
            "organisations": [identifier for identifier, _ in named],
            "mentions": [
                {"kind": "name", "term": name.lower(), "language": "en", "quote": name.title(), "start": 10, "end": 40}
                for _, name in named
            ],
            "designations": [f"UN 1267 {identifier}" for identifier, _ in named],
            "legal_bases": [
                {
                    "list": "UN 1267",
                    "reference": identifier,
                    "jurisdiction": "*",
                    "organisation": identifier,
                    "name": name,
                }
                for identifier, name in named
            ],
            "cues": [{"kind": "promotion", "term": "join", "language": "en", "quote": "join us", "start": 0, "end": 7}],
        },
    }


def _classifier_finding(rng: random.Random, category: str) -> dict:
    return {
        "detector": "text_classifier",
        "category": category,
        "score": round(rng.uniform(0.8, 0.99), 3),
        "evidence": {"model": "extremism", "version": "2026.11", "language": "en", "probability": 0.9},
    }


def _strikes(rng: random.Random, platform: str) -> dict:
    return {
        "detector": "account_strikes",
        "category": "account",
        "score": 1.0,
        "evidence": {
            "threshold": 3,
            "window_days": 30.0,
            "confirmed": [
                {"item": f"{platform}:{rng.randint(1, 10**8)}", "request_id": None, "cause": "removed", "at": None}
                for _ in range(3)
            ],
        },
    }
