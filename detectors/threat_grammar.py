"""The violent-threat grammar: ``config/threats.yaml`` read into act patterns and word lists.

``words`` holds named word lists. An act pattern is a regular expression over
folded text (:func:`detectors.text.normalise`) in which ``{name}`` stands for
any word of the list ``name``, with the language and the threatening form it
recognises. Each pattern has anchors, words one of which every match contains
(the words of the ``act_`` lists it uses, and any it names): the detector's
prefilter runs a pattern only on posts that hold one of its anchors at a word
start. Roles (target, time, means, weapon), negation and framing are word
lists per language, matched as whole words with plural and oblique endings
(:data:`WORD_ENDINGS`). :mod:`detectors.threats` reads posts with the grammar.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from detectors.configfile import ANY_KEY, VALUE, Document, Problems, Section, load_yaml
from detectors.text import _fold_character, normalise
from detectors.veiled import VEILED_SCHEMA

LANGUAGES = ("en", "roman_ur", "ur", "ps")
FORMS = ("future", "imperative", "passive", "normative", "intimidation", "conditional")
ROLES = ("target", "time", "means", "weapon")
FRAMINGS = ("reported", "analysis", "refutation", "hypothetical", "idiom")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fold_pattern(pattern: str) -> str:
    """Fold a pattern's letters as :func:`normalise` folds a post's; leave regex syntax alone."""
    folded = []
    for index, character in enumerate(pattern):
        if index and pattern[index - 1] == "\\":  # an escape such as \S or \b keeps its letter
            folded.append(character)
        elif character == "'":
            folded.append(" ")
        elif character.isalpha() or unicodedata.category(character) in ("Mn", "Me", "Cf"):
            folded.append(_fold_character(character))
        else:
            folded.append(character)
    return "".join(folded)


def _alternation(words: Sequence[str]) -> str:
    keys = sorted({normalise(word).text for word in words if normalise(word).text}, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(key) for key in keys) + ")"


# Plural and oblique endings a framing, role or negation word may carry
# ("wickets", "وکٹیں", "میچوں"): lists give the base form.
WORD_ENDINGS = r"(?:s|es|یں|وں|ے|ی|ان|و|ز)?"


def _word_regex(words: Sequence[str]) -> re.Pattern | None:
    if not words:
        return None
    return re.compile(r"(?<!\S)" + _alternation(words) + WORD_ENDINGS + r"(?!\S)")


@dataclass(frozen=True, slots=True)
class ActPattern:
    language: str
    form: str
    regex: re.Pattern
    anchors: frozenset[str]  # folded words one of which every match contains
    requires: frozenset[str] = frozenset()  # folded words one of which the post must hold (empty: none)


@dataclass(frozen=True, slots=True)
class ThreatGrammar:
    acts: tuple[ActPattern, ...]
    endings: frozenset[str]  # what may follow an anchor in the same word ("mar" + "enge")
    roles: MappingProxyType  # role -> compiled word regex
    negation: re.Pattern | None
    framings: MappingProxyType  # framing -> compiled word regex


_LANGUAGE_LISTS = {ANY_KEY: [VALUE]}  # language -> words; _language_lists checks the languages
THREATS_SCHEMA = {
    "model": VALUE,  # model and model_threshold: ViolentThreatDetector.from_config
    "model_threshold": VALUE,
    "words": {ANY_KEY: [VALUE]},
    "prefilter_endings": [VALUE],
    "acts": [
        Section("act", {"language": VALUE, "form": VALUE, "pattern": VALUE, "anchors": [VALUE], "requires": [VALUE]})
    ],
    "roles": dict.fromkeys(ROLES, _LANGUAGE_LISTS),
    "negation": _LANGUAGE_LISTS,
    "framing": dict.fromkeys(FRAMINGS, _LANGUAGE_LISTS),
    "veiled": VEILED_SCHEMA,  # detectors.veiled
}


def load_grammar(path: Path, problems: Problems, document: Document | None = None) -> ThreatGrammar:
    """The grammar of threats.yaml at ``path`` (or of its ``document``, already read)."""
    document = document if document is not None else load_yaml(path, problems)
    document.check_keys(THREATS_SCHEMA)
    words: dict[str, list[str]] = {}
    for name, _ in document.mapping(("words",), required=True).items():
        entries = document.sequence(("words", name), required=True)
        words[name] = [document.text(("words", name, index), required=True) for index, _ in enumerate(entries)]
    endings = frozenset(
        normalise(ending).text if ending else ""
        for index, _ in enumerate(document.sequence(("prefilter_endings",), required=True))
        for ending in [document.get(("prefilter_endings", index)) or ""]
        if isinstance(ending, str)
    )
    acts = []
    for index, _ in enumerate(document.sequence(("acts",), required=True)):
        act = _act_pattern(document, ("acts", index), words)
        if act is not None:
            acts.append(act)
    roles = {}
    for role in ROLES:
        entries = _language_lists(document, ("roles", role))
        roles[role] = _word_regex(entries)
    negation = _word_regex(_language_lists(document, ("negation",)))
    framings = {framing: _word_regex(_language_lists(document, ("framing", framing))) for framing in FRAMINGS}
    return ThreatGrammar(tuple(acts), endings, MappingProxyType(roles), negation, MappingProxyType(framings))


def _act_pattern(document: Document, where: tuple, words: dict[str, list[str]]) -> ActPattern | None:
    """One entry of ``acts``, its ``{name}`` placeholders expanded; None after reporting what is wrong."""
    language = document.choice(where + ("language",), set(LANGUAGES), default="en")
    form = document.choice(where + ("form",), set(FORMS), default="future")
    source = document.text(where + ("pattern",), required=True)
    used = _PLACEHOLDER.findall(source)
    unknown = [name for name in used if name not in words]
    if unknown:
        document.problem(where + ("pattern",), f"refers to {', '.join(map(repr, unknown))}, not in words")
        return None
    pattern_anchors = [word for name in used if name.startswith("act_") for word in words[name]]
    pattern_anchors += [
        document.text(where + ("anchors", position), required=True)
        for position, _ in enumerate(document.sequence(where + ("anchors",)))
    ]
    if not pattern_anchors:
        document.problem(where, "uses no act_ word list and gives no anchors: the prefilter would never let it run")
        return None
    pieces = _PLACEHOLDER.split(source)  # literal, name, literal, name, ...
    expanded = "".join(
        _alternation(words[piece]) if index % 2 else fold_pattern(piece) for index, piece in enumerate(pieces)
    )
    try:
        regex = re.compile(expanded)
    except re.error as error:
        document.problem(where + ("pattern",), f"is not a valid regular expression: {error}")
        return None
    folded_anchors = frozenset(normalise(word).text for word in pattern_anchors) - {""}
    requires = frozenset(
        normalise(document.text(where + ("requires", position), required=True)).text
        for position, _ in enumerate(document.sequence(where + ("requires",)))
    ) - {""}
    return ActPattern(language, form, regex, folded_anchors, requires)


def _language_lists(document: Document, where: tuple) -> list[str]:
    entries = []
    for language, _ in document.mapping(where, required=True).items():
        if language not in LANGUAGES:
            document.problem(where + (language,), f"{language!r} is not one of {', '.join(LANGUAGES)}")
            continue
        for index, _ in enumerate(document.sequence(where + (language,))):
            entries.append(document.text(where + (language, index), required=True))
    return entries
