"""What ``modwatch evaluate`` prints: the scores of each model per evaluation set, or the functional suite.

:func:`print_tables` shows, per evaluation set, the per-class scores, the
confusion matrix and the F1 figures, then one summary row per set and
scorer. :func:`print_functional` shows the functional suite per language and
case type against its floors (or writes it as JSON lines) and exits 1 when a
floor is missed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from detectors.training import BASELINE, Evaluation

SUMMARY_COLUMNS = (
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
)
CASE_COLUMNS = ("language", "case", "expected", "n", "takedown", "review", "none")
FLOOR_COLUMNS = (
    "part",
    "language",
    "violating found",
    "protected: takedown",
    "protected: review",
    "benign: none",
    "mention: review",
)


def print_tables(models: list[tuple[str, Path, str]], results: list[Evaluation]) -> None:
    # Wide enough for the summary's twelve columns when piped.
    console = Console(width=max(Console().width, 160))
    for scorer, path, digest in models:
        console.print(escape(f"{scorer}: {path} (sha256 {digest})"))
    for result in results:
        _print_result(console, result)
    console.print(_summary(results))


def _print_result(console: Console, result: Evaluation) -> None:
    """One evaluation set: per-class scores, the confusion matrix, macro and weighted F1."""
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


def _summary(results: list[Evaluation]) -> Table:
    summary = Table(
        title=escape(
            f"summary: unseen rows only; P and R of findings at min_score {results[0].min_score:g}"
            + (f"; {BASELINE}" if any(result.scorer == BASELINE for result in results) else "")
        )
        if results
        else "summary",
        title_justify="left",
    )
    for column in SUMMARY_COLUMNS:
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
    return summary


def _short_set_name(result: Evaluation) -> str:
    """ "task_1_validation.tsv (coarse: ...)" -> "task_1_validation.tsv coarse", for the summary."""
    name = result.name.split(" (", 1)[0]
    if "held-out" in result.name:
        name += " held-out"
    return name + (" coarse" if "(coarse" in result.name else "")


def print_functional(paths: list[Path], cases: list, outcomes: list, *, as_json: bool) -> None:
    """The functional suite's outcomes per part (suite file) and language; exit 1 when a floor is missed."""
    from detectors import functional

    parts = sorted({case.part for case in cases})
    summaries = {part: functional.summarise([o for o in outcomes if o.case.part == part]) for part in parts}
    summaries["all"] = functional.summarise(outcomes)
    failures = functional.floor_failures(summaries["all"])
    if as_json:
        _write_functional_json(outcomes, summaries)
    else:
        _print_functional_tables(paths, cases, outcomes, summaries)
        for failure in failures:
            click.echo(f"floor missed: {failure}", err=True)
    if failures:
        sys.exit(1)


def _write_functional_json(outcomes: list, summaries: dict) -> None:
    from detectors import functional

    for row in functional.case_table(outcomes):
        sys.stdout.buffer.write(orjson.dumps({"table": "cases", **row}) + b"\n")
    for part, by_language in summaries.items():
        for summary in by_language.values():
            record = {"table": "summary", "part": part, **{name: getattr(summary, name) for name in summary.__slots__}}
            sys.stdout.buffer.write(orjson.dumps(record) + b"\n")


def _print_functional_tables(paths: list[Path], cases: list, outcomes: list, summaries: dict) -> None:
    from detectors import functional

    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"Functional suite: {len(cases)} cases ({', '.join(p.name for p in paths)})")
    for column in CASE_COLUMNS:
        table.add_column(column, justify="right" if column in ("n", "takedown", "review", "none") else "left")
    for row in functional.case_table(outcomes):
        table.add_row(*(str(row[column]) for column in CASE_COLUMNS))
    console.print(table)
    floors = functional.FLOORS
    summary_table = Table(
        title=f"Floors: violating found >= {floors['violating_recall']}, protected takedowns = 0, "
        f"benign with no action >= {floors['benign_none']}"
    )
    for column in FLOOR_COLUMNS:
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
