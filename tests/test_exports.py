"""DSA statement-of-reasons and Lumen exports: built from real lifecycle states, checked against the field lists."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner

from detectors.pipeline import Platform
from streams.cli.export import export, ledger_request
from takedowns import exports, lifecycle
from takedowns.requests import Requests
from tests.conftest import ROOT

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2)
REFERENCE = Path(__file__).resolve().parent / "data" / "exports"
AUTHORITY = {"name": "Example Internet Referral Unit", "kind": "organization", "country_code": "DE"}

FINDINGS = [
    {
        "detector": "designated_organisation",
        "category": "terrorism_promotion",
        "score": 0.9,
        "evidence": {
            "organisations": ["QDe.115"],
            "designations": ["UN 1267 QDe.115"],
            "mentions": [{"kind": "name", "quote": "Example Front", "start": 10, "end": 23}],
            "cues": [{"kind": "promotion", "quote": "join the glorious", "start": 0, "end": 17}],
        },
    },
    {
        "detector": "media_hash",
        "category": "violent_threat",
        "score": 0.97,
        "evidence": {
            "media_index": 0,
            "hash_type": "pdq",
            "hash": "f" * 64,
            "media_hash": "e" * 64,
            "distance": 8,
            "quality": 90,
            "label": "execution video still",
            "source": "example hash list",
            "matches": 1,
        },
    },
    {
        "detector": "watchlist",
        "category": "watchlisted_account",
        "score": 1.0,
        "evidence": {
            "matched_on": "account_id",
            "platform": "x",
            "account_id": "acct-secret-42",
            "account_handle": "@secret_handle",
            "reason": "propagandist",
            "source": "ops",
            "added": None,
        },
    },
]


@pytest.fixture(scope="module")
def requests() -> Requests:
    configured = Requests.from_config_dir(ROOT / "config")
    # One platform per jurisdiction the exports treat differently: EU-wide law, a member state, outside the EEA.
    platforms = {
        "x": Platform("x", "X", "EU"),
        "facebook": Platform("facebook", "Facebook", "DE"),
        "telegram": Platform("telegram", "Telegram", "PK"),
    }
    return Requests(platforms, configured.jurisdictions)


def flagged(
    platform="x", action="takedown", post_id="p1", categories=("terrorism_promotion", "violent_threat")
) -> dict:
    return {
        "platform": platform,
        "post_id": post_id,
        "account_id": "acct-secret-42",
        "action": action,
        "url": f"https://{platform}.example/status/{post_id}",
        "severity": "critical",
        "categories": list(categories),
        "posted_at": (T0 - timedelta(hours=3)).isoformat(),
        "findings": copy.deepcopy(FINDINGS),
    }


def status(kind: str, at: datetime, platform="x", post_id="p1") -> dict:
    return {"platform": platform, "post_id": post_id, "status": kind, "observed_at": at.isoformat(), "source": "test"}


def requested_state(requests, platform="x", **kwargs) -> dict:
    item = flagged(platform, **kwargs)
    return lifecycle.on_flagged(None, item, requests.takedown_request(item, T0), T0).state


def reviewed_state(requests, platform="x") -> dict:
    item = flagged(platform, action="review")
    pending = lifecycle.on_flagged(None, item, requests.takedown_request(item, T0), T0).state
    decision = {"decision": "approve", "reviewer": "rev-1", "reason": "glorification", "at": T0.isoformat()}
    approved_at = T0 + timedelta(hours=1)
    return lifecycle.on_decision(pending, decision, lambda draft: requests.stamp(draft, approved_at), approved_at).state


def account_requested_state(requests) -> dict:
    """An account-level request on x (EU) after three confirmed violations, made by the real code."""
    from takedowns import accounts

    policy = accounts.AccountPolicy()
    state, made = None, None
    for day, category in enumerate(("terrorism_promotion", "violent_threat", "terrorism_promotion")):
        confirmed = {
            "request_id": f"tr-p{day}",
            "platform": "x",
            "post_id": f"p{day}",
            "account_id": "acct-secret-42",
            "categories": [category],
            "evidence": [{"detector": "designated_organisation"}],
            "target": "item",
        }
        strike = accounts.strike_from(confirmed, "removed", T0 + timedelta(days=day))
        state, made = accounts.on_strike(state, strike, policy)
    at = T0 + timedelta(days=2)
    return lifecycle.on_flagged(None, made, requests.takedown_request(made, at), at).state


def after_status(state: dict, kind: str, hours: float, platform="x") -> dict:
    at = T0 + timedelta(hours=hours)
    return lifecycle.on_status(state, status(kind, at, platform), None, at).state


def case(requests, name: str) -> tuple[dict, bool]:
    """(request, reviewed) for a named situation, made by the real lifecycle."""
    if name == "removed":
        return after_status(requested_state(requests), "removed", 2)["request"], False
    if name == "geo_blocked":
        return after_status(requested_state(requests, "facebook"), "geo_blocked", 5, "facebook")["request"], False
    if name == "restricted":
        return after_status(requested_state(requests), "restricted", 5)["request"], False
    if name == "open":
        return requested_state(requests)["request"], False
    if name == "reviewed":
        return reviewed_state(requests)["request"], True
    if name == "reviewed_then_removed":
        return after_status(reviewed_state(requests), "removed", 3)["request"], True
    if name in ("account_suspended", "account_open"):
        state = account_requested_state(requests)
        if name == "account_suspended":
            at = T0 + timedelta(days=3)
            observed = status("removed", at, "x", state["post_id"])
            state = lifecycle.on_status(state, observed, None, at).state
        return state["request"], False
    if name == "removed_under_non_eu_law":
        return after_status(requested_state(requests, "telegram"), "removed", 2, "telegram")["request"], False
    if name == "reappeared":
        removed = after_status(requested_state(requests), "removed", 2)
        later = T0 + timedelta(days=1)
        reopened = lifecycle.on_status(
            removed, status("available", later), lambda old: requests.reopen(old, later), later
        )
        return reopened.state["previous_requests"][-1], False
    if name == "rejected":
        return after_status(requested_state(requests), "rejected", 4)["request"], False
    if name == "expired":
        state = requested_state(requests)
        return lifecycle.on_tick(state, T0 + timedelta(days=31), lifecycle.LifecycleSettings()).state["request"], False
    if name == "pending_review":
        item = flagged(action="review")
        return lifecycle.on_flagged(None, item, requests.takedown_request(item, T0), T0).state["request"], False
    if name == "dismissed":
        item = flagged(action="review")
        pending = lifecycle.on_flagged(None, item, requests.takedown_request(item, T0), T0).state
        decision = {"decision": "reject", "reviewer": "rev-1", "reason": "news report", "at": T0.isoformat()}
        return lifecycle.on_decision(pending, decision, None, T0).state["request"], False
    raise AssertionError(name)


def sor(requests, name: str, **kwargs) -> dict:
    request, reviewed = case(requests, name)
    return exports.statement_of_reasons(request, platform_name="X", now=NOW, reviewed=reviewed, **kwargs)


def notice(requests, name: str) -> dict:
    request, _ = case(requests, name)
    return exports.lumen_notice(request, sender=AUTHORITY, now=NOW)


DSA_STATES = [
    "removed",
    "geo_blocked",
    "restricted",
    "open",
    "reviewed",
    "reviewed_then_removed",
    "reappeared",
    "account_suspended",
    "account_open",
]
LUMEN_STATES = [name for name in DSA_STATES if not name.startswith("account")] + [
    "removed_under_non_eu_law",
    "rejected",
    "expired",
]


# --- exports of real requests fit the field lists --------------------------------------------------


@pytest.mark.parametrize("name", DSA_STATES)
def test_statement_of_reasons_fits_the_dsa_field_lists(requests, name):
    assert exports.validate_dsa(sor(requests, name)) == []


@pytest.mark.parametrize("name", LUMEN_STATES)
def test_lumen_notice_fits_the_lumen_field_lists(requests, name):
    assert exports.validate_lumen(notice(requests, name), now=NOW) == []


def test_both_exports_come_from_the_same_record(requests):
    request, _ = case(requests, "removed")
    statement = exports.statement_of_reasons(request, platform_name="X", now=NOW)
    body = exports.lumen_notice(request, sender=AUTHORITY, now=NOW)["notice"]
    assert request["citation"] in statement["illegal_content_legal_ground"] and request["citation"] in body["body"]
    assert statement["puid"] == request["request_id"] and request["request_id"] in body["body"]
    assert body["works_attributes"][0]["infringing_urls_attributes"] == [{"url": request["url"]}]
    assert body["date_sent"] == statement["decision_facts"].split("was sent on ")[1][:10] == "2026-11-20"


# --- what the DSA draft says -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "visibility", "scope"),
    [
        ("removed", "DECISION_VISIBILITY_CONTENT_REMOVED", exports.EEA_COUNTRIES),
        ("geo_blocked", "DECISION_VISIBILITY_CONTENT_DISABLED", ("DE",)),
        ("restricted", "DECISION_VISIBILITY_OTHER", exports.EU_COUNTRIES),
        ("open", "DECISION_VISIBILITY_CONTENT_REMOVED", exports.EEA_COUNTRIES),
    ],
)
def test_removal_status_decides_visibility_and_territory(requests, name, visibility, scope):
    statement = sor(requests, name)
    assert statement["decision_visibility"] == [visibility]
    assert statement["territorial_scope"] == sorted(scope)
    assert ("decision_visibility_other" in statement) == (visibility == "DECISION_VISIBILITY_OTHER")


def test_a_removed_request_is_dated_by_its_removal(requests):
    statement = sor(requests, "removed")
    assert (statement["content_date"], statement["application_date"]) == ("2026-11-20", "2026-11-20")
    assert "removed the content on 2026-11-20" in statement["decision_facts"]


def test_an_open_request_exports_the_requested_removal_dated_now_and_says_so(requests):
    statement = sor(requests, "open")
    assert statement["application_date"] == NOW.date().isoformat()
    assert "not one applied" in statement["decision_facts"]


def test_the_draft_says_the_platform_submits_it(requests):
    facts = sor(requests, "removed")["decision_facts"]
    assert "pre-filled by the requesting public authority" in facts and "platform's to check" in facts
    assert "for X" in facts


def test_legal_ground_is_the_requests_legal_basis_and_citation(requests):
    request, _ = case(requests, "removed")
    statement = sor(requests, "removed")
    assert statement["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert statement["illegal_content_legal_ground"] == f"{request['legal_basis']} ({request['citation']})"
    assert "Regulation (EU) 2021/784" in statement["illegal_content_legal_ground"]


def test_explanation_is_built_from_the_evidence(requests):
    explanation = sor(requests, "removed")["illegal_content_explanation"]
    assert "UN 1267 QDe.115" in explanation and "cues: promotion" in explanation
    assert "pdq hash match at distance 8" in explanation and "score 0.90" in explanation


def test_categories_map_to_category_addition_and_keywords(requests):
    statement = sor(requests, "removed")
    assert statement["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    assert statement["category_addition"] == ["STATEMENT_CATEGORY_VIOLENCE"]
    assert statement["category_specification"] == ["KEYWORD_INCITEMENT_VIOLENCE_HATRED", "KEYWORD_TERRORIST_CONTENT"]


def test_content_type_follows_the_detectors_that_matched(requests):
    assert sor(requests, "removed")["content_type"] == ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_TEXT"]


@pytest.mark.parametrize(
    ("name", "decision"),
    [
        ("reviewed", "AUTOMATED_DECISION_PARTIALLY"),
        ("reviewed_then_removed", "AUTOMATED_DECISION_PARTIALLY"),
        ("removed", "AUTOMATED_DECISION_FULLY"),
    ],
)
def test_review_makes_the_decision_partially_automated(requests, name, decision):
    statement = sor(requests, name)
    assert statement["automated_detection"] == "Yes" and statement["automated_decision"] == decision


def test_a_text_classifier_finding_is_text_and_names_its_model(requests):
    request, _ = case(requests, "removed")
    finding = {
        "detector": "text_classifier",
        "category": "hate",
        "score": 0.81,
        "evidence": {"model": "hate-en.npz", "head": "en", "label": "hate_speech", "probabilities": {}},
    }
    statement = exports.statement_of_reasons(
        dict(request, categories=["hate"], evidence=[finding]), platform_name="X", now=NOW
    )
    assert statement["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert statement["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert "model hate-en.npz labelled it 'hate_speech'" in statement["illegal_content_explanation"]
    assert exports.validate_dsa(statement) == []


def test_without_detector_findings_nothing_is_automated(requests):
    request, _ = case(requests, "removed")
    statement = exports.statement_of_reasons(dict(request, evidence=[]), platform_name="X", now=NOW)
    assert (statement["automated_detection"], statement["automated_decision"]) == (
        "No",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    )
    assert exports.validate_dsa(statement) == []


def test_statement_of_reasons_carries_no_personal_data(requests):
    text = json.dumps(sor(requests, "removed"))
    for personal in (
        "acct-secret-42",
        "secret_handle",
        "join the glorious",
        "https://x.example",
        "propagandist",
        "watchlist",
    ):
        assert personal not in text


def test_lumen_notice_names_the_url_but_not_the_account_or_the_watchlist(requests):
    text = json.dumps(notice(requests, "removed"))
    assert "https://x.example/status/p1" in text
    for personal in ("acct-secret-42", "secret_handle", "propagandist", "watchlist"):
        assert personal not in text


def test_a_reopened_request_id_becomes_a_valid_puid(requests):
    request, _ = case(requests, "removed")
    statement = exports.statement_of_reasons(
        dict(request, request_id=request["request_id"] + "~2"), platform_name="X", now=NOW
    )
    assert statement["puid"].endswith("-2") and exports.validate_dsa(statement) == []


def test_a_request_under_a_law_outside_the_eu_has_no_statement_of_reasons_unless_a_scope_is_given(requests):
    request, _ = case(requests, "removed_under_non_eu_law")
    with pytest.raises(exports.ExportError, match=r"jurisdiction 'PK' is outside the EU/EEA.*Lumen.*territorial"):
        exports.statement_of_reasons(request, platform_name="Telegram", now=NOW)
    statement = exports.statement_of_reasons(request, platform_name="Telegram", now=NOW, territorial_scope=["FR"])
    assert statement["territorial_scope"] == ["FR"] and exports.validate_dsa(statement) == []
    # A member state's law: its own statement, EU-wide for a removal.
    request, _ = case(requests, "geo_blocked")
    assert exports.statement_of_reasons(request, platform_name="Facebook", now=NOW)["territorial_scope"] == ["DE"]


def test_an_account_request_is_a_statement_about_the_account(requests):
    statement = sor(requests, "account_suspended")
    assert statement["decision_account"] == "DECISION_ACCOUNT_SUSPENDED" and "decision_visibility" not in statement
    # The categories of the violations counted against the account, not the placeholder "account".
    assert statement["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    assert statement["category_addition"] == ["STATEMENT_CATEGORY_VIOLENCE"]
    assert statement["content_type"] == ["CONTENT_TYPE_OTHER"] and "account" in statement["content_type_other"]
    assert "3 violations confirmed within 30 days" in statement["illegal_content_explanation"]
    assert "suspended the account on 2026-" in statement["decision_facts"]
    assert "acct-secret-42" not in json.dumps(statement)
    assert "no action reported" in sor(requests, "account_open")["decision_facts"]
    # Lumen notices list the URLs of works: an account has none, and the refusal says what to export instead.
    with pytest.raises(exports.ExportError, match=r"account-level request has no URL.*requests of its confirmed items"):
        notice(requests, "account_suspended")


def test_geo_block_outside_the_eea_has_no_statement_of_reasons(requests):
    request = after_status(requested_state(requests, "telegram"), "geo_blocked", 2, "telegram")["request"]
    with pytest.raises(exports.ExportError, match=r"jurisdiction 'PK' is outside the EU/EEA"):
        exports.statement_of_reasons(request, platform_name="Telegram", now=NOW)
    statement = exports.statement_of_reasons(request, platform_name="Telegram", now=NOW, territorial_scope=["FR"])
    assert statement["territorial_scope"] == ["FR"] and exports.validate_dsa(statement) == []


@pytest.mark.parametrize("name", ["pending_review", "dismissed", "rejected", "expired"])
def test_requests_that_restricted_nothing_have_no_statement_of_reasons(requests, name):
    request, _ = case(requests, name)
    with pytest.raises(exports.ExportError, match=rf"state '{name}' restricted nothing"):
        exports.statement_of_reasons(request, platform_name="X", now=NOW)


def test_an_unmapped_category_is_refused_by_name(requests):
    request, _ = case(requests, "removed")
    with pytest.raises(exports.ExportError, match=r"category 'spam' has no DSA mapping"):
        exports.statement_of_reasons(dict(request, categories=["spam"]), platform_name="X", now=NOW)


# --- what the Lumen notice says --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("removed", "Yes"),
        ("geo_blocked", "Partial"),
        ("restricted", "Partial"),
        ("rejected", "No"),
        ("expired", "Unspecified"),
        ("open", "Unspecified"),
        ("reappeared", "Yes"),
    ],
)
def test_lumen_action_taken_follows_the_outcome(requests, name, action):
    assert notice(requests, name)["notice"]["action_taken"] == action


def test_lumen_notice_is_a_government_request_from_the_authority_to_the_platform(requests):
    body = notice(requests, "removed")["notice"]
    roles = {role["name"]: role["entity_attributes"]["name"] for role in body["entity_notice_roles_attributes"]}
    assert body["type"] == "GovernmentRequest" and body["jurisdiction_list"] == "EU"
    assert roles == {"sender": AUTHORITY["name"], "principal": AUTHORITY["name"], "recipient": "x"}


@pytest.mark.parametrize("name", ["pending_review", "dismissed"])
def test_requests_never_sent_have_no_lumen_notice(requests, name):
    request, _ = case(requests, name)
    with pytest.raises(exports.ExportError, match=rf"state '{name}' means no request was sent"):
        exports.lumen_notice(request, sender=AUTHORITY, now=NOW)


def test_lumen_notice_needs_the_url_and_a_sender(requests):
    request, _ = case(requests, "removed")
    with pytest.raises(exports.ExportError, match="url is empty"):
        exports.lumen_notice(dict(request, url=None), sender=AUTHORITY, now=NOW)
    with pytest.raises(exports.ExportError, match="sender needs a name"):
        exports.lumen_notice(request, sender={"kind": "organization"}, now=NOW)


# --- the validators catch every required field and every enumeration -----------------------------


@pytest.fixture
def good_statement(requests) -> dict:
    statement = sor(requests, "removed")
    assert exports.validate_dsa(statement) == []
    return statement


@pytest.fixture
def good_notice(requests) -> dict:
    body = notice(requests, "removed")
    assert exports.validate_lumen(body, now=NOW) == []
    return body


@pytest.mark.parametrize("field", exports.DSA_REQUIRED)
def test_dsa_validator_reports_each_missing_required_field(good_statement, field):
    del good_statement[field]
    assert f"{field}: is required" in exports.validate_dsa(good_statement)


@pytest.mark.parametrize("field", exports.DSA_REQUIRED)
def test_dsa_validator_reports_each_empty_required_field(good_statement, field):
    good_statement[field] = [] if field in exports.DSA_LIST_FIELDS else ""
    assert f"{field}: is required" in exports.validate_dsa(good_statement)


def test_dsa_validator_needs_at_least_one_restriction(good_statement):
    del good_statement["decision_visibility"]
    problems = exports.validate_dsa(good_statement)
    assert any(problem.startswith("decision_visibility, decision_monetary") for problem in problems)


@pytest.mark.parametrize(
    ("trigger", "needed"), [(key, field) for key, fields in exports.DSA_REQUIRED_IF.items() for field in fields]
)
def test_dsa_validator_reports_conditionally_required_fields(good_statement, trigger, needed):
    field, value = trigger
    good_statement[field] = [value] if field in exports.DSA_LIST_FIELDS else value
    good_statement.pop(needed, None)
    assert f"{needed}: is required when {field} is {value}" in exports.validate_dsa(good_statement)


@pytest.mark.parametrize("field", sorted(exports.DSA_ENUMS))
def test_dsa_validator_reports_each_value_outside_its_enumeration(good_statement, field):
    good_statement[field] = ["NOT_A_VALUE"] if field in exports.DSA_LIST_FIELDS else "NOT_A_VALUE"
    problems = exports.validate_dsa(good_statement)
    assert any(problem.startswith(field) and "'NOT_A_VALUE' is not one of" in problem for problem in problems), problems


@pytest.mark.parametrize("field", sorted(exports.DSA_ENUMS))
def test_dsa_validator_accepts_every_enumerated_value(good_statement, field):
    for value in exports.DSA_ENUMS[field]:
        good_statement[field] = [value] if field in exports.DSA_LIST_FIELDS else value
        assert not [problem for problem in exports.validate_dsa(good_statement) if "is not one of" in problem]


@pytest.mark.parametrize(("field", "limit"), sorted(exports.DSA_MAX_LENGTHS.items()))
def test_dsa_validator_reports_text_over_its_limit(good_statement, field, limit):
    good_statement[field] = "a" * (limit + 1)
    assert f"{field}: {limit + 1} characters, more than {limit}" in exports.validate_dsa(good_statement)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("content_date", "1999-12-31", "content_date: '1999-12-31' is before 2000-01-01"),
        ("application_date", "2019-12-31", "application_date: '2019-12-31' is before 2020-01-01"),
        ("application_date", "2026-11-20T10:00:00Z", "is not a date in the form YYYY-MM-DD"),
        (
            "end_date_visibility_restriction",
            "2026-01-01",
            "end_date_visibility_restriction: '2026-01-01' is before application_date",
        ),
        ("puid", "tr-abc~2", "puid: 'tr-abc~2' has characters other than"),
        ("content_language", "en", "content_language: 'en' is not an uppercase two-letter ISO 639-1 code"),
        (
            "decision_visibility",
            "DECISION_VISIBILITY_CONTENT_REMOVED",
            "decision_visibility: expected a non-empty list",
        ),
        ("platform_name", "X", "platform_name: not a field of the statement of reasons"),
    ],
)
def test_dsa_validator_reports_formats_with_field_and_value(good_statement, field, value, expected):
    good_statement[field] = value
    assert any(expected in problem for problem in exports.validate_dsa(good_statement))


def _lumen_path_parent(document: dict, path: str) -> tuple[dict, str]:
    """The mapping holding the last key of ``path``, taking the first element of each list."""
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        node = node[part[:-2]][0] if part.endswith("[]") else node[part]
    return node, parts[-1].removesuffix("[]")


def _concrete(path: str) -> str:
    return path.replace("[]", "[0]")


@pytest.mark.parametrize("path", exports.LUMEN_REQUIRED)
def test_lumen_validator_reports_each_missing_required_field(good_notice, path):
    parent, key = _lumen_path_parent(good_notice, path)
    del parent[key]
    assert f"{_concrete(path)}: is required" in exports.validate_lumen(good_notice, now=NOW)


@pytest.mark.parametrize("path", sorted(exports.LUMEN_ENUMS))
def test_lumen_validator_reports_each_value_outside_its_enumeration(good_notice, path):
    parent, key = _lumen_path_parent(good_notice, path)
    parent[key] = "not-a-value"
    problems = exports.validate_lumen(good_notice, now=NOW)
    assert any(problem.startswith(_concrete(path)) and "'not-a-value' is not one of" in problem for problem in problems)


@pytest.mark.parametrize("role", exports.LUMEN_REQUIRED_ROLES)
def test_lumen_validator_needs_a_sender_and_a_recipient(good_notice, role):
    roles = good_notice["notice"]["entity_notice_roles_attributes"]
    good_notice["notice"]["entity_notice_roles_attributes"] = [entry for entry in roles if entry["name"] != role]
    assert f"notice.entity_notice_roles_attributes: no {role!r} role" in exports.validate_lumen(good_notice, now=NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1998-01-01", "is before 1998-10-29"),
        ("22/11/2026", "is not a date"),
        ("2026-12-25", "is more than a day after 2026-11-22"),
    ],
)
def test_lumen_validator_reports_dates_out_of_range(good_notice, value, expected):
    good_notice["notice"]["date_sent"] = value
    assert any(
        problem.startswith("notice.date_sent") and expected in problem
        for problem in exports.validate_lumen(good_notice, now=NOW)
    )


def test_lumen_validator_wants_the_notice_object():
    assert exports.validate_lumen({"title": "x"}) == ['notice: is required (the body is {"notice": {...}})']


# --- the field lists and the mapping table ---------------------------------------------------------


def test_dsa_field_lists_match_the_reference_read_from_the_documentation():
    reference = json.loads((REFERENCE / "dsa_statement_of_reasons_v2.json").read_text())
    assert set(exports.DSA_REQUIRED) == set(reference["required"])
    assert set(exports.DSA_REQUIRED_ONE_OF) == set(reference["required_one_of"])
    assert exports.DSA_REQUIRED_IF == {
        (rule["when"], rule["is"]): tuple(rule["then"]) for rule in reference["required_if"]
    }
    assert exports.DSA_MAX_LENGTHS == reference["max_length"]
    assert exports.DSA_LIST_FIELDS == set(reference["list_fields"])
    enums = {field: set(values) for field, values in exports.DSA_ENUMS.items()}
    assert enums.pop("category_addition") == enums["category"]
    assert enums == {field: set(values) for field, values in reference["enums"].items()}


def test_lumen_field_lists_match_the_reference_read_from_the_documentation():
    reference = json.loads((REFERENCE / "lumen_notice.json").read_text())
    assert exports.LUMEN_REQUIRED == tuple(reference["required"])
    assert exports.LUMEN_REQUIRED_ROLES == tuple(reference["required_roles"])
    assert {path: set(values) for path, values in exports.LUMEN_ENUMS.items()} == {
        path: set(values) for path, values in reference["enums"].items()
    }


def modwatch_categories() -> set[str]:
    """Every category modwatch can put on a request: policy.yaml, jurisdictions.yaml, and the text classifier's."""
    policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    jurisdictions = yaml.safe_load((ROOT / "config" / "jurisdictions.yaml").read_text())
    # Categories the policy can act on (a review or takedown threshold) can reach a request.
    found = {name for name, rule in policy["categories"].items() if "review_at" in rule or "takedown_at" in rule}
    for jurisdiction in jurisdictions["jurisdictions"].values():
        found |= set(jurisdiction["categories"])
    return found | {"terrorism_promotion", "violent_threat", "hate", "abuse", "designated_organisation_mention"}


@pytest.mark.parametrize("category", sorted(modwatch_categories()))
def test_mapping_table_covers_every_modwatch_category_with_valid_dsa_values(category):
    mapped = exports.CATEGORY_TO_DSA[category]
    assert mapped.category in exports.DSA_ENUMS["category"]
    assert mapped.keywords and set(mapped.keywords) <= set(exports.DSA_ENUMS["category_specification"])


# --- from the ledger, and the command ------------------------------------------------------------


def test_a_ledger_record_carries_every_field_the_exports_read(requests):
    state = after_status(requested_state(requests), "removed", 2)
    record = lifecycle.ledger_record(state, state["transition"])
    assert set(exports.DSA_INPUT_FIELDS) | set(exports.LUMEN_INPUT_FIELDS) <= set(record)
    assert exports.validate_dsa(exports.statement_of_reasons(record, platform_name="X", now=NOW)) == []
    assert exports.validate_lumen(exports.lumen_notice(record, sender=AUTHORITY, now=NOW), now=NOW) == []


def ledger_lines(requests, tmp_path, *, reviewed: bool, complete: bool = True) -> tuple[Path, str]:
    """A ledger file of one request's transitions, wrapped as `modwatch tail` prints them."""
    states = [reviewed_state(requests)] if reviewed else [requested_state(requests)]
    states.append(after_status(states[0], "removed", 3))
    if reviewed:  # the pending_review transition comes first in the ledger
        item = flagged(action="review")
        states.insert(0, lifecycle.on_flagged(None, item, requests.takedown_request(item, T0), T0).state)
    lines = []
    for offset, state in enumerate(states):
        record = lifecycle.ledger_record(state, state["transition"])
        if not complete:  # a ledger written before records carried these fields
            for name in ("posted_at", "url", "evidence", "legal_basis", "citation"):
                record.pop(name, None)
        lines.append(orjson.dumps({"topic": "modwatch.ledger", "partition": 0, "offset": offset, "value": record}))
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, states[-1]["request"]["request_id"]


def test_ledger_request_is_the_latest_record_and_knows_about_the_review(requests, tmp_path):
    from streams.cli._topics import read_ledger_file

    path, request_id = ledger_lines(requests, tmp_path, reviewed=True)
    record, reviewed = ledger_request(read_ledger_file(path), request_id)
    assert record["state"] == "removed" and reviewed is True
    assert ledger_request(read_ledger_file(path), "tr-unknown") == (None, False)


@pytest.mark.parametrize(
    ("output_format", "validate"),
    [("dsa", exports.validate_dsa), ("lumen", lambda document: exports.validate_lumen(document))],
)
def test_export_command_writes_a_valid_document(requests, tmp_path, output_format, validate):
    path, request_id = ledger_lines(requests, tmp_path, reviewed=True)
    result = CliRunner().invoke(
        export,
        [
            request_id,
            "--ledger",
            str(path),
            "--format",
            output_format,
            "--sender-name",
            "Example IRU",
            "--config",
            str(ROOT / "config"),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert validate(document) == []
    if output_format == "dsa":
        assert document["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    else:
        assert document["notice"]["entity_notice_roles_attributes"][2]["entity_attributes"]["name"] == "X"


def test_export_command_fills_the_legal_basis_from_config_and_says_so(requests, tmp_path):
    path, request_id = ledger_lines(requests, tmp_path, reviewed=False)
    records = [orjson.loads(line)["value"] for line in path.read_bytes().splitlines()]
    for record in records:
        del record["legal_basis"], record["citation"]
    path.write_bytes(b"\n".join(orjson.dumps(record) for record in records))
    result = CliRunner().invoke(export, [request_id, "--ledger", str(path), "--format", "dsa"])
    assert result.exit_code == 0, result.output
    assert "legal_basis and citation taken from" in result.stderr
    assert "Regulation (EU) 2021/784" in json.loads(result.stdout)["illegal_content_legal_ground"]


def test_export_command_names_the_missing_fields_of_an_incomplete_ledger(requests, tmp_path):
    path, request_id = ledger_lines(requests, tmp_path, reviewed=False, complete=False)
    result = CliRunner().invoke(export, [request_id, "--ledger", str(path), "--format", "dsa"])
    assert result.exit_code == 1
    assert "posted_at" in result.stderr and "evidence" in result.stderr


def test_export_command_reports_an_unknown_request_with_the_file(requests, tmp_path):
    path, _ = ledger_lines(requests, tmp_path, reviewed=False)
    result = CliRunner().invoke(export, ["tr-nope", "--ledger", str(path), "--format", "dsa"])
    assert result.exit_code == 1 and f"{path}: no ledger record for request 'tr-nope'" in result.stderr


def test_export_command_needs_a_sender_for_lumen(requests, tmp_path, monkeypatch):
    monkeypatch.delenv("MODWATCH_AUTHORITY_NAME", raising=False)
    path, request_id = ledger_lines(requests, tmp_path, reviewed=False)
    result = CliRunner().invoke(export, [request_id, "--ledger", str(path), "--format", "lumen"])
    assert result.exit_code == 2 and "--sender-name" in result.stderr
