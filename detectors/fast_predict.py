"""Fitted scikit-learn pipelines applied with numpy alone: the same numbers, without the per-call checks.

Each ``predict_proba`` of a scikit-learn pipeline validates its input, looks
up output settings and builds label encoders on every call, at every step and
in every calibration fold: about 1.5 ms per call whatever the batch, which is
most of the cost of a small batch (a detection batch of four posts took 6.8
ms, two-thirds of it in those checks). :func:`compile_proba` reads the fitted
coefficients once and returns a function that computes the same
probabilities with the same numpy and scipy operations, in the same order, so
the results are the same to the last bit (``tests/test_fast_predict.py``
holds every shipped model to it).

Only the estimators modwatch's models are made of are compiled: the
project's own transformers and gated classifier, a Pipeline of them,
LinearSVC and LogisticRegression, and CalibratedClassifierCV with sigmoid or
temperature calibration. Anything else raises :class:`NotCompiled`, and
:func:`predictor` falls back to the estimator's own ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration, _TemperatureScaling
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.extmath import softmax

Function = Callable[[Any], np.ndarray]


class NotCompiled(TypeError):
    """An estimator this module does not know: use its own predict_proba."""


def predictor(estimator: Any) -> Function:
    """The compiled ``predict_proba`` of ``estimator``, or its own when it cannot be compiled."""
    try:
        return compile_proba(estimator)
    except NotCompiled:
        return estimator.predict_proba


def transformer(estimator: Any) -> Function:
    """The compiled ``transform`` of a fitted transformer, or its own."""
    try:
        return _transform(estimator)
    except NotCompiled:
        return estimator.transform


def compile_proba(estimator: Any) -> Function:
    """``estimator.predict_proba`` as a plain function; raises :class:`NotCompiled`."""
    from detectors.classifier import GatedClassifier

    if isinstance(estimator, Pipeline):
        steps = [_transform(step) for _, step in estimator.steps[:-1]]
        final = compile_proba(estimator.steps[-1][1])
        return lambda features: final(_through(steps, features))
    if isinstance(estimator, CalibratedClassifierCV):
        return _calibrated_mean(estimator)
    if isinstance(estimator, GatedClassifier):
        return _gated(estimator)
    if type(estimator) is LogisticRegression:
        return _logistic(estimator)
    raise NotCompiled(type(estimator).__name__)


def _through(steps: list[Function], features: Any) -> Any:
    for step in steps:
        features = step(features)
    return features


def _transform(estimator: Any) -> Function:
    from detectors.classifier import HashedNgramVectorizer, LogCountRatioScaler

    if type(estimator) in (HashedNgramVectorizer, LogCountRatioScaler):
        # The method itself, without scikit-learn's set_output wrapper around it.
        method = type(estimator).transform
        return getattr(method, "__wrapped__", method).__get__(estimator)
    raise NotCompiled(type(estimator).__name__)


def _decision(estimator: Any) -> Function:
    """``decision_function``: a linear model, or a pipeline ending in one."""
    if isinstance(estimator, Pipeline):
        steps = [_transform(step) for _, step in estimator.steps[:-1]]
        final = _decision(estimator.steps[-1][1])
        return lambda features: final(_through(steps, features))
    if type(estimator) not in (LinearSVC, LogisticRegression):
        raise NotCompiled(type(estimator).__name__)
    coef_t = estimator.coef_.T if estimator.coef_.ndim == 2 else estimator.coef_
    intercept = estimator.intercept_

    def decision(features):
        scores = features @ coef_t
        if hasattr(scores, "toarray"):
            scores = scores.toarray()
        scores = scores + intercept
        return scores.reshape(-1) if scores.ndim > 1 and scores.shape[1] == 1 else scores

    return decision


def _logistic(estimator: LogisticRegression) -> Function:
    decision = _decision(estimator)
    if len(estimator.classes_) <= 2:

        def binary(features):
            probability = expit(decision(features))
            return np.stack([1 - probability, probability], axis=1)

        return binary
    return lambda features: softmax(decision(features), copy=False)


def _calibrated_mean(estimator: CalibratedClassifierCV) -> Function:
    folds = [_calibrated(fold) for fold in estimator.calibrated_classifiers_]
    width = estimator.classes_.shape[0]

    def mean(features):
        total = np.zeros((features.shape[0], width))
        for fold in folds:
            total += fold(features)
        total /= len(folds)
        return total

    return mean


def _calibrated(fold: Any) -> Function:
    """One fold's ``_CalibratedClassifier.predict_proba``."""
    decision = _decision(fold.estimator)
    classes = fold.classes
    if fold.method == "temperature" and [type(c) for c in fold.calibrators] == [_TemperatureScaling]:
        beta = fold.calibrators[0].beta_
        return lambda features: _clip(softmax(beta * _logits(decision(features))))
    if fold.method != "sigmoid" or any(type(c) is not _SigmoidCalibration for c in fold.calibrators):
        raise NotCompiled(f"calibration {fold.method}")
    # Where each calibrator's class sits among all classes (LabelEncoder: sorted order).
    positions = np.searchsorted(np.sort(classes), fold.estimator.classes_)
    if len(classes) == 2:
        positions = positions + 1
    calibrators = [(int(position), c.a_, c.b_) for position, c in zip(positions, fold.calibrators, strict=False)]

    def sigmoid(features):
        predictions = decision(features)
        if predictions.ndim == 1:
            predictions = predictions.reshape(-1, 1)
        proba = np.zeros((predictions.shape[0], len(classes)))
        for (position, a, b), column in zip(calibrators, predictions.T, strict=False):
            proba[:, position] = expit(-(a * column + b))
        if len(classes) == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            proba = np.divide(proba, denominator, out=np.full_like(proba, 1 / len(classes)), where=denominator != 0)
        return _clip(proba)

    return sigmoid


def _logits(values: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """scikit-learn's ``_convert_to_logits`` for decision values."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if values.shape[1] == 1:
        return np.concatenate([-values, values], axis=1)
    probabilities = bool(np.all((values >= 0) & (values <= 1))) and bool(
        np.all(np.isclose(np.sum(values, axis=1), 1.0))
    )
    return np.log(values + eps) if probabilities else values


def _clip(proba: np.ndarray) -> np.ndarray:
    proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


def _gated(estimator: Any) -> Function:
    gate, subtype = compile_proba(estimator.gate_), compile_proba(estimator.subtype_)
    gate_column = list(estimator.gate_.classes_).index(estimator.coarse_label)
    columns = {label: index for index, label in enumerate(estimator.classes_)}
    normal = columns[estimator.normal_label]
    subtype_columns = [columns[str(label)] for label in estimator.subtype_.classes_]

    def gated(features):
        offensive = gate(features)[:, gate_column]
        by_subtype = subtype(features)
        probabilities = np.zeros((features.shape[0], len(columns)))
        probabilities[:, normal] = 1 - offensive
        for index, column in enumerate(subtype_columns):
            probabilities[:, column] = offensive * by_subtype[:, index]
        return probabilities

    return gated
