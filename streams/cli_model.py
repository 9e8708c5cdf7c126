"""``modwatch train`` and ``modwatch evaluate``: the text classifier's model file from the shell.

``train``      fit one head per dataset manifest and write a skops model file
``evaluate``   score model files (and, with --baseline, a TF-IDF baseline) on the
               unseen part of the evaluation sets the manifests define

Both are plain click commands; streams/cli.py registers them with
``cli.add_command(train)`` and ``cli.add_command(evaluate)``. The work is in
:mod:`detectors.training`, which imports no Kafka or Faust.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import click
import orjson

from detectors.configfile import ConfigError, Problems
from detectors.training import BASELINE, DEFAULT_DATASETS, DEFAULT_SEED, DatasetError, Evaluation, load_dataset

_REPOSITORY = Path(__file__).resolve().parent.parent


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(_REPOSITORY))
    except ValueError:
        return str(path)


_DATA_OPTION = click.option(
    "--data",
    "data_files",
    multiple=True,
    default=DEFAULT_DATASETS,
    show_default=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
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
    from detectors.classifier import save_model
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
@click.option(
    "--model",
    "model_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A model file to score; repeat to compare several on the same rows.",
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
@click.option(
    "--suite",
    "suite_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Functional suite file (JSON lines; repeatable). Default: tests/data/functional/*.jsonl.",
)
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Config folder for --functional (default: ./config or MODWATCH_CONFIG_DIR).",
)
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
    if functional:
        _evaluate_functional(suite_files, config_dir, as_json)
        return
    if not model_paths:
        raise click.UsageError("give --model (one or more), or --functional")
    from detectors.classifier import ModelFileError, configured_settings, load_model
    from detectors.training import evaluate as evaluate_datasets
    from detectors.training import evaluate_baseline, split_datasets

    datasets = _load_datasets(data_files)
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
    for warning in sorted({warning for result in results for warning in result.warnings}):
        click.echo(f"modwatch evaluate: warning: {warning}", err=True)
    if as_json:
        for result in results:
            sys.stdout.buffer.write(orjson.dumps(result.as_dict()) + b"\n")
        return
    _print_tables(models, results)


FUNCTIONAL_SUITE = _REPOSITORY / "tests" / "data" / "functional"


def _evaluate_functional(suite_files: tuple[Path, ...], config_dir: Path | None, as_json: bool) -> None:
    """``evaluate --functional``: the suite through the whole pipeline, per language and case type."""
    from rich.console import Console
    from rich.table import Table

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
    outcomes = functional.run_suite(pipeline, cases)
    parts = sorted({case.part for case in cases})
    summaries = {part: functional.summarise([o for o in outcomes if o.case.part == part]) for part in parts}
    summaries["all"] = functional.summarise(outcomes)
    failures = functional.floor_failures(summaries["all"])
    if as_json:
        for row in functional.case_table(outcomes):
            sys.stdout.buffer.write(orjson.dumps({"table": "cases", **row}) + b"\n")
        for part, by_language in summaries.items():
            for summary in by_language.values():
                record = {
                    "table": "summary",
                    "part": part,
                    **{name: getattr(summary, name) for name in summary.__slots__},
                }
                sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        if failures:
            sys.exit(1)
        return
    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"Functional suite: {len(cases)} cases ({', '.join(p.name for p in paths)})")
    for column in ("language", "case", "expected", "n", "takedown", "review", "none"):
        table.add_column(column, justify="right" if column in ("n", "takedown", "review", "none") else "left")
    for row in functional.case_table(outcomes):
        table.add_row(
            *(str(row[column]) for column in ("language", "case", "expected", "n", "takedown", "review", "none"))
        )
    console.print(table)
    floors = functional.FLOORS
    summary_table = Table(
        title=f"Floors: violating found >= {floors['violating_recall']}, protected takedowns = 0, "
        f"benign with no action >= {floors['benign_none']}"
    )
    for column in (
        "part",
        "language",
        "violating found",
        "protected: takedown",
        "protected: review",
        "benign: none",
        "mention: review",
    ):
        summary_table.add_column(column)
    for part, by_language in summaries.items():
        for summary in by_language.values():
            summary_table.add_row(
                part,
                summary.language,
                f"{summary.violating_found}/{summary.violating} ({summary.violating_recall:.2f})",
                str(summary.protected_takedowns),
                f"{summary.protected_reviews}/{summary.protected}",
                f"{summary.benign_none}/{summary.benign} ({summary.benign_none_rate:.2f})",
                f"{summary.mention_review}/{summary.mention}",
            )
    console.print(summary_table)
    for outcome in functional.misses(outcomes):
        console.print(
            f"miss {outcome.case.id} [{outcome.case.case}] -> {outcome.action}: {outcome.case.text}", markup=False
        )
    if failures:
        for failure in failures:
            click.echo(f"floor missed: {failure}", err=True)
        sys.exit(1)


def _short_set_name(result: Evaluation) -> str:
    """ "task_1_validation.tsv (coarse: ...)" -> "task_1_validation.tsv coarse", for the summary."""
    name = result.name.split(" (", 1)[0]
    if "held-out" in result.name:
        name += " held-out"
    return name + (" coarse" if "(coarse" in result.name else "")


def _print_tables(models: list[tuple[str, Path, str]], results: list[Evaluation]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Wide enough for the summary's twelve columns when piped.
    console = Console(width=max(Console().width, 160))
    for scorer, path, digest in models:
        console.print(escape(f"{scorer}: {path} (sha256 {digest})"))
    for result in results:
        title = escape(
            f"{result.scorer} | {result.language}: {result.dataset}, {result.name}: {result.rows} unseen posts scored "
            f"of {result.file_rows} ({result.overlap_removed} removed: text in training; "
            f"{result.duplicates_removed} duplicates)"
        )
        console.print(title, soft_wrap=True)
        scores = Table()
        for column in ("label", "precision", "recall", "F1", "support"):
            scores.add_column(column, justify="left" if column == "label" else "right")
        for label in result.labels:
            row = result.per_class[label]
            scores.add_row(
                label, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", str(row["support"])
            )
        console.print(scores)
        confusion = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
        confusion.add_column("")
        for label in result.labels:
            confusion.add_column(label, justify="right")
        for label, counts in zip(result.labels, result.confusion):
            confusion.add_row(label, *map(str, counts))
        console.print(confusion)
        console.print(
            f"macro F1 {result.macro_f1:.4f}   weighted F1 {result.weighted_f1:.4f}   accuracy {result.accuracy:.4f}\n"
        )
    summary = Table(
        title=escape(
            f"summary: unseen rows only; P and R of findings at min_score {results[0].min_score:g}"
            + (f"; {BASELINE}" if any(result.scorer == BASELINE for result in results) else "")
        )
        if results
        else "summary",
        title_justify="left",
    )
    for column in (
        "scorer",
        "language",
        "set",
        "scored",
        "removed",
        "macro F1",
        "hate P",
        "hate R",
        "abuse P",
        "abuse R",
        "none P",
        "none R",
    ):
        text = column in ("scorer", "language", "set")
        summary.add_column(column, justify="left" if text else "right", no_wrap=text)
    for result in results:
        cells = []
        for category in ("hate", "abuse", "none"):
            row = result.categories.get(category)
            cells += [f"{row['precision']:.3f}", f"{row['recall']:.3f}"] if row else ["-", "-"]
        summary.add_row(
            escape("baseline" if result.scorer == BASELINE else result.scorer),
            result.language,
            escape(_short_set_name(result)),
            str(result.rows),
            str(result.overlap_removed),
            f"{result.macro_f1:.4f}",
            *cells,
        )
    console.print(summary)


@click.group()
def _standalone() -> None:
    """train and evaluate, until streams/cli.py registers them on ``modwatch``."""


_standalone.add_command(train)
_standalone.add_command(evaluate)

if __name__ == "__main__":
    _standalone(prog_name="python -m streams.cli_model")
