"""The words of synthetic traffic, read once from sim/data/phrases.yaml.

Templates of violating and news posts, everyday sentences, captions and
overlay texts of re-uploads, and the reasons of user reports are data: they
live in sim/data/phrases.yaml, whose comments say why each is written as it
is. :func:`phrases` reads and checks the file the first time it is asked and
keeps the result; a broken file raises
:class:`~detectors.configfile.ConfigError` with one line per problem, naming
the file, the line and the field::

    sim/data/phrases.yaml:16: promotion.en[1]: 'The heroes stand firm.' has no {name} for the group's name

Every list keeps the file's order: a run draws from them by index, so the
traffic of a seed changes with the order and with nothing else.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from detectors.configfile import VALUE, Document, Problems, load_yaml
from sim._traffic_config import LANGUAGES

PHRASES_FILE = Path(__file__).resolve().parent / "data" / "phrases.yaml"
TEMPLATE_PURPOSES = ("promotion", "threat", "news")
NAME_PLACEHOLDER = "{name}"
REPORTED_POSTS = ("violating", "benign")
_EVERYDAY_LISTS = ("openers", "bodies", "closers")
_SCHEMA = {
    **{purpose: {language: [VALUE] for language in LANGUAGES} for purpose in TEMPLATE_PURPOSES},
    "everyday": {
        language: {"separator": VALUE, "full_stop": VALUE, **{name: [VALUE] for name in _EVERYDAY_LISTS}}
        for language in LANGUAGES
    },
    "captions": {language: [VALUE] for language in LANGUAGES},
    "overlay_texts": [VALUE],
    "report_reasons": {posts: [VALUE] for posts in REPORTED_POSTS},
}


@dataclass(frozen=True, slots=True)
class EverydayPhrases:
    """One language's everyday posts: opener, separator, body, full stop, closer."""

    openers: tuple[str, ...]
    bodies: tuple[str, ...]
    closers: tuple[str, ...]
    separator: str
    full_stop: str

    def compose(self, rng: random.Random) -> str:
        # Three draws in this order: the traffic of a seed depends on it.
        opener, body, closer = rng.choice(self.openers), rng.choice(self.bodies), rng.choice(self.closers)
        return f"{opener}{self.separator}{body}{self.full_stop} {closer}"


@dataclass(frozen=True, slots=True)
class Phrases:
    templates: Mapping[str, Mapping[str, tuple[str, ...]]]  # purpose (promotion, threat, news) -> language -> templates
    everyday: Mapping[str, EverydayPhrases]  # by language
    captions: Mapping[str, tuple[str, ...]]  # by language; "" is a re-upload without a caption
    overlay_texts: tuple[str, ...]
    report_reasons: Mapping[str, tuple[str, ...]]  # by the post's truth: violating, benign


@functools.cache
def phrases() -> Phrases:
    """sim/data/phrases.yaml, read and checked on first use (see the module docstring)."""
    return load_phrases(PHRASES_FILE)


def load_phrases(path: Path) -> Phrases:
    """Read and check a phrases file; raise ConfigError with every problem in it."""
    problems = Problems()
    document = load_yaml(path, problems)
    document.check_keys(_SCHEMA)
    loaded = Phrases(
        templates=MappingProxyType(
            {purpose: _by_language(document, (purpose,), with_name=True) for purpose in TEMPLATE_PURPOSES}
        ),
        everyday=MappingProxyType({language: _everyday(document, language) for language in LANGUAGES}),
        captions=_by_language(document, ("captions",), empty_allowed=True),
        overlay_texts=_texts(document, ("overlay_texts",)),
        report_reasons=MappingProxyType(
            {posts: _texts(document, ("report_reasons", posts)) for posts in REPORTED_POSTS}
        ),
    )
    problems.raise_if_any()
    return loaded


def _by_language(document: Document, path: tuple, **rules) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({language: _texts(document, path + (language,), **rules) for language in LANGUAGES})


def _everyday(document: Document, language: str) -> EverydayPhrases:
    where = ("everyday", language)
    return EverydayPhrases(
        *(_texts(document, where + (name,)) for name in _EVERYDAY_LISTS),
        separator=document.text(where + ("separator",), required=True),
        full_stop=document.text(where + ("full_stop",), required=True),
    )


def _texts(document: Document, path: tuple, *, with_name: bool = False, empty_allowed: bool = False) -> tuple[str, ...]:
    """A non-empty list of texts; templates (``with_name``) must each have a place for the name."""
    items = document.sequence(path, required=True)
    if not items and document.get(path) is not None:
        document.problem(path, "is empty: a run draws one of these")
    texts = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            document.problem(path + (index,), f"must be text, not {type(item).__name__} {item!r}")
        elif not item.strip() and not empty_allowed:
            document.problem(path + (index,), "is empty")
        elif with_name and NAME_PLACEHOLDER not in item:
            document.problem(path + (index,), f"{item[:60]!r} has no {NAME_PLACEHOLDER} for the group's name")
        else:
            texts.append(item)
    return tuple(texts)
