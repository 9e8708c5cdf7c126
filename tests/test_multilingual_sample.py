"""`modwatch scan` over a labelled multilingual sample: recall on violations, no takedown of news or counter-speech.

tests/data/multilingual_posts.jsonl holds posts in English, Urdu (Arabic script),
Roman Urdu and Pashto. Each line is a valid post plus two fields the detector
ignores: ``label`` (propaganda, threat, news, condemnation, counter_speech,
benign) and ``note`` (an English gloss). The sample covers obfuscated spellings
(T.T.P, T-T-P, leetspeak, zero-width spaces, Cyrillic homoglyphs, Arabic letter
variants, tatweel, diacritics), news quoting slogans, condemnations,
counter-speech, and everyday words that share letters with group names.

The scan runs through the real CLI, as an operator would run it. Run with
``pytest -s`` to see the confusion table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # left out of `make check` (seconds each); `make test` runs it

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path("tests") / "data" / "multilingual_posts.jsonl"

LANGUAGES = ("en", "ur", "ur-Latn", "ps")
VIOLATING = ("propaganda", "threat")
# The product rule: a post that reports on, condemns or argues against a group is not propaganda.
PROTECTED = ("news", "condemnation", "counter_speech")
LABELS = VIOLATING + PROTECTED + ("benign",)
ACTIONS = ("takedown", "review", "none")

# Acceptance thresholds from the issue. Overall recall 0.95 leaves room for about
# one miss in twenty; 0.9 per language keeps one language from hiding behind the others.
MIN_RECALL = 0.95
MIN_RECALL_PER_LANGUAGE = 0.9
MIN_POSTS = 60
MIN_VIOLATING_PER_LANGUAGE = 8
MIN_PROTECTED = 25
MIN_BENIGN = 15


def run_scan(args: list[str], stdin: str | None = None) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "scan", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0, f"modwatch scan exited with {result.returncode}:\n{result.stderr}"
    assert result.stderr == "", f"modwatch scan reported problems:\n{result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def posts() -> list[dict]:
    with (ROOT / SAMPLE).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def scanned(posts) -> list[tuple[dict, dict]]:
    """(post, decision) for every post of the sample, in file order."""
    decisions = run_scan([str(SAMPLE)])
    by_key = {(decision["platform"], decision["post_id"]): decision for decision in decisions}
    assert len(by_key) == len(posts), f"{len(posts)} posts in, {len(by_key)} decisions out"
    return [(post, by_key[post["platform"], post["post_id"]]) for post in posts]


def violating(rows, language: str | None = None) -> list[tuple[dict, dict]]:
    return [
        (post, decision)
        for post, decision in rows
        if post["label"] in VIOLATING and (language is None or post["lang"] == language)
    ]


def describe(rows) -> str:
    return "\n".join(
        f"  {post['post_id']} [{post['lang']}, {post['label']}] -> {decision['action']}: {post['text']!r}"
        + (f" ({post['note']})" if post["note"] else "")
        for post, decision in rows
    )


def confusion_table(rows) -> str:
    counts = Counter((post["label"], decision["action"]) for post, decision in rows)
    header = f"{'label / action':<16}" + "".join(f"{action:>10}" for action in ACTIONS) + f"{'total':>8}"
    lines = [header, "-" * len(header)]
    for label in LABELS:
        cells = [counts[label, action] for action in ACTIONS]
        lines.append(f"{label:<16}" + "".join(f"{cell:>10}" for cell in cells) + f"{sum(cells):>8}")
    lines.append("-" * len(header))
    totals = [sum(counts[label, action] for label in LABELS) for action in ACTIONS]
    lines.append(f"{'all':<16}" + "".join(f"{total:>10}" for total in totals) + f"{sum(totals):>8}")
    return "\n".join(lines)


def recall_table(rows) -> str:
    header = (
        f"{'language':<10}{'violating':>10}{'takedown':>10}{'review':>8}{'none':>6}{'recall':>8}"
        f"{'protected':>11}{'benign':>8}"
    )
    lines = [header, "-" * len(header)]
    for language in LANGUAGES + (None,):
        found = violating(rows, language)
        actions = Counter(decision["action"] for _, decision in found)
        in_language = [post for post, _ in rows if language is None or post["lang"] == language]
        lines.append(
            f"{language or 'all':<10}{len(found):>10}{actions['takedown']:>10}{actions['review']:>8}"
            f"{actions['none']:>6}{actions['takedown'] / len(found):>8.3f}"
            f"{sum(post['label'] in PROTECTED for post in in_language):>11}"
            f"{sum(post['label'] == 'benign' for post in in_language):>8}"
        )
    return "\n".join(lines)


def test_confusion_table_counts_every_post_once(scanned):
    print(f"\n{SAMPLE}: label x action\n{confusion_table(scanned)}")
    print(f"\nviolating posts (propaganda, threat) per language; detected = takedown\n{recall_table(scanned)}")

    assert all(post["label"] in LABELS for post, _ in scanned)
    assert all(decision["action"] in ACTIONS for _, decision in scanned)


def test_sample_has_enough_posts_of_every_kind(posts):
    labels = Counter(post["label"] for post in posts)
    violating_per_language = Counter(post["lang"] for post in posts if post["label"] in VIOLATING)

    assert len(posts) >= MIN_POSTS
    assert {post["lang"] for post in posts} == set(LANGUAGES)
    for language in LANGUAGES:
        assert violating_per_language[language] >= MIN_VIOLATING_PER_LANGUAGE, language
    assert sum(labels[label] for label in PROTECTED) >= MIN_PROTECTED
    assert labels["benign"] >= MIN_BENIGN
    assert set(labels) == set(LABELS)


def test_sample_posts_are_unique_and_glossed(posts):
    keys = Counter((post["platform"], post["post_id"]) for post in posts)
    assert [key for key, count in keys.items() if count > 1] == []
    assert [post["post_id"] for post in posts if not post["note"].strip()] == []


def test_violating_posts_go_to_takedown_with_recall_of_at_least_0_95(scanned):
    found = violating(scanned)
    missed = [(post, decision) for post, decision in found if decision["action"] != "takedown"]
    review_only = sum(decision["action"] == "review" for _, decision in missed)
    recall = 1 - len(missed) / len(found)
    print(f"\nrecall {recall:.3f} on {len(found)} violating posts; {review_only} of the misses went to review")

    assert recall >= MIN_RECALL, f"recall {recall:.3f}; not sent to takedown:\n{describe(missed)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_recall_in_each_language_is_at_least_0_9(scanned, language):
    found = violating(scanned, language)
    missed = [(post, decision) for post, decision in found if decision["action"] != "takedown"]
    recall = 1 - len(missed) / len(found)

    assert recall >= MIN_RECALL_PER_LANGUAGE, f"{language} recall {recall:.3f}; missed:\n{describe(missed)}"


def test_news_condemnation_and_counter_speech_never_go_to_takedown(scanned):
    protected = [(post, decision) for post, decision in scanned if post["label"] in PROTECTED]
    taken_down = [(post, decision) for post, decision in protected if decision["action"] == "takedown"]

    assert len(protected) >= MIN_PROTECTED
    assert {post["label"] for post, _ in protected} == set(PROTECTED)
    assert taken_down == [], f"takedown requested for:\n{describe(taken_down)}"


def test_benign_posts_never_go_to_takedown(scanned):
    # A benign post may name a group ("a history of Al-Qaida") and go to review; never to takedown.
    taken_down = [
        (post, decision) for post, decision in scanned if post["label"] == "benign" and decision["action"] == "takedown"
    ]

    assert taken_down == [], f"takedown requested for:\n{describe(taken_down)}"


# Edge cases kept outside the sample so that its numbers stay honest about what
# the sample measures. Each once needed a change outside config/cues.yaml
# (promotion cues only near the name, mixed counter and promotion cues to review,
# space-less Arabic-script aliases, more spellings in the overlay).
EDGE_CASES = [
    pytest.param(
        "تحریک طالبان پاکستان کا مقابلہ کرنے والے پولیس کے شہیدوں کو سلام",
        {"review", "none"},
        id="ur-counter-speech-saluting-police-martyrs",
    ),
    pytest.param(
        "اصل دہشت گرد تو فوج ہے، تحریک طالبان پاکستان زندہ باد",
        {"review", "takedown"},
        id="ur-propaganda-borrowing-a-counter-word",
    ),
    pytest.param(
        "د حقاني شبکې مجاهدینو ته سلام، ژوندۍ دې وي",
        {"takedown"},
        id="ps-name-in-oblique-case",
    ),
    pytest.param(
        "ٹی ٹی پی زندہ باد، مجاہدین کو سلام",
        {"takedown"},
        id="ur-acronym-in-urdu-script",
    ),
    pytest.param(
        "جیش\u200cمحمد زندہ باد",
        {"takedown"},
        id="ur-name-joined-by-zero-width-non-joiner",
    ),
]


@pytest.mark.parametrize("text, expected_actions", EDGE_CASES)
def test_edge_case(text, expected_actions):
    post = {"platform": "x", "post_id": "edge-1", "account_id": "a", "text": text, "posted_at": "2026-11-29T10:00:00Z"}
    [decision] = run_scan(["-"], stdin=json.dumps(post, ensure_ascii=False) + "\n")

    assert decision["action"] in expected_actions


# A known limitation, strict so that a fix shows up as an unexpected pass.
KNOWN_LIMITATIONS = [
    pytest.param(
        "Salute to the police officers who stood firm against Tehrik-e-Taliban Pakistan last night. Our heroes.",
        {"review", "none"},
        id="en-counter-speech-praising-those-who-fought-a-group",
        marks=pytest.mark.xfail(
            strict=True,
            reason='"our heroes" stands two words after the name; only parsing whom it praises would tell',
        ),
    ),
]


@pytest.mark.parametrize("text, expected_actions", KNOWN_LIMITATIONS)
def test_known_limitation(text, expected_actions):
    post = {"platform": "x", "post_id": "limit-1", "account_id": "a", "text": text, "posted_at": "2026-11-29T10:00:00Z"}
    [decision] = run_scan(["-"], stdin=json.dumps(post, ensure_ascii=False) + "\n")

    assert decision["action"] in expected_actions
