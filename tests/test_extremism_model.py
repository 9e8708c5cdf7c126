"""The extremism model (detectors/extremism_model.py): data, thresholds, the shipped file, the detector."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from detectors.configfile import Problems
from detectors.dataset_manifest import DatasetError
from detectors.events import Post
from detectors.extremism_data import read_written
from detectors.extremism_model import (
    REVIEW_SCORE,
    ExtremismModel,
    ExtremismModelDetector,
    ExtremismSettings,
    choose_thresholds,
    post_language,
)
from detectors.model_files import ModelFileError, save_model
from detectors.pipeline import Pipeline
from tests.conftest import ROOT

SHIPPED = ROOT / "config" / "models" / "extremism.skops"


def post(text: str, post_id: str = "1") -> Post:
    return Post(platform="x", post_id=post_id, account_id="a", posted_at=datetime(2026, 12, 3, tzinfo=UTC), text=text)


@pytest.mark.parametrize(
    "text, language",
    [
        ("We will find you tomorrow", "en"),
        ("tum kal dekhna kya hota hai", "roman_ur"),
        ("کل تمہیں دیکھ لیں گے", "ur"),
        ("موږ به تا پیدا کړو", "ps"),  # ږ is Pashto's, not Urdu's
        ("Nous allons au marché demain avec les enfants", None),  # no model reads French
    ],
)
def test_post_language_tells_pashto_from_urdu_by_its_letters(text, language):
    assert post_language(text) == language


def test_written_posts_name_file_line_and_field_when_wrong(tmp_path):
    good = '{"id": "x-1", "lang": "en", "label": "threat", "kind": "direct", "text": "t"}\n'
    (tmp_path / "en-a.jsonl").write_text(
        good + '{"id": "x-2", "lang": "en", "label": "threat", "kind": "news", "text": "t"}\n'
    )
    with pytest.raises(DatasetError, match=r"en-a\.jsonl:2: kind: 'news' is not a kind of 'threat' post"):
        read_written(tmp_path)
    (tmp_path / "en-a.jsonl").write_text(good + good)
    with pytest.raises(DatasetError, match=r"en-a\.jsonl:2: id: 'x-1' repeats en-a\.jsonl:1"):
        read_written(tmp_path)


def test_each_author_is_wholly_in_one_fold():
    posts = read_written()
    folds = {}
    for written in posts:
        folds.setdefault(written.author, set()).add(written.fold)
    assert all(len(found) == 1 for found in folds.values())
    for language in ("en", "ur", "roman_ur", "ps"):
        assert {written.fold for written in posts if written.language == language} == {"a", "b"}


def test_thresholds_are_the_lowest_that_keep_benign_and_other_flags_within_bounds():
    written = [
        SimpleNamespace(language="en", label="threat", kind="direct"),
        SimpleNamespace(language="en", label="threat", kind="veiled"),
        SimpleNamespace(language="en", label="other", kind="idiom"),
        SimpleNamespace(language="en", label="other", kind="news"),
    ]
    scores = np.array([0.9, 0.5, 0.45, 0.7])
    settings = ExtremismSettings(max_benign_rate=0.0, max_other_rate=0.5, min_threshold=0.2)
    # 0.46: the idiom (0.45) is left alone, the news post (0.7) flagged is half the others.
    assert choose_thresholds(settings, written, scores)["en"] == pytest.approx(0.46)
    strict = ExtremismSettings(max_benign_rate=0.0, max_other_rate=0.0, min_threshold=0.2)
    assert choose_thresholds(strict, written, scores)["en"] == pytest.approx(0.71)
    # Never below even odds (the shipped floor), however few false flags a lower one gives.
    assert choose_thresholds(ExtremismSettings(max_benign_rate=0.0, max_other_rate=0.5), written, scores)["en"] == 0.5


@pytest.fixture(scope="module")
def shipped() -> ExtremismModel:
    return ExtremismModel.load(SHIPPED)


def test_the_shipped_model_has_a_threshold_per_language_and_its_provenance(shipped):
    assert set(shipped.thresholds) == {"en", "ur", "roman_ur", "ps"}
    assert all(0.2 <= value < 1.0 for value in shipped.thresholds.values())
    files = shipped.training["files"]
    assert {f"{name}.jsonl" for name in ("en-a", "en-b", "ur-a", "ur-b", "rur-a", "rur-b", "ps-a", "ps-b")} <= set(
        files
    )
    assert set(shipped.training["cross_author"]) == {"model", "baseline"}


def test_a_model_file_with_thresholds_out_of_range_is_refused(shipped, tmp_path):
    bundle = {
        "format": "modwatch.extremism-model",
        "format_version": 1,
        "pipeline": shipped.pipeline,
        "thresholds": {"en": 1.5},
        "training": {},
    }
    save_model(bundle, tmp_path / "bad.skops")
    with pytest.raises(ModelFileError, match=r"bad\.skops: thresholds .* are not a probability per language"):
        ExtremismModel.load(tmp_path / "bad.skops")


class FixedModel:
    """Scores every post 0.9 threat: what the detector does with a model's answer."""

    thresholds = {"en": 0.5, "ur": 0.5, "roman_ur": 0.5, "ps": 0.5}
    file_name, sha256 = "fixed.skops", "0" * 64

    def __init__(self):
        self.read = []

    def score(self, texts):
        self.read.extend(texts)
        return np.full(len(texts), 0.9), np.zeros(len(texts))


def test_findings_are_review_only_and_framed_or_gated_posts_are_left_to_the_rules():
    problems = Problems()
    pipeline_detector = ExtremismModelDetector.from_config(ROOT / "config", problems)
    problems.raise_if_any()
    model = FixedModel()
    gate = SimpleNamespace(opens=lambda text: "gate" not in text)
    detector = ExtremismModelDetector(model, pipeline_detector.framing, gate)
    texts = [
        "Count the days you have left, Akbar",  # read and flagged
        "Police said the caller told him to count his days",  # framed: news
        "gate closed: nothing here for the model",  # gate shut: never scored
        "Les enfants jouent au football demain après l'école",  # no language the model reads
    ]
    found = detector.detect([post(text, str(index)) for index, text in enumerate(texts)])
    assert [len(findings) for findings in found] == [1, 0, 0, 0]
    (finding,) = found[0]
    assert finding.score == REVIEW_SCORE and finding.category == "violent_threat"
    assert finding.evidence["class"] == "threat" and finding.evidence["threshold"] == 0.5
    assert "gate closed: nothing here for the model" not in model.read


def test_the_pipeline_reviews_what_only_the_model_finds_and_never_takes_it_down():
    pipeline = Pipeline.from_config_dir(ROOT / "config")
    extremism = next(detector for detector in pipeline.detectors if isinstance(detector, ExtremismModelDetector))
    extremism.model = FixedModel()
    extremism.gate = SimpleNamespace(opens=lambda text: True)
    (decision,) = pipeline.scan([post("The principal's car is white, right? Nice colour. Shame about the brakes.")])
    assert decision.action == "review"
    assert {finding.detector for finding in decision.findings} == {"extremism_model"}


@pytest.mark.slow
def test_training_again_gives_the_shipped_thresholds(shipped):
    from detectors.extremism_evaluation import train_and_evaluate

    bundle, report = train_and_evaluate()
    assert bundle["thresholds"] == dict(shipped.thresholds)
    model = next(result for result in report.models if result.name == "model")
    assert {language: list(pair) for language, pair in model.found.items()} == shipped.training["cross_author"][
        "model"
    ]["found"]
