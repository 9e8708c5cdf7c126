"""The DSA statement of reasons, pre-filled from the authority's side: modwatch's mapping onto the schema.

:func:`statement_of_reasons` drafts the platform's submission to the
Transparency Database from what the authority knows (legal ground,
explanation, category, evidence summary, outcome); the package docstring
(takedowns/exports/__init__.py) says what each field holds and why. The
tables below map a modwatch request onto the schema in dsa_schema.py: its
categories, its removal status and the detectors that read text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from takedowns.exports._record import DSA_EXPORTABLE_STATES, ExportError, date_of, removal_status_of, require_exportable
from takedowns.exports.dsa_schema import EEA_COUNTRIES, EU_COUNTRIES
from takedowns.findings import category_labels, finding_details, published_findings


@dataclass(frozen=True, slots=True)
class DsaCategory:
    category: str  # STATEMENT_CATEGORY_...
    keywords: tuple[str, ...]  # KEYWORD_... for category_specification


# modwatch category -> DSA v2 category and keyword. The v2 taxonomy (the Implementing
# Regulation's transparency-report categories) has no terrorism category of its own:
# terrorist content is a keyword of "risk for public security", beside illegal organisations.
CATEGORY_TO_DSA: dict[str, DsaCategory] = {
    # Glorification, recruitment or propaganda for a designated group.
    "terrorism_promotion": DsaCategory("STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", ("KEYWORD_TERRORIST_CONTENT",)),
    # A designated organisation named without promotion: the group is what is illegal.
    "designated_organisation_mention": DsaCategory(
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", ("KEYWORD_ILLEGAL_ORGANIZATIONS",)
    ),
    # A threat or call to violence, with or without a group behind it.
    "violent_threat": DsaCategory("STATEMENT_CATEGORY_VIOLENCE", ("KEYWORD_INCITEMENT_VIOLENCE_HATRED",)),
    # Incitement against people for protected characteristics.
    "hate": DsaCategory("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", ("KEYWORD_HATE_SPEECH",)),
    # Abuse aimed at a person: cyber violence, harassment.
    "abuse": DsaCategory("STATEMENT_CATEGORY_CYBER_VIOLENCE", ("KEYWORD_CYBER_HARASSMENT",)),
    # Only actionable if an operator gives it a threshold: the author is listed for acting
    # for a designated organisation.
    "watchlisted_account": DsaCategory(
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", ("KEYWORD_ILLEGAL_ORGANIZATIONS",)
    ),
}

# removal_status (each of _record.REMOVAL_STATUSES) -> (decision_visibility, decision_visibility_other);
# None: a request still open.
VISIBILITY_FOR_REMOVAL_STATUS: dict[str | None, tuple[str, str | None]] = {
    "removed": ("DECISION_VISIBILITY_CONTENT_REMOVED", None),
    "geo_blocked": ("DECISION_VISIBILITY_CONTENT_DISABLED", None),
    "restricted": (
        "DECISION_VISIBILITY_OTHER",
        "The platform reported the content as restricted (not removed, not geo-blocked); "
        "replace this with the restriction applied.",
    ),
    None: ("DECISION_VISIBILITY_CONTENT_REMOVED", None),
}
# Restrictions that apply only where the law applies; a removal applies everywhere.
TERRITORIAL_REMOVAL_STATUSES = frozenset({"geo_blocked", "restricted"})

# Fields of the request (or ledger record) the statement reads.
DSA_INPUT_FIELDS = (
    "request_id",
    "state",
    "categories",
    "evidence",
    "jurisdiction",
    "legal_basis",
    "citation",
    "posted_at",
    "requested_at",
)

# Detectors that read a post's text: their findings make the content type text.
TEXT_DETECTORS = frozenset({"designated_organisation", "text_classifier"})


def statement_of_reasons(
    request: Mapping[str, Any],
    *,
    platform_name: str,
    now: datetime,
    reviewed: bool = False,
    territorial_scope: Iterable[str] | None = None,
) -> dict:
    """A pre-filled DSA statement of reasons for the platform to check and submit.

    ``reviewed``: a reviewer approved the request (a ``review`` cause in its
    ledger). ``territorial_scope`` overrides the scope derived from the
    removal status and jurisdiction. Raises :class:`ExportError` for a missing
    input field, a state with no restriction, an unmapped category or a
    restriction outside the EU/EEA.
    """
    require_exportable(
        request,
        DSA_INPUT_FIELDS,
        "a DSA statement of reasons",
        DSA_EXPORTABLE_STATES,
        "restricted nothing, so there is no statement of reasons",
    )
    request_id, removal_status = request["request_id"], removal_status_of(request)
    _require_eu_law_or_scope(request, territorial_scope)
    mapped = _dsa_categories(request)
    visibility, visibility_other = VISIBILITY_FOR_REMOVAL_STATUS[removal_status]
    scope = _territorial_scope(request, removal_status, territorial_scope)
    evidence = list(request["evidence"] or [])
    content_types, content_type_other = _content_types(evidence, request)
    # A request still open drafts the restriction it asks for, dated today (decision_facts says so).
    applied_on = date_of(request["removed_at"]) if removal_status else now.astimezone(UTC).date().isoformat()
    document = {
        **({"decision_account": "DECISION_ACCOUNT_SUSPENDED"} if is_account(request) else {}),
        **({} if is_account(request) else {"decision_visibility": [visibility]}),
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": _clip(f"{request['legal_basis']} ({request['citation']})", 500),
        "illegal_content_explanation": _clip(_explanation(request, evidence, reviewed), 2000),
        "category": mapped[0].category,
        "category_specification": sorted({keyword for item in mapped for keyword in item.keywords}),
        "content_type": content_types,
        "content_date": date_of(request["posted_at"]),
        "application_date": applied_on,
        "territorial_scope": scope,
        "decision_facts": _clip(_decision_facts(request, platform_name, removal_status, scope, now), 5000),
        "source_type": "SOURCE_TYPE_OTHER_NOTIFICATION",
        "source_identity": _clip(f"Public authority's removal request {request_id} under {request['citation']}", 500),
        **_automation(evidence, reviewed),
        # The platform's own identifier belongs here; the request id marks the draft until then.
        "puid": request_id.replace("~", "-"),
    }
    optional = {
        "category_addition": sorted({item.category for item in mapped[1:]} - {mapped[0].category}),
        "decision_visibility_other": None if is_account(request) else visibility_other,
        "content_type_other": content_type_other,
    }
    document.update((field, value) for field, value in optional.items() if value)
    return document


def _require_eu_law_or_scope(request: Mapping[str, Any], territorial_scope: Iterable[str] | None) -> None:
    if territorial_scope is None and not jurisdiction_territory(request["jurisdiction"]):
        raise ExportError(
            f"request {request['request_id']}: jurisdiction {request['jurisdiction']!r} is outside the EU/EEA, "
            "and a DSA statement of reasons is about a restriction in the EU/EEA: export it as a Lumen notice, or "
            "pass territorial_scope (--territorial-scope) with the EU/EEA countries where the platform restricted it"
        )


def is_account(request: Mapping[str, Any]) -> bool:
    """An account-level request (takedowns/accounts.py): the account, not one post, is to be suspended."""
    return request.get("target") == "account"


def content_categories(request: Mapping[str, Any]) -> list[str]:
    """The request's categories; for an account, those of the confirmed violations counted against it."""
    if not is_account(request):
        return list(request["categories"])
    found: list[str] = []
    for finding in request["evidence"] or []:
        for confirmed in finding_details(finding).get("confirmed", []):
            found += [category for category in confirmed.get("categories") or [] if category not in found]
    return found


def _dsa_categories(request: Mapping[str, Any]) -> list[DsaCategory]:
    mapped = [_dsa_category(request["request_id"], category) for category in content_categories(request)]
    if not mapped:
        raise ExportError(f"request {request['request_id']}: categories is empty; the statement needs a category")
    return mapped


def _dsa_category(request_id: str, category: str) -> DsaCategory:
    try:
        return CATEGORY_TO_DSA[category]
    except KeyError:
        raise ExportError(
            f"request {request_id}: category {category!r} has no DSA mapping in CATEGORY_TO_DSA "
            f"(mapped: {', '.join(sorted(CATEGORY_TO_DSA))})"
        ) from None


def jurisdiction_territory(jurisdiction: str) -> tuple[str, ...]:
    """EU/EEA countries where a jurisdiction's law applies: all 27 for ``EU``, the country for an EEA code."""
    if jurisdiction == "EU":
        return EU_COUNTRIES
    return (jurisdiction,) if jurisdiction in EEA_COUNTRIES else ()


def _territorial_scope(
    request: Mapping[str, Any], removal_status: str | None, override: Iterable[str] | None
) -> list[str]:
    if override is not None:
        return sorted(set(override))
    if removal_status not in TERRITORIAL_REMOVAL_STATUSES:
        return list(EEA_COUNTRIES)
    territory = jurisdiction_territory(request["jurisdiction"])
    if not territory:
        raise ExportError(
            f"request {request['request_id']}: {removal_status} under jurisdiction {request['jurisdiction']!r}, "
            "outside the EU/EEA: nothing is restricted in the EU/EEA, so there is no statement of reasons "
            "(pass territorial_scope if the platform restricted it there too)"
        )
    return list(territory)


def _content_types(evidence: list[Mapping[str, Any]], request: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """DSA content types from what matched; modwatch keeps no media kind beyond the match itself."""
    if is_account(request):
        return ["CONTENT_TYPE_OTHER"], "account (suspension for repeated confirmed violations)"
    types: set[str] = set()
    other = []
    for finding in evidence:
        details = finding.get("evidence") or {}
        if details.get("hash_type") == "pdq":
            types.add("CONTENT_TYPE_IMAGE")  # PDQ hashes images only
        elif details.get("hash_type"):
            types.add("CONTENT_TYPE_OTHER")
            other.append("media file matched by exact hash (image or video)")
        elif finding.get("detector") in TEXT_DETECTORS:
            types.add("CONTENT_TYPE_TEXT")
    if not types:
        types.add("CONTENT_TYPE_OTHER")
        other.append("post (modwatch did not record its content type)")
    return sorted(types), ("; ".join(dict.fromkeys(other)) or None)


def _automation(evidence: list[Mapping[str, Any]], reviewed: bool) -> dict[str, str]:
    """Whether a detector found it, and how the authority decided to ask (the platform corrects this)."""
    detected = any(finding.get("detector") for finding in evidence)
    if reviewed:
        decision = "AUTOMATED_DECISION_PARTIALLY"
    elif detected:
        decision = "AUTOMATED_DECISION_FULLY"
    else:
        decision = "AUTOMATED_DECISION_NOT_AUTOMATED"
    return {"automated_detection": "Yes" if detected else "No", "automated_decision": decision}


def _explanation(request: Mapping[str, Any], evidence: list[Mapping[str, Any]], reviewed: bool) -> str:
    if is_account(request):
        return _account_explanation(request, evidence)
    labels = category_labels(request["categories"])
    findings = published_findings(evidence) or "no content findings recorded"
    review = (
        "A human reviewer approved the request before it was sent."
        if reviewed
        else "The request was sent without human review: the findings reached the authority's takedown threshold."
    )
    return (
        f"The content was identified as {labels}, unlawful under {request['citation']}. Findings: {findings}. {review}"
    )


def _account_explanation(request: Mapping[str, Any], evidence: list[Mapping[str, Any]]) -> str:
    details = finding_details(evidence[0]) if evidence else {}
    confirmed = details.get("confirmed", [])
    window = f" within {details['window_days']:g} days" if details.get("window_days") else ""
    return (
        f"The account posted content identified as {category_labels(content_categories(request))}, unlawful under "
        f"{request['citation']}: {len(confirmed)} violations confirmed{window} (each removed by the platform or "
        "approved by a human reviewer), reaching the authority's threshold for asking that the account be suspended."
    )


def _decision_facts(
    request: Mapping[str, Any], platform_name: str, removal_status: str | None, scope: list[str], now: datetime
) -> str:
    if removal_status == "removed" and is_account(request):
        outcome = f"the platform suspended the account on {date_of(request['removed_at'])}."
    elif removal_status == "removed":
        outcome = f"the platform removed the content on {date_of(request['removed_at'])}."
    elif removal_status == "geo_blocked":
        outcome = f"the platform disabled access in {', '.join(scope)} on {date_of(request['removed_at'])}."
    elif removal_status == "restricted":
        outcome = f"the platform restricted the content on {date_of(request['removed_at'])}."
    else:
        outcome = (
            f"no action reported as of {now.astimezone(UTC).date().isoformat()}. This draft describes the "
            "restriction requested (removal), not one applied; set application_date to the day it is applied."
        )
    if request["state"] == "reappeared":
        outcome += " The content was later reported available again and a new request was opened."
    deadline = f", with a deadline of {request['deadline']}" if request.get("deadline") else ""
    return (
        f"Draft pre-filled by the requesting public authority (modwatch) for {platform_name}. The statement of "
        f"reasons is the platform's to check, complete and submit (DSA Art. 17 and 24(5)): replace puid with the "
        f"platform's own identifier and confirm every field. The authority's removal request {request['request_id']} "
        f"was sent on {date_of(request['requested_at'])} under {request['legal_basis']} ({request['citation']})"
        f"{deadline}. Outcome reported to the authority: {outcome}"
    )


def _clip(text: str, limit: int) -> str:
    # The API refuses over-long fields outright; a clipped explanation still gets the statement filed.
    return text if len(text) <= limit else text[: limit - 1] + "…"
