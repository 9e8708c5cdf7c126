"""The text classifier's model: one head per language, and the estimators its file holds.

A model file (``config/models/text-classifier.skops``) holds one :class:`Head`
per language: a scikit-learn pipeline that predicts its training set's native
labels, and the product category (``hate``, ``abuse`` or ``none``) of each
label. :mod:`detectors.text_classifier` runs the heads on posts.

Heads (built by :mod:`detectors.training`, documented in each
``detectors/datasets/*/dataset.yaml``):

* ``en`` (Davidson et al. 2017): character n-grams and words, a calibrated
  linear SVM.
* ``roman_ur`` (RUHSOLD, Rizwan et al. 2020): a :class:`GatedClassifier`. A
  gate decides normal vs offensive and is trained on every labelled tweet,
  coarse (task 1) and fine (task 2); a subtype model, trained on the offensive
  tweets with fine labels, splits the offensive probability between
  religious hate, sexism, profane and abusive. The coarse RUHSOLD model is thus
  folded into the deployed head, so the coarse and the fine evaluations both
  measure what runs.

The pipelines use three estimators of modwatch's own:
:class:`HashedNgramVectorizer` (the batch vectoriser), :class:`LogCountRatioScaler`
(the gate's NBSVM weights) and :class:`GatedClassifier`. A model file names
each by its import path (``detectors.classifier.HashedNgramVectorizer``), so
they stay in this module: moved, the shipped files would no longer load, and
retraining would no longer reproduce them byte for byte.

Model files are skops zip files, loaded with the explicit :data:`TRUSTED_TYPES`
list and never with pickle (:mod:`detectors.model_files`): a file naming any
other type is refused before anything in it is constructed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone

from detectors.model_files import ModelFileError, check_format, load_trusted_bundle

CATEGORIES = ("hate", "abuse")
NO_CATEGORY = "none"
MODEL_FORMAT = "modwatch.text-classifier"
MODEL_FORMAT_VERSION = 1

# The types a modwatch model file may contain beyond those skops trusts by
# itself (builtins, numpy arrays and dtypes, and scikit-learn's own estimators
# such as Pipeline, LinearSVC and CalibratedClassifierCV). Computed once with
# skops.io.get_untrusted_types(file="config/models/text-classifier.skops") on
# the shipped model (skops 0.16, scikit-learn 1.9.1) and reviewed by hand:
# loading each sets attributes on a new instance and runs no code from the file.
TRUSTED_TYPES = (
    "detectors.classifier.GatedClassifier",
    "detectors.classifier.HashedNgramVectorizer",
    "detectors.classifier.LogCountRatioScaler",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
)


# -- features -----------------------------------------------------------------

_SEPARATOR = 0  # joins the posts of a batch; never inside a post (NUL is removed)
_SPACE = 32
_HASH_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_HASH_BASE_INVERSE = pow(_HASH_BASE, -1, 2**64)
_GOLDEN = 0x9E3779B97F4A7C15
_WORD_SALT = 0x51
_BIGRAM_SALT = 0x52
_URL = re.compile(r"https?://[^\s\x00]+")
_MENTION = re.compile(r"@\w+")
_HTML_ENTITIES = (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'))


def _character_tables() -> tuple[np.ndarray, np.ndarray]:
    """Whether each Basic Multilingual Plane code point is a word character or whitespace."""
    characters = [chr(code) for code in range(0x10000)]
    word = np.array([unicodedata.category(character)[0] in "LNM" for character in characters])
    space = np.array([character.isspace() for character in characters])
    return word, space


_IS_WORD, _IS_SPACE = _character_tables()


def _mix(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads polynomial hashes over all bits."""
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


def _lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``table[code]`` for BMP code points, False above it (emoji, rare scripts)."""
    result = np.zeros(len(codes), dtype=bool)
    inside = codes < len(table)
    result[inside] = table[codes[inside]]
    return result


def _batch_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The batch as one array of code points, cleaned, and where the separators between posts are.

    Lower-cased; URLs, @mentions and HTML entities replaced; whitespace one
    space and none at either end of a post; no character three times in a row.
    """
    joined = "\x00" + "\x00".join(texts) + "\x00"
    if joined.count("\x00") != len(texts) + 1:
        joined = "\x00" + "\x00".join(text.replace("\x00", " ") for text in texts) + "\x00"
    joined = joined.lower()
    if "http" in joined:
        joined = _URL.sub("http", joined)
    if "@" in joined:
        joined = _MENTION.sub("@", joined)
    if "&" in joined:
        for entity, character in _HTML_ENTITIES:
            joined = joined.replace(entity, character)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    separator = codes == _SEPARATOR
    codes = np.where(_lookup(_IS_SPACE, codes), np.uint32(_SPACE), codes)
    # One space between words and none at either end of a post (the
    # separator stands for that boundary): first drop each space that
    # follows a space or a separator, then a space left before a separator.
    space = codes == _SPACE
    keep = ~(space & np.concatenate(([True], space[:-1] | separator[:-1])))
    codes, separator = codes[keep], separator[keep]
    space = codes == _SPACE
    keep = ~(space & np.concatenate((separator[1:], [True])))
    # No character three times in a row: "bohaaaat" reads as "bohaat".
    keep[2:] &= ~((codes[2:] == codes[1:-1]) & (codes[2:] == codes[:-2]) & ~separator[2:])
    return codes[keep], separator[keep]


def _prefix_hashes(codes: np.ndarray, separator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums of the polynomial hash ``sum c[j] * B**j``, and the powers ``B**-j``.

    The hash of positions ``[start, end)`` is ``(prefix[end] - prefix[start]) *
    inverse[start]`` modulo 2**64: the same n-gram hashes alike wherever it stands.
    A separator hashes as a space, the boundary it stands for.
    """
    length = len(codes)
    hashed = np.where(separator, np.uint64(_SPACE), codes.astype(np.uint64))
    powers = np.full(length + 1, _HASH_BASE, dtype=np.uint64)
    powers[0] = 1
    powers = np.cumprod(powers, dtype=np.uint64)
    inverse = np.full(length + 1, _HASH_BASE_INVERSE, dtype=np.uint64)
    inverse[0] = 1
    inverse = np.cumprod(inverse, dtype=np.uint64)
    prefix = np.zeros(length + 1, dtype=np.uint64)
    np.cumsum(hashed * powers[:length], out=prefix[1:])
    return prefix, inverse


class HashedNgramVectorizer(TransformerMixin, BaseEstimator):
    """TF-IDF of hashed character and word n-grams, computed for a whole batch at once.

    The text is lower-cased, URLs become ``http``, @mentions ``@``, runs of
    whitespace one space, and a character repeated three or more times is cut
    to two ("bohaaaat" and "bohaat" meet). Character n-grams run across word
    boundaries, with a space at each end of the post; words are runs of letters,
    digits and marks. N-grams are hashed into ``2**bits`` columns, character
    n-grams in the lower half and word n-grams in the upper half; each half is
    weighted by 1 + log(count) times its inverse document frequency and scaled
    to unit length on its own, so the many character n-grams do not drown the
    few words.

    Everything runs on numpy arrays of code points: the batch is joined into one
    string, each n-gram's hash is a difference of prefix sums of a polynomial
    hash (``sum c[j] * B**j`` modulo 2**64), and the sparse matrix is built from
    one sort. scikit-learn's vectorisers loop in Python per n-gram and are
    several times slower on 150-character posts (bench/bench_classifier.py
    times both).
    """

    def __init__(
        self,
        bits: int = 20,
        char_orders: tuple[int, ...] = (1, 2, 3, 4, 5),
        word_orders: tuple[int, ...] = (1, 2),
        min_df: int = 1,
    ):
        self.bits = bits
        self.char_orders = char_orders
        self.word_orders = word_orders
        self.min_df = min_df

    def fit(self, texts: Sequence[str], y: Any = None) -> HashedNgramVectorizer:
        counts = self.counts(texts)
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1
        # An n-gram seen in fewer than min_df training posts carries no weight,
        # as if it were out of a vocabulary; unseen columns (df 0) likewise.
        idf[document_frequency < max(self.min_df, 1)] = 0
        self.idf_ = idf.astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        matrix = self.counts(texts)
        data = np.log(matrix.data) + np.float32(1)
        data *= self.idf_[matrix.indices]
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        half = np.int32(1 << (self.bits - 1))
        block = rows * 2 + (matrix.indices >= half)
        norms = np.sqrt(np.bincount(block, weights=data * data, minlength=2 * matrix.shape[0]))
        norms[norms == 0] = 1
        matrix.data = (data / norms[block]).astype(np.float32)
        return matrix

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """How often each hashed n-gram occurs in each text (no weighting)."""
        texts = list(texts)
        documents = len(texts)
        if documents == 0:
            return sp.csr_matrix((0, 1 << self.bits), dtype=np.float32)
        codes, separator = _batch_codes(texts)
        # Post number of every position: separators seen so far, minus one.
        post_of = np.cumsum(separator) - 1
        prefix, inverse = _prefix_hashes(codes, separator)
        rows, columns = self._character_ngrams(separator, post_of, prefix, inverse)
        if self.word_orders:
            word_rows, word_columns = self._word_ngrams(codes, separator, post_of, prefix, inverse)
            rows += word_rows
            columns += word_columns
        return self._matrix(rows, columns, documents)

    def _character_ngrams(
        self, separator: np.ndarray, post_of: np.ndarray, prefix: np.ndarray, inverse: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Post and column of every character n-gram, in the lower half of the columns."""
        length = len(separator)
        shift = np.uint64(65 - self.bits)  # half the columns per block
        rows, columns = [], []
        for order in self.char_orders:
            starts = length - order + 1
            if starts <= 0:
                continue
            if order == 1:
                valid = ~separator
            elif order == 2:
                valid = ~(separator[:-1] & separator[1:])  # two separators: an empty post
            else:
                # No separator strictly inside: the n-gram stays within one post.
                valid = post_of[order - 2 : length - 1] == post_of[:starts]
            index = np.flatnonzero(valid)
            values = (prefix[index + order] - prefix[index]) * inverse[index]
            values = _mix(values + np.uint64((order * _GOLDEN) % 2**64))
            rows.append(post_of[index])
            columns.append(values >> shift)
        return rows, columns

    def _word_ngrams(
        self, codes: np.ndarray, separator: np.ndarray, post_of: np.ndarray, prefix: np.ndarray, inverse: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Post and column of every word and word pair, in the upper half of the columns."""
        shift = np.uint64(65 - self.bits)
        word_block = np.uint64(1 << (self.bits - 1))
        rows, columns = [], []
        word = _lookup(_IS_WORD, codes) & ~separator
        previous = np.concatenate(([False], word[:-1]))
        following = np.concatenate((word[1:], [False]))
        starts = np.flatnonzero(word & ~previous)
        ends = np.flatnonzero(word & ~following) + 1
        words = _mix((prefix[ends] - prefix[starts]) * inverse[starts])
        word_posts = post_of[starts]
        if 1 in self.word_orders:
            rows.append(word_posts)
            columns.append((_mix(words + np.uint64(_WORD_SALT)) >> shift) | word_block)
        if 2 in self.word_orders and len(words) > 1:
            same_post = np.flatnonzero(word_posts[1:] == word_posts[:-1])
            pairs = _mix(words[same_post] * np.uint64(_GOLDEN) + words[same_post + 1] + np.uint64(_BIGRAM_SALT))
            rows.append(word_posts[same_post + 1])
            columns.append((pairs >> shift) | word_block)
        return rows, columns

    def _matrix(self, rows: list[np.ndarray], columns: list[np.ndarray], documents: int) -> sp.csr_matrix:
        """Counts of each (post, column), as a canonical CSR matrix (sorted indices, no duplicates).

        scipy's COO-to-CSR conversion groups by row in linear time and sorts only
        within each row: half the time of one sort of (row, column) keys over the
        whole batch, with the same matrix (tests/test_classifier.py holds them equal).
        """
        width = 1 << self.bits
        if not rows:
            return sp.csr_matrix((documents, width), dtype=np.float32)
        row_of = np.concatenate(rows).astype(np.int32)
        column_of = np.concatenate(columns).astype(np.int32)
        matrix = sp.csr_matrix((np.ones(len(row_of), dtype=np.float32), (row_of, column_of)), shape=(documents, width))
        matrix.sum_duplicates()
        return matrix


class LogCountRatioScaler(TransformerMixin, BaseEstimator):
    """Naive Bayes log-count ratios as feature weights (Wang and Manning, 2012, "NBSVM").

    For a binary target, each column is multiplied by
    ``log((p / |p|_1) / (q / |q|_1))``, where ``p`` and ``q`` count the posts
    of each class containing the feature (plus ``alpha``). A linear SVM on the
    scaled features starts from what Naive Bayes knows about rare n-grams; on
    RUHSOLD's coarse task this gained about a point of macro-F1 in
    cross-validation over the plain features.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, features: sp.csr_matrix, y: Sequence[Any]) -> LogCountRatioScaler:
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        if len(self.classes_) != 2:
            raise ValueError(f"LogCountRatioScaler needs two classes, not {list(self.classes_)}")
        present = features.copy()
        present.data[:] = 1
        positive = labels == self.classes_[1]
        p = self.alpha + np.asarray(present[positive].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(present[~positive].sum(axis=0)).ravel()
        self.ratio_ = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        return self

    def transform(self, features: sp.csr_matrix) -> sp.csr_matrix:
        scaled = features.copy()
        scaled.data = scaled.data * self.ratio_[scaled.indices]
        return scaled


class GatedClassifier(ClassifierMixin, BaseEstimator):
    """Two stages: a binary gate (normal or not), then a subtype model for the rest.

    ``P(normal) = 1 - g`` and ``P(subtype k) = g * s_k``, where ``g`` is the
    gate's probability of "not normal" and ``s`` the subtype model's
    distribution. Training rows labelled ``coarse_label`` (offensive, subtype
    unknown) train the gate only, so a dataset whose coarse task has more
    labelled posts than its fine task uses all of them.
    """

    def __init__(
        self, gate: Any = None, subtype: Any = None, normal_label: str = "normal", coarse_label: str = "offensive"
    ):
        self.gate = gate
        self.subtype = subtype
        self.normal_label = normal_label
        self.coarse_label = coarse_label

    def fit(self, features: sp.csr_matrix, y: Sequence[str]) -> GatedClassifier:
        labels = np.asarray(y, dtype=object)
        normal = labels == self.normal_label
        self.gate_ = clone(self.gate).fit(features, np.where(normal, self.normal_label, self.coarse_label))
        typed = np.flatnonzero(~normal & (labels != self.coarse_label))
        self.subtype_ = clone(self.subtype).fit(features[typed], labels[typed].astype(str))
        self.classes_ = np.array(sorted({self.normal_label, *map(str, self.subtype_.classes_)}))
        return self

    def predict_proba(self, features: sp.csr_matrix) -> np.ndarray:
        gate_classes = list(self.gate_.classes_)
        offensive = self.gate_.predict_proba(features)[:, gate_classes.index(self.coarse_label)]
        subtype = self.subtype_.predict_proba(features)
        probabilities = np.zeros((features.shape[0], len(self.classes_)))
        columns = {label: index for index, label in enumerate(self.classes_)}
        probabilities[:, columns[self.normal_label]] = 1 - offensive
        for index, label in enumerate(self.subtype_.classes_):
            probabilities[:, columns[str(label)]] = offensive * subtype[:, index]
        return probabilities

    def predict(self, features: sp.csr_matrix) -> np.ndarray:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]


# -- model files --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    """One language's classifier: native labels, their categories, and the pipeline."""

    name: str
    language: str
    labels: tuple[str, ...]  # the pipeline's classes_, in its column order
    categories: Mapping[str, str]  # native label -> hate | abuse | none
    pipeline: Any
    training: Mapping[str, Any]

    def category_matrix(self) -> np.ndarray:
        """labels x CATEGORIES, 1 where a label counts toward a category."""
        return np.array(
            [[1.0 if self.categories[label] == category else 0.0 for category in CATEGORIES] for label in self.labels]
        )


@dataclass(frozen=True, slots=True)
class TextModel:
    """A loaded model file: its heads by language, and the file's identity for evidence."""

    file_name: str
    sha256: str
    heads: Mapping[str, Head]
    seed: int | None = None


def load_model(path: Path) -> TextModel:
    """Load a model file, refusing any type outside :data:`TRUSTED_TYPES`."""
    path = Path(path)
    bundle, sha256 = load_trusted_bundle(path, TRUSTED_TYPES)
    return _model_from_bundle(bundle, path, sha256)


def _model_from_bundle(bundle: Any, path: Path, sha256: str) -> TextModel:
    check_format(bundle, path, MODEL_FORMAT, MODEL_FORMAT_VERSION, "text-classifier model")
    heads = {}
    for index, entry in enumerate(bundle.get("heads") or []):
        where = f"{path}: heads[{index}]"
        try:
            pipeline = entry["pipeline"]
            labels = tuple(str(label) for label in pipeline.classes_)
            categories = dict(entry["categories"])
            head = Head(
                name=str(entry["name"]),
                language=str(entry["language"]),
                labels=labels,
                categories=MappingProxyType(categories),
                pipeline=pipeline,
                training=MappingProxyType(dict(entry.get("training") or {})),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ModelFileError(f"{where}: malformed head: {error!r}") from None
        for label in labels:
            if categories.get(label) not in (*CATEGORIES, NO_CATEGORY):
                raise ModelFileError(
                    f"{where}: label {label!r} maps to {categories.get(label)!r}, not one of "
                    f"{', '.join((*CATEGORIES, NO_CATEGORY))}"
                )
        if head.language in heads:
            raise ModelFileError(f"{where}: a second head for language {head.language!r}")
        heads[head.language] = head
    if not heads:
        raise ModelFileError(f"{path}: has no heads")
    return TextModel(path.name, sha256, MappingProxyType(heads), bundle.get("seed"))
