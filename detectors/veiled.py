"""Veiled threats: intimidation read from the company its words keep.

The act grammar (:mod:`detectors.threats`) finds a threat when a violent act
stands in a threatening form ("we will burn it down"). Many real threats name
no act at all: "I know exactly where your office is. Count your days";
"petrol is cheap these days 🔥"; "ghar ka address mere paas hai, apni family ka
khayal rakhe"; "کور یې راته معلوم دی". Each author finds a new wording, so no
list of phrases keeps up. What they share is a *combination* of kinds of
signal, each common on its own and rare together:

* ``harm``: the stuff of injury and its aftermath (petrol, acid, bones,
  pieces, coffin, funeral, hospital, blood; a knife or a coffin emoji);
* ``warning``: an ultimatum or a menace ("or else", "last warning", "you'll
  regret", "count your days", "samjhe?", "ورنہ", "خبرداری");
* ``watching``: knowledge of where the target is, or presence ("we know your
  route", "address mil gaya", "we'll be at his door", "پتہ ہے");
* ``no_escape``: nothing will protect the target ("his guards won't save him",
  "koi nahi bacha sakta", "نشي ژغورلی").

A post with words of at least :attr:`VeiledCues.min_families` different kinds,
aimed at somebody (a target word of the grammar: a person, role, group or
place), is a veiled threat, for review only: a person decides. The framing that
excuses threat-shaped words (news, analysis, refutation, hypotheticals) excuses
these too; an idiom (sport, games, food, jokes) excuses them unless one of the
kinds is ``watching`` or ``no_escape``, which no idiom explains.

The cue lists live in ``config/threats.yaml`` under ``veiled``. An entry is a
word or phrase, matched at word starts on folded text with the grammar's plural
and oblique endings; a final ``*`` takes any ending ("regret*": regrets,
regretted); an entry with no letters (an emoji) is matched in the original text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import ahocorasick

from detectors.configfile import ANY_KEY, VALUE, Document
from detectors.text import normalise

FAMILIES = ("harm", "warning", "watching", "no_escape")
# Kinds no idiom explains: knowing where somebody is, and telling them nobody will protect them.
UNEXCUSED_BY_IDIOM = frozenset({"watching", "no_escape"})
DEFAULT_MIN_FAMILIES = 2
# Cues of different kinds count together when this many words apart at most: about
# two short sentences ("I know where your office is. Count your days").
DEFAULT_WINDOW_WORDS = 30
# Endings a cue word may carry without a "*" (the grammar's WORD_ENDINGS, folded).
_ENDINGS = frozenset({"", "s", "es", "یں", "وں", "ے", "ی", "ان", "و", "ز"})

VEILED_SCHEMA = {
    "min_families": VALUE,
    "window_words": VALUE,
    "address": {ANY_KEY: [VALUE]},
    **{family: {ANY_KEY: [VALUE]} for family in FAMILIES},
}


@dataclass(frozen=True, slots=True)
class Cue:
    family: str
    start: int  # in the text searched: folded text for words, the original for emoji
    end: int
    folded: bool  # True: a span of the folded text; False: of the original


@dataclass(frozen=True, slots=True)
class VeiledCues:
    """The cue lists, read once; :meth:`cues` finds them in a post."""

    automaton: ahocorasick.Automaton | None  # folded key -> (family, length, stem)
    emoji: Mapping[str, str]  # emoji character -> family
    min_families: int
    window_words: int = DEFAULT_WINDOW_WORDS
    address: re.Pattern | None = None  # second-person words: the post speaks to its target
    emoji_regex: re.Pattern | None = None  # any key of ``emoji``
    entries: tuple = ()  # (folded key, family, stem) of every word cue: the threat detector's one pass

    def __post_init__(self):
        if self.emoji and self.emoji_regex is None:
            pattern = re.compile("[" + "".join(re.escape(character) for character in self.emoji) + "]")
            object.__setattr__(self, "emoji_regex", pattern)

    def addressed(self, folded: str) -> bool:
        return self.address is not None and self.address.search(folded) is not None

    def cues(self, folded: str, original: str) -> list[Cue]:
        """Every cue in a post: word cues as spans of ``folded``, emoji as spans of ``original``."""
        found = []
        if self.automaton is not None and folded:
            for end_index, (family, length, stem) in self.automaton.iter(folded):
                cue = cue_at(folded, end_index, family, length, stem)
                if cue is not None:
                    found.append(cue)
        return found + self.emoji_cues(original)

    def emoji_cues(self, original: str) -> list[Cue]:
        if self.emoji_regex is None or original.isascii() or self.emoji_regex.search(original) is None:
            return []
        return [
            Cue(self.emoji[match.group()], match.start(), match.end(), False)
            for match in self.emoji_regex.finditer(original)
        ]

    def families(self, cues: list[Cue], folded: str) -> frozenset[str]:
        """The most kinds of word cue within :attr:`window_words` of each other, with the
        kinds of any emoji: emoji alone never make a veiled threat, and cues scattered
        through a long article are no menace aimed at anybody."""
        placed = sorted((folded.count(" ", 0, cue.start), cue.family) for cue in cues if cue.folded)
        if not placed:
            return frozenset()
        best: set[str] = set()
        for first, (word, _) in enumerate(placed):
            near = {family for other, family in placed[first:] if other - word <= self.window_words}
            if len(near) > len(best):
                best = near
        return frozenset(best | {cue.family for cue in cues if not cue.folded})


def cue_at(folded: str, end_index: int, family: str, length: int, stem: bool) -> Cue | None:
    """The cue whose key ends at ``end_index`` of ``folded``, if it starts a word and ends
    in a known ending (any ending for a stem); else None."""
    start = end_index - length + 1
    if start and folded[start - 1] != " ":
        return None
    word_end = folded.find(" ", end_index + 1)
    rest = folded[end_index + 1 : word_end if word_end >= 0 else len(folded)]
    if stem or rest in _ENDINGS:
        return Cue(family, start, end_index + 1 + len(rest), True)
    return None


def load_veiled(document: Document, where: tuple = ("veiled",)) -> VeiledCues | None:
    """The ``veiled`` section of threats.yaml; None when the file has none."""
    section = document.mapping(where)
    if not section:
        return None
    languages = {"en", "roman_ur", "ur", "ps", "emoji"}
    automaton = ahocorasick.Automaton()
    emoji: dict[str, str] = {}
    entries = []
    for family in FAMILIES:
        for language, _ in document.mapping(where + (family,), required=True).items():
            if language not in languages:
                document.problem(
                    where + (family, language), f"{language!r} is not one of {', '.join(sorted(languages))}"
                )
                continue
            for index, _ in enumerate(document.sequence(where + (family, language))):
                entry = document.text(where + (family, language, index), required=True)
                stem = entry.endswith("*")
                key = normalise(entry.rstrip("*")).text.strip()
                if key:
                    automaton.add_word(key, (family, len(key), stem))
                    entries.append((key, family, stem))
                else:
                    for character in entry.strip():
                        if not character.isspace():
                            emoji[character] = family
    minimum = int(document.number(where + ("min_families",), default=DEFAULT_MIN_FAMILIES, minimum=2, maximum=4))
    address_words = sorted(
        {
            normalise(document.text(where + ("address", language, index), required=True)).text.strip()
            for language, _ in document.mapping(where + ("address",)).items()
            for index, _ in enumerate(document.sequence(where + ("address", language)))
        }
        - {""},
        key=len,
        reverse=True,
    )
    address = (
        re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, address_words)) + r")(?!\S)") if address_words else None
    )
    window = int(document.number(where + ("window_words",), default=DEFAULT_WINDOW_WORDS, minimum=1, maximum=1000))
    if entries:
        automaton.make_automaton()
    return VeiledCues(
        automaton if entries else None, MappingProxyType(emoji), minimum, window, address, entries=tuple(entries)
    )
