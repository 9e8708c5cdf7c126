"""Score one part of the functional suite as its first score is kept here.

    .venv/bin/python docs/functional/score_part.py heldback-7 > docs/functional/heldback-7-first-score-at-$(git rev-parse --short HEAD).txt

Per language: violating found, protected sent for takedown, protected sent to
review, benign with no action, mentions to review; then the floors it misses;
then every miss. tests/test_functional_suite.py reads the per-language lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from detectors import functional
from detectors.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]


def main(part: str) -> None:
    pipeline = Pipeline.from_config_dir(ROOT / "config")
    outcomes = functional.run_suite(
        pipeline, functional.load_suite([ROOT / "tests" / "data" / "functional" / f"{part}.jsonl"])
    )
    summaries = functional.summarise(outcomes)
    for language in functional.LANGUAGES:
        s = summaries[language]
        print(
            f"{language} viol {s.violating_found}/{s.violating} prot_td {s.protected_takedowns} "
            f"prot_rev {s.protected_reviews}/{s.protected} benign_none {s.benign_none}/{s.benign} "
            f"mention_rev {s.mention_review}/{s.mention}"
        )
    for failure in functional.floor_failures(summaries):
        print(failure)
    for outcome in functional.misses(outcomes):
        print(
            f"{outcome.case.id} {outcome.case.case} {outcome.action} {outcome.categories} | {outcome.case.text[:150]}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
