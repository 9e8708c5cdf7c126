"""Training and evaluating the text classifier from dataset manifests.

:func:`train_bundle` fits one head per dataset (:mod:`detectors.dataset_manifest`)
on the training rows of :func:`~detectors.dataset_splits.split_datasets`,
which splits every dataset of the model together so that no text is on both
sides. :func:`evaluate` scores a model's heads on the unseen evaluation sets of
the same split and, on request, a TF-IDF and logistic-regression baseline
fitted on the same training rows.

Training is deterministic: the same manifests, data and ``seed`` give the same
fitted numbers (liblinear's coordinate descent is seeded, calibration folds are
unshuffled, and BLAS runs on one thread while fitting so sums do not depend on
the machine's core count).
"""

from __future__ import annotations

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
    Head,
    LogCountRatioScaler,
    TextModel,
)
from detectors.dataset_manifest import Dataset, DatasetError, ModelSettings
from detectors.dataset_splits import EvaluationSet, Splits, evaluation_set_name, split_dataset, split_datasets
from detectors.text_classifier import DEFAULT_MIN_SCORE, ClassifierSettings, category_scores

DEFAULT_SEED = 2017
# Platt scaling fits on out-of-fold decision values from this many folds.
CALIBRATION_FOLDS = 5


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
    """The object saved by :func:`detectors.model_files.save_model`: one head per dataset."""
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
