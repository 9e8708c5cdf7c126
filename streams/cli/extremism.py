"""``modwatch evaluate-extremism``: the extremism model across authors, on real posts, and beside the rules.

Trains the model and its TF-IDF baseline on the shipped data (about a
minute), prints per language what each finds across authors at its own
thresholds, how often the model flags real posts it never saw, and what it
adds to the rules on the functional suite (the posts no training author saw).
``--write`` saves the model file the config uses. The work is in
:mod:`detectors.extremism_evaluation`, which imports no Kafka or Faust.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import click
import orjson

from detectors import functional
from detectors.configfile import Problems, load_yaml
from detectors.dataset_manifest import DatasetError
from detectors.extremism_evaluation import ExtremismReport, train_and_evaluate
from detectors.extremism_model import ExtremismModel, ExtremismModelDetector, Gate, framing_regex
from detectors.model_files import save_model
from detectors.pipeline import Pipeline
from detectors.threats import ViolentThreatDetector

_REPOSITORY = Path(__file__).resolve().parents[2]
SUITE = _REPOSITORY / "tests" / "data" / "functional"
CONFIG = _REPOSITORY / "config"


@click.option(
    "--write",
    "write_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the trained model here (the shipped one: config/models/extremism.skops).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the tables.")
def _evaluate_extremism(write_path: Path | None, as_json: bool) -> None:
    """Train the extremism model and its baseline; print what each finds, and what the model adds to the rules."""
    try:
        bundle, report = train_and_evaluate()
    except DatasetError as error:
        click.echo(f"evaluate-extremism: {error}", err=True)
        sys.exit(2)
    model = ExtremismModel(bundle["pipeline"], bundle["thresholds"])
    suite = suite_with_and_without(model)
    if write_path is not None:
        digest = save_model(bundle, write_path)
        click.echo(f"wrote {write_path} (sha256 {digest})", err=True)
    if as_json:
        click.echo(orjson.dumps({**report.as_dict(), "functional_suite": suite}).decode())
        return
    _print(report, suite)


def suite_with_and_without(model: ExtremismModel) -> dict[str, dict[str, dict[str, int]]]:
    """Per part group and language: the rules alone, and the rules with ``model``."""
    with tempfile.TemporaryDirectory() as folder:
        # The shipped config without its extremism.yaml: the rules alone, whatever model file exists.
        config = Path(folder) / "config"
        shutil.copytree(CONFIG, config, ignore=shutil.ignore_patterns("extremism.yaml", "*.skops"))
        shutil.copytree(
            CONFIG / "models", config / "models", dirs_exist_ok=True, ignore=shutil.ignore_patterns("extremism*")
        )
        rules = Pipeline.from_config_dir(config)
    others = [detector for detector in rules.detectors if not isinstance(detector, ExtremismModelDetector)]
    problems = Problems()
    threats = next(detector for detector in others if isinstance(detector, ViolentThreatDetector))
    gate = Gate.from_config(load_yaml(CONFIG / "extremism.yaml", problems), threats, problems)
    problems.raise_if_any()
    detector = ExtremismModelDetector(model, framing_regex(CONFIG / "threats.yaml", problems), gate)
    after = others.index(threats) + 1  # the threat detector's signals of a batch open the gate
    with_model = Pipeline(
        [*others[:after], detector, *others[after:]], rules.policy, rules.platforms, rules.jurisdictions
    )
    alone = Pipeline(others, rules.policy, rules.platforms, rules.jurisdictions)
    cases = functional.load_suite(sorted(SUITE.glob("*.jsonl")))
    table: dict[str, dict[str, dict[str, int]]] = {}
    for name, pipeline in (("rules", alone), ("rules + model", with_model)):
        for language, summary in functional.summarise(functional.run_suite(pipeline, cases)).items():
            table.setdefault(language, {})[name] = {
                "violating_found": summary.violating_found,
                "violating": summary.violating,
                "protected_takedowns": summary.protected_takedowns,
                "protected_reviews": summary.protected_reviews,
                "protected": summary.protected,
                "benign_none": summary.benign_none,
                "benign": summary.benign,
            }
    return table


def _print(report: ExtremismReport, suite) -> None:
    click.echo("Across authors (trained on one author per language, scored on the other), at each one's thresholds:")
    for result in report.models:
        click.echo(f"  {result.name}: thresholds {result.thresholds}")
        for language, (found, total) in result.found.items():
            other = [pair for (lang, kind), pair in result.by_kind.items() if lang == language and kind != "violating"]
            flagged, count = sum(pair[0] for pair in other), sum(pair[1] for pair in other)
            click.echo(
                f"    {language:9} violating found {found}/{total} ({found / max(total, 1):.2f}), "
                f"non-violating flagged {flagged}/{count}"
            )
    click.echo("Real posts never trained on, flagged by the model:")
    for corpus, (flagged, total) in report.real.items():
        click.echo(f"  {corpus}: {flagged}/{total} ({flagged / max(total, 1):.2%})")
    click.echo("Functional suite (no training author saw it): rules alone -> rules + model")
    for language, rows in suite.items():
        before, after = rows["rules"], rows["rules + model"]
        click.echo(
            f"  {language:9} violating found {before['violating_found']} -> {after['violating_found']} of "
            f"{after['violating']}; protected to review {before['protected_reviews']} -> "
            f"{after['protected_reviews']} of {after['protected']} (takedown {after['protected_takedowns']}); "
            f"benign left alone {before['benign_none']} -> {after['benign_none']} of {after['benign']}"
        )


evaluate_extremism = click.command("evaluate-extremism")(_evaluate_extremism)
