"""The Lumen notice: the body of Lumen's ``POST /notices``, and its validator.

:func:`lumen_notice` sends the request to Lumen as a ``GovernmentRequest``
from the authority (``sender`` and ``principal``) to the platform
(``recipient``), with the post's URL as the infringing URL; the package
docstring (takedowns/exports/__init__.py) says which states export and what
``action_taken`` becomes. :func:`validate_lumen` checks a notice against the
fields below and returns every problem, each naming the field and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from takedowns.exports._record import (
    LUMEN_EXPORTABLE_STATES,
    ExportError,
    date_of,
    removal_status_of,
    require_exportable,
)
from takedowns.exports._validation import MISSING, enum_problems, is_present, parse_date, resolve
from takedowns.findings import category_label, category_labels, published_findings

LUMEN_SCHEMA = "Lumen notice, POST /notices JSON body (notice type GovernmentRequest)"

# Fields of the request (or ledger record) the notice reads.
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
    require_exportable(
        request,
        LUMEN_INPUT_FIELDS,
        "a Lumen notice",
        LUMEN_EXPORTABLE_STATES,
        "means no request was sent, so there is no notice",
    )
    request_id, state = request["request_id"], request["state"]
    if not isinstance(sender, Mapping) or not str(sender.get("name") or "").strip():
        raise ExportError(f"request {request_id}: sender needs a name, got {sender!r}")
    _require_url(request)
    removal_status = removal_status_of(request)
    sender = {"kind": "organization", **sender}
    recipient = dict(recipient) if recipient else {"name": request["platform"], "kind": "organization"}
    principal = {"kind": "organization", **principal} if principal else dict(sender)
    labels = [category_label(category) for category in request["categories"]]
    notice = {
        "title": f"Government removal request to {recipient['name']}: {', '.join(labels) or 'unlawful content'}",
        "type": LUMEN_NOTICE_TYPE,
        "request_type": "Agency",
        "subject": ", ".join(labels),
        # modwatch stamps requested_at when it sends the request: sent and received the same day.
        "date_sent": date_of(request["requested_at"]),
        "date_received": date_of(request["requested_at"]),
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


def _require_url(request: Mapping[str, Any]) -> None:
    request_id = request["request_id"]
    if not request["url"] and request.get("target") == "account":
        raise ExportError(
            f"request {request_id}: an account-level request has no URL, and a Lumen notice lists the URLs of "
            "works: export the requests of its confirmed items (in its evidence), or a DSA statement"
        )
    if not request["url"]:
        raise ExportError(f"request {request_id}: url is empty; a Lumen notice names the URL of the content")


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
        outcome = f"{outcome} on {date_of(request['removed_at'])}"
        if state == "reappeared":
            outcome += ", later reported available again"
    elif state == "rejected":
        outcome = "the platform rejected the request"
    elif state == "expired":
        outcome = "no answer from the platform before the request expired"
    else:
        outcome = f"no action reported as of {now.astimezone(UTC).date().isoformat()}"
    deadline = f" Deadline: {request['deadline']}." if request.get("deadline") else ""
    findings = published_findings(request.get("evidence") or [])
    findings = f" Findings: {findings}." if findings else ""
    return (
        f"{sender['name']} asked {recipient['name']} to remove content identified as "
        f"{category_labels(request['categories'])}, under {request['legal_basis']} "
        f"({request['citation']}). Request {request['request_id']}, sent {request['requested_at']}.{deadline}"
        f"{findings} Outcome: {outcome}."
    )


def validate_lumen(document: Mapping[str, Any], *, now: datetime | None = None) -> list[str]:
    """Every way ``document`` breaks the Lumen notice fields; ``now`` also checks dates are not ahead."""
    if not isinstance(document, Mapping) or not isinstance(document.get("notice"), Mapping):
        return ['notice: is required (the body is {"notice": {...}})']
    problems = []
    for path in LUMEN_REQUIRED:
        problems.extend(f"{where}: is required" for where, value in resolve(document, path) if not is_present(value))
    for path in (
        "notice.works_attributes",
        "notice.works_attributes[].infringing_urls_attributes",
        "notice.entity_notice_roles_attributes",
    ):
        problems.extend(
            f"{where}: expected a list, got {value!r}"
            for where, value in resolve(document, path)
            if is_present(value) and not isinstance(value, list)
        )
    for path, allowed in LUMEN_ENUMS.items():
        for where, value in resolve(document, path):
            problems.extend(enum_problems(where, value, allowed, f"LUMEN_ENUMS[{path!r}]"))
    roles = {value for _, value in resolve(document, "notice.entity_notice_roles_attributes[].name")}
    if isinstance(document["notice"].get("entity_notice_roles_attributes"), list):
        problems.extend(
            f"notice.entity_notice_roles_attributes: no {role!r} role"
            for role in LUMEN_REQUIRED_ROLES
            if role not in roles
        )
    latest = (now.astimezone(UTC).date().toordinal() + 1) if now else None
    for path in LUMEN_DATE_FIELDS:
        for where, value in resolve(document, path):
            if value is MISSING or value is None:
                continue
            parsed = parse_date(value)
            if parsed is None:
                problems.append(f"{where}: {value!r} is not a date in the form YYYY-MM-DD")
            elif parsed < LUMEN_EARLIEST_DATE:
                problems.append(f"{where}: {value!r} is before {LUMEN_EARLIEST_DATE.isoformat()}")
            elif latest is not None and parsed.toordinal() > latest:
                problems.append(f"{where}: {value!r} is more than a day after {now.astimezone(UTC).date().isoformat()}")
    return problems
