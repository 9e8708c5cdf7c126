"""One takedown request, exported as a DSA statement of reasons and as a Lumen notice.

Both documents are built from the same record: the request as
``GET /takedowns/{request_id}`` returns it under ``"request"``, or the latest
ledger record of that request once the ledger carries the fields listed in
``DSA_INPUT_FIELDS`` and ``LUMEN_INPUT_FIELDS`` (today it lacks ``posted_at``,
``url``, ``evidence``, ``legal_basis`` and ``citation``; see
streams/cli/export.py). A missing field raises :class:`ExportError` naming it;
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

The modules: ``dsa`` (modwatch's mapping onto the DSA schema, and the
statement), ``dsa_schema`` (the DSA field lists and their validator),
``lumen`` (the notice, its fields and its validator), ``_record`` (reading the
request record: fields, state, removal status, dates) and ``_validation``
(what both validators share). Findings are worded by takedowns/findings.py. This module re-exports the
public names, so ``from takedowns import exports`` reaches them all.
"""

from takedowns.exports._record import (
    DSA_EXPORTABLE_STATES,
    LUMEN_EXPORTABLE_STATES,
    OPEN_STATES,
    REMOVAL_STATUSES,
    ExportError,
)
from takedowns.exports.dsa import (
    CATEGORY_TO_DSA,
    DSA_INPUT_FIELDS,
    TERRITORIAL_REMOVAL_STATUSES,
    TEXT_DETECTORS,
    VISIBILITY_FOR_REMOVAL_STATUS,
    DsaCategory,
    jurisdiction_territory,
    statement_of_reasons,
)
from takedowns.exports.dsa_schema import (
    CONTENT_LANGUAGE_PATTERN,
    DSA_DATE_FIELDS,
    DSA_ENUMS,
    DSA_FIELDS,
    DSA_LIST_FIELDS,
    DSA_MAX_LENGTHS,
    DSA_REQUIRED,
    DSA_REQUIRED_IF,
    DSA_REQUIRED_ONE_OF,
    DSA_SCHEMA,
    EEA_COUNTRIES,
    EU_COUNTRIES,
    PUID_PATTERN,
    validate_dsa,
)
from takedowns.exports.lumen import (
    LUMEN_ACTION_TAKEN,
    LUMEN_DATE_FIELDS,
    LUMEN_EARLIEST_DATE,
    LUMEN_ENUMS,
    LUMEN_INPUT_FIELDS,
    LUMEN_NOTICE_TYPE,
    LUMEN_REQUIRED,
    LUMEN_REQUIRED_ROLES,
    LUMEN_SCHEMA,
    lumen_notice,
    validate_lumen,
)

__all__ = [
    "CATEGORY_TO_DSA",
    "CONTENT_LANGUAGE_PATTERN",
    "DSA_DATE_FIELDS",
    "DSA_ENUMS",
    "DSA_EXPORTABLE_STATES",
    "DSA_FIELDS",
    "DSA_INPUT_FIELDS",
    "DSA_LIST_FIELDS",
    "DSA_MAX_LENGTHS",
    "DSA_REQUIRED",
    "DSA_REQUIRED_IF",
    "DSA_REQUIRED_ONE_OF",
    "DSA_SCHEMA",
    "EEA_COUNTRIES",
    "EU_COUNTRIES",
    "LUMEN_ACTION_TAKEN",
    "LUMEN_DATE_FIELDS",
    "LUMEN_EARLIEST_DATE",
    "LUMEN_ENUMS",
    "LUMEN_EXPORTABLE_STATES",
    "LUMEN_INPUT_FIELDS",
    "LUMEN_NOTICE_TYPE",
    "LUMEN_REQUIRED",
    "LUMEN_REQUIRED_ROLES",
    "LUMEN_SCHEMA",
    "OPEN_STATES",
    "PUID_PATTERN",
    "REMOVAL_STATUSES",
    "TERRITORIAL_REMOVAL_STATUSES",
    "TEXT_DETECTORS",
    "VISIBILITY_FOR_REMOVAL_STATUS",
    "DsaCategory",
    "ExportError",
    "jurisdiction_territory",
    "lumen_notice",
    "statement_of_reasons",
    "validate_dsa",
    "validate_lumen",
]
