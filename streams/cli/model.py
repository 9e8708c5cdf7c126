"""``modwatch train`` and ``modwatch evaluate``: the text classifier's model file from the shell.

``train``      fit one head per dataset manifest and write a skops model file
``evaluate``   score model files (and, with --baseline, a TF-IDF baseline) on the
               unseen part of the evaluation sets the manifests define

Both are plain click commands; streams/cli/__init__.py registers them on
``modwatch``, and streams/cli/_model_tables.py prints what ``evaluate`` found.
The work is in :mod:`detectors.training`, which imports no Kafka or Faust.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import click
import orjson

from detectors.configfile import ConfigError, Problems
from detectors.dataset_manifest import DEFAULT_DATASETS, DatasetError, load_dataset
from detectors.training import DEFAULT_SEED, Evaluation
from streams.cli._options import config_option, existing_file_option

_REPOSITORY = Path(__file__).resolve().parents[2]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(_REPOSITORY))
    except ValueError:
        return str(path)


_DATA_OPTION = existing_file_option(
    "--data",
    "data_files",
    multiple=True,
    default=DEFAULT_DATASETS,
    show_default=False,
    help="A dataset manifest (dataset.yaml); repeat for several. "
    f"Default: {' and '.join(_shown(path) for path in DEFAULT_DATASETS)}.",
)


def _load_datasets(paths: tuple[Path, ...]):
    problems = Problems()
    datasets = [load_dataset(path, problems) for path in paths]
    try:
        problems.raise_if_any()
    except ConfigError as error:
        raise click.ClickException("dataset manifest problems:\n  " + "\n  ".join(error.problems)) from None
    return datasets


@click.command("train")
@_DATA_OPTION
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the model file (skops format).",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Seeds the SVMs' coordinate descent. Hold-out splits have their own seed in each manifest.",
)
def train(data_files: tuple[Path, ...], out: Path, seed: int) -> None:
    """Train the text classifier and write it to --out.

    Each --data file is a dataset manifest, a YAML file beside the data it
    describes (see detectors/datasets/*/dataset.yaml and the docstring of
    detectors/training.py):

    \b
      head, language     the head it trains and the posts it reads (en, roman_ur)
      labels             native label -> hate | abuse | none
      model              kind (linear | gated), bits, char_orders, word_orders,
                         min_df, c, class_weight, calibration, gate_c,
                         normal_label, coarse_label
      files[]            path; format tsv (text TAB label, no header) or csv
                         (text_column, label_column); codes (file label ->
                         native label); split train | test | hold_out
                         (hold_out_fraction, hold_out_seed)

    All --data manifests are split together: an evaluation row whose text
    (case-folded, URLs, @mentions, RT and punctuation removed) is among any
    dataset's training rows is removed from its set, and no training row
    shares its text with an evaluation set. With the default manifests and
    seed the output is, byte for byte, config/models/text-classifier.skops.
    """
    from detectors.model_files import save_model
    from detectors.training import train_bundle

    datasets = _load_datasets(data_files)
    started = time.perf_counter()
    try:
        bundle = train_bundle(datasets, seed)
    except DatasetError as error:
        raise click.ClickException(str(error)) from None
    digest = save_model(bundle, out)
    for head in bundle["heads"]:
        training = head["training"]
        held = ", ".join(f"{name}: {rows}" for name, rows in training["evaluation_sets"].items())
        removed = sum(training["evaluation_overlap_removed"].values())
        click.echo(
            f"head {head['name']} ({training['dataset']}): {training['training_rows']} training posts; "
            f"evaluation sets (unseen rows) {held}; {removed} evaluation rows removed as their text is in "
            f"training ({training['held_out_trained_on']} held-out rows trained on instead); "
            f"dropped {training['dropped_overlapping_evaluation']} sharing an evaluation text "
            f"and {training['dropped_duplicates']} duplicates"
        )
    size = out.stat().st_size
    click.echo(f"wrote {out} ({size / 1e6:.1f} MB, sha256 {digest}) in {time.perf_counter() - started:.0f} s")


@click.command("evaluate")
@existing_file_option(
    "--model", "model_paths", multiple=True, help="A model file to score; repeat to compare several on the same rows."
)
@_DATA_OPTION
@click.option(
    "--baseline",
    is_flag=True,
    help="Also fit a TF-IDF + logistic-regression baseline on the same training rows and score it.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Category threshold for the findings' precision and recall. Default: min_score in config/classifier.yaml.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per evaluation set instead of tables.")
@click.option(
    "--functional",
    is_flag=True,
    help="Run the functional suite through every detector and the policy instead: "
    "a table per language and case type, the floors, the misses. Exit 1 if a floor fails.",
)
@existing_file_option(
    "--suite",
    "suite_files",
    multiple=True,
    help="Functional suite file (JSON lines; repeatable). Default: tests/data/functional/*.jsonl.",
)
@config_option("--functional")
def evaluate(
    model_paths: tuple[Path, ...],
    data_files: tuple[Path, ...],
    baseline: bool,
    min_score: float | None,
    as_json: bool,
    functional: bool,
    suite_files: tuple[Path, ...],
    config_dir: Path | None,
) -> None:
    """Score --model on the unseen part of the evaluation sets of the --data manifests.

    The manifests are split together, as by ``train``: each set loses the rows
    whose text is among the training rows of any dataset (the overlap, shown
    per set), and the rest is scored. For each set: per-class precision,
    recall and F1 of the native labels, the confusion matrix (rows: true
    label, columns: predicted), macro and weighted F1, and the precision and
    recall of the detector's findings per category (hate, abuse, none) with
    config/classifier.yaml's settings (min_score unless --min-score is given,
    and hate_needs_target). A gated head's coarse set (normal vs offensive) is scored on
    the summed offensive probability and has no categories. A warning is
    printed when a head was trained from other data or settings than the
    manifests now say: its "unseen" rows may then have been seen in training.
    """
    from streams.cli._model_tables import print_functional, print_tables

    if functional:
        print_functional(*_run_functional_suite(suite_files, config_dir), as_json=as_json)
        return
    if not model_paths:
        raise click.UsageError("give --model (one or more), or --functional")
    models, results = _score(model_paths, _load_datasets(data_files), baseline, min_score)
    for warning in sorted({warning for result in results for warning in result.warnings}):
        click.echo(f"modwatch evaluate: warning: {warning}", err=True)
    if as_json:
        for result in results:
            sys.stdout.buffer.write(orjson.dumps(result.as_dict()) + b"\n")
        return
    print_tables(models, results)


def _score(model_paths: tuple[Path, ...], datasets, baseline: bool, min_score: float | None):
    """Each model (and the baseline) on the unseen rows: [(scorer name, file, sha256)] and the evaluations."""
    from detectors.classifier import load_model
    from detectors.dataset_splits import split_datasets
    from detectors.model_files import ModelFileError
    from detectors.text_classifier import configured_settings
    from detectors.training import evaluate as evaluate_datasets
    from detectors.training import evaluate_baseline

    problems = Problems()
    settings = configured_settings(_REPOSITORY / "config", problems)
    if problems.messages:
        raise click.ClickException("config/classifier.yaml problems:\n  " + "\n  ".join(problems.messages))
    if min_score is not None:
        settings = replace(settings, min_score=min_score)
    results: list[Evaluation] = []
    models: list[tuple[str, Path, str]] = []  # scorer name, file, sha256
    try:
        for number, model_path in enumerate(model_paths, 1):
            try:
                model = load_model(model_path)
            except ModelFileError as error:
                raise click.ClickException(str(error)) from None
            # Two files may share a name: with several, they are "model 1", "model 2", ...
            scorer = model.file_name if len(model_paths) == 1 else f"model {number}"
            models.append((scorer, model_path, model.sha256))
            results.extend(replace(result, scorer=scorer) for result in evaluate_datasets(model, datasets, settings))
        if baseline:
            for dataset, splits in zip(datasets, split_datasets(datasets)):
                results.extend(evaluate_baseline(dataset, splits, settings))
    except DatasetError as error:
        raise click.ClickException(str(error)) from None
    return models, results


FUNCTIONAL_SUITE = _REPOSITORY / "tests" / "data" / "functional"


def _run_functional_suite(suite_files: tuple[Path, ...], config_dir: Path | None):
    """``evaluate --functional``: the suite through the whole pipeline; (suite files, cases, outcomes)."""
    from detectors import functional
    from detectors.pipeline import Pipeline
    from streams.settings import default_config_dir

    paths = list(suite_files) or sorted(FUNCTIONAL_SUITE.glob("*.jsonl"))
    if not paths:
        raise click.UsageError(f"no functional suite: give --suite, or add files to {FUNCTIONAL_SUITE}")
    try:
        cases = functional.load_suite(paths)
    except functional.SuiteError as error:
        raise click.ClickException(str(error)) from None
    pipeline = Pipeline.from_config_dir(config_dir or default_config_dir())
    return paths, cases, functional.run_suite(pipeline, cases)
