"""``modwatch evaluate-threat``: the English threat model against its TF-IDF baseline.

Both are scored on the same held-out split of implicit_hate_en (threatening vs
not_hate) at thresholds chosen on the training split; the baseline is fitted on
the same training rows as the model. streams/cli/__init__.py registers the
command on ``modwatch``. The work is in :mod:`detectors.threat_model`,
which imports no Kafka or Faust.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import click
import orjson

from detectors.dataset_manifest import DatasetError
from detectors.model_files import ModelFileError
from detectors.threat_data import load_splits
from detectors.threat_evaluation import ThreatReport
from detectors.threat_model import VARIANTS, ThreatModel

_REPOSITORY = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = _REPOSITORY / "config" / "models" / "threat-en.skops"


@click.option(
    "--model",
    "model_path",
    default=DEFAULT_MODEL,
    show_default=False,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The threat model file. Default: config/models/threat-en.skops.",
)
@click.option(
    "--train", "retrain", is_flag=True, help="Retrain the model on the shipped data and write it to --model first."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
@click.option(
    "--variant",
    "variant_names",
    multiple=True,
    type=click.Choice(sorted(VARIANTS)),
    help="Also train and score this variant (repeat for several; a minute or more each).",
)
@click.option(
    "--detector",
    "with_detector",
    is_flag=True,
    help="Also run the violent_threat detector (config/threats.yaml) on the same held-out posts, "
    "with its grammar alone and with grammar + model: what the model adds where it is used.",
)
def _evaluate_threat(
    model_path: Path, retrain: bool, as_json: bool, variant_names: tuple[str, ...], with_detector: bool
) -> None:
    """Score the threat model and its baseline on the held-out split, and print both.

    \b
    model      config/models/threat-en.skops: hashed character and word
               n-grams, balanced logistic regression
    baseline   TF-IDF of words and word pairs, balanced logistic regression,
               fitted on the same training rows when this command runs

    Figures are for the threatening class on held-out implicit_hate_en posts
    (threatening vs not_hate), each model at its own threshold, chosen by F1
    on out-of-fold predictions over the training split. "hard neg." is the
    share of held-out non-threatening implicit hate flagged, "everyday" the
    share of Davidson's held-out neither/offensive tweets flagged. Without
    --train the baseline alone is fitted (about 20 s); with it, the model too
    (about a minute), and the model file is rewritten.
    """
    from detectors.threat_evaluation import evaluate_model_file, train_and_evaluate

    started = time.perf_counter()
    variants = {name: VARIANTS[name] for name in variant_names}
    try:
        splits = load_splits()
        if retrain:
            from detectors.model_files import save_model as save_bundle

            bundle, report = train_and_evaluate(splits, variants=variants)
            digest = save_bundle(bundle, model_path)
        else:
            model = ThreatModel.load(model_path)
            digest = model.sha256
            report = evaluate_model_file(model, splits)
            if variants:
                _, extra = train_and_evaluate(splits, variants=variants)
                report = ThreatReport(report.models + extra.models[2:], report.sizes, report.warnings)
    except (DatasetError, ModelFileError) as error:
        raise click.ClickException(str(error)) from None
    for warning in report.warnings:
        click.echo(f"evaluate-threat: warning: {warning}", err=True)
    if as_json:
        document = {"model_file": str(model_path), "sha256": digest, "retrained": retrain, **report.as_dict()}
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        return
    click.echo(f"{'wrote' if retrain else 'model'} {model_path} (sha256 {digest})")
    click.echo(format_report(report))
    if with_detector:
        click.echo(format_detector_table(detector_counts(splits, ThreatModel.load(model_path))))
    click.echo(f"({time.perf_counter() - started:.0f} s)")


def detector_counts(splits, model: ThreatModel) -> list[dict]:
    """The violent_threat detector on the held-out posts: findings at review level or above."""
    from datetime import UTC, datetime

    from detectors.configfile import Problems
    from detectors.events import Post
    from detectors.threat_grammar import load_grammar
    from detectors.threats import ViolentThreatDetector

    problems = Problems()
    grammar = load_grammar(_REPOSITORY / "config" / "threats.yaml", problems)
    if problems.messages:
        raise click.ClickException("\n".join(problems.messages))
    shipped = ViolentThreatDetector.from_config(_REPOSITORY / "config", problems)
    detectors = {
        "grammar alone": ViolentThreatDetector(grammar),
        "grammar + model": ViolentThreatDetector(grammar, model, shipped.model_threshold),
    }
    posted_at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for set_name, posts in (
        ("held-out implicit_hate", splits.test),
        ("held-out hard negatives", splits.test_hard_negatives),
        ("held-out everyday", splits.test_everyday),
    ):
        for label, chosen in (
            ("threats", [p for p in posts if p.is_threat]),
            ("non-threats", [p for p in posts if not p.is_threat]),
        ):
            if not chosen:
                continue
            batch = [Post("x", str(number), "a", posted_at, text=post.text) for number, post in enumerate(chosen)]
            row = {"set": set_name, "posts": label, "n": len(chosen)}
            for name, detector in detectors.items():
                found = []
                for start in range(0, len(batch), 500):
                    found.extend(detector.detect(batch[start : start + 500]))
                row[name] = sum(any(finding.score >= 0.5 for finding in findings) for findings in found)
            rows.append(row)
    return rows


def format_detector_table(rows: list[dict]) -> str:
    lines = [
        "violent_threat detector (review or takedown score) on the same held-out posts:",
        f"{'set':<26} {'posts':<12} {'n':>6} {'grammar alone':>14} {'grammar + model':>16}",
    ]
    for row in rows:
        lines.append(
            f"{row['set']:<26} {row['posts']:<12} {row['n']:>6} {row['grammar alone']:>14} {row['grammar + model']:>16}"
        )
    return "\n".join(lines)


def format_report(report: ThreatReport) -> str:
    """The report as a plain-text table and a few lines of sizes."""
    columns = (
        "",
        "threshold",
        "val F1",
        "precision",
        "recall",
        "F1",
        "avg prec",
        "TP/FP/FN",
        "hard neg.",
        "everyday",
        "train rows",
    )
    rows = [columns]
    for scores in report.models:
        rows.append(
            (
                scores.name,
                f"{scores.threshold:.3f}",
                _figure(scores.validation_f1),
                f"{scores.precision:.3f}",
                f"{scores.recall:.3f}",
                f"{scores.f1:.3f}",
                f"{scores.average_precision:.3f}",
                f"{scores.true_positives}/{scores.false_positives}/{scores.false_negatives}",
                _percent(scores.hard_negatives_flagged),
                _percent(scores.everyday_flagged),
                str(scores.training_rows),
            )
        )
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    lines = [
        "  ".join(
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
    sizes = report.sizes
    dropped = ", ".join(f"{reason} {count}" for reason, count in sizes.get("dropped_before_split", {}).items())
    overlap = ", ".join(f"{label} {count}" for label, count in sizes.get("overlap_removed_by_label", {}).items())
    lines += [
        "",
        f"held-out test: {sizes.get('test')} posts ({sizes.get('test_threatening')} threatening); "
        f"hard negatives {sizes.get('test_hard_negatives')}; everyday tweets {sizes.get('test_everyday')}",
        f"training: {sizes.get('training_rows')} rows ({sizes.get('training_threatening')} threatening), "
        f"split seed {sizes.get('split_seed')}",
        f"overlap removed from training: {sizes.get('overlap_removed')} ({overlap or 'none'}); "
        f"duplicates removed: {sizes.get('duplicates_removed')}",
        f"left out before splitting: {dropped or 'none'}",
    ]
    return "\n".join(lines)


def _figure(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


evaluate_threat = click.command("evaluate-threat")(_evaluate_threat)
