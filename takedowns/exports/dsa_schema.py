"""The DSA statement of reasons: its fields, enumerations and limits, and the validator.

The field lists follow the Transparency Database's v2 submission schema (in
force since 1 July 2025, as documented on transparency.dsa.ec.europa.eu, API
documentation read 2026-11-29). :func:`validate_dsa` checks any statement
against them and returns every problem, each naming the field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from takedowns.exports._validation import MISSING, enum_problems, is_present, parse_date

DSA_SCHEMA = "DSA Transparency Database statement of reasons, API v2 (submission schema in force from 2025-07-01)"

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


def validate_dsa(document: Mapping[str, Any]) -> list[str]:
    """Every way ``document`` breaks the DSA v2 statement-of-reasons schema; empty when it fits."""
    if not isinstance(document, Mapping):
        return [f"statement of reasons: expected a JSON object, got {type(document).__name__}"]
    problems = [f"{field}: not a field of the statement of reasons" for field in sorted(set(document) - DSA_FIELDS)]

    def present(field: str) -> bool:
        return is_present(document.get(field, MISSING))

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
        problems.extend(enum_problems(field, document.get(field, MISSING), allowed, f"DSA_ENUMS[{field!r}]"))
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
    problems.extend(_date_problems(document))
    return problems


def _date_problems(document: Mapping[str, Any]) -> list[str]:
    """Dates in the wrong form, too early, or ending a restriction before it applied."""
    problems, dates = [], {}
    for field, earliest in DSA_DATE_FIELDS.items():
        value = document.get(field)
        if value is None:
            continue
        parsed = parse_date(value)
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
