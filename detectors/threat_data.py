"""The English threat model's data: reading, deduplicating and splitting it (no model here).

Sources: implicit_hate_en (stage 1 and 2), Davidson's tweets as everyday
negatives, and the hand-written idioms; see :mod:`detectors.threat_model` for
how they are used and ``docs/threat-model.md`` for the figures.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.configfile import ConfigError, Problems
from detectors.dataset_manifest import DATASETS, DatasetError, load_dataset
from detectors.dataset_splits import split_dataset, text_key

THREAT = "threatening"
NOT_THREAT = "other"
NOT_HATE = "not_hate"

IMPLICIT_HATE = DATASETS / "implicit_hate_en"
IMPLICIT_HATE_STAGE_1 = IMPLICIT_HATE / "implicit_hate_v1_stg1_posts.tsv"
IMPLICIT_HATE_STAGE_2 = IMPLICIT_HATE / "implicit_hate_v1_stg2_posts.tsv"
DAVIDSON_MANIFEST = DATASETS / "davidson_en" / "dataset.yaml"
DAVIDSON = DATASETS / "davidson_en" / "labeled_data.csv"
IDIOMS = DATASETS / "threat_idioms_en" / "idioms.txt"
DATA_FILES = (IMPLICIT_HATE_STAGE_1, IMPLICIT_HATE_STAGE_2, DAVIDSON, IDIOMS)

SPLIT_SEED = 20211107  # EMNLP 2021, where the corpus was published
TEST_FRACTION = 0.2

# Stage-2 classes that are implicit hate but not a threat: hard negatives.
IMPLICIT_NEGATIVES = frozenset({"white_grievance", "incitement", "stereotypical", "inferiority", "irony", "other"})

# Davidson's tweets were never labelled for threats, and some offensive ones
# are ("imma beat yo ass"); a negative must not be one, so any tweet with one
# of these words stays out of training (about 4 % of those sampled).
VIOLENT_WORD = re.compile(
    r"\b(?:kill\w*|murder\w*|shoot\w*|shot|guns?|bullets?|stab\w*|hang\w*|lynch\w*|burn\w*|bomb\w*|beat\w*|"
    r"die|dead|death|slit|chok\w*|strangl\w*|punch\w*|knife|rape\w*|destroy\w*|execut\w*|slaughter\w*)\b",
    re.IGNORECASE,
)

# -- data ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledPost:
    text: str
    label: str  # "threatening", "not_hate", another stage-2 class, "davidson_neither", "idiom", ...
    where: str  # file:line of its first row

    @property
    def is_threat(self) -> bool:
        return self.label == THREAT


_KEY_NOISE = re.compile(r"https?://\S+|@\w+|&#?\w+;|\brt\b|[^\w\s]|_")


def post_key(text: str) -> str:
    """The text as compared for duplicates and overlap (see the module docstring)."""
    return text_key(_KEY_NOISE.sub(" ", text.casefold()))


@dataclass
class Corpus:
    """The implicit-hate posts once each by key, and what was merged or dropped."""

    posts: dict[str, LabelledPost] = field(default_factory=dict)
    duplicates: Counter = field(default_factory=Counter)  # file -> rows merged into an earlier row of that file
    copies: Counter = field(default_factory=Counter)  # key -> rows merged into it within one file
    dropped: Counter = field(default_factory=Counter)  # reason -> posts left out


def _read_tsv(path: Path) -> list[tuple[int, dict[str, str]]]:
    # Tab-separated with CSV double-quote quoting; reading with quoting off
    # splits one row wrongly (SOURCE.md).
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            return [(reader.line_num, row) for row in reader]
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror}") from None


def read_implicit_hate(stage_1: Path = IMPLICIT_HATE_STAGE_1, stage_2: Path = IMPLICIT_HATE_STAGE_2) -> Corpus:
    """One post per key, with one label resolved from all its rows.

    threatening (in either stage-2 column) wins over the other stage-2
    classes, which win over stage-1's implicit_hate; a post that is both a
    threat or hate and ``not_hate``, or only explicit or unclassified implicit
    hate, is dropped.
    """
    labels: dict[str, set[str]] = {}
    first: dict[str, tuple[str, str]] = {}
    corpus = Corpus()
    for path, columns in ((stage_1, ("class",)), (stage_2, ("implicit_class", "extra_implicit_class"))):
        seen: set[str] = set()
        for line, row in _read_tsv(path):
            missing = [column for column in ("post", columns[0]) if column not in row]
            if missing:
                raise DatasetError(f"{path}:1: no column {missing[0]!r} (columns: {', '.join(row)})")
            key = post_key(row["post"] or "")
            if not key:
                corpus.dropped["no words"] += 1
                continue
            if key in seen:
                corpus.duplicates[path.name] += 1
                corpus.copies[key] += 1
            seen.add(key)
            first.setdefault(key, (row["post"], f"{path.name}:{line}"))
            labels.setdefault(key, set()).update(row[column] for column in columns if row.get(column))
    for key, found in labels.items():
        text, where = first[key]
        hateful = found - {NOT_HATE}
        if NOT_HATE in found and hateful:
            corpus.dropped[f"labelled both {min(hateful)} and not_hate"] += 1
        elif THREAT in found:
            corpus.posts[key] = LabelledPost(text, THREAT, where)
        elif found & IMPLICIT_NEGATIVES:
            corpus.posts[key] = LabelledPost(text, min(found & IMPLICIT_NEGATIVES), where)
        elif found == {NOT_HATE}:
            corpus.posts[key] = LabelledPost(text, NOT_HATE, where)
        elif "explicit_hate" in found:
            corpus.dropped["explicit_hate"] += 1
        else:
            corpus.dropped["implicit_hate without a stage-2 class"] += 1
    return corpus


def read_davidson(manifest: Path = DAVIDSON_MANIFEST) -> tuple[list[LabelledPost], list[LabelledPost]]:
    """Davidson's ``neither`` and ``offensive_language`` tweets: (training part, held-out part).

    The split is the one its manifest defines for the text classifier, so the
    threat model never trains on that classifier's held-out tweets either.
    """
    problems = Problems()
    dataset = load_dataset(manifest, problems)
    try:
        problems.raise_if_any()
    except ConfigError as error:
        raise DatasetError("; ".join(error.problems)) from None
    splits = split_dataset(dataset)

    def posts(examples: Sequence[Any]) -> list[LabelledPost]:
        return [
            LabelledPost(example.text, f"davidson_{example.label}", example.where)
            for example in examples
            if example.label in ("neither", "offensive_language")
        ]

    held = [example for evaluation in splits.evaluations for example in evaluation.examples]
    return posts(splits.train), posts(held)


def read_idioms(path: Path = IDIOMS) -> list[LabelledPost]:
    """One post per line; blank lines and lines starting with '#' are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror}") from None
    return [
        LabelledPost(line.strip(), "idiom", f"{path.name}:{number}")
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


# -- splits -------------------------------------------------------------------


@dataclass
class ThreatSplits:
    train: list[LabelledPost]  # every training candidate; ThreatSettings picks the rows used
    test: list[LabelledPost]  # held-out implicit hate, threatening vs not_hate: the headline figures
    test_hard_negatives: list[LabelledPost]  # held-out implicit hate of the other stage-2 classes
    test_everyday: list[LabelledPost]  # Davidson's held-out neither and offensive tweets
    overlap_removed: Counter  # label -> training candidates dropped: their text is held out
    duplicates_removed: Counter  # file -> rows whose text was already a training candidate
    dropped: Counter  # reason -> implicit-hate posts left out before splitting

    def sizes(self) -> dict[str, Any]:
        return {
            "test": len(self.test),
            "test_threatening": sum(post.is_threat for post in self.test),
            "test_hard_negatives": len(self.test_hard_negatives),
            "test_everyday": len(self.test_everyday),
            "overlap_removed": sum(self.overlap_removed.values()),
            "overlap_removed_by_label": dict(sorted(self.overlap_removed.items())),
            "duplicates_removed": sum(self.duplicates_removed.values()),
            "dropped_before_split": dict(sorted(self.dropped.items())),
        }


def split_posts(
    implicit_hate: Corpus,
    others: Sequence[LabelledPost],
    held_out_others: Sequence[LabelledPost] = (),
    seed: int = SPLIT_SEED,
    test_fraction: float = TEST_FRACTION,
) -> ThreatSplits:
    """Hold out a stratified share of the implicit-hate posts; the other posts train."""
    from sklearn.model_selection import train_test_split

    keys = list(implicit_hate.posts)
    _, held = train_test_split(
        np.arange(len(keys)),
        test_size=test_fraction,
        random_state=seed,
        stratify=[implicit_hate.posts[key].label for key in keys],
    )
    held_keys = {keys[index] for index in held}
    held_posts = [implicit_hate.posts[keys[index]] for index in sorted(held)]
    train = [implicit_hate.posts[key] for key in keys if key not in held_keys]
    train_keys = set(keys) - held_keys
    held_keys |= {post_key(post.text) for post in held_out_others}
    overlap = Counter(
        implicit_hate.posts[key].label for key in held_keys & set(keys) for _ in range(implicit_hate.copies.get(key, 0))
    )
    duplicates = Counter(implicit_hate.duplicates)
    for post in others:
        key = post_key(post.text)
        if not key:
            continue
        if key in held_keys:
            overlap[post.label] += 1
        elif key in train_keys:
            duplicates[post.where.rsplit(":", 1)[0]] += 1
        else:
            train_keys.add(key)
            train.append(post)
    return ThreatSplits(
        train=train,
        test=[post for post in held_posts if post.label in (THREAT, NOT_HATE)],
        test_hard_negatives=[post for post in held_posts if post.label not in (THREAT, NOT_HATE)],
        test_everyday=list(held_out_others),
        overlap_removed=overlap,
        duplicates_removed=duplicates,
        dropped=Counter(implicit_hate.dropped),
    )


def load_splits(seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION) -> ThreatSplits:
    """The shipped data, split as the module docstring says."""
    davidson_train, davidson_held = read_davidson()
    return split_posts(read_implicit_hate(), davidson_train + read_idioms(), davidson_held, seed, test_fraction)


# -- models -------------------------------------------------------------------
