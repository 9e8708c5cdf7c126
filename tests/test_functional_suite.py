"""The functional suite (tests/data/functional/): the acceptance floors, per language, on the shipped config.

Floors (detectors/functional.py FLOORS): violating recall (takedown or review)
>= 0.90 in each language; no protected post sent for takedown; benign posts,
idioms and profanity with no action >= 0.95.

Every part but the newest held-back one has been looked at while the rules
were tuned: the design part and the union of all of them are held to the
floors. The newest held-back part was written after the last freeze and has
not been tuned on: it is held to what its first score showed (never worse,
and never a protected post sent for takedown), and its gap to the floors is
reported in docs/detection.md and docs/functional/, not hidden by the parts tuned on.
"""

from __future__ import annotations

import pytest

from detectors import functional
from detectors.pipeline import Pipeline
from tests.conftest import ROOT

SUITE = ROOT / "tests" / "data" / "functional"
PARTS = sorted(SUITE.glob("*.jsonl"))
FIRST_SCORES = ROOT / "docs" / "functional"


def held_back_number(part: str) -> int:
    return int(part.split("-")[1]) if part.startswith("heldback-") else 0


NEWEST = max((part.stem for part in PARTS), key=held_back_number)
TUNED = [part.stem for part in PARTS if part.stem != NEWEST]


@pytest.fixture(scope="module")
def outcomes() -> list[functional.Outcome]:
    pipeline = Pipeline.from_config_dir(ROOT / "config")
    return functional.run_suite(pipeline, functional.load_suite(PARTS))


def test_suite_has_at_least_400_cases_in_four_languages_and_every_case_type():
    cases = functional.load_suite(PARTS)
    assert len(cases) >= 400
    for language in functional.LANGUAGES:
        kinds = {case.case for case in cases if case.language == language}
        assert kinds == set(functional.CASE_GROUPS), language


def test_suite_keeps_parts_written_after_the_rules_were_frozen():
    # heldback-N was written by an author who never saw the rules, after the commit
    # named in docs/functional/README.md froze them; its first score is kept there.
    held_back = [part.stem for part in PARTS if part.stem.startswith("heldback-")]
    assert "design" in {part.stem for part in PARTS} and len(held_back) >= 1
    first_scores = {
        path.name.split("-first-score")[0] for path in (ROOT / "docs" / "functional").glob("*-first-score-*")
    }
    assert set(held_back) <= first_scores, "every held-back part has its first score recorded"


def describe(failures: list[str], outcomes) -> str:
    wrong = "\n".join(
        f"  {outcome.case.id} [{outcome.case.case}] -> {outcome.action}: {outcome.case.text}"
        for outcome in functional.misses(outcomes)
    )
    return "\n".join(failures) + "\nmisses:\n" + wrong


def test_floors_hold_on_the_whole_suite(outcomes):
    # The acceptance floors of issue 12, on every post including the part never tuned on.
    failures = functional.floor_failures(functional.summarise(outcomes))
    assert failures == [], describe(failures, outcomes)


def test_floors_hold_on_every_part_tuned_on_together(outcomes):
    tuned = [outcome for outcome in outcomes if outcome.case.part in TUNED]
    failures = functional.floor_failures(functional.summarise(tuned))
    assert failures == [], describe(failures, tuned)


# Held-back parts have 12 violating posts per language: one miss is 8 points of
# recall, so the floors are asserted per language on their union, and per part
# only on the 320-post design part.
@pytest.mark.parametrize("part", ["design"])
def test_floors_hold_on_the_design_part(outcomes, part):
    mine = [outcome for outcome in outcomes if outcome.case.part == part]
    failures = functional.floor_failures(functional.summarise(mine))
    assert failures == [], describe(failures, mine)


def first_score(part: str) -> dict[str, tuple[int, ...]]:
    """The newest part's first score, as recorded when it was first run (docs/functional/)."""
    import re

    (path,) = FIRST_SCORES.glob(f"{part}-first-score-at-*.txt")
    scores = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"(\w+) viol (\d+)/(\d+) prot_td (\d+) prot_rev (\d+)/(\d+) benign_none (\d+)/(\d+)", line)
        if match:
            scores[match.group(1)] = tuple(int(value) for value in match.groups()[1:])
    return scores


def test_newest_held_back_part_is_no_worse_than_its_first_score(outcomes):
    mine = [outcome for outcome in outcomes if outcome.case.part == NEWEST]
    summaries = functional.summarise(mine)
    for language, (found, violating, takedowns, _, _, benign_none, benign) in first_score(NEWEST).items():
        summary = summaries[language]
        assert summary.violating == violating and summary.benign == benign, language
        assert summary.violating_found >= found, f"{NEWEST} {language}: recall fell below its first score"
        assert summary.benign_none >= benign_none, f"{NEWEST} {language}: more benign posts actioned than at first"
        assert summary.protected_takedowns <= takedowns, f"{NEWEST} {language}: more protected takedowns than at first"


def test_protected_speech_is_never_sent_for_takedown(outcomes):
    # The critical floor, stated on its own: news, condemnation, scholarship,
    # counter-speech and political speech, in every language.
    taken = [outcome for outcome in outcomes if outcome.case.group == "protected" and outcome.action == "takedown"]
    assert taken == [], describe([], taken)


def test_suite_file_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "x-1", "lang": "en", "case": "idiom", "expected": "benign", "text": "fine"}\n'
        '{"id": "x-2", "lang": "fr", "case": "idiom", "expected": "benign", "text": "bien"}\n',
        encoding="utf-8",
    )
    with pytest.raises(functional.SuiteError, match=r"bad\.jsonl:2: lang: 'fr' is not one of"):
        functional.load_suite([bad])


def test_case_whose_expectation_contradicts_its_type_is_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x-1", "lang": "en", "case": "news_report", "expected": "benign", "text": "t"}\n')
    with pytest.raises(functional.SuiteError, match=r"bad\.jsonl:1: expected: 'benign', but a news_report case is"):
        functional.load_suite([bad])


def test_summary_counts_each_group_by_its_own_rule():
    def outcome(case: str, action: str) -> functional.Outcome:
        return functional.Outcome(functional.FunctionalCase("i", "en", case, "t", "design"), action, ())

    summary = functional.summarise(
        [
            outcome("direct_threat", "review"),
            outcome("direct_threat", "none"),
            outcome("news_report", "takedown"),
            outcome("news_report", "review"),
            outcome("idiom", "review"),
            outcome("benign", "none"),
        ]
    )["en"]
    assert (summary.violating_found, summary.violating) == (1, 2)
    assert (summary.protected_takedowns, summary.protected_reviews) == (1, 1)
    assert (summary.benign_none, summary.benign) == (1, 2)
    failures = functional.floor_failures({"en": summary})
    assert len(failures) == 3


def test_evaluate_functional_prints_the_table_per_language_and_case_type():
    from click.testing import CliRunner

    from streams.cli import cli

    result = CliRunner().invoke(
        cli, ["evaluate", "--functional", "--suite", str(SUITE / "design.jsonl"), "--config", str(ROOT / "config")]
    )
    assert result.exit_code == 0, result.output
    for language in functional.LANGUAGES:
        assert f"│ {language}" in result.output
    assert "direct_threat" in result.output and "Floors" in result.output


def test_evaluate_functional_exits_1_when_a_floor_fails(tmp_path):
    from click.testing import CliRunner

    from streams.cli import cli

    # A "news report" that is in fact a threat with a target and a time: sent for takedown.
    suite = tmp_path / "broken.jsonl"
    suite.write_text(
        '{"id": "b-1", "lang": "en", "case": "news_report", "expected": "protected", '
        '"text": "We will burn your school down tomorrow morning"}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["evaluate", "--functional", "--suite", str(suite), "--config", str(ROOT / "config")]
    )
    assert result.exit_code == 1
    assert "1 protected post(s) sent for takedown" in result.output
