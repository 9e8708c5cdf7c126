"""Compiled predict_proba (detectors/fast_predict.py) gives scikit-learn's numbers to the last bit.

The shipped models are checked on the multilingual test posts (four
languages, both scripts) plus edge cases; small models fitted here cover the
other shapes the compiler accepts (several calibration folds, binary and
multiclass, sigmoid and temperature, logistic regression) and what it must
refuse.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from detectors.classifier import HashedNgramVectorizer, LogCountRatioScaler, load_model
from detectors.extremism_model import ExtremismModel
from detectors.fast_predict import NotCompiled, compile_proba, predictor, transformer
from detectors.threat_model import ThreatModel
from tests.conftest import ROOT

MODELS = ROOT / "config" / "models"
EDGES = ["", " ", "a", "!!!", "😀😀", "x" * 5000, "Kal subah 9 baje", "هغه به ووژني", "میں تمہیں مار دوں گا"]


def texts() -> list[str]:
    lines = (ROOT / "tests" / "data" / "multilingual_posts.jsonl").read_text(encoding="utf-8").splitlines()
    return [orjson.loads(line)["text"] for line in lines if line.strip()] + EDGES


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("language", ["en", "roman_ur"])
def test_each_text_classifier_head_gives_sklearns_numbers_exactly(language):
    head = load_model(MODELS / "text-classifier.skops").heads[language]
    compiled = compile_proba(head.pipeline)
    every = texts()
    assert same(compiled(every), head.pipeline.predict_proba(every))
    for one in every[:5]:  # batches of one as well: the shape most often seen under light traffic
        assert same(compiled([one]), head.pipeline.predict_proba([one]))


def test_the_threat_model_gives_sklearns_numbers_exactly():
    model = ThreatModel.load(MODELS / "threat-en.skops")
    every = texts()
    assert same(model.score(every), model.pipeline.predict_proba(every)[:, model._column])


def test_the_extremism_model_gives_sklearns_numbers_exactly():
    model = ExtremismModel.load(MODELS / "extremism.skops")
    every = texts()
    threat, promotion = model.score(every)
    expected = model.pipeline.predict_proba(every)
    classes = list(model.pipeline.classes_)
    assert same(threat, expected[:, classes.index("threat")])
    assert same(promotion, expected[:, classes.index("promotion")])


def fitted(classifier, labels: list[str], *, scaled: bool = False) -> Pipeline:
    corpus = texts()[: -len(EDGES)]
    steps = [("features", HashedNgramVectorizer(bits=14))]
    if scaled:
        steps.append(("scale", LogCountRatioScaler()))
    steps.append(("classifier", classifier))
    y = [labels[index % len(labels)] for index in range(len(corpus))]
    return Pipeline(steps).fit(corpus, y)


@pytest.mark.parametrize(
    ("classifier", "labels", "scaled"),
    [
        (CalibratedClassifierCV(LinearSVC(), method="sigmoid", cv=3), ["a", "b"], False),
        (CalibratedClassifierCV(LinearSVC(), method="sigmoid", cv=3), ["c", "a", "b"], False),
        (CalibratedClassifierCV(LinearSVC(), method="temperature", cv=2), ["a", "b", "c"], False),
        (CalibratedClassifierCV(LinearSVC(), method="temperature", cv=2), ["a", "b"], False),
        (LogisticRegression(max_iter=500), ["a", "b"], True),
        (LogisticRegression(max_iter=500), ["b", "a", "c"], False),
    ],
)
def test_every_shape_it_accepts_gives_sklearns_numbers_exactly(classifier, labels, scaled):
    pipeline = fitted(classifier, labels, scaled=scaled)
    every = texts()
    assert same(compile_proba(pipeline)(every), pipeline.predict_proba(every))


def test_what_it_does_not_know_is_refused_and_left_to_sklearn():
    forest = fitted(RandomForestClassifier(n_estimators=3, random_state=0), ["a", "b"])
    with pytest.raises(NotCompiled):
        compile_proba(forest)
    assert predictor(forest) == forest.predict_proba
    isotonic = fitted(CalibratedClassifierCV(LinearSVC(), method="isotonic", cv=2), ["a", "b"])
    with pytest.raises(NotCompiled):
        compile_proba(isotonic)
    assert predictor(isotonic) == isotonic.predict_proba


def test_a_compiled_transform_is_the_transformers_own():
    vectorizer = HashedNgramVectorizer(bits=14).fit(texts())
    every = texts()
    compiled, own = transformer(vectorizer)(every), vectorizer.transform(every)
    assert (compiled != own).nnz == 0 and compiled.dtype == own.dtype
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer().fit(every)
    assert transformer(tfidf) == tfidf.transform  # not ours: its own transform, checks and all


def test_the_text_classifier_detector_uses_the_compiled_path():
    from datetime import UTC, datetime

    from detectors.configfile import Problems
    from detectors.events import Post
    from detectors.text_classifier import TextClassifierDetector

    detector = TextClassifierDetector.from_config(ROOT / "config", Problems())
    posts = [
        Post("x", str(index), "a", datetime(2026, 12, 1, tzinfo=UTC), text=text, lang=language)
        for index, (text, language) in enumerate(
            [("You people are worthless animals, get out of this country", "en"), ("tum log kutte ho", "roman_ur")]
        )
    ]
    before = detector.detect(posts)

    def refuse(*_, **__):
        raise AssertionError("scikit-learn's predict_proba was called")

    for head in detector.model.heads.values():
        head.pipeline.predict_proba = refuse
    try:
        assert detector.detect(posts) == before
    finally:
        for head in detector.model.heads.values():
            del head.pipeline.predict_proba
