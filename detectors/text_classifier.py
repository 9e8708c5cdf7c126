"""Hate and abuse in short posts: a bundle of linear text classifiers, one per language.

How a batch is classified:

1. Each post gets a language (:func:`~detectors.language.post_language`):
   from ``Post.lang`` when the producer set it, otherwise from a cheap guess
   over its words (:func:`~detectors.language.guess_language`). Posts in a
   script or language no head was trained on (Arabic-script Urdu, Pashto,
   French, German, Spanish, Turkish, ...) get no classifier finding at all:
   silence, not another language's guess.
2. The posts of each head are vectorised in one call by
   :class:`~detectors.classifier.HashedNgramVectorizer` (character 1-5-grams
   and word n-grams hashed with numpy over the whole batch: no Python loop per
   n-gram) and scored by the head's scikit-learn pipeline, which predicts the
   training set's *native* labels (Davidson's
   ``hate_speech``/``offensive_language``/``neither``, RUHSOLD's five classes).
3. A head maps each native label to a product category (``hate``, ``abuse`` or
   ``none``); a category's score is the summed probability of its labels
   (:func:`category_scores`). A post gets a finding for each category whose
   score reaches ``min_score``.

What the categories are worth (docs/classifier.md has the figures):

* ``abuse`` is profanity, insults and reclaimed slurs as much as abuse: the
  English head learnt it from tweets sampled for containing slur-lexicon
  words, where 77 % are "offensive", and gives it to sports talk ("he killed
  it tonight") too. It is evidence to record, never a reason for review on
  its own (config/policy.yaml gives abuse no review_at).
* ``hate`` is precise but narrow. A post whose hostile words are only
  generic profanity and that names no group has its hate probability counted
  as abuse (:class:`HateTarget`, ``hate_needs_target`` in
  config/classifier.yaml): the Roman Urdu head learnt "harami" (bastard) as
  religious hate from its annotators. At the review threshold (0.7) hate then
  fires on 0.4 % of Davidson's unseen offensive tweets and on none of the
  profanity, insult, reclaimed-slur or sports-idiom posts of
  tests/data/classifier_hygiene.jsonl, but it finds mostly slur-laden
  attacks: hateful posts without a slur are usually missed.

The heads and the model file are :mod:`detectors.classifier`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from detectors.base import Finding
from detectors.classifier import CATEGORIES, Head, TextModel, load_model
from detectors.configfile import ANY_KEY, VALUE, Problems, load_yaml
from detectors.events import Post
from detectors.fast_predict import predictor
from detectors.language import LATIN_WORD, post_language
from detectors.model_files import ModelFileError

# A finding says the category is more likely than not; config/classifier.yaml
# may raise it, and config/policy.yaml decides what a score leads to.
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class HateTarget:
    """Words that name a group, and generic profanity, in one language.

    Hate is an attack on a group. A post whose only hostile words are generic
    profanity ("harami", "fucking") and that names no group is abuse, not
    hate, whatever the head says: RUHSOLD's annotators gave "religious hate"
    to 47 of the 83 task-2 tweets containing "harami" (bastard), most of them
    aimed at no religion, and the head learnt the word.
    """

    groups: frozenset[str]
    profanity: frozenset[str]

    def untargeted(self, text: str) -> bool:
        """Generic profanity and no group word: hate probability counts as abuse."""
        words = set(LATIN_WORD.findall(text.lower().replace("\u2019", "'")))
        return not words.isdisjoint(self.profanity) and words.isdisjoint(self.groups)


def category_scores(
    head: Head, probabilities: np.ndarray, texts: Sequence[str], hate_target: HateTarget | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """posts x CATEGORIES scores, and per post the hate score ``hate_target`` moved to abuse (0 if none)."""
    scores = probabilities @ head.category_matrix()
    moved = np.zeros(len(texts))
    if hate_target is not None:
        hate, abuse = CATEGORIES.index("hate"), CATEGORIES.index("abuse")
        untargeted = np.array([hate_target.untargeted(text) for text in texts], dtype=bool)
        moved[untargeted] = scores[untargeted, hate]
        scores[untargeted, abuse] += scores[untargeted, hate]
        scores[untargeted, hate] = 0.0
    return scores, moved


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    """``classifier.yaml`` apart from the model: what turns probabilities into findings."""

    min_score: float = DEFAULT_MIN_SCORE
    # head language -> its word lists
    hate_targets: Mapping[str, HateTarget] = field(default_factory=lambda: MappingProxyType({}))


CLASSIFIER_SCHEMA = {
    "model": VALUE,
    "min_score": VALUE,
    "hate_needs_target": {ANY_KEY: {"groups": [VALUE], "profanity": [VALUE]}},
}


def read_classifier_settings(document: Any) -> ClassifierSettings:
    """``min_score`` and ``hate_needs_target`` from a loaded ``classifier.yaml``; problems go to the document."""
    document.check_keys(CLASSIFIER_SCHEMA)
    min_score = document.number(("min_score",), default=DEFAULT_MIN_SCORE, minimum=0.0, maximum=1.0)
    targets = {}
    for language in document.mapping(("hate_needs_target",)):
        where = ("hate_needs_target", language)
        if not isinstance(document.get(where), dict):
            document.problem(where, f"must be a mapping with groups and profanity, not {document.get(where)!r}")
            continue
        lists = {}
        for name in ("groups", "profanity"):
            words = []
            for index, word in enumerate(document.sequence(where + (name,), required=True)):
                if not isinstance(word, str) or not LATIN_WORD.fullmatch(word.lower()):
                    document.problem(where + (name, index), f"{word!r} is not one lower-case Latin-script word")
                    continue
                words.append(word.lower())
            lists[name] = frozenset(words)
        targets[str(language)] = HateTarget(lists["groups"], lists["profanity"])
    return ClassifierSettings(min_score, MappingProxyType(targets))


def configured_settings(config_dir: Path, problems: Problems) -> ClassifierSettings:
    """The settings of ``classifier.yaml`` in ``config_dir`` (what ``modwatch evaluate`` measures with)."""
    return read_classifier_settings(load_yaml(Path(config_dir) / "classifier.yaml", problems))


class TextClassifierDetector:
    name: ClassVar[str] = "text_classifier"

    def __init__(
        self,
        model: TextModel,
        min_score: float = DEFAULT_MIN_SCORE,
        hate_targets: Mapping[str, HateTarget] | None = None,
    ):
        self.model = model
        self.min_score = min_score
        self.hate_targets = MappingProxyType(dict(hate_targets or {}))
        # Each head's predict_proba without scikit-learn's per-call checks (detectors/fast_predict.py).
        self._predict = {id(head): predictor(head.pipeline) for head in model.heads.values()}

    @classmethod
    def from_config(cls, config_dir: Path, problems: Problems) -> TextClassifierDetector:
        """Read ``classifier.yaml`` (``model``, ``min_score``, ``hate_needs_target``) and load the model it names."""
        document = load_yaml(Path(config_dir) / "classifier.yaml", problems)
        settings = read_classifier_settings(document)
        relative = document.text(("model",), required=True)
        empty = TextModel("", "", MappingProxyType({}))
        if not relative.strip():
            return cls(empty, settings.min_score, settings.hate_targets)
        path = Path(config_dir) / relative
        try:
            model = load_model(path)
        except ModelFileError as error:
            document.problem(("model",), str(error))
            return cls(empty, settings.min_score, settings.hate_targets)
        for language in settings.hate_targets:
            if language not in model.heads:
                document.problem(
                    ("hate_needs_target", language),
                    f"{path.name} has no head for {language!r} (heads: {', '.join(model.heads)})",
                )
        return cls(model, settings.min_score, settings.hate_targets)

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        findings: list[list[Finding]] = [[] for _ in posts]
        by_language: dict[str, list[int]] = {}
        for index, post in enumerate(posts):
            if not post.text.strip():
                continue
            language = post_language(post)
            if language in self.model.heads:
                by_language.setdefault(language, []).append(index)
        for language, indices in by_language.items():
            head = self.model.heads[language]
            texts = [posts[index].text for index in indices]
            probabilities = self._predict.get(id(head), head.pipeline.predict_proba)(texts)
            scores, moved = category_scores(head, probabilities, texts, self.hate_targets.get(language))
            for row, column in zip(*np.nonzero(scores >= self.min_score)):
                findings[indices[row]].append(
                    self._finding(
                        head, CATEGORIES[column], float(scores[row, column]), probabilities[row], float(moved[row])
                    )
                )
        return findings

    def _finding(
        self, head: Head, category: str, score: float, probabilities: np.ndarray, hate_without_target: float
    ) -> Finding:
        evidence = {
            "model": self.model.file_name,
            "model_sha256": self.model.sha256,
            "head": head.name,
            "label": head.labels[int(probabilities.argmax())],
            "probabilities": {label: round(float(value), 4) for label, value in zip(head.labels, probabilities)},
        }
        if hate_without_target >= self.min_score:
            # The label says hate and there is no hate finding: the score
            # counted as abuse because the post names no group (HateTarget).
            evidence["hate_without_target"] = round(hate_without_target, 4)
        return Finding(self.name, category, score, MappingProxyType(evidence))
