"""Training and evaluating the text classifier from dataset manifests.

A dataset is a folder under ``detectors/datasets/`` holding the upstream files
unchanged (with their licence, citation and source commit) and a manifest,
``dataset.yaml``, that says how to read them and how to split them::

    head: en                     # the head this dataset trains, one per language
    language: en                 # which posts it reads (see classifier.post_language)
    labels:                      # native label: product category (hate | abuse | none)
      hate_speech: hate
      offensive_language: abuse
      neither: none
    model:                       # pipeline settings (defaults in ModelSettings)
      kind: linear               # linear | gated
      bits: 18
      c: 0.5
    files:
      - path: labeled_data.csv
        format: csv              # csv (header row; text_column, label_column) or
        text_column: tweet       # tsv (no header; text, a tab, the label)
        label_column: class
        codes: {"0": hate_speech, "1": offensive_language, "2": neither}
        split: hold_out          # train | test | hold_out
        hold_out_fraction: 0.2   # stratified by label
        hold_out_seed: 20170305

``split: test`` files and the held-out part of ``hold_out`` files are the
evaluation sets; the rows of ``split: train`` files and the rest of ``hold_out``
files are the training rows. All the datasets given to :func:`split_datasets`
(by default both of ``DEFAULT_DATASETS``) are split together, and texts are
compared by :func:`overlap_key` (case-folded; URLs, @mentions, "RT" and
punctuation removed; whitespace collapsed), because the same tweet comes back
as a retweet, with another handle, or in another task's file:

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

Training is deterministic: the same manifests, data and ``seed`` give the same
fitted numbers (liblinear's coordinate descent is seeded, calibration folds are
unshuffled, and BLAS runs on one thread while fitting so sums do not depend on
the machine's core count).
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.classifier import (
    CATEGORIES,
    DEFAULT_MIN_SCORE,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    NO_CATEGORY,
    ClassifierSettings,
    GatedClassifier,
    HashedNgramVectorizer,
    Head,
    LogCountRatioScaler,
    TextModel,
    category_scores,
)
from detectors.configfile import ANY_KEY, VALUE, Document, Problems, Section, load_yaml

DATASETS = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASETS = (DATASETS / "davidson_en" / "dataset.yaml", DATASETS / "ruhsold_roman_urdu" / "dataset.yaml")
DEFAULT_SEED = 2017
# Platt scaling fits on out-of-fold decision values from this many folds.
CALIBRATION_FOLDS = 5
FORMATS = frozenset({"csv", "tsv"})
SPLITS = frozenset({"train", "test", "hold_out"})
KINDS = frozenset({"linear", "gated"})
CALIBRATIONS = frozenset({"sigmoid", "temperature"})


class DatasetError(Exception):
    """A data file that cannot be read as its manifest says; the message names file and line."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    kind: str = "linear"
    bits: int = 20
    char_orders: tuple[int, ...] = (1, 2, 3, 4, 5)
    word_orders: tuple[int, ...] = (1, 2)
    min_df: int = 1
    c: float = 0.5  # LinearSVC's C (of the subtype model, for a gated head)
    class_weight: str | None = None
    calibration: str = "sigmoid"  # of the linear (or subtype) model: sigmoid | temperature
    gate_c: float = 1.0
    normal_label: str = "normal"
    coarse_label: str = "offensive"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "bits": self.bits,
            "char_orders": list(self.char_orders),
            "word_orders": list(self.word_orders),
            "min_df": self.min_df,
            "c": self.c,
            "class_weight": self.class_weight,
            "calibration": self.calibration,
            "gate_c": self.gate_c,
            "normal_label": self.normal_label,
            "coarse_label": self.coarse_label,
        }


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    format: str
    codes: dict[str, str]  # label as written in the file -> native label
    split: str
    text_column: str = ""
    label_column: str = ""
    hold_out_fraction: float = 0.0
    hold_out_seed: int = 0


@dataclass(frozen=True, slots=True)
class Dataset:
    manifest: Path
    head: str
    language: str
    labels: dict[str, str]  # native label -> category
    model: ModelSettings
    files: tuple[SourceFile, ...]

    @property
    def name(self) -> str:
        """``<folder>/<manifest>``: stable across checkouts, recorded in the model."""
        return f"{self.manifest.parent.name}/{self.manifest.name}"


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
    """The text case-folded, whitespace collapsed (detectors.threat_model builds on it)."""
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


# -- manifests ----------------------------------------------------------------

DATASET_SCHEMA = {
    "head": VALUE,
    "language": VALUE,
    "labels": {ANY_KEY: VALUE},
    "model": dict.fromkeys(
        (
            "kind",
            "bits",
            "char_orders",
            "word_orders",
            "min_df",
            "c",
            "class_weight",
            "calibration",
            "gate_c",
            "normal_label",
            "coarse_label",
        ),
        VALUE,
    ),
    "files": [
        Section(
            "file",
            {
                "path": VALUE,
                "format": VALUE,
                "codes": {ANY_KEY: VALUE},
                "split": VALUE,
                "text_column": VALUE,
                "label_column": VALUE,
                "hold_out_fraction": VALUE,
                "hold_out_seed": VALUE,
            },
        )
    ],
}


def load_dataset(path: Path, problems: Problems) -> Dataset:
    """Read a ``dataset.yaml``; problems are recorded with file:line: field."""
    path = Path(path)
    document = load_yaml(path, problems)
    document.check_keys(DATASET_SCHEMA)
    head = document.text(("head",), required=True)
    language = document.text(("language",), required=True)
    labels: dict[str, str] = {}
    for label, category in document.mapping(("labels",), required=True).items():
        if category not in (*CATEGORIES, NO_CATEGORY):
            document.problem(("labels", label), f"{category!r} is not one of {', '.join((*CATEGORIES, NO_CATEGORY))}")
            continue
        labels[label] = category
    settings = _model_settings(document, labels)
    files = []
    for index, _ in enumerate(document.sequence(("files",), required=True)):
        source = _source_file(document, ("files", index), path.parent, labels, settings)
        if source is not None:
            files.append(source)
    return Dataset(path, head, language, labels, settings, tuple(files))


def _model_settings(document: Document, labels: dict[str, str]) -> ModelSettings:
    where = ("model",)
    document.mapping(where)
    defaults = ModelSettings()
    kind = document.choice(where + ("kind",), KINDS, default=defaults.kind)

    def whole(name: str, default: int, minimum: int, maximum: int) -> int:
        value = document.number(where + (name,), default=default, minimum=minimum, maximum=maximum)
        if value != int(value):
            document.problem(where + (name,), f"must be a whole number, not {value!r}")
        return int(value)

    def orders(name: str, default: tuple[int, ...], allowed: range) -> tuple[int, ...]:
        if document.get(where + (name,)) is None:
            return default
        values = []
        for index, value in enumerate(document.sequence(where + (name,))):
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                document.problem(where + (name, index), f"{value!r} is not one of {allowed.start}..{allowed.stop - 1}")
                continue
            values.append(value)
        return tuple(sorted(set(values)))

    class_weight = document.choice(where + ("class_weight",), {"none", "balanced"}, default="none")
    settings = ModelSettings(
        kind=kind,
        bits=whole("bits", defaults.bits, 10, 24),
        char_orders=orders("char_orders", defaults.char_orders, range(1, 9)),
        word_orders=orders("word_orders", defaults.word_orders, range(1, 3)),
        min_df=whole("min_df", defaults.min_df, 1, 1000),
        c=document.number(where + ("c",), default=defaults.c, minimum=1e-6),
        class_weight=None if class_weight == "none" else class_weight,
        calibration=document.choice(where + ("calibration",), CALIBRATIONS, default=defaults.calibration),
        gate_c=document.number(where + ("gate_c",), default=defaults.gate_c, minimum=1e-6),
        normal_label=document.text(where + ("normal_label",), default=defaults.normal_label),
        coarse_label=document.text(where + ("coarse_label",), default=defaults.coarse_label),
    )
    if not settings.char_orders and not settings.word_orders:
        document.problem(where, "char_orders and word_orders are both empty: no features")
    if kind == "gated":
        if settings.normal_label not in labels:
            document.problem(where + ("normal_label",), f"{settings.normal_label!r} is not one of the labels")
        if settings.coarse_label in labels:
            document.problem(where + ("coarse_label",), f"{settings.coarse_label!r} must not be a fine label too")
    return settings


def _source_file(
    document: Document, where: tuple, folder: Path, labels: dict[str, str], settings: ModelSettings
) -> SourceFile | None:
    if not isinstance(document.get(where), dict):
        document.problem(where, f"must be a mapping, not {document.get(where)!r}")
        return None
    relative = document.text(where + ("path",), required=True)
    path = folder / relative
    if relative and not path.is_file():
        document.problem(where + ("path",), f"{relative!r} is not a file in {folder}")
    file_format = document.choice(where + ("format",), FORMATS, default="tsv")
    if document.get(where + ("format",)) is None:
        document.problem(where + ("format",), "is required")
    split = document.choice(where + ("split",), SPLITS, default="train")
    if document.get(where + ("split",)) is None:
        document.problem(where + ("split",), "is required")
    allowed = set(labels)
    if settings.kind == "gated":
        allowed.add(settings.coarse_label)
    codes = {}
    for code, label in document.mapping(where + ("codes",), required=True).items():
        if label not in allowed:
            document.problem(where + ("codes", code), f"{label!r} is not one of {', '.join(sorted(allowed))}")
            continue
        codes[str(code)] = label
    text_column = label_column = ""
    if file_format == "csv":
        text_column = document.text(where + ("text_column",), required=True)
        label_column = document.text(where + ("label_column",), required=True)
    fraction, seed = 0.0, 0
    if split == "hold_out":
        fraction = document.number(where + ("hold_out_fraction",), default=0.2, minimum=0.01, maximum=0.99)
        if document.get(where + ("hold_out_seed",)) is None:
            document.problem(where + ("hold_out_seed",), "is required for split: hold_out")
        seed = int(document.number(where + ("hold_out_seed",), default=0, minimum=0, maximum=2**32 - 1))
    return SourceFile(path, file_format, codes, split, text_column, label_column, fraction, seed)


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
    from sklearn.model_selection import train_test_split

    candidates: list[list[Example]] = []
    # Per dataset: (name, rows, whether the rows are held out of a file that also trains)
    raw_evaluations: list[list[tuple[str, list[Example], bool]]] = []
    for dataset in datasets:
        training_rows: list[Example] = []
        evaluations: list[tuple[str, list[Example], bool]] = []
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
        candidates.append(training_rows)
        raw_evaluations.append(evaluations)

    training_keys = {overlap_key(example.text) for rows in candidates for example in rows}
    all_splits = []
    for training_rows, evaluations in zip(candidates, raw_evaluations):
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
        all_splits.append(splits)

    evaluation_keys = {
        overlap_key(example.text)
        for splits in all_splits
        for evaluation in splits.evaluations
        for example in evaluation.examples
    }
    for dataset, training_rows, splits in zip(datasets, candidates, all_splits):
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
    return all_splits


# -- training -----------------------------------------------------------------


def build_pipeline(settings: ModelSettings, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    vectorizer = HashedNgramVectorizer(
        bits=settings.bits, char_orders=settings.char_orders, word_orders=settings.word_orders, min_df=settings.min_df
    )
    # ensemble=False keeps one SVM fitted on all rows (the folds only fit the
    # sigmoid), so the file holds one set of weights per stage, not five.
    classifier = CalibratedClassifierCV(
        LinearSVC(C=settings.c, class_weight=settings.class_weight, random_state=seed),
        method=settings.calibration,
        cv=CALIBRATION_FOLDS,
        ensemble=False,
    )
    if settings.kind == "gated":
        gate = CalibratedClassifierCV(
            Pipeline(
                [
                    ("log_count_ratio", LogCountRatioScaler()),
                    ("svm", LinearSVC(C=settings.gate_c, class_weight="balanced", random_state=seed)),
                ]
            ),
            method="sigmoid",
            cv=CALIBRATION_FOLDS,
            ensemble=False,
        )
        classifier = GatedClassifier(
            gate=gate, subtype=classifier, normal_label=settings.normal_label, coarse_label=settings.coarse_label
        )
    return Pipeline([("features", vectorizer), ("classifier", classifier)])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_head(
    dataset: Dataset, seed: int, splits: Splits | None = None, compared_with: Sequence[str] = ()
) -> dict[str, Any]:
    """Fit one head; returns its entry for the model bundle.

    ``splits`` is this dataset's part of :func:`split_datasets` over every
    dataset of the model (by default it is split alone); ``compared_with``
    names those datasets, so that ``evaluate`` can tell when its own
    comparison differs.
    """
    from threadpoolctl import threadpool_limits

    if splits is None:
        splits = split_dataset(dataset)
    pipeline = build_pipeline(dataset.model, seed)
    with threadpool_limits(limits=1):
        pipeline.fit([example.text for example in splits.train], [example.label for example in splits.train])
    return {
        "name": dataset.head,
        "language": dataset.language,
        "categories": dict(dataset.labels),
        "pipeline": pipeline,
        "training": {
            "dataset": dataset.name,
            "files": {source.path.name: _sha256(source.path) for source in dataset.files},
            "seed": seed,
            "training_rows": len(splits.train),
            "dropped_overlapping_evaluation": splits.dropped_overlap,
            "dropped_duplicates": splits.dropped_duplicates,
            "held_out_trained_on": splits.held_out_trained_on,
            "evaluation_sets": {evaluation.name: len(evaluation.examples) for evaluation in splits.evaluations},
            "evaluation_overlap_removed": {evaluation.name: evaluation.overlap for evaluation in splits.evaluations},
            "overlap_compared_with": sorted(compared_with or [dataset.name]),
            "settings": dataset.model.as_dict(),
        },
    }


def train_bundle(datasets: Sequence[Dataset], seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The object saved by :func:`detectors.classifier.save_model`: one head per dataset."""
    seen: dict[str, str] = {}
    for dataset in datasets:
        if dataset.language in seen:
            raise DatasetError(
                f"{dataset.manifest}: language {dataset.language!r} already comes from {seen[dataset.language]}"
            )
        seen[dataset.language] = str(dataset.manifest)
    all_splits = split_datasets(datasets)
    names = [dataset.name for dataset in datasets]
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "seed": seed,
        "heads": [train_head(dataset, seed, splits, names) for dataset, splits in zip(datasets, all_splits)],
    }


# -- evaluation ---------------------------------------------------------------

BASELINE = "baseline: tf-idf + logistic regression"
# The baseline's one setting, C of the logistic regression, chosen once by
# 5-fold cross-validation (macro-F1) on each head's training rows among
# 0.3 / 1 / 3 / 10 / 30: 10 was best for Davidson (0.696) and within 0.002 of
# the best for RUHSOLD fine (0.675 vs 0.676 at 30) and coarse (0.881 vs 0.883 at 3).
BASELINE_C = 10.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    scorer: str  # the model file's name, or BASELINE
    head: str
    language: str
    dataset: str
    name: str
    labels: tuple[str, ...]
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    macro_f1: float
    weighted_f1: float
    accuracy: float
    rows: int  # rows scored: the unseen subset
    file_rows: int = 0  # rows the manifest puts in the set
    overlap_removed: int = 0  # of those, rows whose text training rows have
    duplicates_removed: int = 0
    min_score: float = DEFAULT_MIN_SCORE
    # hate | abuse | none -> precision, recall, f1, support of the detector's
    # findings at min_score; empty for a coarse set, whose "offensive" rows
    # have no category.
    categories: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "head": self.head,
            "language": self.language,
            "dataset": self.dataset,
            "evaluation": self.name,
            "rows": self.rows,
            "file_rows": self.file_rows,
            "overlap_removed": self.overlap_removed,
            "duplicates_removed": self.duplicates_removed,
            "labels": list(self.labels),
            "per_class": self.per_class,
            "confusion_matrix": self.confusion,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "accuracy": self.accuracy,
            "min_score": self.min_score,
            "categories": self.categories,
            "warnings": list(self.warnings),
        }


def evaluate(
    model: TextModel,
    datasets: Dataset | Sequence[Dataset],
    settings: ClassifierSettings = ClassifierSettings(),
    baseline: bool = False,
) -> list[Evaluation]:
    """Score the model's head for each dataset on the unseen subset of each of its evaluation sets.

    The datasets are split together (:func:`split_datasets`), as ``train``
    splits them. An evaluation set labelled with the gated head's coarse
    labels (normal and ``coarse_label``) is scored on the coarse task: the
    probabilities of all non-normal labels are summed. Category precision and
    recall are those of the detector's findings with ``settings`` (min_score,
    and hate without a target counted as abuse). With
    ``baseline``, a TF-IDF and logistic-regression model is fitted on the same
    training rows of each dataset and scored on the same rows, after the model.
    """
    datasets = [datasets] if isinstance(datasets, Dataset) else list(datasets)
    heads = []
    for dataset in datasets:
        head = model.heads.get(dataset.language)
        if head is None or head.name != dataset.head:
            available = ", ".join(f"{h.name} ({h.language})" for h in model.heads.values())
            raise DatasetError(
                f"{dataset.manifest}: model {model.file_name} has no head {dataset.head!r}; it has {available}"
            )
        heads.append(head)
    all_splits = split_datasets(datasets)
    names = sorted(dataset.name for dataset in datasets)
    results = []
    for dataset, head, splits in zip(datasets, heads, all_splits):
        warnings = _provenance_warnings(head, dataset, names)
        for evaluation in splits.evaluations:
            texts = [example.text for example in evaluation.examples]
            probabilities = head.pipeline.predict_proba(texts) if texts else np.zeros((0, len(head.labels)))
            results.append(_score(model.file_name, dataset, evaluation, probabilities, head.labels, settings, warnings))
    if baseline:
        for dataset, splits in zip(datasets, all_splits):
            results.extend(evaluate_baseline(dataset, splits, settings))
    return results


def build_baseline(c: float = BASELINE_C):
    """TF-IDF of word 1-2-grams and character 2-5-grams, then a logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            ("characters", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
        ]
    )
    return Pipeline([("features", features), ("classifier", LogisticRegression(C=c, max_iter=3000))])


def evaluate_baseline(
    dataset: Dataset, splits: Splits, settings: ClassifierSettings = ClassifierSettings()
) -> list[Evaluation]:
    """The baseline on ``splits``: fitted on its training rows, scored on its evaluation sets.

    For a gated dataset there are two baselines, as the tasks are two: one on
    the fine-labelled rows for fine sets, one on every row as normal or
    offensive for coarse sets.
    """
    from threadpoolctl import threadpool_limits

    model_settings = dataset.model
    texts = [example.text for example in splits.train]
    labels = np.array([example.label for example in splits.train], dtype=object)
    models = {}
    with threadpool_limits(limits=1):
        if model_settings.kind == "gated":
            fine = labels != model_settings.coarse_label
            models["fine"] = build_baseline().fit([t for t, f in zip(texts, fine) if f], labels[fine].astype(str))
            coarse = np.where(
                labels == model_settings.normal_label, model_settings.normal_label, model_settings.coarse_label
            )
            models["coarse"] = build_baseline().fit(texts, coarse)
        else:
            models["fine"] = build_baseline().fit(texts, labels.astype(str))
    results = []
    for evaluation in splits.evaluations:
        truth = {example.label for example in evaluation.examples}
        is_coarse = model_settings.kind == "gated" and truth <= {
            model_settings.normal_label,
            model_settings.coarse_label,
        }
        pipeline = models["coarse" if is_coarse else "fine"]
        classes = tuple(str(label) for label in pipeline.classes_)
        texts = [example.text for example in evaluation.examples]
        probabilities = pipeline.predict_proba(texts) if texts else np.zeros((0, len(classes)))
        results.append(_score(BASELINE, dataset, evaluation, probabilities, classes, settings, ()))
    return results


def _score(
    scorer: str,
    dataset: Dataset,
    evaluation: EvaluationSet,
    probabilities: np.ndarray,
    labels: Sequence[str],
    settings: ClassifierSettings,
    warnings: tuple[str, ...],
) -> Evaluation:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    model_settings = dataset.model
    truth = [example.label for example in evaluation.examples]
    texts = [example.text for example in evaluation.examples]
    labels = list(labels)
    coarse = model_settings.kind == "gated" and set(truth) <= {model_settings.normal_label, model_settings.coarse_label}
    categories: dict[str, dict[str, float]] = {}
    if coarse:
        normal = probabilities[:, labels.index(model_settings.normal_label)]
        predicted = np.where(normal >= 0.5, model_settings.normal_label, model_settings.coarse_label)
        scored_labels = [model_settings.coarse_label, model_settings.normal_label]
    else:
        predicted = np.asarray(labels)[probabilities.argmax(axis=1)] if len(truth) else np.zeros(0, dtype=object)
        scored_labels = labels
        categories = _category_scores(dataset, truth, texts, probabilities, labels, settings)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=scored_labels, zero_division=0
    )
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(scored_labels, precision, recall, f1, support)
    }
    return Evaluation(
        scorer=scorer,
        head=dataset.head,
        language=dataset.language,
        dataset=dataset.name,
        name=evaluation.name + (" (coarse: normal vs offensive)" if coarse else ""),
        labels=tuple(scored_labels),
        per_class=per_class,
        confusion=confusion_matrix(truth, predicted, labels=scored_labels).tolist(),
        macro_f1=float(f1_score(truth, predicted, labels=scored_labels, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(truth, predicted, labels=scored_labels, average="weighted", zero_division=0)),
        accuracy=float(np.mean(np.asarray(truth) == predicted)) if truth else 0.0,
        rows=len(truth),
        file_rows=evaluation.file_rows,
        overlap_removed=evaluation.overlap,
        duplicates_removed=evaluation.duplicates,
        min_score=settings.min_score,
        categories=categories,
        warnings=warnings,
    )


def _category_scores(
    dataset: Dataset,
    truth: Sequence[str],
    texts: Sequence[str],
    probabilities: np.ndarray,
    labels: Sequence[str],
    settings: ClassifierSettings,
) -> dict[str, dict[str, float]]:
    """Precision and recall of the detector's findings per category, as TextClassifierDetector.detect makes them."""
    from sklearn.metrics import precision_recall_fscore_support

    head = Head(dataset.head, dataset.language, tuple(labels), dataset.labels, None, {})
    scores, _ = category_scores(head, probabilities, texts, settings.hate_targets.get(dataset.language))
    found = scores >= settings.min_score
    true_category = np.array([dataset.labels[label] for label in truth], dtype=object)
    results = {}
    for column, category in enumerate((*CATEGORIES, NO_CATEGORY)):
        actual = true_category == category
        flagged = ~found.any(axis=1) if category == NO_CATEGORY else found[:, column]
        precision, recall, f1, _ = precision_recall_fscore_support(actual, flagged, average="binary", zero_division=0)
        results[category] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual.sum()),
        }
    return results


def _provenance_warnings(head: Any, dataset: Dataset, compared_with: Sequence[str] = ()) -> tuple[str, ...]:
    """The head may have been trained on other data: then "held-out" may not be."""
    training = head.training
    warnings = []
    if training.get("dataset") != dataset.name:
        warnings.append(f"head {head.name!r} was trained from {training.get('dataset')!r}, not {dataset.name!r}")
    recorded = training.get("files") or {}
    for source in dataset.files:
        digest = recorded.get(source.path.name)
        if digest is not None and digest != _sha256(source.path):
            warnings.append(f"{source.path.name} differs from the file the head was trained with")
    recorded_sets = set(training.get("evaluation_sets") or {})
    current_sets = {evaluation_set_name(source) for source in dataset.files if source.split != "train"}
    if recorded_sets and recorded_sets != current_sets:
        warnings.append(
            f"the head was trained holding out {sorted(recorded_sets)}, "
            f"the manifest now holds out {sorted(current_sets)}"
        )
    recorded_comparison = list(training.get("overlap_compared_with") or [])
    if compared_with and recorded_comparison and recorded_comparison != list(compared_with):
        missing = sorted(set(recorded_comparison) - set(compared_with))
        if missing:
            warnings.append(
                f"head {head.name!r} was trained with overlap removed against {', '.join(recorded_comparison)}; "
                f"this evaluation does not read {', '.join(missing)}, so its training rows may differ"
            )
    settings = training.get("settings") or {}
    if settings and settings != dataset.model.as_dict():
        warnings.append("the manifest's model settings differ from the head's")
    return tuple(warnings)
