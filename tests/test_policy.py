"""From findings to a decision: strongest action, highest earned severity, only configured categories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.base import Finding
from detectors.configfile import Problems
from detectors.events import Post
from detectors.policy import CategoryPolicy, Decision, Policy

SHIPPED_POLICY = Path(__file__).resolve().parent.parent / "config" / "policy.yaml"

POST = Post(platform="facebook", post_id="p-1", account_id="acct-1", posted_at=datetime(2025, 6, 1, tzinfo=UTC))


@pytest.fixture
def policy() -> Policy:
    return Policy(
        [
            CategoryPolicy("terrorism_promotion", severity="critical", review_at=0.5, takedown_at=0.8),
            CategoryPolicy("hate", severity="medium", review_at=0.4, takedown_at=0.9),
            CategoryPolicy("mention", severity="low", review_at=0.5, takedown_at=None),
            CategoryPolicy("spam", severity="high", review_at=None, takedown_at=None),
        ]
    )


def finding(category: str, score: float) -> Finding:
    return Finding(detector="test", category=category, score=score)


@pytest.mark.parametrize(
    "score, action",
    [(0.0, "none"), (0.49, "none"), (0.5, "review"), (0.79, "review"), (0.8, "takedown"), (1.0, "takedown")],
)
def test_category_thresholds_are_inclusive(score, action):
    category = CategoryPolicy("terrorism_promotion", severity="critical", review_at=0.5, takedown_at=0.8)

    assert category.action_for(score) == action


def test_no_findings_means_no_action(policy):
    decision = policy.decide(POST, [])

    assert (decision.action, decision.severity, decision.categories, decision.findings) == ("none", "none", (), ())


@pytest.mark.parametrize("reverse", [False, True], ids=["takedown-last", "takedown-first"])
def test_strongest_action_among_findings_wins(policy, reverse):
    findings = [finding("hate", 0.5), finding("terrorism_promotion", 0.85), finding("mention", 0.1)]
    if reverse:
        findings.reverse()

    decision = policy.decide(POST, findings)

    assert decision.action == "takedown"
    assert decision.findings == tuple(findings)


def test_review_beats_none_whatever_the_order(policy):
    first = policy.decide(POST, [finding("mention", 0.6), finding("hate", 0.1)])
    second = policy.decide(POST, [finding("hate", 0.1), finding("mention", 0.6)])

    assert first.action == second.action == "review"


def test_severity_ignores_categories_that_earned_no_action(policy):
    # terrorism_promotion is critical but its score is below review_at.
    decision = policy.decide(POST, [finding("terrorism_promotion", 0.3), finding("mention", 0.6)])

    assert (decision.action, decision.severity, decision.categories) == ("review", "low", ("mention",))


def test_severity_is_the_highest_of_categories_that_earned_an_action(policy):
    # mention (low) and hate (medium) earn review; terrorism_promotion (critical) earns nothing.
    decision = policy.decide(
        POST, [finding("mention", 0.6), finding("terrorism_promotion", 0.2), finding("hate", 0.45)]
    )

    assert (decision.action, decision.severity) == ("review", "medium")


def test_severity_comes_from_a_reviewed_category_even_when_another_earns_takedown(policy):
    decision = policy.decide(POST, [finding("hate", 0.95), finding("terrorism_promotion", 0.6)])

    assert (decision.action, decision.severity) == ("takedown", "critical")


def test_categories_are_listed_strongest_action_first(policy):
    decision = policy.decide(
        POST, [finding("mention", 0.9), finding("hate", 0.95), finding("terrorism_promotion", 0.6)]
    )

    assert decision.categories == ("hate", "terrorism_promotion", "mention")


def test_repeated_category_is_listed_once(policy):
    decision = policy.decide(POST, [finding("hate", 0.5), finding("hate", 0.95)])

    assert (decision.action, decision.categories) == ("takedown", ("hate",))


@pytest.mark.parametrize("score", [0.5, 0.99, 1.0])
def test_category_absent_from_policy_never_triggers_an_action(policy, score):
    unknown = finding("not_in_policy", score)

    decision = policy.decide(POST, [unknown])

    assert (decision.action, decision.severity, decision.categories) == ("none", "none", ())
    assert decision.findings == (unknown,)  # recorded, though not acted on


def test_category_absent_from_policy_does_not_raise_severity(policy):
    decision = policy.decide(POST, [finding("not_in_policy", 1.0), finding("mention", 0.6)])

    assert (decision.action, decision.severity, decision.categories) == ("review", "low", ("mention",))


def test_category_with_neither_threshold_never_acts(policy):
    decision = policy.decide(POST, [finding("spam", 1.0)])

    assert (decision.action, decision.severity) == ("none", "none")


@pytest.mark.parametrize("score", [0.5, 0.8, 0.99, 1.0])
def test_category_without_takedown_at_never_goes_to_takedown(policy, score):
    decision = policy.decide(POST, [finding("mention", score)])

    assert decision.action == "review"


@pytest.mark.parametrize("score", [0.9, 1.0])
def test_shipped_mention_category_never_goes_to_takedown(score):
    problems = Problems()
    policy = Policy.from_config(SHIPPED_POLICY, problems)
    assert problems.messages == []
    assert policy.categories["designated_organisation_mention"].takedown_at is None

    decision = policy.decide(POST, [finding("designated_organisation_mention", score)])

    assert decision.action == "review"


def test_decision_as_dict_carries_post_identity_and_findings(policy):
    decision = policy.decide(POST, [finding("hate", 0.95)])

    assert isinstance(decision, Decision)
    assert decision.as_dict() == {
        "platform": "facebook",
        "post_id": "p-1",
        "action": "takedown",
        "severity": "medium",
        "categories": ["hate"],
        "findings": [{"detector": "test", "category": "hate", "score": 0.95, "evidence": {}}],
    }


def test_a_listed_authors_review_becomes_takedown_except_from_detectors_that_stay_review():
    problems = Problems()
    shipped = Policy.from_config(SHIPPED_POLICY, problems)
    problems.raise_if_any()
    listed = Finding(detector="watchlist", category="watchlisted_account", score=1.0)
    grammar = Finding(detector="violent_threat", category="violent_threat", score=0.6)
    model = Finding(detector="extremism_model", category="violent_threat", score=0.6)
    assert shipped.decide(POST, [grammar, listed]).action == "takedown"
    # The shipped policy keeps the extremism model's guesses at review, whoever posts.
    assert "extremism_model" in shipped.watchlist.not_escalated_from
    assert shipped.decide(POST, [model, listed]).action == "review"
    assert shipped.decide(POST, [model]).action == "review"
