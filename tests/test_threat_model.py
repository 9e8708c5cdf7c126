"""The English threat model: honest splits, the shipped file, untrusted types, the evaluation.

Training on all the data takes about a minute (``evaluate-threat --train``);
the evaluation tests here fit the model and the baseline on a subsample of
the training split with fewer features and folds instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
import skops.io
from click.testing import CliRunner

from detectors.model_files import ModelFileError, model_bytes
from detectors.threat_data import IDIOMS, Corpus, LabelledPost, load_splits, post_key, split_posts
from detectors.threat_evaluation import train_and_evaluate
from detectors.threat_model import TRUSTED_TYPES, ThreatModel, ThreatSettings
from streams.cli import threat as cli_threat

pytestmark = pytest.mark.slow  # left out of `make check` (seconds each); `make test` runs it

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "models" / "threat-en.skops"

# Written for these tests: in none of the data (checked below).
UNSEEN_THREATS = [
    "i will find you and put a bullet in your head",
    "someone should burn that mosque down with them inside",
    "round them all up and shoot them",
    "hang every last one of those traitors",
    "you deserve to be stabbed and i'll do it myself",
]
UNSEEN_BENIGN = [
    "she slayed that performance last night",
    "that guitar solo killed me",
    "i'll shoot you the file later",
    "this new single is a bomb",
    "my sister is going to kill me for borrowing her car",
    "headshots all night in valorant",
    "that burger was fire",
    "lovely weather for a picnic today",
    "the council meets on tuesday to discuss the budget",
]


@pytest.fixture(scope="module")
def splits():
    return load_splits()


@pytest.fixture(scope="module")
def shipped() -> ThreatModel:
    return ThreatModel.load(SHIPPED)


def small(splits, negatives: int = 1500):
    """Every training threat and a fixed sample of the rest: seconds to fit, not a minute."""
    threats = [post for post in splits.train if post.is_threat]
    others = [post for post in splits.train if not post.is_threat]
    chosen = sorted(np.random.default_rng(7).choice(len(others), negatives, replace=False))
    return dataclasses.replace(
        splits, train=threats + [others[index] for index in chosen], test_everyday=splits.test_everyday[:300]
    )


SMALL_SETTINGS = ThreatSettings(bits=16)


@pytest.fixture(scope="module")
def small_run(splits):
    return train_and_evaluate(small(splits), SMALL_SETTINGS, folds=3)


# -- splits -------------------------------------------------------------------


def test_no_held_out_post_is_among_the_training_posts(splits):
    training_keys = {post_key(post.text) for post in splits.train}
    held_out = splits.test + splits.test_hard_negatives + splits.test_everyday
    assert not training_keys & {post_key(post.text) for post in held_out}
    assert len(training_keys) == len(splits.train)  # and no training post twice


def test_test_split_is_a_stratified_fifth_of_threatening_vs_not_hate(splits):
    labels = Counter(post.label for post in splits.test)
    assert set(labels) == {"threatening", "not_hate"}
    training = Counter(post.label for post in splits.train)
    for label in labels:
        assert labels[label] / (labels[label] + training[label]) == pytest.approx(0.2, abs=0.005)


def test_copies_of_a_held_out_post_are_counted_as_overlap_not_trained_on():
    posts = {
        f"post number {index}": LabelledPost(f"Post number {index}!", "not_hate", f"f:{index}") for index in range(40)
    }
    posts.update(
        {
            f"threat number {index}": LabelledPost(f"threat number {index}", "threatening", f"g:{index}")
            for index in range(10)
        }
    )
    corpus = Corpus(posts=posts)
    copies = [
        LabelledPost(f"RT @someone: {post.text.upper()} http://t.co/x", "davidson_neither", "copy:1")
        for post in posts.values()
    ]
    result = split_posts(corpus, copies, seed=3)
    assert len(result.test) == 10 and sum(post.is_threat for post in result.test) == 2
    assert sum(result.overlap_removed.values()) == 10
    assert sum(result.duplicates_removed.values()) == 40
    assert [post.where for post in result.train if post.where.startswith("copy")] == []


def test_the_split_is_the_same_every_time(splits):
    again = load_splits()
    assert [post.text for post in again.test] == [post.text for post in splits.test]
    assert [post.text for post in again.train] == [post.text for post in splits.train]


def test_idiom_list_stays_small_and_every_line_is_a_post():
    lines = IDIOMS.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150
    assert all(line.strip() and line == line.strip() for line in lines)


# -- the shipped model --------------------------------------------------------


def test_trusted_types_are_exactly_what_the_shipped_model_needs():
    assert sorted(skops.io.get_untrusted_types(file=SHIPPED)) == sorted(TRUSTED_TYPES)


def test_hand_written_posts_are_unseen(splits):
    every_text = {post_key(post.text) for post in splits.train + splits.test + splits.test_hard_negatives}
    assert not every_text & {post_key(text) for text in UNSEEN_THREATS + UNSEEN_BENIGN}


def test_shipped_model_scores_unseen_threats_above_idioms_and_benign_posts(shipped):
    threats = shipped.score(UNSEEN_THREATS)
    benign = shipped.score(UNSEEN_BENIGN)
    assert threats.min() > benign.max()
    assert shipped.flags(UNSEEN_THREATS).sum() >= 4
    assert not shipped.flags(UNSEEN_BENIGN).any()


def test_score_gives_one_probability_per_post_in_order_alone_or_in_a_batch(shipped):
    texts = UNSEEN_BENIGN + UNSEEN_THREATS
    batch = shipped.score(texts)
    assert batch.shape == (len(texts),) and ((batch >= 0) & (batch <= 1)).all()
    assert np.allclose(batch, [shipped.score([text])[0] for text in texts])
    assert shipped.score([]).shape == (0,)


def test_shipped_model_records_its_identity_and_threshold(shipped):
    assert shipped.sha256 == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert shipped.file_name == "threat-en.skops"
    assert 0 < shipped.threshold < 1
    assert shipped.training["held_out"]["model"]["threshold"] == shipped.threshold


class Intruder:
    constructed = False

    def __setstate__(self, state):
        Intruder.constructed = True
        self.__dict__.update(state)


def test_model_file_with_an_untrusted_type_is_refused_naming_file_and_type(tmp_path):
    bundle = skops.io.loads(SHIPPED.read_bytes(), trusted=list(TRUSTED_TYPES))
    intruder = Intruder()
    intruder.payload = "x"
    bundle["training"]["note"] = intruder
    path = tmp_path / "tampered.skops"
    path.write_bytes(skops.io.dumps(bundle))
    with pytest.raises(ModelFileError) as raised:
        ThreatModel.load(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"{__name__}.Intruder" in message
    assert not Intruder.constructed


def test_a_file_that_is_not_a_threat_model_is_refused_with_its_name(tmp_path):
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match=re.escape(str(garbage))):
        ThreatModel.load(garbage)
    other = tmp_path / "other.skops"
    other.write_bytes(skops.io.dumps({"format": "something else"}))
    with pytest.raises(ModelFileError, match="not a modwatch threat model"):
        ThreatModel.load(other)


# -- evaluation ---------------------------------------------------------------


def test_evaluation_reports_model_and_baseline_on_the_same_held_out_split(splits, small_run):
    _, report = small_run
    assert [scores.name for scores in report.models] == ["model", "baseline"]
    threats = sum(post.is_threat for post in splits.test)
    for scores in report.models:
        for figure in (scores.precision, scores.recall, scores.f1, scores.average_precision, scores.threshold):
            assert 0 <= figure <= 1
        assert scores.true_positives + scores.false_negatives == threats
        assert scores.f1 == pytest.approx(2 * scores.precision * scores.recall / (scores.precision + scores.recall))
    model, baseline = report.models
    assert model.training_rows == baseline.training_rows == report.sizes["training_rows"]
    assert report.sizes["test"] == len(splits.test)
    assert "overlap_removed" in report.sizes


def test_report_table_and_json_show_both_models_and_the_overlap_removed(small_run):
    _, report = small_run
    table = cli_threat.format_report(report)
    assert re.search(r"^model\s+0\.\d{3}", table, re.MULTILINE)
    assert re.search(r"^baseline\s+0\.\d{3}", table, re.MULTILINE)
    assert "overlap removed from training:" in table
    document = orjson.loads(orjson.dumps(report.as_dict()))
    assert {scores["name"] for scores in document["models"]} == {"model", "baseline"}


def test_training_is_deterministic_byte_for_byte(splits, small_run):
    bundle, _ = small_run
    again, _ = train_and_evaluate(small(splits), SMALL_SETTINGS, folds=3)
    assert model_bytes(again) == model_bytes(bundle)


def test_evaluate_threat_command_prints_json_for_model_and_baseline(splits, monkeypatch):
    monkeypatch.setattr(cli_threat, "load_splits", lambda: small(splits, negatives=800))
    result = CliRunner().invoke(cli_threat.evaluate_threat, ["--json", "--model", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout.splitlines()[-1])
    assert [scores["name"] for scores in document["models"]] == ["model", "baseline"]
    assert document["sha256"] == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    # The subsample is not what the file was trained on, and the command says so.
    assert any("training_rows" in warning for warning in document["warnings"])
