"""One takedown request, exported as a DSA statement of reasons and as a Lumen notice.

Both documents are built from the same record: the request as
``GET /takedowns/{request_id}`` returns it under ``"request"``, or the latest
ledger record of that request once the ledger carries the fields listed in
``DSA_INPUT_FIELDS`` and ``LUMEN_INPUT_FIELDS`` (today it lacks ``posted_at``,
``url``, ``evidence``, ``legal_basis`` and ``citation``; see
streams/cli_export.py). A missing field raises :class:`ExportError` naming it;
nothing is guessed.

**DSA statement of reasons: a draft, from the authority's side.** Under
Art. 17 and 24(5) of the Digital Services Act the *platform* that restricts
content sends the statement of reasons to the Transparency Database, with its
own API token, ``puid`` and dates. modwatch is on the other side of the
request, so :func:`statement_of_reasons` pre-fills the platform's submission
with what the authority knows (legal ground, explanation, category, evidence
summary, outcome) and says so in ``decision_facts``. The payload follows the
v2 submission schema in force since 1 July 2025, as documented on
transparency.dsa.ec.europa.eu (API documentation, read 2026-11-29). It holds
no personal data, as the database requires: no account ids, handles, URLs,
quoted post text or watchlist matches (the Lumen notice, which is public too,
leaves out watchlist matches as well); the ``puid`` is the request id, which
names the item.

What the draft says, and why:

- ``decision_ground`` is always illegal content: a modwatch request cites a
  law, never a platform's terms. ``illegal_content_legal_ground`` is the
  request's ``legal_basis`` and ``citation``; ``illegal_content_explanation``
  summarises the findings (detector, category, score, designation references,
  cue kinds, hash matches).
- ``decision_visibility`` follows the platform's reported ``removal_status``:
  ``removed`` is removal, ``geo_blocked`` is disabled access in the
  jurisdiction's territory, ``restricted`` (a restriction modwatch cannot
  name more precisely) is ``DECISION_VISIBILITY_OTHER`` with the reason. A
  request still open exports the restriction it asks for (removal), dated
  ``now`` and labelled in ``decision_facts`` as not yet applied, so the
  platform can file it the day it acts. Requests that never restricted
  anything (pending review, dismissed, rejected, expired) have no statement
  of reasons and raise :class:`ExportError`.
- ``territorial_scope``: a removal applies everywhere, so all EU/EEA states; a
  geo-block or restriction applies in the jurisdiction only (``EU``: the 27
  member states; an EU/EEA country code: that country). A geo-block under a
  non-EU/EEA law restricts nothing in the EU, so there is no statement of
  reasons to pre-fill and :class:`ExportError` says so.
- ``automated_detection`` is ``Yes`` when any finding names a detector.
  ``automated_decision`` describes the authority's decision to ask:
  ``PARTIALLY`` when a reviewer approved it (``reviewed=True``: a ledger
  transition caused by ``review``), else ``FULLY`` (the policy threshold
  sent it). The platform corrects it to describe its own decision.
- ``source_type`` is ``SOURCE_TYPE_OTHER_NOTIFICATION``: an authority's
  removal request is neither an Art. 16 notice nor a trusted flagger's.

**Lumen notice.** :func:`lumen_notice` builds the body of Lumen's
``POST /notices`` (without the submitter's ``authentication_token``) as a
``GovernmentRequest`` from the authority (``sender`` and ``principal``) to the
platform (``recipient``), with the post's URL as the infringing URL. Lumen
records notices whatever their outcome, so rejected and expired requests
export too: ``action_taken`` is ``Yes`` (removed), ``Partial`` (geo-blocked or
restricted), ``No`` (rejected) or ``Unspecified`` (open, expired).

The field lists (``DSA_*``, ``LUMEN_*``) are the schemas as read from the
sources above; ``validate_dsa`` and ``validate_lumen`` check a document
against them and return every problem, each naming the field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

DSA_SCHEMA = "DSA Transparency Database statement of reasons, API v2 (submission schema in force from 2025-07-01)"
LUMEN_SCHEMA = "Lumen notice, POST /notices JSON body (notice type GovernmentRequest)"


class ExportError(ValueError):
    """The request cannot be exported in this format; the message says which field or state."""


# --- DSA statement of reasons: the schema ----------------------------------------------------------

DSA_REQUIRED = (
    "decision_ground",
    "category",
    "content_type",
    "content_date",
    "application_date",
    "territorial_scope",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
)
# The API rejects a statement that restricts nothing: at least one of these.
DSA_REQUIRED_ONE_OF = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
# (field, value) -> fields required when the field has (or, for a list, contains) that value.
DSA_REQUIRED_IF = {
    ("decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT"): (
        "illegal_content_legal_ground",
        "illegal_content_explanation",
    ),
    ("decision_ground", "DECISION_GROUND_INCOMPATIBLE_CONTENT"): (
        "incompatible_content_ground",
        "incompatible_content_explanation",
    ),
    ("decision_visibility", "DECISION_VISIBILITY_OTHER"): ("decision_visibility_other",),
    ("decision_monetary", "DECISION_MONETARY_OTHER"): ("decision_monetary_other",),
    ("content_type", "CONTENT_TYPE_OTHER"): ("content_type_other",),
}
DSA_MAX_LENGTHS = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "content_type_other": 500,
    "category_specification_other": 500,
    "decision_facts": 5000,
    "source_identity": 500,
    "puid": 500,
}
DSA_LIST_FIELDS = frozenset(
    {"decision_visibility", "content_type", "category_addition", "category_specification", "territorial_scope"}
)

EU_COUNTRIES = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
)
EEA_COUNTRIES = tuple(sorted(EU_COUNTRIES + ("IS", "LI", "NO")))

_DSA_CATEGORIES = (
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
)
_DSA_KEYWORDS = (
    "KEYWORD_ANIMAL_HARM",
    "KEYWORD_ADULT_SEXUAL_MATERIAL",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
    "KEYWORD_BIOMETRIC_DATA_BREACH",
    "KEYWORD_BULLYING_AGAINST_GIRLS",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
    "KEYWORD_COORDINATED_HARM",
    "KEYWORD_COPYRIGHT_INFRINGEMENT",
    "KEYWORD_CYBER_BULLYING_INTIMIDATION",
    "KEYWORD_CYBER_HARASSMENT",
    "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
    "KEYWORD_CYBER_INCITEMENT",
    "KEYWORD_CYBER_STALKING",
    "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
    "KEYWORD_DATA_FALSIFICATION",
    "KEYWORD_DEFAMATION",
    "KEYWORD_DESIGN_INFRINGEMENT",
    "KEYWORD_DISCRIMINATION",
    "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
    "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
    "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
    "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
    "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    "KEYWORD_HATE_SPEECH",
    "KEYWORD_HIDDEN_ADVERTISEMENT",
    "KEYWORD_HUMAN_EXPLOITATION",
    "KEYWORD_HUMAN_TRAFFICKING",
    "KEYWORD_ILLEGAL_ORGANIZATIONS",
    "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
    "KEYWORD_INAUTHENTIC_ACCOUNTS",
    "KEYWORD_INAUTHENTIC_LISTINGS",
    "KEYWORD_INAUTHENTIC_USER_REVIEWS",
    "KEYWORD_INCITEMENT_AGAINST_WOMEN",
    "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
    "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
    "KEYWORD_LANGUAGE_REQUIREMENTS",
    "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
    "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
    "KEYWORD_MISSING_PROCESSING_GROUND",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
    "KEYWORD_NONCOMPLIANCE_PRICING",
    "KEYWORD_NUDITY",
    "KEYWORD_PATENT_INFRINGEMENT",
    "KEYWORD_PHISHING",
    "KEYWORD_PROHIBITED_PRODUCTS",
    "KEYWORD_PYRAMID_SCHEMES",
    "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
    "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
    "KEYWORD_RISK_PUBLIC_HEALTH",
    "KEYWORD_SELF_MUTILATION",
    "KEYWORD_STALKING",
    "KEYWORD_SUICIDE",
    "KEYWORD_TERRORIST_CONTENT",
    "KEYWORD_TRADE_SECRET_INFRINGEMENT",
    "KEYWORD_TRADEMARK_INFRINGEMENT",
    "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
    "KEYWORD_UNLAWFUL_SALE_ANIMALS",
    "KEYWORD_UNSAFE_CHALLENGES",
    "KEYWORD_UNSAFE_PRODUCTS",
    "KEYWORD_VIOLATION_EU_LAW",
    "KEYWORD_VIOLATION_NATIONAL_LAW",
    "KEYWORD_OTHER",
)

DSA_ENUMS: dict[str, tuple[str, ...]] = {
    "decision_visibility": (
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    ),
    "decision_monetary": ("DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER"),
    "decision_provision": (
        "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "DECISION_PROVISION_TOTAL_SUSPENSION",
        "DECISION_PROVISION_PARTIAL_TERMINATION",
        "DECISION_PROVISION_TOTAL_TERMINATION",
    ),
    "decision_account": ("DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"),
    "account_type": ("ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"),
    "decision_ground": ("DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"),
    "incompatible_content_illegal": ("Yes", "No"),
    "content_type": (
        "CONTENT_TYPE_APP",
        "CONTENT_TYPE_AUDIO",
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_PRODUCT",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
        "CONTENT_TYPE_TEXT",
        "CONTENT_TYPE_VIDEO",
        "CONTENT_TYPE_OTHER",
    ),
    "category": _DSA_CATEGORIES,
    "category_addition": _DSA_CATEGORIES,
    "category_specification": _DSA_KEYWORDS,
    "territorial_scope": EEA_COUNTRIES,
    "source_type": (
        "SOURCE_ARTICLE_16",
        "SOURCE_TRUSTED_FLAGGER",
        "SOURCE_TYPE_OTHER_NOTIFICATION",
        "SOURCE_VOLUNTARY",
    ),
    "automated_detection": ("Yes", "No"),
    "automated_decision": (
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    ),
}
# Earliest date the API accepts per date field; end dates must not precede application_date.
DSA_DATE_FIELDS = {
    "content_date": date(2000, 1, 1),
    "application_date": date(2020, 1, 1),
    "end_date_account_restriction": None,
    "end_date_monetary_restriction": None,
    "end_date_service_restriction": None,
    "end_date_visibility_restriction": None,
}
DSA_FIELDS = frozenset(
    set(DSA_REQUIRED)
    | set(DSA_REQUIRED_ONE_OF)
    | set(DSA_MAX_LENGTHS)
    | set(DSA_ENUMS)
    | set(DSA_DATE_FIELDS)
    | {field for fields in DSA_REQUIRED_IF.values() for field in fields}
    | {"decision_ground_reference_url", "content_language", "content_id"}
)
# Letters, digits, hyphen and underscore only: the API refuses anything else in a puid.
PUID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
CONTENT_LANGUAGE_PATTERN = re.compile(r"^[A-Z]{2}$")


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

# removal_status -> (decision_visibility, decision_visibility_other); None: a request still open.
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

OPEN_STATES = frozenset({"requested", "acknowledged"})
DSA_EXPORTABLE_STATES = OPEN_STATES | {"removed", "reappeared"}
LUMEN_EXPORTABLE_STATES = DSA_EXPORTABLE_STATES | {"rejected", "expired"}

# Fields of the request (or ledger record) each export reads.
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
LUMEN_INPUT_FIELDS = (
    "request_id",
    "state",
    "platform",
    "post_id",
    "url",
    "categories",
    "jurisdiction",
    "legal_basis",
    "citation",
    "requested_at",
)

# Detectors that read a post's text: their findings make the content type text.
TEXT_DETECTORS = frozenset({"designated_organisation", "text_classifier"})

# --- Lumen notice: the schema --------------------------------------------------------------------

# Paths into the POST body; "[]" stands for every element of a list.
LUMEN_REQUIRED = (
    "notice.title",
    "notice.type",
    "notice.date_sent",
    "notice.works_attributes",
    "notice.works_attributes[].infringing_urls_attributes",
    "notice.works_attributes[].infringing_urls_attributes[].url",
    "notice.entity_notice_roles_attributes",
    "notice.entity_notice_roles_attributes[].name",
    "notice.entity_notice_roles_attributes[].entity_attributes",
    "notice.entity_notice_roles_attributes[].entity_attributes.name",
)
LUMEN_REQUIRED_ROLES = ("sender", "recipient")
LUMEN_ENUMS: dict[str, tuple[str, ...]] = {
    # Lumen's Notice::TYPES, less "Placeholder" (Lumen's own stand-in while it processes a submission).
    "notice.type": (
        "DMCA",
        "Counterfeit",
        "Counternotice",
        "CourtOrder",
        "DataProtection",
        "Defamation",
        "GovernmentRequest",
        "LawEnforcementRequest",
        "PrivateInformation",
        "Trademark",
        "Other",
    ),
    "notice.action_taken": ("Yes", "No", "Partial", "Unspecified"),
    "notice.request_type": ("Agency", "Civil Subpoena", "Email", "Records Preservation", "Subpoena", "Warrant"),
    "notice.entity_notice_roles_attributes[].name": (
        "principal",
        "agent",
        "attorney",
        "recipient",
        "sender",
        "submitter",
        "target",
        "issuing_court",
        "plaintiff",
        "defendant",
    ),
    "notice.entity_notice_roles_attributes[].entity_attributes.kind": ("organization", "individual"),
}
LUMEN_DATE_FIELDS = ("notice.date_sent", "notice.date_received")
# Lumen refuses notice dates before its predecessor's founding and more than a day ahead.
LUMEN_EARLIEST_DATE = date(1998, 10, 29)
LUMEN_NOTICE_TYPE = "GovernmentRequest"
# removal_status (or state, when nothing was removed) -> Lumen action_taken.
LUMEN_ACTION_TAKEN = {
    "removed": "Yes",
    "geo_blocked": "Partial",
    "restricted": "Partial",
    "rejected": "No",
    "expired": "Unspecified",
    "requested": "Unspecified",
    "acknowledged": "Unspecified",
}

_MISSING = object()


# --- building ------------------------------------------------------------------------------------


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
    _require(request, DSA_INPUT_FIELDS, "a DSA statement of reasons")
    request_id, state = request["request_id"], request["state"]
    if state not in DSA_EXPORTABLE_STATES:
        raise ExportError(
            f"request {request_id}: state {state!r} restricted nothing, so there is no statement of reasons "
            f"(exportable: {', '.join(sorted(DSA_EXPORTABLE_STATES))})"
        )
    removal_status = _removal_status(request)
    mapped = [_dsa_category(request_id, category) for category in request["categories"]]
    if not mapped:
        raise ExportError(f"request {request_id}: categories is empty; the statement needs a category")
    visibility, visibility_other = VISIBILITY_FOR_REMOVAL_STATUS[removal_status]
    scope = _territorial_scope(request, removal_status, territorial_scope)
    evidence = list(request["evidence"] or [])
    detected = any(finding.get("detector") for finding in evidence)
    content_types, content_type_other = _content_types(evidence)
    document = {
        "decision_visibility": [visibility],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": _clip(f"{request['legal_basis']} ({request['citation']})", 500),
        "illegal_content_explanation": _clip(_explanation(request, evidence, reviewed), 2000),
        "category": mapped[0].category,
        "category_specification": sorted({keyword for item in mapped for keyword in item.keywords}),
        "content_type": content_types,
        "content_date": _date(request["posted_at"]),
        "application_date": _date(request["removed_at"]) if removal_status else now.astimezone(UTC).date().isoformat(),
        "territorial_scope": scope,
        "decision_facts": _clip(_decision_facts(request, platform_name, removal_status, scope, now), 5000),
        "source_type": "SOURCE_TYPE_OTHER_NOTIFICATION",
        "source_identity": _clip(f"Public authority's removal request {request_id} under {request['citation']}", 500),
        "automated_detection": "Yes" if detected else "No",
        "automated_decision": (
            "AUTOMATED_DECISION_PARTIALLY"
            if reviewed
            else "AUTOMATED_DECISION_FULLY"
            if detected
            else "AUTOMATED_DECISION_NOT_AUTOMATED"
        ),
        # The platform's own identifier belongs here; the request id marks the draft until then.
        "puid": request_id.replace("~", "-"),
    }
    additions = sorted({item.category for item in mapped[1:]} - {mapped[0].category})
    if additions:
        document["category_addition"] = additions
    if visibility_other:
        document["decision_visibility_other"] = visibility_other
    if content_type_other:
        document["content_type_other"] = content_type_other
    return document


def lumen_notice(
    request: Mapping[str, Any],
    *,
    sender: Mapping[str, Any],
    now: datetime,
    recipient: Mapping[str, Any] | None = None,
    principal: Mapping[str, Any] | None = None,
) -> dict:
    """The body of Lumen's ``POST /notices`` for this request (add ``authentication_token`` to send it).

    ``sender``: the authority, as a Lumen entity (``name``; optional ``kind``,
    ``country_code``, address fields). ``recipient`` defaults to the platform
    as an organisation, ``principal`` to the sender.
    """
    _require(request, LUMEN_INPUT_FIELDS, "a Lumen notice")
    request_id, state = request["request_id"], request["state"]
    if state not in LUMEN_EXPORTABLE_STATES:
        raise ExportError(
            f"request {request_id}: state {state!r} means no request was sent, so there is no notice "
            f"(exportable: {', '.join(sorted(LUMEN_EXPORTABLE_STATES))})"
        )
    if not isinstance(sender, Mapping) or not str(sender.get("name") or "").strip():
        raise ExportError(f"request {request_id}: sender needs a name, got {sender!r}")
    if not request["url"]:
        raise ExportError(f"request {request_id}: url is empty; a Lumen notice names the URL of the content")
    removal_status = _removal_status(request)
    sender = {"kind": "organization", **sender}
    recipient = dict(recipient) if recipient else {"name": request["platform"], "kind": "organization"}
    principal = {"kind": "organization", **principal} if principal else dict(sender)
    labels = [_label(category) for category in request["categories"]]
    notice = {
        "title": f"Government removal request to {recipient['name']}: {', '.join(labels) or 'unlawful content'}",
        "type": LUMEN_NOTICE_TYPE,
        "request_type": "Agency",
        "subject": ", ".join(labels),
        # modwatch stamps requested_at when it sends the request: sent and received the same day.
        "date_sent": _date(request["requested_at"]),
        "date_received": _date(request["requested_at"]),
        "tag_list": ", ".join(["terrorist and violent extremist content", *labels]),
        "jurisdiction_list": request["jurisdiction"],
        "language": "en",
        "action_taken": LUMEN_ACTION_TAKEN[removal_status or state],
        "body": _lumen_body(request, sender, recipient, removal_status, now),
        "works_attributes": [
            {
                "description": f"{', '.join(labels)}: post {request['post_id']} on {request['platform']}",
                "infringing_urls_attributes": [{"url": request["url"]}],
            }
        ],
        "entity_notice_roles_attributes": [
            {"name": "sender", "entity_attributes": sender},
            {"name": "principal", "entity_attributes": principal},
            {"name": "recipient", "entity_attributes": recipient},
        ],
    }
    return {"notice": notice}


def _require(request: Mapping[str, Any], fields: Iterable[str], what: str) -> None:
    missing = [field for field in fields if field not in request]
    if missing:
        raise ExportError(
            f"request {request.get('request_id', '?')}: {what} needs {', '.join(missing)}, which this record lacks "
            "(a ledger record carries fewer fields than the request that GET /takedowns/{request_id} returns)"
        )


def _removal_status(request: Mapping[str, Any]) -> str | None:
    """How the platform restricted the content, or None while nothing is restricted."""
    if request["state"] not in {"removed", "reappeared"}:
        return None
    status = request.get("removal_status")
    if status not in VISIBILITY_FOR_REMOVAL_STATUS or status is None or not request.get("removed_at"):
        raise ExportError(
            f"request {request['request_id']}: state {request['state']!r} needs removed_at and a removal_status "
            f"of {', '.join(sorted(TERRITORIAL_REMOVAL_STATUSES | {'removed'}))}, got "
            f"removed_at={request.get('removed_at')!r}, removal_status={status!r}"
        )
    return status


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


def _content_types(evidence: list[Mapping[str, Any]]) -> tuple[list[str], str | None]:
    """DSA content types from what matched; modwatch keeps no media kind beyond the match itself."""
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


def _findings_text(evidence: list[Mapping[str, Any]]) -> str:
    """The content findings, one after another. Findings about the author (a watchlist match) are left
    out: both documents are published, and whom an authority watches is personal data."""
    return " | ".join(_finding_summary(finding) for finding in evidence if not _about_the_author(finding))


def _about_the_author(finding: Mapping[str, Any]) -> bool:
    return finding.get("category") == "watchlisted_account" or bool((finding.get("evidence") or {}).get("matched_on"))


def _finding_summary(finding: Mapping[str, Any]) -> str:
    """Detector, category, score and the list entries it matched; never quoted text or account data."""
    parts = [f"{finding.get('detector') or 'unnamed detector'} found {_label(finding.get('category'))}"]
    if isinstance(finding.get("score"), int | float):
        parts[0] += f" (score {finding['score']:.2f})"
    details = finding.get("evidence") or {}
    if details.get("designations"):
        parts.append("designated under " + ", ".join(map(str, details["designations"])))
    elif details.get("organisations"):
        parts.append("listed organisations " + ", ".join(map(str, details["organisations"])))
    cues = sorted(
        {str(cue["kind"]) for cue in details.get("cues") or [] if isinstance(cue, Mapping) and cue.get("kind")}
    )
    if cues:
        parts.append("cues: " + ", ".join(cues))
    if details.get("hash_type"):
        match = f"{details['hash_type']} hash match"
        if details.get("distance"):
            match += f" at distance {details['distance']}"
        if details.get("label"):
            match += f" to {details['label']!r}"
        if details.get("source"):
            match += f" from {details['source']}"
        parts.append(match)
    elif details.get("model"):
        parts.append(
            f"model {details['model']}" + (f" labelled it {details['label']!r}" if details.get("label") else "")
        )
    return "; ".join(parts)


def _explanation(request: Mapping[str, Any], evidence: list[Mapping[str, Any]], reviewed: bool) -> str:
    labels = _labels(request["categories"])
    findings = _findings_text(evidence) or "no content findings recorded"
    review = (
        "A human reviewer approved the request before it was sent."
        if reviewed
        else "The request was sent without human review: the findings reached the authority's takedown threshold."
    )
    return (
        f"The content was identified as {labels}, unlawful under {request['citation']}. Findings: {findings}. {review}"
    )


def _decision_facts(
    request: Mapping[str, Any], platform_name: str, removal_status: str | None, scope: list[str], now: datetime
) -> str:
    if removal_status == "removed":
        outcome = f"the platform removed the content on {_date(request['removed_at'])}."
    elif removal_status == "geo_blocked":
        outcome = f"the platform disabled access in {', '.join(scope)} on {_date(request['removed_at'])}."
    elif removal_status == "restricted":
        outcome = f"the platform restricted the content on {_date(request['removed_at'])}."
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
        f"was sent on {_date(request['requested_at'])} under {request['legal_basis']} ({request['citation']})"
        f"{deadline}. Outcome reported to the authority: {outcome}"
    )


def _lumen_body(
    request: Mapping[str, Any],
    sender: Mapping[str, Any],
    recipient: Mapping[str, Any],
    removal_status: str | None,
    now: datetime,
) -> str:
    state = request["state"]
    if removal_status:
        outcome = {"removed": "removed", "geo_blocked": "geo-blocked", "restricted": "restricted"}[removal_status]
        outcome = f"{outcome} on {_date(request['removed_at'])}"
        if state == "reappeared":
            outcome += ", later reported available again"
    elif state == "rejected":
        outcome = "the platform rejected the request"
    elif state == "expired":
        outcome = "no answer from the platform before the request expired"
    else:
        outcome = f"no action reported as of {now.astimezone(UTC).date().isoformat()}"
    deadline = f" Deadline: {request['deadline']}." if request.get("deadline") else ""
    findings = _findings_text(request.get("evidence") or [])
    findings = f" Findings: {findings}." if findings else ""
    return (
        f"{sender['name']} asked {recipient['name']} to remove content identified as "
        f"{_labels(request['categories'])}, under {request['legal_basis']} "
        f"({request['citation']}). Request {request['request_id']}, sent {request['requested_at']}.{deadline}"
        f"{findings} Outcome: {outcome}."
    )


def _label(category: Any) -> str:
    return str(category or "unknown").replace("_", " ")


def _labels(categories: Iterable[str]) -> str:
    labels = [_label(category) for category in categories]
    return " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels) or "unlawful content"


def _date(timestamp: str) -> str:
    """The UTC calendar date of an RFC 3339 timestamp, as YYYY-MM-DD."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def _clip(text: str, limit: int) -> str:
    # The API refuses over-long fields outright; a clipped explanation still gets the statement filed.
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- validating ----------------------------------------------------------------------------------


def validate_dsa(document: Mapping[str, Any]) -> list[str]:
    """Every way ``document`` breaks the DSA v2 statement-of-reasons schema; empty when it fits."""
    if not isinstance(document, Mapping):
        return [f"statement of reasons: expected a JSON object, got {type(document).__name__}"]
    problems = [f"{field}: not a field of the statement of reasons" for field in sorted(set(document) - DSA_FIELDS)]

    def present(field: str) -> bool:
        return _is_present(document.get(field, _MISSING))

    for field in DSA_REQUIRED:
        if not present(field):
            problems.append(f"{field}: is required")
    if not any(present(field) for field in DSA_REQUIRED_ONE_OF):
        problems.append(f"{', '.join(DSA_REQUIRED_ONE_OF)}: at least one is required")
    for (field, value), needed in DSA_REQUIRED_IF.items():
        given = document.get(field)
        if given == value or (isinstance(given, list) and value in given):
            problems.extend(f"{other}: is required when {field} is {value}" for other in needed if not present(other))
    for field in sorted(DSA_LIST_FIELDS & set(document)):
        value = document[field]
        if value is not None and (not isinstance(value, list) or not value):
            problems.append(f"{field}: expected a non-empty list, got {value!r}")
    for field, allowed in DSA_ENUMS.items():
        problems.extend(_enum_problems(field, document.get(field, _MISSING), allowed, f"DSA_ENUMS[{field!r}]"))
    for field, limit in DSA_MAX_LENGTHS.items():
        value = document.get(field)
        if isinstance(value, str) and len(value) > limit:
            problems.append(f"{field}: {len(value)} characters, more than {limit}")
        elif value is not None and field in document and not isinstance(value, str):
            problems.append(f"{field}: expected text, got {value!r}")
    puid = document.get("puid")
    if isinstance(puid, str) and puid and not PUID_PATTERN.match(puid):
        problems.append(f"puid: {puid!r} has characters other than letters, digits, '-' and '_'")
    language = document.get("content_language")
    if language is not None and not (isinstance(language, str) and CONTENT_LANGUAGE_PATTERN.match(language)):
        problems.append(f"content_language: {language!r} is not an uppercase two-letter ISO 639-1 code")
    dates = {}
    for field, earliest in DSA_DATE_FIELDS.items():
        value = document.get(field)
        if value is None:
            continue
        parsed = _parse_date(value)
        if parsed is None:
            problems.append(f"{field}: {value!r} is not a date in the form YYYY-MM-DD")
        elif earliest and parsed < earliest:
            problems.append(f"{field}: {value!r} is before {earliest.isoformat()}")
        else:
            dates[field] = parsed
    if "application_date" in dates:
        for field in (name for name in DSA_DATE_FIELDS if name.startswith("end_date_")):
            if field in dates and dates[field] < dates["application_date"]:
                problems.append(
                    f"{field}: {document[field]!r} is before application_date {document['application_date']!r}"
                )
    return problems


def validate_lumen(document: Mapping[str, Any], *, now: datetime | None = None) -> list[str]:
    """Every way ``document`` breaks the Lumen notice fields; ``now`` also checks dates are not ahead."""
    if not isinstance(document, Mapping) or not isinstance(document.get("notice"), Mapping):
        return ['notice: is required (the body is {"notice": {...}})']
    problems = []
    for path in LUMEN_REQUIRED:
        problems.extend(f"{where}: is required" for where, value in _resolve(document, path) if not _is_present(value))
    for path in (
        "notice.works_attributes",
        "notice.works_attributes[].infringing_urls_attributes",
        "notice.entity_notice_roles_attributes",
    ):
        problems.extend(
            f"{where}: expected a list, got {value!r}"
            for where, value in _resolve(document, path)
            if _is_present(value) and not isinstance(value, list)
        )
    for path, allowed in LUMEN_ENUMS.items():
        for where, value in _resolve(document, path):
            problems.extend(_enum_problems(where, value, allowed, f"LUMEN_ENUMS[{path!r}]"))
    roles = {value for _, value in _resolve(document, "notice.entity_notice_roles_attributes[].name")}
    if isinstance(document["notice"].get("entity_notice_roles_attributes"), list):
        problems.extend(
            f"notice.entity_notice_roles_attributes: no {role!r} role"
            for role in LUMEN_REQUIRED_ROLES
            if role not in roles
        )
    latest = (now.astimezone(UTC).date().toordinal() + 1) if now else None
    for path in LUMEN_DATE_FIELDS:
        for where, value in _resolve(document, path):
            if value is _MISSING or value is None:
                continue
            parsed = _parse_date(value)
            if parsed is None:
                problems.append(f"{where}: {value!r} is not a date in the form YYYY-MM-DD")
            elif parsed < LUMEN_EARLIEST_DATE:
                problems.append(f"{where}: {value!r} is before {LUMEN_EARLIEST_DATE.isoformat()}")
            elif latest is not None and parsed.toordinal() > latest:
                problems.append(f"{where}: {value!r} is more than a day after {now.astimezone(UTC).date().isoformat()}")
    return problems


def _is_present(value: Any) -> bool:
    return value is not _MISSING and value is not None and value != "" and value != [] and value != {}


def _enum_problems(where: str, value: Any, allowed: tuple[str, ...], table: str) -> list[str]:
    if value is _MISSING or value is None:
        return []
    values = value if isinstance(value, list) else [value]
    choices = ", ".join(allowed) if len(allowed) <= 12 else f"the {len(allowed)} values of {table}"
    return [
        f"{where}{f'[{index}]' if isinstance(value, list) else ''}: {item!r} is not one of {choices}"
        for index, item in enumerate(values)
        if item not in allowed
    ]


def _resolve(document: Any, path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) for every place ``path`` names; ``_MISSING`` where a key is absent.

    Below an absent key or a non-list, nothing is reported: the rule on the
    parent already says what is wrong there.
    """
    found: list[tuple[str, Any]] = [("", document)]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        deeper = []
        for where, value in found:
            if not isinstance(value, Mapping):
                continue
            here = f"{where}.{key}" if where else key
            child = value.get(key, _MISSING)
            if not many:
                deeper.append((here, child))
            elif isinstance(child, list):
                deeper.extend((f"{here}[{index}]", item) for index, item in enumerate(child))
        found = deeper
    return found


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
