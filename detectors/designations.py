"""Designated-organisation mentions, read in their context.

A mention of a designated organisation is not propaganda: news reports,
condemnations and counter-speech name groups all the time. This detector finds
the names (full names and aliases in any configured language, and acronyms),
then reads the post's cues from ``config/cues.yaml``:

* a promotion cue (glorification, recruitment, support) -> ``terrorism_promotion``;
* a threat cue (calls to violence, threats) -> ``violent_threat``;
* a counter cue (news reporting, condemnation, quotation, counter-speech)
  outweighs both: the post is reported as a plain mention with a low score,
  or, when a promotion or threat cue also stands next to the name, as a
  mention for review (news quoting a slogan, or propaganda borrowing a news
  word: a person decides);
* promotion cues count only within a few words of the name, so praise of
  the police who fought a group is not praise of the group; a threat cue
  counts anywhere in the post, as threats run across a sentence;
* a name with no cue -> ``designated_organisation_mention``, which the default
  policy sends to review, never straight to takedown.

Short acronyms (TTP, LeT, JeM) collide with ordinary words and handles, so an
acronym counts only when the post also carries a cue or a full name.

Matching runs over :func:`detectors.text.normalise` output with one
Aho-Corasick automaton for names and one for cues; a hit counts only on word
boundaries (the characters either side are not letters or digits), which holds
for Arabic script too because Urdu and Pashto separate words with spaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import ahocorasick

from detectors.base import Finding
from detectors.configfile import ANY_KEY, VALUE, Problems, load_yaml
from detectors.designation_lists import LANGUAGES, Designation, Organisation, load_all_designations
from detectors.events import Post
from detectors.text import NormalisedText, folded, folded_with_offsets, normalise, quoted_spans

CUE_KINDS = ("promotion", "threat", "counter", "jihadist", "jihad_context")
# "jihadist": phrases of jihadist propaganda itself ("soldiers of the caliphate",
# "jihad is fard al-ayn", "taghoot"): promotion beside a name, and on their own,
# with no counter cue, worth a reviewer's look (optional in cues.yaml).
# "jihad_context": the nouns of armed jihad (mujahideen, fidayeen, hijrah). With no
# name, such a noun beside a promotion cue ("the mujahideen need you", "fidayeen
# asli heroes hain") is glorification or recruitment of fighters: review.
OPTIONAL_CUE_KINDS = frozenset({"jihadist", "jihad_context"})
UNNAMED_PROPAGANDA_SCORE = 0.6  # jihadist phrases with no designated name: review, never automatic takedown

# Scores are the detector's confidence that the post is what the category
# says; config/policy.yaml turns them into actions.
PROMOTION_SCORE = 0.9  # a designated name beside a glorification or recruitment cue
THREAT_SCORE = 0.9  # a designated name beside a threat or a call to violence
MENTION_SCORE = 0.5  # a name alone: worth a human look, never proof
COUNTER_SCORE = 0.2  # a name in news or condemnation: recorded, not actioned
REVIEW_ONLY_SCORE = 0.6  # promotion of a review_only organisation: a person decides, never automatic takedown


@dataclass(frozen=True, slots=True)
class _Term:
    kind: str  # "name", "acronym" or a cue kind
    term: str
    language: str
    organisation: Organisation | None = None


CUES_SCHEMA = dict.fromkeys(CUE_KINDS, {ANY_KEY: [VALUE]})  # languages: load_cues checks them


def load_cues(path: Path, problems: Problems) -> dict[str, tuple[tuple[str, str], ...]]:
    document = load_yaml(path, problems)
    document.check_keys(CUES_SCHEMA)
    cues: dict[str, tuple[tuple[str, str], ...]] = {}
    for kind in CUE_KINDS:
        entries = []
        for language, _terms in document.mapping((kind,), required=kind not in OPTIONAL_CUE_KINDS).items():
            if language not in LANGUAGES:
                document.problem((kind, language), f"{language!r} is not one of {', '.join(LANGUAGES)}")
                continue
            for index, _ in enumerate(document.sequence((kind, language))):
                term = document.text((kind, language, index), required=True).strip()
                if term:
                    entries.append((language, term))
        cues[kind] = tuple(entries)
    return cues


@dataclass(frozen=True, slots=True)
class _Hit:
    term: _Term
    start: int  # in normalised text
    end: int


class DesignatedOrganisationDetector:
    name: ClassVar[str] = "designated_organisation"

    def __init__(
        self,
        organisations: Sequence[Organisation],
        cues: dict[str, Sequence[tuple[str, str]]],
        platform_jurisdictions: Mapping[str, str] | None = None,
    ):
        """``platform_jurisdictions`` maps each platform to the jurisdiction its requests fall under:
        a national list's designations count only there. None: every designation counts."""
        self.organisations = tuple(organisations)
        self.platform_jurisdictions = platform_jurisdictions
        self._automaton = ahocorasick.Automaton()
        terms: dict[str, list[_Term]] = {}
        for organisation in self.organisations:
            for language, alias in organisation.aliases:
                key = normalise(alias).text
                terms.setdefault(key, []).append(_Term("name", alias, language, organisation))
                if " " in key and _ARABIC_SCRIPT.search(key):
                    # Urdu typists often join a name's words with a zero-width
                    # non-joiner instead of a space, and normalise() drops it.
                    terms.setdefault(key.replace(" ", ""), []).append(_Term("name", alias, language, organisation))
            for acronym in organisation.acronyms:
                terms.setdefault(normalise(acronym).text, []).append(_Term("acronym", acronym, "en", organisation))
            for acronym in organisation.weak_acronyms:
                terms.setdefault(normalise(acronym).text, []).append(_Term("weak_acronym", acronym, "en", organisation))
        for kind, entries in cues.items():
            for language, cue in entries:
                terms.setdefault(normalise(cue).text, []).append(_Term(kind, cue, language))
        for key, entries in terms.items():
            self._automaton.add_word(key, (len(key), tuple(entries)))
        if terms:
            self._automaton.make_automaton()
        self._empty = not terms

    @classmethod
    def from_config(
        cls, config_dir: Path, problems: Problems, platform_jurisdictions: Mapping[str, str] | None = None
    ) -> DesignatedOrganisationDetector:
        organisations = load_all_designations(config_dir, problems)
        cues = load_cues(config_dir / "cues.yaml", problems)
        return cls(organisations, cues, platform_jurisdictions)

    def _applicable(self, post: Post, organisation: Organisation) -> tuple[Designation, ...]:
        """The designations of ``organisation`` that count for a post on ``post.platform``."""
        if self.platform_jurisdictions is None:
            return organisation.designations
        jurisdiction = self.platform_jurisdictions.get(post.platform)
        return tuple(designation for designation in organisation.designations if designation.applies_in(jurisdiction))

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        return [self._detect_one(post) for post in posts]

    def _hits(self, text: str) -> list[_Hit]:
        if self._empty or not text:
            return []
        hits = []
        for end_index, (length, entries) in self._automaton.iter(text):
            start, end = end_index - length + 1, end_index + 1
            if end < len(text) and text[end].isalnum():
                continue
            if start > 0 and text[start - 1].isalnum() and not _arabic_proclitic(text, start):
                continue
            hits.extend(_Hit(entry, start, end) for entry in entries)
        return hits

    def _detect_one(self, post: Post) -> list[Finding]:
        hits = self._hits(folded(post.text))
        if not hits:
            return []
        # Offsets cost a Python loop over the text: only for posts that matched.
        normalised = folded_with_offsets(post.text)
        hits = self._counted_hits(post, normalised, hits)
        names = [hit for hit in hits if hit.term.kind == "name"]
        named = {hit.term.organisation.id for hit in names}
        acronyms = [
            hit
            for hit in hits
            if hit.term.kind == "acronym" or (hit.term.kind == "weak_acronym" and hit.term.organisation.id in named)
        ]
        cues = {kind: [hit for hit in hits if hit.term.kind == kind] for kind in CUE_KINDS}
        has_cue = any(cues.values())
        mentions = names + (acronyms if (names or has_cue) else [])
        if not mentions:
            return self._unnamed_propaganda(normalised, cues)
        return self._mention_findings(post, normalised, mentions, cues)

    def _counted_hits(self, post: Post, normalised: NormalisedText, hits: list[_Hit]) -> list[_Hit]:
        """The hits that count: acronyms written as acronyms, names designated where the post is."""
        shouting = _mostly_capitals(post.text) if any(hit.term.kind in ACRONYM_KINDS for hit in hits) else False
        hits = [
            hit
            for hit in hits
            if hit.term.kind not in ACRONYM_KINDS
            or (not shouting and _written_as_acronym(normalised.quote(hit.start, hit.end)))
        ]
        if self.platform_jurisdictions is not None:
            # A national list's names count only under its jurisdiction: elsewhere
            # the group is not designated, and naming it is not a ground to act.
            hits = [
                hit for hit in hits if hit.term.organisation is None or self._applicable(post, hit.term.organisation)
            ]
        return hits

    def _unnamed_propaganda(self, normalised: NormalisedText, cues: dict[str, list[_Hit]]) -> list[Finding]:
        """No designated name: jihadist phrases, or jihad nouns beside promotion, unquoted and unopposed."""
        unnamed = cues["jihadist"] + (
            cues["promotion"] + cues["jihad_context"] if cues["jihad_context"] and cues["promotion"] else []
        )
        if not unnamed or cues["counter"] or _all_quoted(normalised, unnamed):
            return []
        evidence = {
            "organisations": [],
            "mentions": [],
            "designations": [],
            "legal_bases": [],
            "cues": [self._describe(normalised, hit) for hit in sorted(unnamed, key=lambda hit: hit.start)],
        }
        return [Finding(self.name, "terrorism_promotion", UNNAMED_PROPAGANDA_SCORE, MappingProxyType(evidence))]

    def _mention_findings(
        self, post: Post, normalised: NormalisedText, mentions: list[_Hit], cues: dict[str, list[_Hit]]
    ) -> list[Finding]:
        """A designated name read with the cues around it (the module docstring's rules)."""
        cues["promotion"] = cues["promotion"] + cues["jihadist"]
        mentioned = {hit.term.organisation.id: hit.term.organisation for hit in mentions}
        base_evidence = self._mention_evidence(post, normalised, mentions, mentioned)
        _count_quoted_cues_as_counter(post.text, normalised, cues)

        def finding(category: str, score: float, cue_kinds: Sequence[str]) -> Finding:
            evidence = dict(base_evidence)
            evidence["cues"] = [self._describe(normalised, hit) for kind in cue_kinds for hit in cues[kind]]
            return Finding(self.name, category, score, MappingProxyType(evidence))

        # Praise counts only near the name: "salute to the police who stood
        # against <group>" praises the police, not the group. A threat counts
        # anywhere: "message from <group>: ... we will kill you" is one threat.
        cues["promotion"] = [cue for cue in cues["promotion"] if _near(normalised.text, cue, mentions)]
        if cues["counter"]:
            if cues["promotion"] or cues["threat"]:
                # News quoting a slogan, or propaganda borrowing a news word: a person decides.
                return [finding("designated_organisation_mention", MENTION_SCORE, ("counter", "promotion", "threat"))]
            return [finding("designated_organisation_mention", COUNTER_SCORE, ("counter",))]
        found = []
        if cues["promotion"]:
            # Promotion of a group marked review_only (a largely non-violent movement,
            # a charity) goes to a person, never straight to takedown.
            review_only = all(organisation.review_only for organisation in mentioned.values())
            score = REVIEW_ONLY_SCORE if review_only else PROMOTION_SCORE
            found.append(finding("terrorism_promotion", score, ("promotion",)))
        if cues["threat"]:
            found.append(finding("violent_threat", THREAT_SCORE, ("threat",)))
        if not found:
            found.append(finding("designated_organisation_mention", MENTION_SCORE, ()))
        return found

    def _mention_evidence(
        self, post: Post, normalised: NormalisedText, mentions: list[_Hit], mentioned: dict[str, Organisation]
    ) -> dict:
        """What every finding about the post's names records: who, where, and what a request may cite."""
        applicable = [
            (organisation, designation)
            for organisation in mentioned.values()
            for designation in self._applicable(post, organisation)
        ]
        return {
            "organisations": sorted({hit.term.organisation.id for hit in mentions}),
            "mentions": [self._describe(normalised, hit) for hit in _first_per_organisation(mentions)],
            "designations": sorted({f"{d.list_name} {d.reference}" for _, d in applicable}),
            # What a request may cite: each list and entry, with the jurisdiction it holds in.
            "legal_bases": [designation.as_basis(organisation) for organisation, designation in applicable],
        }

    @staticmethod
    def _describe(normalised: NormalisedText, hit: _Hit) -> dict:
        first, last = normalised.original_span(hit.start, hit.end)
        described = {
            "kind": hit.term.kind,
            "term": hit.term.term,
            "language": hit.term.language,
            "quote": normalised.original[first:last],
            "start": first,
            "end": last,
        }
        if hit.term.organisation is not None:
            described["organisation"] = hit.term.organisation.id
        return described


# Arabic-script conjunctions and prepositions written joined to the next word
# ("والقاعدہ", "and al-Qaida"). A name may follow one of them directly.
ARABIC_PROCLITICS = frozenset("وبلفک")


def _arabic_proclitic(text: str, start: int) -> bool:
    return text[start - 1] in ARABIC_PROCLITICS and (start == 1 or not text[start - 2].isalnum())


_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f]")
ACRONYM_KINDS = frozenset({"acronym", "weak_acronym"})
# A promotion cue is about a group when at most this many words stand between them ("long live TTP": 0; "join the ranks of the brave Lashkar": 4).
CUE_WINDOW_WORDS = 5


def _all_quoted(normalised: NormalisedText, hits: list[_Hit]) -> bool:
    quoted = quoted_spans(normalised.original)
    spans = [normalised.original_span(hit.start, hit.end) for hit in hits]
    return all(any(start <= first and last <= end for start, end in quoted) for first, last in spans)


def _near(text: str, cue: _Hit, mentions: list[_Hit]) -> bool:
    for mention in mentions:
        first, second = (cue, mention) if cue.start < mention.start else (mention, cue)
        between = max(0, text.count(" ", first.end, second.start) - 1)
        if between <= CUE_WINDOW_WORDS or second.start < first.end:
            return True
    return False


def _mostly_capitals(text: str) -> bool:
    """In a post written in capitals, "LET" and "JAT" are words, not acronyms."""
    letters = [character for character in text if character.isalpha() and character.isascii()]
    return len(letters) >= 8 and sum(character.isupper() for character in letters) > 0.6 * len(letters)


def _written_as_acronym(quote: str) -> bool:
    """ "TTP", "LeT", "T.T.P" count; "let" and "hum" are words, not acronyms."""
    return sum(character.isupper() for character in quote) >= 2


def _first_per_organisation(hits: list[_Hit]) -> list[_Hit]:
    seen: set[tuple[str, str]] = set()
    first = []
    for hit in sorted(hits, key=lambda hit: hit.start):
        key = (hit.term.organisation.id, hit.term.term)
        if key not in seen:
            seen.add(key)
            first.append(hit)
    return first


def _count_quoted_cues_as_counter(text: str, normalised: NormalisedText, cues: dict[str, list[_Hit]]) -> None:
    """A slogan or a call inside quotation marks is being quoted: news, a paper, a
    refutation. It counts as counter-evidence, like "police said"."""
    quoted = quoted_spans(text)
    for kind in ("promotion", "threat"):
        for hit in cues[kind]:
            span = normalised.original_span(hit.start, hit.end)
            if any(start <= span[0] and span[1] <= end for start, end in quoted):
                cues["counter"].append(_Hit(_Term("counter", "quotation marks", "en"), hit.start, hit.end))
                break
