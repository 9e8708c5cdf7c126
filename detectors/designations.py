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
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import ahocorasick

from detectors.base import Finding
from detectors.configfile import ANY_KEY, VALUE, Problems, Section, load_yaml
from detectors.events import Post
from detectors.text import NormalisedText, folded, folded_with_offsets, normalise, quoted_spans

LANGUAGES = ("en", "ur", "roman_ur", "ps", "ar")  # ar: Arabic, as the UN gives some names
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


# A list without a ``list.jurisdiction`` header (the UN list) applies everywhere.
EVERYWHERE = "*"
REVIEW_ONLY_SCORE = 0.6  # promotion of a review_only organisation: a person decides, never automatic takedown


@dataclass(frozen=True, slots=True)
class Designation:
    list_name: str
    reference: str
    listed_on: date | None
    jurisdiction: str = EVERYWHERE
    legal_basis: str = ""  # the instrument a request under this designation cites
    source: str = ""  # where the entry was read, for lists compiled from public reports
    verified: bool = True  # False: compiled from public reports, for the operator to verify

    def applies_in(self, jurisdiction: str | None) -> bool:
        return self.jurisdiction == EVERYWHERE or self.jurisdiction == jurisdiction

    def as_basis(self, organisation: Organisation) -> dict:
        basis = {
            "list": self.list_name,
            "reference": self.reference,
            "jurisdiction": self.jurisdiction,
            "organisation": organisation.id,
            "name": organisation.name,
        }
        if self.legal_basis:
            basis["legal_basis"] = self.legal_basis
        if self.source:
            basis["source"] = self.source
        if not self.verified:
            basis["verified"] = False
        return basis


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    designations: tuple[Designation, ...]
    aliases: tuple[tuple[str, str], ...]  # (language, alias)
    acronyms: tuple[str, ...]
    weak_acronyms: tuple[str, ...] = ()
    review_only: bool = False  # promotion goes to review, never straight to takedown (config note says why)


@dataclass(frozen=True, slots=True)
class _Term:
    kind: str  # "name", "acronym" or a cue kind
    term: str
    language: str
    organisation: Organisation | None = None


DESIGNATIONS_SCHEMA = {
    "source": VALUE,  # where a generated list came from: for the operator
    # jurisdiction, legal_basis and verified are read; name, title and compiled_from are for the operator.
    "list": Section(
        "list header",
        dict.fromkeys(("name", "title", "jurisdiction", "legal_basis", "verified", "compiled_from"), VALUE),
    ),
    "organisations": [
        Section(
            "organisation",
            {
                "id": VALUE,
                "name": VALUE,
                "designations": [
                    Section("designation", {"list": VALUE, "reference": VALUE, "listed_on": VALUE, "source": VALUE})
                ],
                "aliases": {ANY_KEY: [VALUE]},  # languages: load_designations checks them
                "acronyms": [VALUE],
                "weak_acronyms": [VALUE],
                "same_as": VALUE,
                "review_only": VALUE,
                "note": VALUE,  # for the operator
            },
        )
    ],
}

CUES_SCHEMA = dict.fromkeys(CUE_KINDS, {ANY_KEY: [VALUE]})  # languages: load_cues checks them


def load_all_designations(config_dir: Path, problems: Problems) -> tuple[Organisation, ...]:
    """``designations.yaml`` (the UN list) and every ``designations-*.yaml`` (national lists).

    A national entry with ``same_as: <id>`` is the same entity as an entry of
    an earlier file: its designations, aliases and acronyms join that entry, so
    one organisation carries every list it is on, each with its jurisdiction.
    """
    config_dir = Path(config_dir)
    merged: dict[str, Organisation] = {}
    for path in [config_dir / "designations.yaml", *sorted(config_dir.glob("designations-*.yaml"))]:
        same_as: dict[str, str] = {}
        for organisation in load_designations(path, problems, same_as=same_as):
            target = same_as.get(organisation.id)
            if target is not None and target in merged:
                known = merged[target]
                merged[target] = replace(
                    known,
                    designations=known.designations + organisation.designations,
                    aliases=known.aliases
                    + tuple(alias for alias in organisation.aliases if alias not in known.aliases),
                    acronyms=known.acronyms + tuple(a for a in organisation.acronyms if a not in known.acronyms),
                    weak_acronyms=known.weak_acronyms
                    + tuple(a for a in organisation.weak_acronyms if a not in known.weak_acronyms),
                )
            elif target is not None:
                problems.add(f"{path}: {organisation.id}: same_as {target!r} is not an organisation of an earlier file")
            elif organisation.id in merged:
                problems.add(f"{path}: {organisation.id}: id repeats an organisation of an earlier file")
            else:
                merged[organisation.id] = organisation
    return tuple(merged.values())


def load_designations(
    path: Path, problems: Problems, *, same_as: dict[str, str] | None = None
) -> tuple[Organisation, ...]:
    document = load_yaml(path, problems)
    document.check_keys(DESIGNATIONS_SCHEMA)
    header = document.mapping(("list",))
    jurisdiction = document.text(("list", "jurisdiction"), default=EVERYWHERE) if header else EVERYWHERE
    legal_basis = document.text(("list", "legal_basis")) if header else ""
    verified = document.get(("list", "verified"), True) if header else True
    if not isinstance(verified, bool):
        document.problem(("list", "verified"), f"must be true or false, not {verified!r}")
        verified = False
    organisations = []
    seen_ids: dict[str, int] = {}
    for index, entry in enumerate(document.sequence(("organisations",), required=True)):
        where = ("organisations", index)
        if not isinstance(entry, dict):
            document.problem(where, f"must be a mapping, not {entry!r}")
            continue
        organisation_id = document.text(where + ("id",), required=True)
        if organisation_id in seen_ids:
            document.problem(where + ("id",), f"{organisation_id!r} repeats organisations[{seen_ids[organisation_id]}]")
        seen_ids[organisation_id] = index
        aliases = []
        for language, _names in document.mapping(where + ("aliases",)).items():
            if language not in LANGUAGES:
                document.problem(where + ("aliases", language), f"{language!r} is not one of {', '.join(LANGUAGES)}")
                continue
            for alias_index, _ in enumerate(document.sequence(where + ("aliases", language))):
                alias = document.text(where + ("aliases", language, alias_index), required=True)
                if alias.strip():
                    aliases.append((language, alias.strip()))
        acronyms, weak_acronyms = [], []
        for field_name, found in (("acronyms", acronyms), ("weak_acronyms", weak_acronyms)):
            for acronym_index, _ in enumerate(document.sequence(where + (field_name,))):
                acronym = document.text(where + (field_name, acronym_index), required=True).strip()
                if acronym:
                    found.append(acronym)
        designations = []
        for designation_index, _item in enumerate(document.sequence(where + ("designations",), required=True)):
            at = where + ("designations", designation_index)
            listed_on = document.get(at + ("listed_on",))
            if listed_on is not None and not isinstance(listed_on, date):
                document.problem(at + ("listed_on",), f"{listed_on!r} is not a date (YYYY-MM-DD)")
                listed_on = None
            designations.append(
                Designation(
                    list_name=document.text(at + ("list",), required=True),
                    reference=document.text(at + ("reference",), required=True),
                    listed_on=listed_on,
                    jurisdiction=jurisdiction,
                    legal_basis=legal_basis,
                    source=document.text(at + ("source",)),
                    verified=verified,
                )
            )
        name = document.text(where + ("name",), required=True)
        if not aliases and name:
            aliases.append(("en", name))
        review_only = document.get(where + ("review_only",), False)
        if not isinstance(review_only, bool):
            document.problem(where + ("review_only",), f"must be true or false, not {review_only!r}")
            review_only = False
        if same_as is not None and document.get(where + ("same_as",)) is not None:
            same_as[organisation_id] = document.text(where + ("same_as",), required=True)
        organisations.append(
            Organisation(
                organisation_id,
                name,
                tuple(designations),
                tuple(aliases),
                tuple(acronyms),
                tuple(weak_acronyms),
                review_only,
            )
        )
    return tuple(organisations)


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
        names = [hit for hit in hits if hit.term.kind == "name"]
        named = {hit.term.organisation.id for hit in names}
        acronyms = [
            hit
            for hit in hits
            if hit.term.kind == "acronym" or (hit.term.kind == "weak_acronym" and hit.term.organisation.id in named)
        ]
        cues = {kind: [hit for hit in hits if hit.term.kind == kind] for kind in CUE_KINDS}
        has_cue = any(cues.values())
        text = normalised.text
        mentions = names + (acronyms if (names or has_cue) else [])
        if not mentions:
            unnamed = cues["jihadist"] + (
                cues["promotion"] + cues["jihad_context"] if cues["jihad_context"] and cues["promotion"] else []
            )
            if unnamed and not cues["counter"] and not _all_quoted(normalised, unnamed):
                evidence = {
                    "organisations": [],
                    "mentions": [],
                    "designations": [],
                    "legal_bases": [],
                    "cues": [self._describe(normalised, hit) for hit in sorted(unnamed, key=lambda hit: hit.start)],
                }
                return [Finding(self.name, "terrorism_promotion", UNNAMED_PROPAGANDA_SCORE, MappingProxyType(evidence))]
            return []
        cues["promotion"] = cues["promotion"] + cues["jihadist"]
        evidence_mentions = [self._describe(normalised, hit) for hit in _first_per_organisation(mentions)]
        organisations = sorted({hit.term.organisation.id for hit in mentions})
        mentioned = {hit.term.organisation.id: hit.term.organisation for hit in mentions}
        applicable = [
            (organisation, designation)
            for organisation in mentioned.values()
            for designation in self._applicable(post, organisation)
        ]
        base_evidence = {
            "organisations": organisations,
            "mentions": evidence_mentions,
            "designations": sorted({f"{d.list_name} {d.reference}" for _, d in applicable}),
            # What a request may cite: each list and entry, with the jurisdiction it holds in.
            "legal_bases": [designation.as_basis(organisation) for organisation, designation in applicable],
        }
        # A slogan or a call inside quotation marks is being quoted: news, a
        # paper, a refutation. It counts as counter-evidence, like "police said".
        quoted = quoted_spans(post.text)
        for kind in ("promotion", "threat"):
            for hit in cues[kind]:
                span = normalised.original_span(hit.start, hit.end)
                if any(start <= span[0] and span[1] <= end for start, end in quoted):
                    cues["counter"].append(_Hit(_Term("counter", "quotation marks", "en"), hit.start, hit.end))
                    break

        def finding(category: str, score: float, cue_kinds: Sequence[str]) -> Finding:
            evidence = dict(base_evidence)
            evidence["cues"] = [self._describe(normalised, hit) for kind in cue_kinds for hit in cues[kind]]
            return Finding(self.name, category, score, MappingProxyType(evidence))

        # Praise counts only near the name: "salute to the police who stood
        # against <group>" praises the police, not the group. A threat counts
        # anywhere: "message from <group>: ... we will kill you" is one threat.
        cues["promotion"] = [cue for cue in cues["promotion"] if _near(text, cue, mentions)]
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
