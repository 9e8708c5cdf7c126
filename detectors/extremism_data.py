"""Training data of the extremism model: written posts in four languages, and real negatives.

``detectors/datasets/synthetic_posts/`` holds posts written for modwatch by
separate authors (language-model agents, one file each, told to write from
their own knowledge and never shown the functional suite, the rules or each
other's files): threats (direct, veiled, conditional, normative), promotion
(glorification, recruitment) and everything else a careful moderator leaves
alone or only reviews (news, condemnation, academic quotation, counter-speech,
non-violent political speech, idioms, profanity, everyday and religious posts).
Files ``LANG-a`` and ``LANG-b`` are two authors per language with the same mix;
``LANG-nN`` files hold only the last group, for Urdu and Pashto, which have no
real corpus of ordinary posts here. See the folder's README for what the files
are and are not.

Real posts join them as negatives, because a model trained on written posts
alone flags ordinary real ones: Davidson's English tweets, RUHSOLD's Roman Urdu
training split, implicit_hate's ``not_hate`` training split, and the English
idioms written for the threat model (each folder under
``detectors/datasets/`` documents its source and licence). The evaluation
holds out what it measures on (:mod:`detectors.extremism_model`).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from detectors.dataset_manifest import DatasetError

DATASETS = Path(__file__).resolve().parent / "datasets"
SYNTHETIC = DATASETS / "synthetic_posts"
DAVIDSON = DATASETS / "davidson_en" / "labeled_data.csv"
RUHSOLD_TRAIN = DATASETS / "ruhsold_roman_urdu" / "task_1_train.tsv"
RUHSOLD_VALIDATION = DATASETS / "ruhsold_roman_urdu" / "task_1_validation.tsv"

LANGUAGES = ("en", "ur", "roman_ur", "ps")
LABELS = ("threat", "promotion", "other")
VIOLATING = frozenset({"threat", "promotion"})
KINDS = {
    "threat": {"direct", "veiled", "conditional", "normative"},
    "promotion": {"glorification", "recruitment"},
    "other": {
        "news",
        "condemnation",
        "academic",
        "counter_speech",
        "political",
        "idiom",
        "profanity",
        "everyday",
        "religious",
    },
}
PROTECTED_KINDS = frozenset({"news", "condemnation", "academic", "counter_speech", "political", "religious"})


@dataclass(frozen=True, slots=True)
class WrittenPost:
    id: str
    language: str
    label: str  # threat | promotion | other
    kind: str
    text: str
    author: str  # the file's stem: "ur-a", "ps-n1"

    @property
    def fold(self) -> str:
        """``a`` or ``b``: posts of one author are never split between training and evaluation."""
        suffix = self.author.rsplit("-", 1)[-1]
        return "a" if suffix in ("a", "n1") else "b"


def read_written(folder: Path = SYNTHETIC) -> list[WrittenPost]:
    """Every post of every ``*.jsonl`` file in ``folder``; a bad line names its file, line and field."""
    posts, seen = [], {}
    files = sorted(Path(folder).glob("*.jsonl"))
    if not files:
        raise DatasetError(f"{folder}: no *.jsonl files")
    for path in files:
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            post = _written_post(path, number, line)
            if post.id in seen:
                raise DatasetError(f"{path.name}:{number}: id: {post.id!r} repeats {seen[post.id]}")
            seen[post.id] = f"{path.name}:{number}"
            posts.append(post)
    return posts


def _written_post(path: Path, number: int, line: bytes) -> WrittenPost:
    where = f"{path.name}:{number}"
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise DatasetError(f"{where}: not JSON: {error}") from None
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: not a JSON object")
    for field in ("id", "lang", "label", "kind", "text"):
        if not isinstance(row.get(field), str) or not row[field].strip():
            raise DatasetError(f"{where}: {field}: missing or empty")
    if row["lang"] not in LANGUAGES:
        raise DatasetError(f"{where}: lang: {row['lang']!r} is not one of {', '.join(LANGUAGES)}")
    if row["label"] not in LABELS:
        raise DatasetError(f"{where}: label: {row['label']!r} is not one of {', '.join(LABELS)}")
    if row["kind"] not in KINDS[row["label"]]:
        raise DatasetError(f"{where}: kind: {row['kind']!r} is not a kind of {row['label']!r} post")
    return WrittenPost(row["id"], row["lang"], row["label"], row["kind"], row["text"], path.stem)


@dataclass(frozen=True, slots=True)
class RealPost:
    language: str
    text: str
    source: str  # davidson | ruhsold | implicit_hate_not_hate


def real_negatives(per_source: int, seed: int) -> list[RealPost]:
    """``per_source`` posts of each real corpus (training parts only), as negatives."""
    from detectors.threat_data import NOT_HATE, load_splits, read_idioms

    rng = random.Random(seed)
    davidson = _column(DAVIDSON, "tweet", ",")
    ruhsold = _first_field(RUHSOLD_TRAIN)
    not_hate = [post.text for post in load_splits().train if post.label == NOT_HATE]
    chosen = []
    for language, source, texts in (
        ("en", "davidson", davidson),
        ("roman_ur", "ruhsold", ruhsold),
        ("en", "implicit_hate_not_hate", not_hate),
    ):
        texts = sorted(set(texts))
        rng.shuffle(texts)
        chosen += [RealPost(language, text, source) for text in texts[:per_source]]
    # Violent words in sport, games, music and celebration, written for modwatch: all of them.
    chosen += [RealPost("en", post.text, "threat_idioms_en") for post in read_idioms()]
    return chosen


def held_out_real(seed: int, exclude: Sequence[RealPost]) -> dict[str, list[str]]:
    """Real posts never trained on, per corpus: where the model's flag rate on ordinary posts is measured."""
    from detectors.threat_data import NOT_HATE, THREAT, load_splits

    used = {post.text for post in exclude}
    splits = load_splits()
    return {
        "davidson (tweets not trained on)": [text for text in _column(DAVIDSON, "tweet", ",") if text not in used],
        "RUHSOLD validation (Roman Urdu)": _first_field(RUHSOLD_VALIDATION),
        "implicit_hate not_hate, test split": [post.text for post in splits.test if post.label == NOT_HATE],
        "implicit_hate threatening, test split": [post.text for post in splits.test if post.label == THREAT],
    }


def _column(path: Path, column: str, delimiter: str) -> list[str]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            if column not in (reader.fieldnames or ()):
                raise DatasetError(f"{path}:1: no column {column!r} (columns: {', '.join(reader.fieldnames or ())})")
            return [row[column] for row in reader if row.get(column)]
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror}") from None


def _first_field(path: Path) -> list[str]:
    """The text column of a RUHSOLD file: tab-separated, no header, text first."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror}") from None
    return [line.split("\t", 1)[0].strip() for line in lines if line.split("\t", 1)[0].strip()]
