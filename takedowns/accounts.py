"""Account strikes: confirmed violations per account, and one account-level request at the threshold.

A strike is a confirmed violation by an account: a reviewer approved a
takedown request for its post, or the platform removed the post after a
request. ``track_accounts`` (streams/agents/accounts.py) counts strikes per
``platform:account_id`` in a table, keeping those inside the policy's window.
When an account reaches ``confirmed_violations`` strikes (``watchlisted_confirmed_violations``
when any of its confirmed items came from a watchlisted account), it sends one
account-level request (``target: account``) to the item lifecycle under the
account's item key, ``platform:~account~<account_id>``. From there the request
is tracked exactly like an item's: delivery, deadline, ledger, time to removal,
and the account counts as removed when a status event says it is suspended.
Later strikes are recorded as evidence, never a second request.

Pure functions: no Faust, no Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from detectors.configfile import VALUE, Problems, load_yaml

ACCOUNT_MARK = "~account~"
ACCOUNT_CATEGORY = "account"


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    confirmed_violations: int = 3
    window: timedelta = timedelta(days=30)
    watchlisted_confirmed_violations: int = 1
    severity: str = "high"


ACCOUNTS_SCHEMA = dict.fromkeys(
    ("confirmed_violations", "window_days", "watchlisted_confirmed_violations", "severity"), VALUE
)


def load_account_policy(path: Path, problems: Problems) -> AccountPolicy:
    """The ``accounts`` section of policy.yaml (defaults when absent)."""
    document = load_yaml(path, problems)
    where = ("accounts",)
    document.mapping(where)
    document.check_keys(ACCOUNTS_SCHEMA, where)
    defaults = AccountPolicy()
    return AccountPolicy(
        confirmed_violations=int(
            document.number(where + ("confirmed_violations",), default=defaults.confirmed_violations, minimum=1)
        ),
        window=timedelta(days=document.number(where + ("window_days",), default=defaults.window.days, minimum=0.0001)),
        watchlisted_confirmed_violations=int(
            document.number(
                where + ("watchlisted_confirmed_violations",),
                default=defaults.watchlisted_confirmed_violations,
                minimum=1,
            )
        ),
        severity=document.choice(
            where + ("severity",), {"low", "medium", "high", "critical"}, default=defaults.severity
        ),
    )


def account_item_key(platform: str, account_id: str) -> str:
    return f"{platform}:{ACCOUNT_MARK}{account_id}"


def is_account_key(key: str) -> bool:
    return key.split(":", 1)[-1].startswith(ACCOUNT_MARK)


def strike_from(request: dict, cause: str, at: datetime) -> dict | None:
    """The strike a confirmed item request gives its account; None for account requests or unknown authors."""
    if request.get("target") == "account" or not request.get("account_id"):
        return None
    return {
        "platform": request["platform"],
        "account_id": request["account_id"],
        "item": f"{request['platform']}:{request['post_id']}",
        "request_id": request["request_id"],
        "categories": list(request.get("categories", [])),
        "cause": cause,  # review_approved | removed
        "watchlisted": any(finding.get("detector") == "watchlist" for finding in request.get("evidence", [])),
        "at": at.isoformat(),
    }


def on_strike(state: dict | None, strike: dict, policy: AccountPolicy) -> tuple[dict | None, dict | None]:
    """(new state or None when nothing changed, the flagged record of an account request or None)."""
    state = state or {
        "platform": strike["platform"],
        "account_id": strike["account_id"],
        "strikes": [],
        "requested_at": None,
    }
    if any(known["item"] == strike["item"] for known in state["strikes"]):
        return None, None  # the same item confirmed twice (approval, then removal; or a replay)
    # Strikes arrive in any order (their items sit on different partitions): keep them in time order,
    # and the window ends at the latest one, so the evidence is the same whatever the arrival order.
    strikes = sorted(
        [*state["strikes"], strike], key=lambda known: (datetime.fromisoformat(known["at"]), known["item"])
    )
    latest = datetime.fromisoformat(strikes[-1]["at"])
    strikes = [known for known in strikes if latest - datetime.fromisoformat(known["at"]) <= policy.window]
    state = dict(state, strikes=strikes)
    threshold = (
        policy.watchlisted_confirmed_violations
        if any(known["watchlisted"] for known in strikes)
        else policy.confirmed_violations
    )
    if state["requested_at"] is not None or len(strikes) < threshold:
        return state, None
    state["requested_at"] = strike["at"]  # once: later strikes are evidence, not new requests
    return state, account_flagged(state, policy, threshold)


def account_flagged(state: dict, policy: AccountPolicy, threshold: int) -> dict:
    """What the item lifecycle needs to open an account request (as pipeline.flagged gives for a post)."""
    strikes = state["strikes"]
    return {
        "platform": state["platform"],
        "post_id": ACCOUNT_MARK + state["account_id"],
        "account_id": state["account_id"],
        "target": "account",
        "action": "takedown",
        "severity": policy.severity,
        "categories": [ACCOUNT_CATEGORY],
        "findings": [
            {
                "detector": "account_strikes",
                "category": ACCOUNT_CATEGORY,
                "score": 1.0,
                "evidence": {
                    "threshold": threshold,
                    "window_days": policy.window.total_seconds() / 86400,
                    "confirmed": [_confirmed(known) for known in strikes],
                },
            }
        ],
        "url": None,
        "posted_at": strikes[0]["at"],
        "media_hashes": [],
    }


def _confirmed(strike: dict) -> dict:
    names = ("item", "request_id", "cause", "categories", "watchlisted", "at")
    return {name: strike[name] for name in names}


def expired(state: dict, now: datetime, policy: AccountPolicy) -> bool:
    """Whether an account's strikes can be forgotten: all outside the window, and no account request made."""
    latest = max(datetime.fromisoformat(known["at"]) for known in state["strikes"])
    return state["requested_at"] is None and now - latest > policy.window
