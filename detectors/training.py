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
evaluation sets. Whatever the manifest says, no training row may share its
text with an evaluation set of its head: texts are compared after case folding
and collapsing whitespace, and a training row that matches is dropped. So is a
row whose text is already in training with the same label. A ``gated`` head
may also read rows labelled only ``coarse_label`` (offensive, subtype
unknown): they train its gate, unless the same text also has a fine label in
the training data.

Training is deterministic: the same manifests, data and ``seed`` give the same
fitted numbers (liblinear's coordinate descent is seeded, calibration folds are
unshuffled, and BLAS runs on one thread while fitting so sums do not depend on
the machine's core count).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.classifier import (
    CATEGORIES,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    NO_CATEGORY,
    GatedClassifier,
    HashedNgramVectorizer,
    LogCountRatioScaler,
    TextModel,
)
from detectors.configfile import Document, Problems, load_yaml

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
            "kind": self.kind, "bits": self.bits, "char_orders": list(self.char_orders),
            "word_orders": list(self.word_orders), "min_df": self.min_df, "c": self.c,
            "class_weight": self.class_weight, "calibration": self.calibration, "gate_c": self.gate_c,
            "normal_label": self.normal_label, "coarse_label": self.coarse_label,
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
    examples: tuple[Example, ...]


@dataclass
class Splits:
    train: list[Example] = field(default_factory=list)
    evaluations: list[EvaluationSet] = field(default_factory=list)
    dropped_overlap: int = 0  # training rows dropped because an evaluation set has their text
    # Rows whose text is already in training with the same label, or with a
    # fine label when theirs is coarse only: task 1 and task 2 share most texts.
    dropped_duplicates: int = 0


def text_key(text: str) -> str:
    """The text as compared between splits: case-folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


# -- manifests ----------------------------------------------------------------

def load_dataset(path: Path, problems: Problems) -> Dataset:
    """Read a ``dataset.yaml``; problems are recorded with file:line: field."""
    path = Path(path)
    document = load_yaml(path, problems)
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
                document.problem(
                    where + (name, index), f"{value!r} is not one of {allowed.start}..{allowed.stop - 1}"
                )
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
                    f"{source.path}:{number}: label {code!r} is not one of the codes "
                    f"{', '.join(sorted(source.codes))}"
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
    """Training rows and evaluation sets, with no evaluation text among the training rows."""
    from sklearn.model_selection import train_test_split

    splits = Splits()
    candidates: list[Example] = []
    for source in dataset.files:
        examples = read_examples(source)
        if source.split == "train":
            candidates.extend(examples)
        elif source.split == "test":
            splits.evaluations.append(EvaluationSet(evaluation_set_name(source), tuple(examples)))
        else:
            indices = np.arange(len(examples))
            kept, held = train_test_split(
                indices,
                test_size=source.hold_out_fraction,
                stratify=[example.label for example in examples],
                random_state=source.hold_out_seed,
            )
            evaluation = EvaluationSet(evaluation_set_name(source), tuple(examples[index] for index in sorted(held)))
            splits.evaluations.append(evaluation)
            candidates.extend(examples[index] for index in sorted(kept))
    evaluation_keys = {text_key(example.text) for evaluation in splits.evaluations for example in evaluation.examples}
    coarse = dataset.model.coarse_label if dataset.model.kind == "gated" else None
    fine_keys = {text_key(example.text) for example in candidates if example.label != coarse}
    seen: set[tuple[str, str]] = set()
    for example in candidates:
        key = text_key(example.text)
        if key in evaluation_keys:
            splits.dropped_overlap += 1
        elif (key, example.label) in seen or (example.label == coarse and key in fine_keys):
            splits.dropped_duplicates += 1
        else:
            seen.add((key, example.label))
            splits.train.append(example)
    return splits


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
        method=settings.calibration, cv=CALIBRATION_FOLDS, ensemble=False,
    )
    if settings.kind == "gated":
        gate = CalibratedClassifierCV(
            Pipeline([
                ("log_count_ratio", LogCountRatioScaler()),
                ("svm", LinearSVC(C=settings.gate_c, class_weight="balanced", random_state=seed)),
            ]),
            method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False,
        )
        classifier = GatedClassifier(
            gate=gate, subtype=classifier, normal_label=settings.normal_label, coarse_label=settings.coarse_label
        )
    return Pipeline([("features", vectorizer), ("classifier", classifier)])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_head(dataset: Dataset, seed: int) -> dict[str, Any]:
    """Fit one head; returns its entry for the model bundle."""
    from threadpoolctl import threadpool_limits

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
            "evaluation_sets": {evaluation.name: len(evaluation.examples) for evaluation in splits.evaluations},
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
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "seed": seed,
        "heads": [train_head(dataset, seed) for dataset in datasets],
    }


# -- evaluation ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Evaluation:
    head: str
    dataset: str
    name: str
    labels: tuple[str, ...]
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    macro_f1: float
    weighted_f1: float
    accuracy: float
    rows: int
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "head": self.head, "dataset": self.dataset, "evaluation": self.name, "rows": self.rows,
            "labels": list(self.labels), "per_class": self.per_class, "confusion_matrix": self.confusion,
            "macro_f1": self.macro_f1, "weighted_f1": self.weighted_f1, "accuracy": self.accuracy,
            "warnings": list(self.warnings),
        }


def evaluate(model: TextModel, dataset: Dataset) -> list[Evaluation]:
    """Score the model's head for ``dataset`` on each of the dataset's evaluation sets.

    An evaluation set labelled with the gated head's coarse labels (normal and
    ``coarse_label``) is scored on the coarse task: the probabilities of all
    non-normal labels are summed, as the detector sums them into categories.
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    head = model.heads.get(dataset.language)
    if head is None or head.name != dataset.head:
        available = ", ".join(f"{h.name} ({h.language})" for h in model.heads.values())
        raise DatasetError(
            f"{dataset.manifest}: model {model.file_name} has no head {dataset.head!r}; it has {available}"
        )
    warnings = _provenance_warnings(head, dataset)
    splits = split_dataset(dataset)
    results = []
    settings = dataset.model
    for evaluation in splits.evaluations:
        truth = [example.label for example in evaluation.examples]
        probabilities = head.pipeline.predict_proba([example.text for example in evaluation.examples])
        labels = list(head.labels)
        coarse = settings.kind == "gated" and set(truth) <= {settings.normal_label, settings.coarse_label}
        if coarse:
            normal = probabilities[:, labels.index(settings.normal_label)]
            predicted = np.where(normal >= 0.5, settings.normal_label, settings.coarse_label)
            labels = [settings.coarse_label, settings.normal_label]
        else:
            predicted = np.asarray(labels)[probabilities.argmax(axis=1)]
        precision, recall, f1, support = precision_recall_fscore_support(
            truth, predicted, labels=labels, zero_division=0
        )
        per_class = {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        }
        results.append(
            Evaluation(
                head=head.name,
                dataset=dataset.name,
                name=evaluation.name + (" (coarse: normal vs offensive)" if coarse else ""),
                labels=tuple(labels),
                per_class=per_class,
                confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
                macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
                weighted_f1=float(f1_score(truth, predicted, labels=labels, average="weighted", zero_division=0)),
                accuracy=float(np.mean(np.asarray(truth) == predicted)),
                rows=len(truth),
                warnings=warnings,
            )
        )
    return results


def _provenance_warnings(head: Any, dataset: Dataset) -> tuple[str, ...]:
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
    settings = training.get("settings") or {}
    if settings and settings != dataset.model.as_dict():
        warnings.append("the manifest's model settings differ from the head's")
    return tuple(warnings)
