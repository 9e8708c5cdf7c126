"""The text classifier: model file safety, reproducibility, held-out quality, detect() and head choice.

Retraining the shipped model takes about 15 s; it runs once per session
(``retrained_model``) and the reproducibility test compares its bytes with
config/models/text-classifier.skops.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest
import skops.io
from click.testing import CliRunner

from detectors.classifier import TRUSTED_TYPES, HashedNgramVectorizer, load_model
from detectors.configfile import ConfigError, Problems
from detectors.dataset_manifest import DEFAULT_DATASETS, load_dataset
from detectors.dataset_splits import overlap_key, split_datasets
from detectors.events import Post
from detectors.language import guess_language, post_language
from detectors.model_files import ModelFileError
from detectors.text_classifier import TextClassifierDetector
from detectors.training import evaluate
from streams.cli.model import evaluate as evaluate_command
from streams.cli.model import train as train_command

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
SHIPPED = CONFIG / "models" / "text-classifier.skops"
DAVIDSON, RUHSOLD = DEFAULT_DATASETS
MAX_MODEL_BYTES = 25 * 1024 * 1024


def make_post(text: str, lang: str | None = None, number: int = 0) -> Post:
    return Post(
        platform="x",
        post_id=f"p{number}",
        account_id="acct-1",
        posted_at=datetime(2026, 11, 29, tzinfo=UTC),
        text=text,
        lang=lang,
    )


@pytest.fixture(scope="module")
def detector() -> TextClassifierDetector:
    problems = Problems()
    built = TextClassifierDetector.from_config(CONFIG, problems)
    problems.raise_if_any()
    return built


@pytest.fixture(scope="module")
def datasets():
    problems = Problems()
    loaded = {path: load_dataset(path, problems) for path in DEFAULT_DATASETS}
    problems.raise_if_any()
    return loaded


@pytest.fixture(scope="module")
def evaluations(detector, datasets):
    """Every evaluation of the shipped model on unseen rows, by (head, evaluation set name)."""
    return {(result.head, result.name): result for result in evaluate(detector.model, list(datasets.values()))}


@pytest.fixture(scope="session")
def retrained_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "text-classifier.skops"
    result = CliRunner().invoke(train_command, ["--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


# -- the model file -----------------------------------------------------------


def test_shipped_model_loads_with_both_heads_and_is_small(detector):
    assert set(detector.model.heads) == {"en", "roman_ur"}
    assert detector.model.heads["en"].name == "en"
    assert detector.model.file_name == "text-classifier.skops"
    assert detector.model.sha256 == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert SHIPPED.stat().st_size < MAX_MODEL_BYTES
    assert detector.min_score == 0.5


def test_trusted_types_are_exactly_what_the_shipped_model_needs():
    assert sorted(skops.io.get_untrusted_types(file=SHIPPED)) == sorted(TRUSTED_TYPES)


class Intruder:
    """A type no model file may contain. Loading it would call __setstate__."""

    constructed = False

    def __setstate__(self, state):
        Intruder.constructed = True
        self.__dict__.update(state)


def test_model_file_with_an_untrusted_type_is_refused_naming_file_and_type(tmp_path):
    bundle = skops.io.loads(SHIPPED.read_bytes(), trusted=list(TRUSTED_TYPES))
    intruder = Intruder()
    intruder.payload = "x"
    bundle["heads"][0]["training"]["note"] = intruder
    path = tmp_path / "tampered.skops"
    path.write_bytes(skops.io.dumps(bundle))
    with pytest.raises(ModelFileError) as raised:
        load_model(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"{__name__}.Intruder" in message
    assert not Intruder.constructed


def test_a_file_that_is_not_a_model_is_refused_with_its_name(tmp_path):
    path = tmp_path / "garbage.skops"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        load_model(path)


def model_differences(shipped: Path, retrained: Path, rtol: float = 1e-12) -> list[str]:
    """Where two model files part: a member missing or different, or a number beyond ``rtol``.

    Every member but the arrays must be byte for byte the same (the schema names every type,
    hyper-parameter and shape). Arrays may part in the last bits: the same training on another
    CPU sums in another order (a calibrator's intercept moved by 1e-16 between two machines).
    """
    import io
    import zipfile

    found = []
    with zipfile.ZipFile(shipped) as first, zipfile.ZipFile(retrained) as second:
        names = sorted(set(first.namelist()) | set(second.namelist()))
        for name in names:
            if name not in first.namelist() or name not in second.namelist():
                found.append(f"{name}: only in one file")
                continue
            old, new = first.read(name), second.read(name)
            if old == new:
                continue
            if not name.endswith(".npy"):
                found.append(f"{name}: differs")
                continue
            old_array, new_array = np.load(io.BytesIO(old)), np.load(io.BytesIO(new))
            if old_array.shape != new_array.shape or old_array.dtype != new_array.dtype:
                found.append(f"{name}: {old_array.dtype}{old_array.shape} became {new_array.dtype}{new_array.shape}")
            elif not np.allclose(old_array, new_array, rtol=rtol, atol=0.0):
                found.append(f"{name}: values differ beyond a relative {rtol:g}")
    return found


@pytest.mark.slow
def test_retraining_with_the_default_command_reproduces_the_shipped_model(retrained_model):
    assert model_differences(SHIPPED, retrained_model) == []


def test_a_model_file_that_parts_from_the_shipped_one_beyond_rounding_is_told_apart(tmp_path):
    import zipfile

    def rewrite(path: Path, change) -> Path:
        with zipfile.ZipFile(SHIPPED) as source, zipfile.ZipFile(path, "w") as target:
            for name in source.namelist():
                target.writestr(name, change(name, source.read(name)))
        return path

    def nudged(factor: float):
        def change(name: str, data: bytes) -> bytes:
            import io

            if not name.endswith(".npy") or data == b"":
                return data
            array = np.load(io.BytesIO(data))
            if array.dtype.kind != "f" or not array.size:
                return data
            out = io.BytesIO()
            np.save(out, array * factor)
            return out.getvalue()

        return change

    assert model_differences(SHIPPED, rewrite(tmp_path / "same.skops", lambda name, data: data)) == []
    assert model_differences(SHIPPED, rewrite(tmp_path / "last-bit.skops", nudged(1 + 2e-16))) == []
    changed = model_differences(SHIPPED, rewrite(tmp_path / "changed.skops", nudged(1 + 1e-6)))
    assert changed and all("values differ" in line for line in changed)
    schema = rewrite(tmp_path / "schema.skops", lambda name, data: data + b" " if name == "schema.json" else data)
    assert model_differences(SHIPPED, schema) == ["schema.json: differs"]


# -- splits and held-out quality ----------------------------------------------


@pytest.mark.slow
def test_no_evaluation_text_is_in_the_training_rows_of_any_dataset(datasets):
    all_splits = split_datasets(list(datasets.values()))
    training = {overlap_key(example.text) for splits in all_splits for example in splits.train}
    for splits in all_splits:
        for evaluation in splits.evaluations:
            assert not training & {overlap_key(example.text) for example in evaluation.examples}, evaluation.name


@pytest.mark.slow
def test_ruhsold_splits_are_the_documented_ones(datasets):
    _, splits = split_datasets(list(datasets.values()))
    names = [evaluation.name for evaluation in splits.evaluations]
    assert names == ["task_2_train.tsv (held-out 20%, seed 20201116)", "task_1_validation.tsv"]
    fine, coarse = splits.evaluations
    # What the manifest holds out, and what is left once texts found in training are removed.
    assert (coarse.file_rows, coarse.overlap, len(coarse.examples)) == (801, 476, 325)
    assert (fine.file_rows, fine.overlap, len(fine.examples)) == (round(7209 * 0.2), 1049, 393)
    # Held-out rows whose text is trained on anyway are trained on with their fine label.
    assert splits.held_out_trained_on == fine.overlap
    assert splits.dropped_overlap == 0


@pytest.mark.slow
def test_davidson_near_copies_of_training_tweets_are_not_scored(datasets):
    [splits, _] = split_datasets(list(datasets.values()))
    [held_out] = splits.evaluations
    assert (held_out.file_rows, held_out.overlap, held_out.duplicates, len(held_out.examples)) == (4957, 177, 15, 4765)


def test_davidson_held_out_weighted_f1_meets_the_0_89_target(evaluations):
    result = evaluations[("en", "labeled_data.csv (held-out 20%, seed 20170305)")]
    assert result.rows == 4765
    assert result.weighted_f1 >= 0.89


def test_ruhsold_fine_grained_held_out_macro_f1_meets_the_0_72_target(evaluations):
    result = evaluations[("roman_ur", "task_2_train.tsv (held-out 20%, seed 20201116)")]
    assert result.labels == ("abusive_offensive", "normal", "profane_untargeted", "religious_hate", "sexism")
    assert result.macro_f1 >= 0.72


def test_ruhsold_coarse_validation_macro_f1_stays_at_its_measured_0_89(evaluations):
    result = evaluations[("roman_ur", "task_1_validation.tsv (coarse: normal vs offensive)")]
    assert result.rows == 325
    assert result.macro_f1 >= 0.885


@pytest.mark.xfail(
    strict=True,
    reason="coarse macro-F1 is 0.889 on the 325 unseen rows; no setting supported by cross-validation reaches 0.90",
)
def test_ruhsold_coarse_validation_macro_f1_meets_the_0_90_target(evaluations):
    result = evaluations[("roman_ur", "task_1_validation.tsv (coarse: normal vs offensive)")]
    assert result.macro_f1 >= 0.90


@pytest.mark.slow
def test_evaluate_command_prints_json_per_evaluation_set_with_the_overlap_it_removed():
    result = CliRunner().invoke(
        evaluate_command, ["--model", str(SHIPPED), "--data", str(DAVIDSON), "--data", str(RUHSOLD), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in result.output.splitlines()]
    assert [(record["language"], record["evaluation"]) for record in records] == [
        ("en", "labeled_data.csv (held-out 20%, seed 20170305)"),
        ("roman_ur", "task_2_train.tsv (held-out 20%, seed 20201116)"),
        ("roman_ur", "task_1_validation.tsv (coarse: normal vs offensive)"),
    ]
    fine, coarse = records[1:]
    assert coarse["labels"] == ["offensive", "normal"]
    assert (coarse["file_rows"], coarse["overlap_removed"], coarse["rows"]) == (801, 476, 325)
    assert sum(map(sum, coarse["confusion_matrix"])) == 325
    assert {"precision", "recall", "f1", "support"} <= set(coarse["per_class"]["normal"])
    assert coarse["categories"] == {}  # an "offensive" row has no category
    assert set(fine["categories"]) == {"hate", "abuse", "none"}
    assert fine["categories"]["hate"]["support"] == fine["per_class"]["religious_hate"]["support"]
    assert fine["min_score"] == 0.5
    assert all(record["scorer"] == "text-classifier.skops" and record["warnings"] == [] for record in records)


@pytest.mark.slow
def test_evaluate_of_one_dataset_warns_that_the_other_was_not_compared():
    result = CliRunner().invoke(evaluate_command, ["--model", str(SHIPPED), "--data", str(RUHSOLD), "--json"])
    assert result.exit_code == 0, result.output
    assert "this evaluation does not read davidson_en/dataset.yaml" in result.output


@pytest.mark.slow
def test_evaluate_command_prints_tables_with_macro_and_weighted_f1():
    result = CliRunner().invoke(evaluate_command, ["--model", str(SHIPPED), "--data", str(DAVIDSON)])
    assert result.exit_code == 0, result.output
    assert "confusion matrix" in result.output
    assert "4765 unseen posts scored of 4957 (177 removed: text in training; 15 duplicates)" in result.output
    assert re.search(r"macro F1 0\.\d{4}\s+weighted F1 0\.8\d{3}", result.output)
    assert "summary: unseen rows only" in result.output


def test_bad_manifest_is_reported_with_file_line_and_field(tmp_path):
    manifest = tmp_path / "dataset.yaml"
    (tmp_path / "data.tsv").write_text("hello\t0\n")
    manifest.write_text(
        "head: en\nlanguage: en\nlabels:\n  hateful: hatred\nfiles:\n"
        "  - path: data.tsv\n    format: tsv\n    codes: {'0': hateful}\n    split: train\n"
    )
    problems = Problems()
    load_dataset(manifest, problems)
    with pytest.raises(ConfigError) as raised:
        problems.raise_if_any()
    assert f"{manifest}:4: labels.hateful: 'hatred' is not one of hate, abuse, none" in raised.value.problems


# -- detect() -----------------------------------------------------------------

ENGLISH_ABUSE = "fuck off you worthless piece of shit"
ENGLISH_HATE = "all those faggots and niggers should be thrown out of this country"
ROMAN_URDU_ABUSE = "chup kar be ghatiya insaan, tere jaise bharway ko sharam nahi aati"
ROMAN_URDU_RELIGIOUS_HATE = "ye qadiani kafir hain, inko mulk se nikalo ye yahoodi agent hain"
ENGLISH_BENIGN = "the weather is lovely today, going to the park with my kids"
ROMAN_URDU_BENIGN = "aaj mausam bohat acha hai hum sab chai pi rahe hain aur cricket dekhenge"
URDU_ARABIC_SCRIPT_INSULT = "تم کمینے کتے ہو، بکواس بند کرو"


def test_detect_returns_one_list_per_post_in_order(detector):
    texts = [ENGLISH_BENIGN, ENGLISH_ABUSE, "", URDU_ARABIC_SCRIPT_INSULT, ROMAN_URDU_ABUSE, ROMAN_URDU_BENIGN]
    found = detector.detect([make_post(text, number=index) for index, text in enumerate(texts)])
    assert [bool(findings) for findings in found] == [False, True, False, False, True, False]
    assert detector.detect([]) == []


@pytest.mark.parametrize(
    ("text", "category", "head"),
    [
        (ENGLISH_ABUSE, "abuse", "en"),
        (ENGLISH_HATE, "hate", "en"),
        (ROMAN_URDU_ABUSE, "abuse", "roman_ur"),
        (ROMAN_URDU_RELIGIOUS_HATE, "hate", "roman_ur"),
    ],
)
def test_obvious_abuse_and_hate_are_found_with_checkable_evidence(detector, text, category, head):
    [findings] = detector.detect([make_post(text)])
    [finding] = findings
    assert (finding.detector, finding.category) == ("text_classifier", category)
    assert finding.score >= 0.5
    evidence = finding.evidence
    assert evidence["head"] == head
    assert evidence["model"] == "text-classifier.skops"
    assert evidence["model_sha256"] == detector.model.sha256
    probabilities = evidence["probabilities"]
    assert evidence["label"] == max(probabilities, key=probabilities.get)
    categories = detector.model.heads[head].categories
    counted = {category}
    if category == "abuse" and detector.hate_targets[head].untargeted(text):
        counted.add("hate")  # no group named: hate probability counts as abuse
    assert finding.score == pytest.approx(
        sum(value for label, value in probabilities.items() if categories[label] in counted), abs=1e-3
    )


@pytest.mark.parametrize("text", [ENGLISH_BENIGN, ROMAN_URDU_BENIGN, URDU_ARABIC_SCRIPT_INSULT, "", "   "])
def test_benign_empty_and_arabic_script_posts_get_no_finding(detector, text):
    assert detector.detect([make_post(text)]) == [[]]


def test_arabic_script_gets_no_finding_even_when_tagged_roman_urdu(detector):
    assert detector.detect([make_post(URDU_ARABIC_SCRIPT_INSULT, lang="ur-Latn")]) == [[]]


def test_min_score_filters_findings(detector):
    strict = TextClassifierDetector(detector.model, min_score=0.9999)
    assert strict.detect([make_post(ROMAN_URDU_ABUSE)]) == [[]]


def test_bad_hate_target_lists_are_reported_with_file_line_and_field(tmp_path):
    (tmp_path / "classifier.yaml").write_text(
        f"model: {SHIPPED}\nhate_needs_target:\n  en:\n    groups: [muslims, two words]\n    profanity: [shit]\n"
        "  ps:\n    groups: [x]\n    profanity: [y]\n"
    )
    problems = Problems()
    detector = TextClassifierDetector.from_config(tmp_path, problems)
    path = tmp_path / "classifier.yaml"
    assert problems.messages == [
        f"{path}:4: hate_needs_target.en.groups[1]: 'two words' is not one lower-case Latin-script word",
        f"{path}:6: hate_needs_target.ps: text-classifier.skops has no head for 'ps' (heads: en, roman_ur)",
    ]
    assert detector.hate_targets["en"].groups == {"muslims"}


def test_config_pointing_at_a_missing_model_reports_file_line_and_field(tmp_path):
    (tmp_path / "classifier.yaml").write_text("# the classifier\nmodel: models/none.skops\nmin_score: 1.5\n")
    problems = Problems()
    TextClassifierDetector.from_config(tmp_path, problems)
    assert len(problems.messages) == 2
    assert problems.messages[0] == f"{tmp_path / 'classifier.yaml'}:3: min_score: must be at most 1.0, not 1.5"
    expected = f"{tmp_path / 'classifier.yaml'}:2: model: {tmp_path}/models/none.skops: cannot be read"
    assert problems.messages[1].startswith(expected)


# -- head choice ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "kya haal hai bhai", "en"),  # the producer's tag wins over the guess
        ("en-GB", "hello there", "en"),
        ("ur-Latn", "hello there", "roman_ur"),
        ("roman_ur", "kuch bhi", "roman_ur"),
        ("ur", "tum kahan ho", "roman_ur"),  # "ur" in Latin script is Roman Urdu
        ("ur", "تم کہاں ہو", None),  # in Arabic script there is no head for it
        ("ps", "za sta sara mina kawom", None),  # a language without a head
        ("und", "yeh kya ho raha hai", "roman_ur"),  # "undetermined" falls back to the guess
        (None, "", None),
    ],
)
def test_post_language_uses_the_tag_then_the_script(lang, text, expected):
    assert post_language(make_post(text, lang=lang)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yeh log kya samajhte hain apne aap ko", "roman_ur"),
        ("tum bilkul pagal ho", "roman_ur"),
        ("mera dil nahi lagta", "roman_ur"),
        ("I can't believe what they did to the team", "en"),
        ("lol that ho is crazy", "en"),  # "ho" is English slang too: not evidence of Urdu
        ("Free tha gang http://t.co/x @someone", None),  # no word known to either list: too short to tell
        ("🔥🔥🔥", None),
        ("آج موسم بہت اچھا ہے", None),
        ("kya haal hai, how are you doing today my friend", "en"),  # outnumbered by English words
    ],
)
def test_guess_language_counts_roman_urdu_and_english_words(text, expected):
    assert guess_language(text) == expected


# -- the vectoriser against a plain-Python oracle ------------------------------

MASK = 2**64 - 1
BASE = 0x100000001B3
GOLDEN = 0x9E3779B97F4A7C15


def _mix(value: int) -> int:
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & MASK
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & MASK
    return value ^ (value >> 33)


def _polynomial(text: str) -> int:
    return sum(ord(character) * pow(BASE, index, 2**64) for index, character in enumerate(text)) & MASK


def oracle_counts(texts: list[str], bits: int, char_orders, word_orders) -> Counter:
    """The vectoriser's definition, one post and one n-gram at a time."""
    shift, block = 65 - bits, 1 << (bits - 1)
    counts: Counter = Counter()
    for row, text in enumerate(texts):
        text = text.replace("\x00", " ").lower()
        text = re.sub(r"https?://[^\s\x00]+", "http", text)
        text = re.sub(r"@\w+", "@", text)
        for entity, character in (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"')):
            text = text.replace(entity, character)
        text = "".join(" " if ord(character) < 0x10000 and character.isspace() else character for character in text)
        text = re.sub(" +", " ", text).strip(" ")
        text = re.sub(r"(.)\1{2,}", r"\1\1", text, flags=re.DOTALL)
        padded = f" {text} "
        for order in char_orders:
            if order == 1:
                grams = list(text)
            elif order == 2 and not text:
                grams = []
            else:
                grams = [padded[start : start + order] for start in range(len(padded) - order + 1)]
            for gram in grams:
                counts[row, _mix((_polynomial(gram) + order * GOLDEN) & MASK) >> shift] += 1
        words = [
            match.group()
            for match in re.finditer(
                r"\S+",
                "".join(
                    character if ord(character) < 0x10000 and unicodedata.category(character)[0] in "LNM" else " "
                    for character in text
                ),
            )
        ]
        hashes = [_mix(_polynomial(word)) for word in words]
        if 1 in word_orders:
            for value in hashes:
                counts[row, (_mix((value + 0x51) & MASK) >> shift) | block] += 1
        if 2 in word_orders:
            for first, second in zip(hashes, hashes[1:]):
                counts[row, (_mix((first * GOLDEN + second + 0x52) & MASK) >> shift) | block] += 1
    return counts


def test_vectorizer_counts_match_the_plain_python_oracle():
    texts = [
        "Hello   World!!! soooo goood",
        "",
        "   ",
        "a",
        "RT @someone: look http://t.co/abc &amp; more &lt;3",
        "aaj\u00a0mausam\tbohat\n\nacha hai 😂😂😂😂 ok",
        "تحریک طالبان   پاکستان",
        "x\x00y",
        "ab",
        "  trailing and leading  ",
        "İstanbul ǅemal",
    ]
    vectorizer = HashedNgramVectorizer(bits=16, char_orders=(1, 2, 3, 4, 5), word_orders=(1, 2))
    matrix = vectorizer.counts(texts).tocoo()
    fast = Counter(
        {(int(row), int(column)): int(value) for row, column, value in zip(matrix.row, matrix.col, matrix.data)}
    )
    assert fast == oracle_counts(texts, 16, (1, 2, 3, 4, 5), (1, 2))


def test_vectorizer_gives_each_post_the_same_row_alone_or_in_a_batch():
    vectorizer = HashedNgramVectorizer(bits=14).fit(["one two three", "four five", "six"])
    batch = vectorizer.transform(["one two", "", "three four five six"]).toarray()
    alone = np.vstack([vectorizer.transform([text]).toarray() for text in ["one two", "", "three four five six"]])
    assert np.array_equal(batch, alone)
    norms = np.linalg.norm(batch[:, : 1 << 13], axis=1)
    assert norms[0] == pytest.approx(1, abs=1e-6) and norms[1] == 0


def test_the_count_matrix_equals_one_sort_of_row_and_column_keys():
    # HashedNgramVectorizer._matrix builds its CSR matrix through scipy's COO conversion;
    # the reference here sorts (row, column) keys over the whole batch and counts runs.
    import numpy as np

    from detectors.classifier import HashedNgramVectorizer

    rng = np.random.default_rng(3)
    bits, documents = 12, 40
    rows = [np.sort(rng.integers(0, documents, 3000)), np.sort(rng.integers(0, documents, 500))]
    columns = [rng.integers(0, 1 << bits, 3000).astype(np.uint64), rng.integers(0, 1 << bits, 500).astype(np.uint64)]
    matrix = HashedNgramVectorizer(bits=bits)._matrix(rows, columns, documents)
    keys = np.sort((np.concatenate(rows).astype(np.uint64) << np.uint64(bits)) | np.concatenate(columns))
    unique, counts = np.unique(keys, return_counts=True)
    expected = np.zeros((documents, 1 << bits), dtype=np.float32)
    expected[(unique >> np.uint64(bits)).astype(int), (unique & np.uint64((1 << bits) - 1)).astype(int)] = counts
    assert matrix.has_sorted_indices and matrix.dtype == np.float32
    assert np.array_equal(matrix.toarray(), expected)
    assert matrix.nnz == len(unique)  # no duplicate entries left
    empty = HashedNgramVectorizer(bits=bits)._matrix([], [], 3)
    assert empty.shape == (3, 1 << bits) and empty.nnz == 0
