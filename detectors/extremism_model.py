"""The extremism model: threats and violent-extremist promotion in four languages, by probability.

The grammar (:mod:`detectors.threats`, :mod:`detectors.veiled`) and the cue
lists (:mod:`detectors.designations`) find what their authors foresaw; each new
author of the functional suite brought wordings nobody had written before, and
the rules found 0.50-0.75 of them at a first score. This model reads what they
miss: one scikit-learn pipeline, :class:`~detectors.classifier.HashedNgramVectorizer`
(character 2-5-grams and words, hashed) feeding a class-balanced multinomial
logistic regression over ``threat``, ``promotion`` and ``other``, trained on the
written posts and real negatives of :mod:`detectors.extremism_data`.

Its findings are for review only (:data:`REVIEW_SCORE`): it sees words, not who
speaks to whom, so a news report that quotes a threat may reach it. It never
sends anything for takedown, and the policy's protected-speech floor does not
depend on it.

How the evaluation stays honest:

* Posts of one author are never split: the model is trained on the ``a``
  authors and scored on the ``b`` authors, then the other way round
  (:func:`cross_author`), so each written post is scored by a model that never
  saw its author's style. The baseline (TF-IDF words and word pairs, the same
  classifier) is scored the same way in the same run.
* Thresholds are per language (:func:`choose_thresholds`), from those
  cross-author scores only: the lowest probability at which at most
  :attr:`ExtremismSettings.max_benign_rate` of the language's benign posts
  (idioms, profanity, everyday and religious posts) and at most
  :attr:`ExtremismSettings.max_other_rate` of all its non-violating posts are
  flagged, and never below :attr:`ExtremismSettings.min_threshold`.
* Real posts never trained on measure how often ordinary posts are flagged;
  the functional suite, which no author of the training files saw, measures
  what the model adds to the rules (``modwatch evaluate-extremism``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import ahocorasick
import numpy as np

from detectors.base import Finding
from detectors.classifier import HashedNgramVectorizer
from detectors.configfile import ANY_KEY, VALUE, Problems, load_yaml
from detectors.events import Post
from detectors.extremism_data import LANGUAGES, VIOLATING, RealPost, WrittenPost
from detectors.fast_predict import predictor
from detectors.language import guess_language
from detectors.model_files import ModelFileError, check_format, load_trusted_bundle
from detectors.text import folded, normalise

MODEL_FORMAT = "modwatch.extremism-model"
MODEL_FORMAT_VERSION = 1
TRUSTED_TYPES = ("detectors.classifier.HashedNgramVectorizer",)
REVIEW_SCORE = 0.6  # review, never takedown: policy.yaml reviews both categories from 0.5
CATEGORIES = MappingProxyType({"threat": "violent_threat", "promotion": "terrorism_promotion"})
BENIGN_KINDS = frozenset({"idiom", "profanity", "everyday", "religious"})
THRESHOLD_GRID = np.round(np.arange(0.20, 0.991, 0.01), 2)
# Letters Pashto writes and Urdu does not: a post in Arabic script with any of them is Pashto.
_PASHTO_LETTERS = re.compile("[\u067c\u0681\u0685\u0689\u0693\u0696\u069a\u06ab\u06bc\u06d0\u06cd]")
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")


def post_language(text: str) -> str | None:
    """``en``, ``roman_ur``, ``ur``, ``ps`` or None (another language: the model does not read it)."""
    if _ARABIC_SCRIPT.search(text):
        return "ps" if _PASHTO_LETTERS.search(text) else "ur"
    return guess_language(text)


@dataclass(frozen=True, slots=True)
class ExtremismSettings:
    """What is trained on, and how. The defaults are the shipped model."""

    features: str = "hashed"  # hashed | tfidf_words (the baseline's)
    bits: int = 18
    char_orders: tuple[int, ...] = (2, 3, 4, 5)
    word_orders: tuple[int, ...] = (1, 2)
    min_df: int = 2
    c: float = 4.0
    real_per_source: int = 3000  # real negatives from each of Davidson, RUHSOLD, implicit_hate not_hate
    max_benign_rate: float = 0.02  # of a language's benign written posts, at its threshold
    max_other_rate: float = 0.10  # of all its non-violating written posts (protected ones may go to review)
    # Never below even odds: English, with 9,000 real negatives, chose 0.41 across authors,
    # and at that the simulator's "see you there!" went to review.
    min_threshold: float = 0.5
    seed: int = 20261203

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["char_orders"], values["word_orders"] = list(self.char_orders), list(self.word_orders)
        return values


BASELINE = ExtremismSettings(features="tfidf_words")


def build_pipeline(settings: ExtremismSettings):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if settings.features == "tfidf_words":
        features = TfidfVectorizer(ngram_range=(1, 2))
    else:
        features = HashedNgramVectorizer(
            bits=settings.bits,
            char_orders=settings.char_orders,
            word_orders=settings.word_orders,
            min_df=settings.min_df,
        )
    classifier = LogisticRegression(C=settings.c, class_weight="balanced", max_iter=3000)
    return Pipeline([("features", features), ("classifier", classifier)])


def fit(settings: ExtremismSettings, written: Sequence[WrittenPost], real: Sequence[RealPost]):
    from threadpoolctl import threadpool_limits

    texts = [post.text for post in written] + [post.text for post in real]
    labels = [post.label for post in written] + ["other"] * len(real)
    with threadpool_limits(limits=1):
        return build_pipeline(settings).fit(texts, labels)


def class_probabilities(pipeline: Any, texts: Sequence[str], proba=None) -> tuple[np.ndarray, np.ndarray]:
    """P(threat) and P(promotion) for each text (``proba``: the pipeline's predict_proba, compiled)."""
    if len(texts) == 0:
        return np.zeros(0), np.zeros(0)
    probabilities = (proba or pipeline.predict_proba)(list(texts))
    classes = list(pipeline.classes_)
    return probabilities[:, classes.index("threat")], probabilities[:, classes.index("promotion")]


def cross_author(
    settings: ExtremismSettings, written: Sequence[WrittenPost], real: Sequence[RealPost]
) -> tuple[np.ndarray, np.ndarray]:
    """P(threat), P(promotion) of each written post from a model trained on the other fold's authors."""
    threat, promotion = np.zeros(len(written)), np.zeros(len(written))
    for fold in ("a", "b"):
        train = [post for post in written if post.fold != fold]
        scored = [index for index, post in enumerate(written) if post.fold == fold]
        pipeline = fit(settings, train, real)
        threat[scored], promotion[scored] = class_probabilities(pipeline, [written[index].text for index in scored])
    return threat, promotion


def choose_thresholds(
    settings: ExtremismSettings, written: Sequence[WrittenPost], violating: np.ndarray
) -> dict[str, float]:
    """Per language, the lowest threshold that keeps benign and all non-violating flag rates within bounds."""
    thresholds = {}
    for language in LANGUAGES:
        mine = [index for index, post in enumerate(written) if post.language == language]
        benign = np.array([written[index].kind in BENIGN_KINDS for index in mine])
        other = np.array([written[index].label not in VIOLATING for index in mine])
        scores = violating[mine]
        chosen = 1.0
        for threshold in THRESHOLD_GRID[THRESHOLD_GRID >= settings.min_threshold]:
            flagged = scores >= threshold
            if (not benign.any() or flagged[benign].mean() <= settings.max_benign_rate) and (
                not other.any() or flagged[other].mean() <= settings.max_other_rate
            ):
                chosen = float(threshold)
                break
        thresholds[language] = chosen
    return thresholds


class ExtremismModel:
    """A loaded model: P(threat) and P(promotion) for a batch, and a threshold per language."""

    def __init__(
        self, pipeline: Any, thresholds: Mapping[str, float], sha256: str = "", file_name: str = "", training=None
    ):
        self.pipeline = pipeline
        self.thresholds = MappingProxyType(dict(thresholds))
        self.sha256 = sha256
        self.file_name = file_name
        self.training = MappingProxyType(dict(training or {}))
        try:
            classes = list(pipeline.named_steps["classifier"].classes_)
            classes.index("threat"), classes.index("promotion")
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ModelFileError(
                f"{file_name or 'extremism model'}: not a features + classifier pipeline "
                f"with 'threat' and 'promotion' classes: {error!r}"
            ) from None
        # The pipeline's predict_proba without scikit-learn's per-call checks (detectors/fast_predict.py).
        self._proba = predictor(pipeline)

    @classmethod
    def load(cls, path: Path) -> ExtremismModel:
        path = Path(path)
        bundle, sha256 = load_trusted_bundle(path, TRUSTED_TYPES)
        check_format(bundle, path, MODEL_FORMAT, MODEL_FORMAT_VERSION, "extremism model")
        thresholds = bundle.get("thresholds")
        if not isinstance(thresholds, dict) or any(
            language not in LANGUAGES or not isinstance(value, float) or not 0.0 <= value <= 1.0
            for language, value in thresholds.items()
        ):
            raise ModelFileError(f"{path}: thresholds {thresholds!r} are not a probability per language")
        return cls(bundle.get("pipeline"), thresholds, sha256, path.name, bundle.get("training"))

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return class_probabilities(self.pipeline, texts, self._proba)


EXTREMISM_SCHEMA = {"model": VALUE, "gate": {"words": {ANY_KEY: [VALUE]}}}
FRAMINGS = ("reported", "analysis", "refutation", "hypothetical", "idiom")


def framing_regex(threats_yaml: Path, problems: Problems, grammar=None) -> re.Pattern | None:
    """One regex of every framing word list of the threat grammar (matched on folded text);
    ``grammar``: the one already loaded (the pipeline's threat detector's)."""
    from detectors.threat_grammar import load_grammar

    framings = (grammar if grammar is not None else load_grammar(threats_yaml, problems)).framings
    patterns = [framings[kind].pattern for kind in FRAMINGS if framings.get(kind) is not None]
    return re.compile("|".join(patterns)) if patterns else None


class ExtremismModelDetector:
    """Posts the model scores at or above their language's threshold, for review."""

    name: ClassVar[str] = "extremism_model"
    # Pipeline.scan passes the findings of the detectors before it: a post they already
    # send to review or takedown gains nothing from the model, which then skips it.
    reads_earlier_findings: ClassVar[bool] = True

    def __init__(self, model: ExtremismModel | None, framing: re.Pattern | None = None, gate=None):
        self.model = model
        # What a post must hold for the model to read it (:class:`Gate`); None: every post.
        self.gate = gate
        # Counter-evidence from config/threats.yaml (news, analysis, refutation, hypotheticals,
        # idioms): the model reads words, so a post these explain is left to the rules.
        self.framing = framing

    @classmethod
    def from_config(cls, config_dir: Path, problems: Problems, threats=None) -> ExtremismModelDetector:
        """``config/extremism.yaml``: ``model`` names the model file; without the file, no detector work.

        ``threats``: the pipeline's ViolentThreatDetector, which runs first on each batch (the gate).
        """
        path = Path(config_dir) / "extremism.yaml"
        if not path.exists():
            return cls(None)
        document = load_yaml(path, problems)
        document.check_keys(EXTREMISM_SCHEMA)
        relative = document.text(("model",))
        if not relative.strip():
            return cls(None)
        try:
            model = ExtremismModel.load(Path(config_dir) / relative)
        except ModelFileError as error:
            document.problem(("model",), str(error))
            return cls(None)
        threats_yaml = Path(config_dir) / "threats.yaml"
        grammar = threats.grammar if threats is not None else None
        return cls(model, framing_regex(threats_yaml, problems, grammar), Gate.from_config(document, threats, problems))

    def framed(self, text: str) -> bool:
        return self.framing is not None and self.framing.search(folded(text)) is not None

    def detect(self, posts: Sequence[Post], earlier: Sequence[Sequence[Finding]] | None = None) -> list[list[Finding]]:
        found: list[list[Finding]] = [[] for _ in posts]
        if self.model is None:
            return found
        read = []
        for index, post in enumerate(posts):
            if earlier is not None and any(finding.score >= REVIEW_SCORE for finding in earlier[index]):
                continue
            if not post.text or (self.gate is not None and not self.gate.opens(post.text)):
                continue
            language = post_language(post.text)
            if language in self.model.thresholds:
                read.append((index, language))
        if not read:
            return found
        threat, promotion = self.model.score([posts[index].text for index, _ in read])
        for (index, language), p_threat, p_promotion in zip(read, threat, promotion):
            threshold = self.model.thresholds[language]
            if p_threat + p_promotion >= threshold and not self.framed(posts[index].text):
                label = "threat" if p_threat >= p_promotion else "promotion"
                evidence = {
                    "language": language,
                    "form": "model",
                    "model": self.model.file_name,
                    "model_sha256": self.model.sha256,
                    "class": label,
                    "probability": round(float(p_threat + p_promotion), 4),
                    "threshold": threshold,
                }
                found[index] = [Finding(self.name, CATEGORIES[label], REVIEW_SCORE, MappingProxyType(evidence))]
        return found


class Gate:
    """Whether a post holds any word the model needs to see a threat or promotion in it.

    Vectorising a post costs more than all the rule detectors together, and most
    posts hold no word of violence, menace or jihad. The model reads only posts in
    which the threat detector, run on the same batch just before, saw a violent
    act's word, a weapon emoji or a veiled-threat cue (its ``signalled`` set), or
    that hold a word of ``gate.words`` in extremism.yaml at a word start (the
    vocabulary of armed jihad and its praise). The functional suite's figures
    are measured through the gate.
    """

    def __init__(self, threats, words: ahocorasick.Automaton | None):
        self.threats = threats  # the pipeline's ViolentThreatDetector, or None
        self.words = words

    @classmethod
    def from_config(cls, document, threats, problems: Problems) -> Gate:
        automaton = ahocorasick.Automaton()
        for language, _ in document.mapping(("gate", "words")).items():
            for index, _ in enumerate(document.sequence(("gate", "words", language))):
                word = normalise(document.text(("gate", "words", language, index), required=True)).text.strip()
                if word:
                    automaton.add_word(word, len(word))
        if len(automaton):
            automaton.make_automaton()
        return cls(threats, automaton if len(automaton) else None)

    def opens(self, text: str) -> bool:
        if self.threats is not None and text in self.threats.signalled:
            return True
        if self.words is not None:
            key = folded(text)
            for end, length in self.words.iter(key):
                if end - length < 0 or key[end - length] == " ":
                    return True
        return False
