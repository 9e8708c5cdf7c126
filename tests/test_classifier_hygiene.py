"""Profanity, insults, reclaimed slurs and sports idioms are not hate, and abuse alone never asks for review.

tests/data/classifier_hygiene.jsonl holds hand-written English and Roman Urdu
posts, one JSON object a line: ``lang`` (en, roman_ur), ``kind``
(profanity, reclaimed, insult, idiom, hateful) and ``expected`` (hate for
posts attacking a group, not_hate for the rest). Each post is classified with
its language tag, so what is measured is the classifier, not the language
guess, and the hate threshold is the one config/policy.yaml sends to review.

Measured with the shipped model (run with ``pytest -s`` to see the table):
0 of the 75 not-hate posts get a hate finding at the review threshold (2
would without ``hate_needs_target`` in config/classifier.yaml: Roman Urdu
profanity and insults with "harami"); hateful posts are found 5 of 12 times
in English and 2 of 10 in Roman Urdu.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from detectors.configfile import Problems
from detectors.events import Post
from detectors.policy import Policy
from detectors.text_classifier import TextClassifierDetector

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
HYGIENE = ROOT / "tests" / "data" / "classifier_hygiene.jsonl"
LANGUAGE_TAGS = {"en": "en", "roman_ur": "ur-Latn"}
NOT_HATE_KINDS = ("profanity", "reclaimed", "insult", "idiom")
# The bar: above about 5 % of profanity or idioms reaching hate would need a fix.
MAX_NOT_HATE_RATE = 0.05
# Floors at the measured recall (5/12, 2/10): the English head learnt hate from
# slurs and misses slur-free attacks; this keeps it from getting worse unseen.
MIN_HATEFUL_RATE = {"en": 5 / 12, "roman_ur": 2 / 10}


def read_cases() -> list[dict]:
    with HYGIENE.open(encoding="utf-8") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def policy() -> Policy:
    problems = Problems()
    loaded = Policy.from_config(CONFIG / "policy.yaml", problems)
    problems.raise_if_any()
    return loaded


@pytest.fixture(scope="module")
def scored(policy) -> list[tuple[dict, dict[str, float], str]]:
    """(case, category -> score, policy action) for every case."""
    problems = Problems()
    detector = TextClassifierDetector.from_config(CONFIG, problems)
    problems.raise_if_any()
    cases = read_cases()
    posts = [
        Post(
            platform="x",
            post_id=f"hygiene-{number}",
            account_id="acct-1",
            posted_at=datetime(2026, 12, 1, tzinfo=UTC),
            text=case["text"],
            lang=LANGUAGE_TAGS[case["lang"]],
        )
        for number, case in enumerate(cases)
    ]
    results = []
    for case, post, findings in zip(cases, posts, detector.detect(posts)):
        scores = {finding.category: finding.score for finding in findings}
        results.append((case, scores, policy.decide(post, findings).action))
    return results


def hate_review_at(policy: Policy) -> float:
    review_at = policy.categories["hate"].review_at
    assert review_at is not None
    return review_at


def rates(scored, threshold: float) -> dict[tuple[str, str], tuple[int, int]]:
    """(lang, kind) -> (posts with a hate finding at threshold, posts)."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for case, scores, _ in scored:
        counts[case["lang"], case["kind"]][0] += scores.get("hate", 0.0) >= threshold
        counts[case["lang"], case["kind"]][1] += 1
    return {key: (found, total) for key, (found, total) in counts.items()}


def test_hygiene_file_is_small_labelled_and_covers_every_kind_in_both_languages():
    cases = read_cases()
    assert len(cases) <= 120
    assert {(case["lang"], case["kind"]) for case in cases} == {
        (lang, kind) for lang in LANGUAGE_TAGS for kind in (*NOT_HATE_KINDS, "hateful")
    }
    assert all(case["expected"] == ("hate" if case["kind"] == "hateful" else "not_hate") for case in cases)
    assert len({case["text"] for case in cases}) == len(cases)


def test_profanity_insults_reclaimed_slurs_and_idioms_rarely_reach_hate_review(scored, policy):
    threshold = hate_review_at(policy)
    table = rates(scored, threshold)
    print(f"\nhate finding >= {threshold} (review), by language and kind")
    for (lang, kind), (found, total) in sorted(table.items()):
        print(f"  {lang:9}{kind:11}{found:>3} / {total:<3}{found / total:6.0%}")
    for lang in LANGUAGE_TAGS:
        for kind in NOT_HATE_KINDS:
            found, total = table[lang, kind]
            assert found / total <= MAX_NOT_HATE_RATE, (lang, kind, found, total)


@pytest.mark.parametrize("lang", LANGUAGE_TAGS)
def test_hateful_posts_attacking_a_group_are_found_at_the_measured_rate(scored, policy, lang):
    found, total = rates(scored, hate_review_at(policy))[lang, "hateful"]
    assert found / total >= MIN_HATEFUL_RATE[lang] - 1e-9


def test_abuse_findings_alone_never_lead_to_review_or_takedown(scored):
    # Profanity-only and insult posts get abuse findings (that is what the
    # head learnt), but policy records them: no action unless hate is found.
    abusive = [(case, action) for case, scores, action in scored if scores.get("abuse", 0.0) >= 0.9]
    assert len(abusive) >= 20  # the check is not empty
    assert [case["text"] for case, action in abusive if action != "none"] == []


def test_harami_without_a_group_is_abuse_and_says_why(scored):
    cases = [(case, scores) for case, scores, _ in scored if "harami" in case["text"] and case["kind"] != "hateful"]
    assert len(cases) >= 3
    assert [case["text"] for case, scores in cases if scores.get("hate", 0.0) > 0] == []


def test_hate_naming_a_group_is_kept_even_with_profanity():
    problems = Problems()
    detector = TextClassifierDetector.from_config(CONFIG, problems)
    problems.raise_if_any()
    post = Post(
        platform="x",
        post_id="p",
        account_id="a",
        posted_at=datetime(2026, 12, 1, tzinfo=UTC),
        text="kill all the fucking niggers",
        lang="en",
    )
    [findings] = detector.detect([post])
    assert [finding.category for finding in findings] == ["hate"]
    assert "hate_without_target" not in findings[0].evidence


def test_not_hate_posts_get_no_action_at_all(scored):
    acted = [
        (case["text"], action) for case, _, action in scored if case["expected"] == "not_hate" and action != "none"
    ]
    assert acted == []
