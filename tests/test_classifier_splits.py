"""Deduplication across files, tasks and datasets, on small manifests written here.

An evaluation row whose text (near-copies included) is among any dataset's
training rows is not scored; a held-out row in that case is trained on; no
training row shares its text with a scored row; adding a test file never
changes the training rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.configfile import Problems
from detectors.dataset_manifest import load_dataset
from detectors.dataset_splits import overlap_key, split_datasets
from detectors.training import BASELINE, evaluate_baseline

LABELS = "labels:\n  bad: abuse\n  fine: none\n"
CODES = "codes: {'0': fine, '1': bad}"


def write_dataset(folder: Path, language: str, files: dict[str, tuple[str, list[tuple[str, int]]]]) -> Path:
    """A dataset manifest in ``folder``: file name -> (split, [(text, code)])."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (split, rows) in files.items():
        (folder / name).write_text("".join(f"{text}\t{code}\n" for text, code in rows), encoding="utf-8")
        extra = "\n    hold_out_fraction: 0.5\n    hold_out_seed: 7" if split == "hold_out" else ""
        entries.append(f"  - path: {name}\n    format: tsv\n    {CODES}\n    split: {split}{extra}\n")
    manifest = folder / "dataset.yaml"
    manifest.write_text(f"head: {language}\nlanguage: {language}\n{LABELS}files:\n" + "".join(entries))
    return manifest


def load(*manifests: Path):
    problems = Problems()
    datasets = [load_dataset(manifest, problems) for manifest in manifests]
    problems.raise_if_any()
    return datasets


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("RT @someone: You are a CLOWN!!! http://t.co/abc", "you are a clown"),
        ("bohaaaaat bura", "bohaat bura"),
        ("“quoted” — text…", "quoted text"),
        ("Ｆｕｌｌ ｗｉｄｔｈ", "full width"),
    ],
)
def test_near_copies_share_an_overlap_key(first, second):
    assert overlap_key(first) == overlap_key(second)


def test_different_words_or_emoji_keep_different_keys():
    assert overlap_key("you are a clown") != overlap_key("you are a clown too")
    assert overlap_key("😂😂") != overlap_key("🔥🔥")


def test_test_row_whose_text_is_trained_on_is_removed_from_its_set_not_from_training(tmp_path):
    manifest = write_dataset(
        tmp_path / "a",
        "en",
        {
            "train.tsv": ("train", [("you are a clown", 1), ("nice day", 0), ("lovely weather", 0)]),
            "test.tsv": ("test", [("RT @x: You are a CLOWN!!", 1), ("what a nice match", 0), ("what a nice match", 0)]),
        },
    )
    [splits] = split_datasets(load(manifest))
    [test] = splits.evaluations
    assert (test.file_rows, test.overlap, test.duplicates) == (3, 1, 1)
    assert [example.text for example in test.examples] == ["what a nice match"]
    assert [example.text for example in splits.train] == ["you are a clown", "nice day", "lovely weather"]


def test_held_out_row_whose_text_another_file_trains_on_is_trained_on_with_its_label(tmp_path):
    rows = [(f"post number {index}", index % 2) for index in range(20)]
    manifest = write_dataset(
        tmp_path / "a",
        "en",
        {
            "fine.tsv": ("hold_out", rows),
            "coarse.tsv": ("train", [(text.upper(), code) for text, code in rows]),  # every text again
        },
    )
    [splits] = split_datasets(load(manifest))
    [held] = splits.evaluations
    assert (held.file_rows, held.overlap, len(held.examples)) == (10, 10, 0)
    assert splits.held_out_trained_on == 10
    # Each text once per label: the copies in coarse.tsv are duplicates.
    assert len(splits.train) == 20 and splits.dropped_duplicates == 20


def test_overlap_is_removed_across_datasets(tmp_path):
    english = write_dataset(
        tmp_path / "en",
        "en",
        {
            "train.tsv": ("train", [("shared text here", 1), ("english only", 0)]),
            "test.tsv": ("test", [("english test", 0)]),
        },
    )
    other = write_dataset(
        tmp_path / "xx",
        "xx",
        {
            "train.tsv": ("train", [("another one", 0)]),
            "test.tsv": ("test", [("Shared   text here!", 1), ("unseen", 0)]),
        },
    )
    _, splits = split_datasets(load(english, other))
    [test] = splits.evaluations
    assert test.overlap == 1 and [example.text for example in test.examples] == ["unseen"]
    all_splits = split_datasets(load(english, other))
    training = {overlap_key(example.text) for part in all_splits for example in part.train}
    scored = {overlap_key(example.text) for part in all_splits for ev in part.evaluations for example in ev.examples}
    assert not training & scored


def test_adding_a_test_file_never_changes_the_training_rows(tmp_path):
    files = {"train.tsv": ("train", [("a b c", 1), ("d e f", 0), ("g h i", 0)])}
    before = write_dataset(tmp_path / "before", "en", files)
    after = write_dataset(tmp_path / "after", "en", {**files, "test.tsv": ("test", [("a b c", 1), ("new", 0)])})
    [without_test], [with_test] = split_datasets(load(before)), split_datasets(load(after))
    assert [example.text for example in without_test.train] == [example.text for example in with_test.train]
    assert with_test.evaluations[0].overlap == 1


def test_baseline_is_fitted_on_the_training_rows_and_scores_each_set(tmp_path):
    words = ["idiot", "clown", "loser", "moron"]
    rows = [(f"you {word} {index}", 1) for index in range(10) for word in words[:2]]
    rows += [(f"nice {word} day {index}", 0) for index in range(10) for word in ("sunny", "warm")]
    manifest = write_dataset(
        tmp_path / "a",
        "en",
        {
            "train.tsv": ("train", rows),
            "test.tsv": ("test", [("you idiot now", 1), ("nice sunny morning", 0)]),
        },
    )
    [dataset] = load(manifest)
    [splits] = split_datasets([dataset])
    [result] = evaluate_baseline(dataset, splits)
    assert result.scorer == BASELINE
    assert result.rows == 2 and result.accuracy == 1.0
    assert result.categories["abuse"]["recall"] == 1.0
