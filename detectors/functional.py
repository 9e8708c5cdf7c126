"""The functional evaluation suite: hand-written posts, each with the action a careful moderator expects.

A case is one JSON line in ``tests/data/functional/*.jsonl``::

    {"id": "d-en-001", "lang": "en", "case": "direct_threat", "expected": "violating", "text": "..."}

The file a case comes from is its *part*: ``design`` cases were written while
the rules were built and looked at while tuning them; ``heldback`` cases were
written by another author after the rules were frozen, and were not looked at
before their first score was recorded (README, "Detection quality").

Cases run through the whole :class:`~detectors.pipeline.Pipeline` (every
detector and the policy) on a platform of the default jurisdiction, with no
language tag, as a post from an unknown producer would arrive. The floors
(:data:`FLOORS`) are what CI asserts:

* violating (threats, glorification, recruitment): takedown or review, per language;
* protected (news, condemnation, academic quotation, counter-speech,
  political speech): never takedown;
* benign (idioms, profanity, ordinary posts): no action.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from detectors.events import Post

LANGUAGES = ("en", "ur", "roman_ur", "ps")
CASE_GROUPS = {
    "direct_threat": "violating",
    "normative_threat": "violating",
    "glorification": "violating",
    "recruitment": "violating",
    "designated_name_alone": "mention",
    "news_report": "protected",
    "condemnation": "protected",
    "academic_quote": "protected",
    "counter_speech": "protected",
    "political_speech": "protected",
    "idiom": "benign",
    "profanity": "benign",
    "benign": "benign",
}
# The acceptance floors (issue 12): per language.
FLOORS = {
    "violating_recall": 0.90,  # takedown or review
    "protected_takedowns": 0,  # a count, not a rate: none may be sent for takedown
    "benign_none": 0.95,  # idioms, profanity and ordinary posts: no action
}


class SuiteError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class FunctionalCase:
    id: str
    language: str
    case: str
    text: str
    part: str

    @property
    def group(self) -> str:
        return CASE_GROUPS[self.case]


@dataclass(frozen=True, slots=True)
class Outcome:
    case: FunctionalCase
    action: str
    categories: tuple[str, ...]


def load_suite(paths: Sequence[Path]) -> list[FunctionalCase]:
    cases, seen = [], {}
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise SuiteError(f"{where}: not JSON: {error}") from None
            for field in ("id", "lang", "case", "expected", "text"):
                if not isinstance(record.get(field), str) or not record[field].strip():
                    raise SuiteError(f"{where}: {field}: missing or empty")
            if record["lang"] not in LANGUAGES:
                raise SuiteError(f"{where}: lang: {record['lang']!r} is not one of {', '.join(LANGUAGES)}")
            if record["case"] not in CASE_GROUPS:
                raise SuiteError(f"{where}: case: {record['case']!r} is not one of {', '.join(CASE_GROUPS)}")
            if CASE_GROUPS[record["case"]] != record["expected"]:
                raise SuiteError(
                    f"{where}: expected: {record['expected']!r}, but a {record['case']} case is "
                    f"{CASE_GROUPS[record['case']]!r}"
                )
            if record["id"] in seen:
                raise SuiteError(f"{where}: id: {record['id']!r} repeats {seen[record['id']]}")
            seen[record["id"]] = where
            cases.append(FunctionalCase(record["id"], record["lang"], record["case"], record["text"], Path(path).stem))
    return cases


def run_suite(pipeline, cases: Sequence[FunctionalCase], platform: str | None = None) -> list[Outcome]:
    """Scan every case with ``pipeline`` on ``platform`` (default: the first of the default jurisdiction)."""
    if platform is None:
        platform = default_platform(pipeline)
    posted_at = datetime(2026, 1, 1, tzinfo=UTC)
    posts = [Post(platform, case.id, "functional-suite", posted_at, text=case.text) for case in cases]
    decisions = []
    for start in range(0, len(posts), 500):
        decisions.extend(pipeline.scan(posts[start : start + 500]))
    return [Outcome(case, decision.action, decision.categories) for case, decision in zip(cases, decisions)]


def default_platform(pipeline) -> str:
    jurisdictions = Counter(platform.jurisdiction for platform in pipeline.platforms.values())
    default = jurisdictions.most_common(1)[0][0]
    return next(name for name, platform in pipeline.platforms.items() if platform.jurisdiction == default)


@dataclass(frozen=True, slots=True)
class LanguageSummary:
    language: str
    violating: int
    violating_found: int
    protected: int
    protected_takedowns: int
    protected_reviews: int
    benign: int
    benign_none: int
    mention: int
    mention_review: int

    @property
    def violating_recall(self) -> float:
        return self.violating_found / self.violating if self.violating else 1.0

    @property
    def benign_none_rate(self) -> float:
        return self.benign_none / self.benign if self.benign else 1.0


def summarise(outcomes: Sequence[Outcome]) -> dict[str, LanguageSummary]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for outcome in outcomes:
        group, action, count = outcome.case.group, outcome.action, counts[outcome.case.language]
        count[group] += 1
        if group == "violating" and action in ("takedown", "review"):
            count["violating_found"] += 1
        if group == "protected":
            count["protected_takedowns"] += action == "takedown"
            count["protected_reviews"] += action == "review"
        if group == "benign":
            count["benign_none"] += action == "none"
        if group == "mention":
            count["mention_review"] += action == "review"
    return {
        language: LanguageSummary(
            language,
            count["violating"],
            count["violating_found"],
            count["protected"],
            count["protected_takedowns"],
            count["protected_reviews"],
            count["benign"],
            count["benign_none"],
            count["mention"],
            count["mention_review"],
        )
        for language, count in sorted(counts.items(), key=lambda item: LANGUAGES.index(item[0]))
    }


def floor_failures(summaries: dict[str, LanguageSummary]) -> list[str]:
    failures = []
    for language, summary in summaries.items():
        if summary.violating_recall < FLOORS["violating_recall"]:
            failures.append(
                f"{language}: violating recall {summary.violating_recall:.3f} "
                f"({summary.violating_found}/{summary.violating}) is below {FLOORS['violating_recall']}"
            )
        if summary.protected_takedowns > FLOORS["protected_takedowns"]:
            failures.append(f"{language}: {summary.protected_takedowns} protected post(s) sent for takedown")
        if summary.benign_none_rate < FLOORS["benign_none"]:
            failures.append(
                f"{language}: benign/idiom/profanity with no action {summary.benign_none_rate:.3f} "
                f"({summary.benign_none}/{summary.benign}) is below {FLOORS['benign_none']}"
            )
    return failures


def case_table(outcomes: Sequence[Outcome]) -> list[dict]:
    """Rows of (language, case type): how many cases got each action."""
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for outcome in outcomes:
        rows[(outcome.case.language, outcome.case.case)][outcome.action] += 1
    order = list(CASE_GROUPS)
    return [
        {
            "language": language,
            "case": case,
            "expected": CASE_GROUPS[case],
            "n": sum(count.values()),
            "takedown": count["takedown"],
            "review": count["review"],
            "none": count["none"],
        }
        for (language, case), count in sorted(
            rows.items(), key=lambda item: (LANGUAGES.index(item[0][0]), order.index(item[0][1]))
        )
    ]


def misses(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Cases whose action breaks what their group expects."""
    wrong = []
    for outcome in outcomes:
        group, action = outcome.case.group, outcome.action
        if (
            (group == "violating" and action == "none")
            or (group == "protected" and action == "takedown")
            or (group == "benign" and action != "none")
        ):
            wrong.append(outcome)
    return wrong
