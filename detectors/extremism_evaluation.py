"""Training and measuring the extremism model (``modwatch evaluate-extremism``).

:func:`train_and_evaluate` fits the model and its baseline the same way on the
same rows, scores both across authors, picks each one's thresholds from those
scores, refits the model on everything, and measures the refitted model on real
posts it never saw and on the functional suite beside the rules.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.extremism_data import (
    LANGUAGES,
    SYNTHETIC,
    VIOLATING,
    WrittenPost,
    held_out_real,
    read_written,
    real_negatives,
)
from detectors.extremism_model import (
    BASELINE,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    ExtremismModel,
    ExtremismSettings,
    choose_thresholds,
    cross_author,
    fit,
)
from detectors.model_files import save_model


@dataclass
class CrossAuthor:
    """One model's cross-author figures: per language, violating found and non-violating flagged."""

    name: str
    thresholds: dict[str, float]
    found: dict[str, tuple[int, int]] = field(default_factory=dict)  # language -> (found, violating)
    by_kind: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (language, kind) -> (flagged, n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "thresholds": self.thresholds,
            "found": {language: list(pair) for language, pair in self.found.items()},
            "by_kind": {f"{language}/{kind}": list(pair) for (language, kind), pair in sorted(self.by_kind.items())},
        }


def cross_author_figures(name: str, written: Sequence[WrittenPost], violating: np.ndarray, thresholds) -> CrossAuthor:
    figures = CrossAuthor(name, thresholds)
    found, kinds = Counter(), defaultdict(lambda: [0, 0])
    totals = Counter()
    for post, score in zip(written, violating):
        flagged = bool(score >= thresholds[post.language])
        if post.label in VIOLATING:
            found[post.language] += flagged
            totals[post.language] += 1
        kind = kinds[(post.language, post.kind if post.label not in VIOLATING else "violating")]
        kind[0] += flagged
        kind[1] += 1
    figures.found = {language: (found[language], totals[language]) for language in LANGUAGES}
    figures.by_kind = {key: tuple(value) for key, value in kinds.items()}
    return figures


@dataclass
class ExtremismReport:
    models: list[CrossAuthor]
    real: dict[str, tuple[int, int]]  # corpus -> (flagged, posts), by the refitted model
    sizes: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": [model.as_dict() for model in self.models],
            "real": {name: list(pair) for name, pair in self.real.items()},
            "sizes": self.sizes,
        }


def train_and_evaluate(settings: ExtremismSettings = ExtremismSettings()) -> tuple[dict[str, Any], ExtremismReport]:
    written = read_written()
    real = real_negatives(settings.real_per_source, settings.seed)
    results = []
    thresholds_of = {}
    for name, chosen in (("model", settings), ("baseline", _baseline_of(settings))):
        threat, promotion = cross_author(chosen, written, real)
        violating = threat + promotion
        thresholds_of[name] = choose_thresholds(chosen, written, violating)
        results.append(cross_author_figures(name, written, violating, thresholds_of[name]))
    pipeline = fit(settings, written, real)
    model = ExtremismModel(pipeline, thresholds_of["model"])
    real_rates = {}
    for corpus, texts in held_out_real(settings.seed, real).items():
        threat, promotion = model.score(texts)
        language = "roman_ur" if "RUHSOLD" in corpus else "en"
        real_rates[corpus] = (int(((threat + promotion) >= model.thresholds[language]).sum()), len(texts))
    sizes = {
        "written_posts": len(written),
        "written_by_language_and_label": {
            f"{language}/{label}": count
            for (language, label), count in sorted(Counter((post.language, post.label) for post in written).items())
        },
        "real_negatives": dict(Counter(post.source for post in real)),
    }
    record = {
        "files": {path.name: _sha256(path) for path in sorted(SYNTHETIC.glob("*.jsonl"))},
        "settings": settings.as_dict(),
        "cross_author": {result.name: result.as_dict() for result in results},
        **sizes,
    }
    bundle = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "pipeline": pipeline,
        "thresholds": thresholds_of["model"],
        "training": record,
    }
    return bundle, ExtremismReport(results, real_rates, sizes)


def train_model_file(path: Path, settings: ExtremismSettings = ExtremismSettings()) -> tuple[str, ExtremismReport]:
    bundle, report = train_and_evaluate(settings)
    return save_model(bundle, path), report


def _baseline_of(settings: ExtremismSettings) -> ExtremismSettings:
    values = settings.as_dict()
    values.update(features=BASELINE.features)
    values["char_orders"], values["word_orders"] = tuple(values["char_orders"]), tuple(values["word_orders"])
    return ExtremismSettings(**values)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
