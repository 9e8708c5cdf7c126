"""Designation lists: the organisations the designated-organisation detector names, and the lists they are on.

``config/designations.yaml`` is the UN Security Council list; each
``config/designations-*.yaml`` is a national list with a ``list`` header
naming its jurisdiction and the legal basis a request under it cites. An
organisation carries its names in several languages (aliases), its acronyms,
and every designation it is under. A national entry with ``same_as: <id>`` is
an organisation of an earlier file (:func:`load_all_designations` merges them),
so one organisation carries every list it is on, each with its jurisdiction.
:mod:`detectors.designations` finds the names in posts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from detectors._config_values import optional_date
from detectors.configfile import ANY_KEY, VALUE, Document, Problems, Section, load_yaml

LANGUAGES = ("en", "ur", "roman_ur", "ps", "ar")  # ar: Arabic, as the UN gives some names

# A list without a ``list.jurisdiction`` header (the UN list) applies everywhere.
EVERYWHERE = "*"


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


@dataclass(frozen=True, slots=True)
class _ListHeader:
    """What a file's ``list`` header gives every designation in it."""

    jurisdiction: str = EVERYWHERE
    legal_basis: str = ""
    verified: bool = True


def load_designations(
    path: Path, problems: Problems, *, same_as: dict[str, str] | None = None
) -> tuple[Organisation, ...]:
    """The organisations of one list file; ``same_as``, when given, collects each entry's ``same_as`` id."""
    document = load_yaml(path, problems)
    document.check_keys(DESIGNATIONS_SCHEMA)
    header = _list_header(document)
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
        organisations.append(_organisation(document, where, organisation_id, header))
        if same_as is not None and document.get(where + ("same_as",)) is not None:
            same_as[organisation_id] = document.text(where + ("same_as",), required=True)
    return tuple(organisations)


def _list_header(document: Document) -> _ListHeader:
    if not document.mapping(("list",)):
        return _ListHeader()
    jurisdiction = document.text(("list", "jurisdiction"), default=EVERYWHERE)
    legal_basis = document.text(("list", "legal_basis"))
    verified = document.get(("list", "verified"), True)
    if not isinstance(verified, bool):
        document.problem(("list", "verified"), f"must be true or false, not {verified!r}")
        verified = False
    return _ListHeader(jurisdiction, legal_basis, verified)


def _organisation(document: Document, where: tuple, organisation_id: str, header: _ListHeader) -> Organisation:
    aliases = _aliases(document, where)
    acronyms = _acronyms(document, where + ("acronyms",))
    weak_acronyms = _acronyms(document, where + ("weak_acronyms",))
    designations = [
        _designation(document, where + ("designations", index), header)
        for index, _ in enumerate(document.sequence(where + ("designations",), required=True))
    ]
    name = document.text(where + ("name",), required=True)
    if not aliases and name:
        aliases.append(("en", name))
    review_only = document.get(where + ("review_only",), False)
    if not isinstance(review_only, bool):
        document.problem(where + ("review_only",), f"must be true or false, not {review_only!r}")
        review_only = False
    return Organisation(
        organisation_id, name, tuple(designations), tuple(aliases), tuple(acronyms), tuple(weak_acronyms), review_only
    )


def _aliases(document: Document, where: tuple) -> list[tuple[str, str]]:
    """``(language, alias)`` of every alias, in a configured language."""
    aliases = []
    for language, _names in document.mapping(where + ("aliases",)).items():
        if language not in LANGUAGES:
            document.problem(where + ("aliases", language), f"{language!r} is not one of {', '.join(LANGUAGES)}")
            continue
        for alias_index, _ in enumerate(document.sequence(where + ("aliases", language))):
            alias = document.text(where + ("aliases", language, alias_index), required=True)
            if alias.strip():
                aliases.append((language, alias.strip()))
    return aliases


def _acronyms(document: Document, where: tuple) -> list[str]:
    acronyms = []
    for index, _ in enumerate(document.sequence(where)):
        acronym = document.text(where + (index,), required=True).strip()
        if acronym:
            acronyms.append(acronym)
    return acronyms


def _designation(document: Document, where: tuple, header: _ListHeader) -> Designation:
    listed_on = optional_date(document, where + ("listed_on",))
    return Designation(
        list_name=document.text(where + ("list",), required=True),
        reference=document.text(where + ("reference",), required=True),
        listed_on=listed_on,
        jurisdiction=header.jurisdiction,
        legal_basis=header.legal_basis,
        source=document.text(where + ("source",)),
        verified=header.verified,
    )
