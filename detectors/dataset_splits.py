"""Reading a dataset's rows and splitting them into training rows and evaluation sets, honestly.

A dataset's manifest (:mod:`detectors.dataset_manifest`) puts each file in
``train``, ``test`` or ``hold_out``. ``split: test`` files and the held-out part
of ``hold_out`` files are the evaluation sets; the rows of ``split: train``
files and the rest of ``hold_out`` files are the training rows. All the
datasets given to :func:`split_datasets` (by default both of
:data:`~detectors.dataset_manifest.DEFAULT_DATASETS`) are split together, and texts are compared by
:func:`overlap_key` (case-folded; URLs, @mentions, "RT" and punctuation
removed; whitespace collapsed), because the same tweet comes back as a
retweet, with another handle, or in another task's file:

1. An evaluation row whose text is among the training rows of any dataset is
   removed from its set (``EvaluationSet.overlap``): what is scored is the
   unseen subset. A removed row of a ``hold_out`` file is trained on instead:
   its text is in training anyway. So adding a test file never changes the
   training rows, and a test file that shares texts with training (a user
   counted 1,433 of the 2,003 texts of RUHSOLD's upstream task_1_test.tsv in
   task_2_train) is scored only on the texts the model has not seen.
2. A training row whose text is in an evaluation set is dropped (after step 1
   there are none; the check stays as the guarantee).
3. A row whose text is already in training with the same label is dropped, as
   is a second copy of a text and label within one evaluation set.

A ``gated`` head may also read rows labelled only ``coarse_label`` (offensive,
subtype unknown): they train its gate, unless the same text also has a fine
label in the training data.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.dataset_manifest import Dataset, DatasetError, SourceFile


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    where: str  # file:line


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    name: str  # e.g. "task_1_validation.tsv" or "task_2_train.tsv (held-out 20 %)"
    examples: tuple[Example, ...]  # the rows scored: no text of theirs is in training
    file_rows: int = 0  # rows the manifest puts in this set, before any were removed
    overlap: int = 0  # rows removed because training rows (of any dataset) have their text
    duplicates: int = 0  # rows removed as a second copy of a text and label in this set


@dataclass
class Splits:
    train: list[Example] = field(default_factory=list)
    evaluations: list[EvaluationSet] = field(default_factory=list)
    dropped_overlap: int = 0  # training rows dropped because an evaluation set has their text
    # Rows whose text is already in training with the same label, or with a
    # fine label when theirs is coarse only: task 1 and task 2 share most texts.
    dropped_duplicates: int = 0
    # Held-out rows whose text training rows have anyway: trained on, not scored.
    held_out_trained_on: int = 0


def text_key(text: str) -> str:
    """The text case-folded, whitespace collapsed (detectors.threat_data builds on it)."""
    return " ".join(text.casefold().split())


_KEY_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d+);")
_KEY_NOISE = re.compile(r"https?://\S+|@\w+|\brt\b")
# ASCII and general punctuation, not letters, digits or emoji: "lol!!!" and
# "lol" are one text, a post of emoji is not the same text as every other one.
_KEY_PUNCTUATION = re.compile("[!-/:-@\\[-`{-~\u00a1\u00ab\u00bb\u00bf\u2010-\u2027\u2039\u203a]+")
_KEY_REPEAT = re.compile(r"(.)\1{2,}")


def overlap_key(text: str) -> str:
    """The text as compared between files and splits: near-copies of a post are one text.

    Case-folded (NFKC first); URLs, @mentions, HTML entities and the retweet
    marker "RT" removed; punctuation runs become spaces; a character repeated
    three or more times is cut to two; whitespace collapsed. The vectoriser
    reads every @mention as "@" and every URL as "http", so a retweet of a
    training tweet under another handle is not an unseen post.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _KEY_PUNCTUATION.sub(" ", _KEY_NOISE.sub(" ", _KEY_ENTITY.sub(" ", text)))
    return " ".join(_KEY_REPEAT.sub(r"\1\1", text).split())


# -- reading and splitting ----------------------------------------------------


def read_examples(source: SourceFile) -> list[Example]:
    """Every row of ``source`` with its native label; an unknown code is a DatasetError."""
    try:
        handle = source.path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise DatasetError(f"{source.path}: cannot be read: {error.strerror}") from None
    examples = []
    with handle:
        if source.format == "tsv":
            rows = ((number, *_tsv_row(source.path, number, line)) for number, line in enumerate(handle, 1))
        else:
            rows = _csv_rows(source, handle)
        for number, text, code in rows:
            label = source.codes.get(code.strip())
            if label is None:
                raise DatasetError(
                    f"{source.path}:{number}: label {code!r} is not one of the codes {', '.join(sorted(source.codes))}"
                )
            examples.append(Example(text, label, f"{source.path.name}:{number}"))
    return examples


def _tsv_row(path: Path, number: int, line: str) -> tuple[str, str]:
    line = line.rstrip("\r\n")
    if "\t" not in line:
        raise DatasetError(f"{path}:{number}: no tab between text and label in {line[:60]!r}")
    text, code = line.rsplit("\t", 1)
    return text, code


def _csv_rows(source: SourceFile, handle):
    reader = csv.DictReader(handle)
    for column in (source.text_column, source.label_column):
        if column not in (reader.fieldnames or []):
            columns = ", ".join(reader.fieldnames or [])
            raise DatasetError(f"{source.path}:1: no column {column!r} (columns: {columns})")
    for row in reader:
        yield reader.line_num, row[source.text_column], row[source.label_column]


def evaluation_set_name(source: SourceFile) -> str:
    if source.split == "hold_out":
        return f"{source.path.name} (held-out {source.hold_out_fraction:.0%}, seed {source.hold_out_seed})"
    return source.path.name


def split_dataset(dataset: Dataset) -> Splits:
    """:func:`split_datasets` of this dataset alone."""
    return split_datasets([dataset])[0]


def split_datasets(datasets: Sequence[Dataset]) -> list[Splits]:
    """Each dataset's training rows and evaluation sets; no text is on both sides, across all of them.

    The order of the steps is the module docstring's.
    """
    candidates = [_read_dataset(dataset) for dataset in datasets]
    training_keys = {overlap_key(example.text) for training_rows, _ in candidates for example in training_rows}
    all_splits = [
        _unseen_evaluations(training_rows, evaluations, training_keys) for training_rows, evaluations in candidates
    ]
    evaluation_keys = {
        overlap_key(example.text)
        for splits in all_splits
        for evaluation in splits.evaluations
        for example in evaluation.examples
    }
    for dataset, (training_rows, _), splits in zip(datasets, candidates, all_splits):
        _keep_training_rows(dataset, training_rows, evaluation_keys, splits)
    return all_splits


# An evaluation set as read: its name, its rows, and whether they are held out
# of a file that also trains.
_ReadEvaluation = tuple[str, list[Example], bool]


def _read_dataset(dataset: Dataset) -> tuple[list[Example], list[_ReadEvaluation]]:
    """The dataset's candidate training rows and its evaluation sets, before any overlap is removed."""
    from sklearn.model_selection import train_test_split

    training_rows: list[Example] = []
    evaluations: list[_ReadEvaluation] = []
    for source in dataset.files:
        examples = read_examples(source)
        if source.split == "train":
            training_rows.extend(examples)
        elif source.split == "test":
            evaluations.append((evaluation_set_name(source), examples, False))
        else:
            indices = np.arange(len(examples))
            kept, held = train_test_split(
                indices,
                test_size=source.hold_out_fraction,
                stratify=[example.label for example in examples],
                random_state=source.hold_out_seed,
            )
            evaluations.append((evaluation_set_name(source), [examples[index] for index in sorted(held)], True))
            training_rows.extend(examples[index] for index in sorted(kept))
    return training_rows, evaluations


def _unseen_evaluations(
    training_rows: list[Example], evaluations: list[_ReadEvaluation], training_keys: set[str]
) -> Splits:
    """Step 1, and step 3 within each evaluation set: the sets as scored.

    A held-out row whose text is in training joins ``training_rows``.
    """
    splits = Splits()
    for name, examples, held_out in evaluations:
        unseen, seen_pairs = [], set()
        overlap = duplicates = 0
        for example in examples:
            key = overlap_key(example.text)
            if key in training_keys:
                overlap += 1
                if held_out:
                    training_rows.append(example)
                    splits.held_out_trained_on += 1
            elif (key, example.label) in seen_pairs:
                duplicates += 1
            else:
                seen_pairs.add((key, example.label))
                unseen.append(example)
        splits.evaluations.append(EvaluationSet(name, tuple(unseen), len(examples), overlap, duplicates))
    return splits


def _keep_training_rows(
    dataset: Dataset, training_rows: list[Example], evaluation_keys: set[str], splits: Splits
) -> None:
    """Steps 2 and 3 on the training rows: the rows kept go to ``splits.train``.

    A gated head's coarse-only row is a duplicate when its text has a fine label in training.
    """
    coarse = dataset.model.coarse_label if dataset.model.kind == "gated" else None
    fine_keys = {overlap_key(example.text) for example in training_rows if example.label != coarse}
    seen: set[tuple[str, str]] = set()
    for example in training_rows:
        key = overlap_key(example.text)
        if key in evaluation_keys:
            splits.dropped_overlap += 1
        elif (key, example.label) in seen or (example.label == coarse and key in fine_keys):
            splits.dropped_duplicates += 1
        else:
            seen.add((key, example.label))
            splits.train.append(example)
