"""Measuring the English threat model on held-out posts, against a baseline; training the shipped file.

:func:`train_and_evaluate` fits the model and the baseline
(:func:`detectors.threat_model.fit`) on the same training rows and scores both
on the held-out posts of :func:`~detectors.threat_data.load_splits`: precision,
recall and F1 of threatening vs not_hate at each model's own threshold, and how
often held-out non-threatening hate and everyday tweets are flagged.
:func:`evaluate_model_file` does the same for a model file already trained,
with a warning wherever the file was trained on other data (then "held-out"
may not be). :func:`train_model_file` writes ``config/models/threat-en.skops``.
``docs/threat-model.md`` has the figures.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from detectors.model_files import ModelFileError, save_model
from detectors.threat_data import DATA_FILES, SPLIT_SEED, LabelledPost, ThreatSplits, load_splits
from detectors.threat_model import (
    BASELINE,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    THRESHOLD_FOLDS,
    ThreatModel,
    ThreatSettings,
    fit,
    threat_probability,
)


@dataclass(frozen=True, slots=True)
class Scores:
    """One model on the held-out data, at its own threshold."""

    name: str
    threshold: float
    validation_f1: float
    precision: float  # of threatening, on the test split (threatening vs not_hate)
    recall: float
    f1: float
    average_precision: float  # the same split, over all thresholds
    true_positives: int
    false_positives: int
    false_negatives: int
    hard_negatives_flagged: float  # share of held-out non-threat implicit hate at or above the threshold
    everyday_flagged: float  # share of Davidson's held-out neither/offensive tweets likewise
    training_rows: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_held_out(
    name: str,
    score: Callable[[Sequence[str]], np.ndarray],
    threshold: float,
    splits: ThreatSplits,
    validation_f1: float,
    training_rows: int,
) -> Scores:
    from sklearn.metrics import average_precision_score

    truth = np.array([post.is_threat for post in splits.test])
    scores = score([post.text for post in splits.test])
    flagged = scores >= threshold
    true_positives = int(np.sum(flagged & truth))
    false_positives = int(np.sum(flagged & ~truth))
    false_negatives = int(np.sum(~flagged & truth))
    precision = true_positives / max(true_positives + false_positives, 1)
    recall = true_positives / max(true_positives + false_negatives, 1)

    def flag_rate(posts: Sequence[LabelledPost]) -> float:
        return float(np.mean(score([post.text for post in posts]) >= threshold)) if posts else float("nan")

    return Scores(
        name=name,
        threshold=threshold,
        validation_f1=validation_f1,
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / max(precision + recall, 1e-12),
        average_precision=float(average_precision_score(truth, scores)),
        true_positives=true_positives,
        false_positives=false_positives,
        false_negatives=false_negatives,
        hard_negatives_flagged=flag_rate(splits.test_hard_negatives),
        everyday_flagged=flag_rate(splits.test_everyday),
        training_rows=training_rows,
    )


@dataclass(frozen=True, slots=True)
class ThreatReport:
    models: tuple[Scores, ...]  # the model first, then the baseline, then any variants
    sizes: Mapping[str, Any]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": [scores.as_dict() for scores in self.models],
            "sizes": dict(self.sizes),
            "warnings": list(self.warnings),
        }


def training_record(
    splits: ThreatSplits, settings: ThreatSettings, rows: Sequence[LabelledPost], seed: int
) -> dict[str, Any]:
    return {
        "files": {path.name: _sha256(path) for path in DATA_FILES},
        "split_seed": seed,
        "settings": settings.as_dict(),
        "training_rows": len(rows),
        "training_threatening": sum(post.is_threat for post in rows),
        "training_by_label": dict(sorted(Counter(post.label for post in rows).items())),
        **splits.sizes(),
    }


def train_and_evaluate(
    splits: ThreatSplits,
    settings: ThreatSettings = ThreatSettings(),
    variants: Mapping[str, ThreatSettings] = MappingProxyType({}),
    seed: int = SPLIT_SEED,
    folds: int = THRESHOLD_FOLDS,
) -> tuple[dict[str, Any], ThreatReport]:
    """Fit the model and the baseline on the same rows; returns the model bundle and the report."""
    rows = settings.training_rows(splits.train, seed)
    model = fit("model", settings, rows, seed, folds)
    baseline = fit("baseline", BASELINE, rows, seed, folds)
    results = [
        score_held_out(
            fitted.name,
            lambda texts, p=fitted.pipeline: threat_probability(p, texts),
            fitted.threshold,
            splits,
            fitted.validation_f1,
            fitted.training_rows,
        )
        for fitted in (model, baseline)
    ]
    for name, variant in variants.items():
        fitted = fit(name, variant, variant.training_rows(splits.train, seed), seed, folds)
        results.append(
            score_held_out(
                name,
                lambda texts, p=fitted.pipeline: threat_probability(p, texts),
                fitted.threshold,
                splits,
                fitted.validation_f1,
                fitted.training_rows,
            )
        )
    record = training_record(splits, settings, rows, seed)
    record["held_out"] = {scores.name: scores.as_dict() for scores in results[:2]}
    bundle = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "language": "en",
        "pipeline": model.pipeline,
        "threshold": model.threshold,
        "training": record,
    }
    sizes = {key: value for key, value in record.items() if key not in ("files", "settings", "held_out")}
    return bundle, ThreatReport(tuple(results), MappingProxyType(sizes))


def evaluate_model_file(
    model: ThreatModel, splits: ThreatSplits, seed: int = SPLIT_SEED, folds: int = THRESHOLD_FOLDS
) -> ThreatReport:
    """The shipped model on today's held-out data, against a baseline fitted on its training rows."""
    recorded = model.training.get("settings") or {}
    try:
        settings = ThreatSettings(
            **{key: tuple(value) if isinstance(value, list) else value for key, value in recorded.items()}
        )
    except TypeError as error:
        raise ModelFileError(f"{model.file_name}: training settings are not this version's: {error}") from None
    rows = settings.training_rows(splits.train, seed)
    record = training_record(splits, settings, rows, seed)
    warnings = _provenance_warnings(model, record)
    baseline = fit("baseline", BASELINE, rows, seed, folds)
    results = (
        score_held_out(
            "model",
            model.score,
            model.threshold,
            splits,
            float(model.training.get("held_out", {}).get("model", {}).get("validation_f1", "nan")),
            int(model.training.get("training_rows", 0)),
        ),
        score_held_out(
            "baseline",
            lambda texts: threat_probability(baseline.pipeline, texts),
            baseline.threshold,
            splits,
            baseline.validation_f1,
            baseline.training_rows,
        ),
    )
    sizes = {key: value for key, value in record.items() if key not in ("files", "settings")}
    return ThreatReport(results, MappingProxyType(sizes), tuple(warnings))


def _provenance_warnings(model: ThreatModel, record: Mapping[str, Any]) -> list[str]:
    """The file may have been trained on other data: then "held-out" may not be."""
    warnings = []
    for name, digest in (model.training.get("files") or {}).items():
        if record["files"].get(name) != digest:
            warnings.append(f"{name} differs from the file {model.file_name} was trained with")
    for key in ("split_seed", "training_rows", "test", "test_threatening"):
        if model.training.get(key) != record.get(key):
            warnings.append(
                f"{model.file_name} records {key} {model.training.get(key)!r}, today's split has {record.get(key)!r}"
            )
    return warnings


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_model_file(path: Path, seed: int = SPLIT_SEED) -> tuple[str, ThreatReport]:
    """Train on the shipped data, write ``path``; returns its sha256 and the report."""
    bundle, report = train_and_evaluate(load_splits(seed), ThreatSettings(), seed=seed)
    return save_model(bundle, path), report
