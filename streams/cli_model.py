"""``modwatch train`` and ``modwatch evaluate``: the text classifier's model file from the shell.

``train``      fit one head per dataset manifest and write a skops model file
``evaluate``   score a model file on the held-out sets its manifests define

Both are plain click commands; streams/cli.py registers them with
``cli.add_command(train)`` and ``cli.add_command(evaluate)``. The work is in
:mod:`detectors.training`, which imports no Kafka or Faust.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import click
import orjson

from detectors.configfile import ConfigError, Problems
from detectors.training import DEFAULT_DATASETS, DEFAULT_SEED, DatasetError, Evaluation, load_dataset

_REPOSITORY = Path(__file__).resolve().parent.parent


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(_REPOSITORY))
    except ValueError:
        return str(path)


_DATA_OPTION = click.option(
    "--data", "data_files", multiple=True, default=DEFAULT_DATASETS, show_default=False,
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
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Where to write the model file (skops format).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seeds the SVMs' coordinate descent. Hold-out splits have their own seed in each manifest.")
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

    No training row shares its text (case-folded, whitespace collapsed) with
    an evaluation set. With the default manifests and seed the output is,
    byte for byte, config/models/text-classifier.skops.
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
        click.echo(
            f"head {head['name']} ({training['dataset']}): {training['training_rows']} training posts; "
            f"held out {held}; dropped {training['dropped_overlapping_evaluation']} sharing an evaluation text "
            f"and {training['dropped_duplicates']} duplicates"
        )
    size = out.stat().st_size
    click.echo(f"wrote {out} ({size / 1e6:.1f} MB, sha256 {digest}) in {time.perf_counter() - started:.0f} s")


@click.command("evaluate")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The model file to score.")
@_DATA_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per evaluation set instead of tables.")
def evaluate(model_path: Path, data_files: tuple[Path, ...], as_json: bool) -> None:
    """Score --model on the evaluation sets of each --data manifest.

    For each set: per-class precision, recall and F1, the confusion matrix
    (rows: true label, columns: predicted), macro and weighted F1. A gated
    head's coarse set (normal vs offensive) is scored on the summed offensive
    probability. A warning is printed when the head was trained from other
    data or settings than the manifest now says: its "held-out" rows may then
    have been seen in training.
    """
    from detectors.classifier import ModelFileError, load_model
    from detectors.training import evaluate as evaluate_dataset

    datasets = _load_datasets(data_files)
    try:
        model = load_model(model_path)
    except ModelFileError as error:
        raise click.ClickException(str(error)) from None
    results: list[Evaluation] = []
    try:
        for dataset in datasets:
            results.extend(evaluate_dataset(model, dataset))
    except DatasetError as error:
        raise click.ClickException(str(error)) from None
    for warning in sorted({warning for result in results for warning in result.warnings}):
        click.echo(f"modwatch evaluate: warning: {warning}", err=True)
    if as_json:
        for result in results:
            sys.stdout.buffer.write(orjson.dumps(result.as_dict()) + b"\n")
        return
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    _print_tables(model_path, digest, results)


def _print_tables(model_path: Path, digest: str, results: list[Evaluation]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Wide enough for the confusion matrix's five RUHSOLD labels when piped.
    console = Console(width=max(Console().width, 120))
    console.print(escape(f"model {model_path} (sha256 {digest})"))
    for result in results:
        title = escape(f"{result.head}: {result.dataset}, {result.name}, {result.rows} posts")
        scores = Table(title=title, title_justify="left")
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


@click.group()
def _standalone() -> None:
    """train and evaluate, until streams/cli.py registers them on ``modwatch``."""


_standalone.add_command(train)
_standalone.add_command(evaluate)

if __name__ == "__main__":
    _standalone(prog_name="python -m streams.cli_model")
