"""From findings to an action: ``takedown``, ``review`` or ``none``.

The operator sets, per category in ``config/policy.yaml``, the score at which a
finding asks for review and the score at which it asks for takedown (or no
takedown at all). A post's action is the strongest any of its findings earns;
its severity is the highest of the categories that earned an action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from detectors.base import Finding
from detectors.configfile import ANY_KEY, VALUE, Problems, Section, load_yaml
from detectors.events import Post

ACTIONS = ("none", "review", "takedown")  # weakest first
SEVERITIES = ("none", "low", "medium", "high", "critical")  # lowest first


@dataclass(frozen=True, slots=True)
class CategoryPolicy:
    category: str
    severity: str
    review_at: float | None
    takedown_at: float | None

    def action_for(self, score: float) -> str:
        if self.takedown_at is not None and score >= self.takedown_at:
            return "takedown"
        if self.review_at is not None and score >= self.review_at:
            return "review"
        return "none"


@dataclass(frozen=True, slots=True)
class Decision:
    post: Post
    action: str
    severity: str
    categories: tuple[str, ...]  # categories that earned the action, strongest first
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict:
        return {
            "platform": self.post.platform,
            "post_id": self.post.post_id,
            "action": self.action,
            "severity": self.severity,
            "categories": list(self.categories),
            "findings": [finding.as_dict() for finding in self.findings],
        }


@dataclass(frozen=True, slots=True)
class WatchlistPolicy:
    """What a watchlisted author changes about a post that has content findings."""

    escalate_to_takedown: frozenset[str] = frozenset()
    raise_severity_by: int = 0
    # Detectors whose findings stay review even for a listed author: a model's guess is
    # never enough to ask a platform for removal.
    not_escalated_from: frozenset[str] = frozenset()


WATCHLIST_CATEGORY = "watchlisted_account"


# `accounts` is read and checked by takedowns/accounts.py, `campaigns` by takedowns/campaigns.py.
POLICY_SCHEMA = {
    "categories": {ANY_KEY: Section("category", {"review_at": VALUE, "takedown_at": VALUE, "severity": VALUE})},
    "watchlist": {"escalate_to_takedown": [VALUE], "raise_severity_by": VALUE, "not_escalated_from": [VALUE]},
    "accounts": VALUE,
    "campaigns": VALUE,
}


class Policy:
    def __init__(self, categories: Sequence[CategoryPolicy], watchlist: WatchlistPolicy = WatchlistPolicy()):
        self.categories = {policy.category: policy for policy in categories}
        self.watchlist = watchlist

    @classmethod
    def from_config(cls, path: Path, problems: Problems) -> Policy:
        document = load_yaml(path, problems)
        document.check_keys(POLICY_SCHEMA)
        categories = []
        for category, _ in document.mapping(("categories",), required=True).items():
            where = ("categories", category)
            document.mapping(where, required=True)
            problems_before = len(problems.messages)
            review_at = document.get(where + ("review_at",))
            takedown_at = document.get(where + ("takedown_at",))
            review = (
                None
                if review_at is None
                else document.number(where + ("review_at",), default=1.0, minimum=0, maximum=1)
            )
            takedown = (
                None
                if takedown_at is None
                else document.number(where + ("takedown_at",), default=1.0, minimum=0, maximum=1)
            )
            thresholds_valid = len(problems.messages) == problems_before
            if thresholds_valid and review is not None and takedown is not None and takedown < review:
                document.problem(where + ("takedown_at",), f"{takedown} is below review_at {review}")
            categories.append(
                CategoryPolicy(
                    category=category,
                    severity=document.choice(where + ("severity",), set(SEVERITIES), default="medium"),
                    review_at=review,
                    takedown_at=takedown,
                )
            )
        escalate = frozenset(
            document.text(("watchlist", "escalate_to_takedown", index), required=True)
            for index, _ in enumerate(document.sequence(("watchlist", "escalate_to_takedown")))
        )
        for _index, category in enumerate(sorted(escalate)):
            if category not in {policy.category for policy in categories}:
                document.problem(("watchlist", "escalate_to_takedown"), f"{category!r} is not a category above")
        watchlist = WatchlistPolicy(
            escalate_to_takedown=escalate,
            raise_severity_by=int(document.number(("watchlist", "raise_severity_by"), default=0, minimum=0, maximum=4)),
            not_escalated_from=frozenset(
                document.text(("watchlist", "not_escalated_from", index), required=True)
                for index, _ in enumerate(document.sequence(("watchlist", "not_escalated_from")))
            ),
        )
        return cls(categories, watchlist)

    def decide(self, post: Post, findings: Sequence[Finding]) -> Decision:
        action = "none"
        earned: dict[str, tuple[int, int, float]] = {}
        watchlisted = any(finding.category == WATCHLIST_CATEGORY for finding in findings)
        for finding in findings:
            policy = self.categories.get(finding.category)
            # A category the operator has not configured is recorded but never acted on.
            finding_action = policy.action_for(finding.score) if policy else "none"
            if finding_action == "none":
                continue
            if (
                watchlisted
                and finding_action == "review"
                and finding.category in self.watchlist.escalate_to_takedown
                and finding.detector not in self.watchlist.not_escalated_from
            ):
                finding_action = "takedown"
            if ACTIONS.index(finding_action) > ACTIONS.index(action):
                action = finding_action
            rank = (ACTIONS.index(finding_action), SEVERITIES.index(policy.severity), finding.score)
            earned[finding.category] = max(earned.get(finding.category, rank), rank)
        categories = tuple(sorted(earned, key=lambda category: earned[category], reverse=True))
        severity_rank = max((earned[category][1] for category in categories), default=0)
        if watchlisted and action != "none":
            severity_rank = min(severity_rank + self.watchlist.raise_severity_by, len(SEVERITIES) - 1)
        severity = SEVERITIES[severity_rank]
        return Decision(post, action, severity, categories, tuple(findings))
