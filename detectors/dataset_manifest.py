"""Dataset manifests: where the text classifier's training data is and how to read and split it.

A dataset is a folder under ``detectors/datasets/`` holding the upstream files
unchanged (with their licence, citation and source commit) and a manifest,
``dataset.yaml``, that says how to read them and how to split them::

    head: en                     # the head this dataset trains, one per language
    language: en                 # which posts it reads (see language.post_language)
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
files are the training rows (:mod:`detectors.dataset_splits` reads and splits
them; :mod:`detectors.training` trains and evaluates on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.classifier import CATEGORIES, NO_CATEGORY
from detectors.configfile import ANY_KEY, VALUE, Document, Problems, Section, load_yaml

DATASETS = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASETS = (DATASETS / "davidson_en" / "dataset.yaml", DATASETS / "ruhsold_roman_urdu" / "dataset.yaml")
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
