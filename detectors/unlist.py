"""Build ``config/designations.yaml`` from the UN Security Council Consolidated List.

The UN publishes its sanctions lists as one XML file. Only two of its regimes
concern terrorism: the ISIL (Da'esh) and Al-Qaida list of resolution 1267
(``UN_LIST_TYPE`` "Al-Qaida", references ``QDe.*``) and the 1988 Taliban list
(``TAe.*``). Entities of those two become organisations; individuals and the
other regimes (DPRK, Libya, ...) are left out.

From each entity: the reference number, listing date, name (a parenthesised
acronym such as "(TTP)" becomes an acronym; "A / B" gives two names), aliases
(short all-capital aliases such as "HUJI" become acronyms), and the name in its
original script. ``overlay.yaml`` then adds modwatch's own spellings in Urdu,
Roman Urdu and Pashto and drops aliases that are ordinary words.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from detectors.configfile import ANY_KEY, VALUE, Problems, Section, load_yaml

LISTS = {"Al-Qaida": "UN 1267", "Taliban": "UN 1988"}
# Letters Urdu writes and Arabic does not: an original-script name with one of them is Urdu.
URDU_LETTERS = frozenset("ٹڈڑںےہیکگپچژھ")
_PARENTHESISED = re.compile(r"\s*\(([^)]*)\)\s*")
_ACRONYM = re.compile(r"[A-Z][A-Za-z0-9-]{1,6}")


@dataclass
class Entity:
    reference: str
    list_name: str
    name: str
    listed_on: date | None
    aliases: dict[str, list[str]] = field(default_factory=dict)
    acronyms: list[str] = field(default_factory=list)
    distinctive: set[str] = field(default_factory=set)

    def add_alias(self, language: str, alias: str) -> None:
        alias = " ".join(alias.split()).strip('"“”')
        if alias and alias.casefold() not in {known.casefold() for known in self.aliases.get(language, [])}:
            self.aliases.setdefault(language, []).append(alias)

    def add_acronym(self, acronym: str) -> None:
        if acronym not in self.acronyms:
            self.acronyms.append(acronym)


def read_entities(xml_path: Path) -> list[Entity]:
    opener = gzip.open if xml_path.suffix == ".gz" else open
    with opener(xml_path, "rb") as source:
        root = ElementTree.parse(source).getroot()
    entities = []
    for element in root.iterfind("ENTITIES/ENTITY"):
        list_type = (element.findtext("UN_LIST_TYPE") or "").strip()
        if list_type not in LISTS:
            continue
        listed = (element.findtext("LISTED_ON") or "").strip()
        raw_name = " ".join((element.findtext("FIRST_NAME") or "").split())
        entity = Entity(
            reference=element.findtext("REFERENCE_NUMBER").strip(),
            list_name=LISTS[list_type],
            name=_PARENTHESISED.sub(" ", raw_name).split(" / ")[0].strip(),
            listed_on=date.fromisoformat(listed[:10]) if listed else None,  # some carry an offset: 2015-03-27-04:00
        )
        _add_name(entity, raw_name)
        for alias in element.iterfind("ENTITY_ALIAS"):
            _add_name(entity, alias.findtext("ALIAS_NAME") or "")
        original = " ".join((element.findtext("NAME_ORIGINAL_SCRIPT") or "").split())
        if original:
            entity.add_alias("ur" if URDU_LETTERS & set(original) else "ar", original)
        entities.append(entity)
    return entities


def _add_name(entity: Entity, text: str) -> None:
    text = " ".join(text.split())
    outside = _PARENTHESISED.sub(" ", text)
    for inside in _PARENTHESISED.findall(text):
        for part in re.split(r"[,;]", inside):
            part = part.strip()
            # "(TTP)" after "TEHRIK-E TALIBAN PAKISTAN" is an acronym; "(PAKISTAN)",
            # "(KENYA)" or "(martyrs)" qualify the name and are not names of their own.
            if _ACRONYM.fullmatch(part) and _abbreviates(part, outside):
                entity.add_acronym(part)
    for part in outside.split(" / "):
        part = part.strip()
        if not part:
            continue
        if len(part) <= 6 and part.upper() == part and " " not in part:
            entity.add_acronym(part)
        else:
            entity.add_alias("en", part)


def _abbreviates(acronym: str, name: str) -> bool:
    """True when the acronym's capitals are initials of the name's words, in order."""
    initials = iter(word[0].upper() for word in re.split(r"[\s-]+", name) if word)
    capitals = [character for character in acronym if character.isupper()]
    return len(capitals) >= 2 and all(any(capital == initial for initial in initials) for capital in capitals)


OVERLAY_SCHEMA = {
    "entries": {ANY_KEY: Section("overlay entry", {"aliases": {ANY_KEY: [VALUE]}, "acronyms": [VALUE]})},
    "distinctive_acronyms": [VALUE],
    "exclude": [Section("exclusion", {"reference": VALUE, "alias": VALUE, "reason": VALUE})],
}


def apply_overlay(entities: list[Entity], overlay_path: Path, problems: Problems) -> None:
    document = load_yaml(overlay_path, problems)
    document.check_keys(OVERLAY_SCHEMA)
    by_reference = {entity.reference: entity for entity in entities}
    for reference, _ in document.mapping(("entries",)).items():
        entity = by_reference.get(reference)
        if entity is None:
            document.problem(("entries", reference), f"{reference!r} is not on the UN list being built")
            continue
        for language, _ in document.mapping(("entries", reference, "aliases")).items():
            for index, _ in enumerate(document.sequence(("entries", reference, "aliases", language))):
                entity.add_alias(
                    language, document.text(("entries", reference, "aliases", language, index), required=True)
                )
        for index, _ in enumerate(document.sequence(("entries", reference, "acronyms"))):
            acronym = document.text(("entries", reference, "acronyms", index), required=True)
            entity.add_acronym(acronym)
            entity.distinctive.add(acronym)
    distinctive = {
        document.text(("distinctive_acronyms", index), required=True)
        for index, _ in enumerate(document.sequence(("distinctive_acronyms",)))
    }
    for entity in entities:
        entity.distinctive |= distinctive & set(entity.acronyms)
    for index, _ in enumerate(document.sequence(("exclude",))):
        where = ("exclude", index)
        reference = document.text(where + ("reference",), required=True)
        alias = document.text(where + ("alias",), required=True)
        document.text(where + ("reason",), required=True)
        removed = False
        for entity in entities if reference == "*" else [by_reference.get(reference)]:
            if entity is None:
                continue
            for language, names in entity.aliases.items():
                kept = [name for name in names if name.casefold() != alias.casefold()]
                removed |= len(kept) != len(names)
                entity.aliases[language] = kept
            if alias in entity.acronyms:
                entity.acronyms.remove(alias)
                removed = True
        if not removed:
            document.problem(where + ("alias",), f"{alias!r} is not an alias of {reference!r}; nothing to exclude")


def render(entities: list[Entity], generated: str) -> str:
    header = f"""\
# Designated organisations matched by the designated_organisation detector.
#
# GENERATED by `modwatch designations build-un` (make designations) from the UN
# Security Council Consolidated List generated {generated}
# (detectors/datasets/un_sc/), entities of the ISIL/Al-Qaida 1267 list and the
# 1988 Taliban list, with detectors/datasets/un_sc/overlay.yaml applied.
# Names, references, dates and English aliases are the UN's. Urdu, Roman Urdu
# and Pashto spellings the UN does not give are modwatch's own, for matching
# only; they are not part of any designation.
#
# Only internationally recognised designations ship by default. To add a
# national list, append entries below with their own designations, e.g.
#   - id: PK-NACTA-12
#     name: ...
#     designations: [{{list: Pakistan NACTA First Schedule, reference: "12", listed_on: 2024-07-01}}]
#     aliases: {{en: [...], ur: [...], roman_ur: [...], ps: [...]}}
#     acronyms: [...]
# `acronyms` count beside a cue; `weak_acronyms` (MIT, JAT, GIA: also ordinary
# words or other bodies' names) count only beside a full name of the group.
# (README, "Designated organisations"). Regenerating overwrites this file:
# keep national entries in a file of your own and append it.
"""
    document = {
        "source": {"list": "UN Security Council Consolidated List", "generated": generated},
        "organisations": [
            {
                "id": entity.reference,
                "name": entity.name,
                "designations": [
                    {"list": entity.list_name, "reference": entity.reference, "listed_on": entity.listed_on}
                ],
                "aliases": {language: names for language, names in entity.aliases.items() if names},
                **_acronym_fields(entity),
            }
            for entity in sorted(entities, key=lambda entity: entity.reference)
        ],
    }
    return header + yaml.dump(document, Dumper=_IndentedDumper, allow_unicode=True, sort_keys=False, width=1000)


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as people write YAML by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _acronym_fields(entity: Entity) -> dict:
    distinctive = [acronym for acronym in entity.acronyms if acronym in entity.distinctive]
    weak = [acronym for acronym in entity.acronyms if acronym not in entity.distinctive]
    return ({"acronyms": distinctive} if distinctive else {}) | ({"weak_acronyms": weak} if weak else {})


def build(xml_path: Path, overlay_path: Path) -> str:
    problems = Problems()
    entities = read_entities(xml_path)
    apply_overlay(entities, overlay_path, problems)
    problems.raise_if_any()
    opener = gzip.open if xml_path.suffix == ".gz" else open
    with opener(xml_path, "rb") as source:
        for _, element in ElementTree.iterparse(source, events=("start",)):
            generated = element.get("dateGenerated", "unknown")[:10]
            break
    return render(entities, generated)
