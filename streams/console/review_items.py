"""What the review console shows of an item: gathered from its state and the worker's runtime.

Pure functions over the item's state (takedowns/lifecycle.py), the post it kept
(detectors/review_context.py) and lookups the view passes in, so that pages can be
rendered and tested without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

FILTERS = ("platform", "category", "language", "detector")


@dataclass(frozen=True, slots=True)
class Outlook:
    """What a request would carry if approved now, or why it cannot be approved as it is."""

    jurisdiction: str
    legal_basis: str
    citation: str
    categories: list[str] = field(default_factory=list)
    deadline: timedelta | None = None
    refusal: str | None = None
    allowed: list[str] = field(default_factory=list)  # categories the jurisdiction's law lists


def spans(evidence: object) -> list[tuple[int, int]]:
    """Every quoted span (``{quote, start, end}``) anywhere in a finding's evidence."""
    found = []
    if isinstance(evidence, Mapping):
        start, end = evidence.get("start"), evidence.get("end")
        if isinstance(start, int) and isinstance(end, int) and "quote" in evidence and 0 <= start < end:
            found.append((start, end))
        for value in evidence.values():
            found += spans(value)
    elif isinstance(evidence, list):
        for value in evidence:
            found += spans(value)
    return found


def highlighted(text: str, findings: Iterable[Mapping]) -> list[tuple[str, bool]]:
    """The text as (piece, highlighted) runs; overlapping spans merge, spans past the kept text are left out."""
    merged: list[list[int]] = []
    for start, end in sorted({span for finding in findings for span in spans(finding.get("evidence"))}):
        end = min(end, len(text))
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    runs, at = [], 0
    for start, end in merged:
        if start > at:
            runs.append((text[at:start], False))
        runs.append((text[start:end], True))
        at = end
    if at < len(text):
        runs.append((text[at:], False))
    return runs


def media_matches(findings: Iterable[Mapping]) -> dict[int, list[dict]]:
    """Per media index: what the hash bank matched (label, source, distance)."""
    matched: dict[int, list[dict]] = {}
    for finding in findings:
        details = finding.get("evidence") or {}
        if finding.get("detector") == "media_hash" and isinstance(details.get("media_index"), int):
            entry = {name: details.get(name) for name in ("hash_type", "distance", "label", "source", "quality")}
            matched.setdefault(details["media_index"], []).append(entry)
    return matched


def matches_filters(item: Mapping, filters: Mapping[str, str]) -> bool:
    request, post = item["request"], item.get("post") or {}
    wanted = {
        "platform": [item["platform"]],
        "category": request.get("categories") or [],
        "language": [post.get("lang") or ""],
        "detector": [finding.get("detector") for finding in request.get("evidence") or []],
    }
    return all(not filters.get(name) or filters[name] in wanted[name] for name in FILTERS)


def pending(states: Iterable[Mapping], filters: Mapping[str, str]) -> list[Mapping]:
    """Items whose current request awaits review, oldest first, that match every filter given."""
    found = [
        state
        for state in states
        if (state.get("request") or {}).get("state") == "pending_review" and matches_filters(state, filters)
    ]
    return sorted(found, key=lambda state: (state["transition"]["at"], state["request"]["request_id"]))


def filter_choices(states: Iterable[Mapping]) -> dict[str, list[str]]:
    """The values each filter can take among the pending items, for the filter menus."""
    choices: dict[str, set[str]] = {name: set() for name in FILTERS}
    for state in pending(states, {}):
        request, post = state["request"], state.get("post") or {}
        choices["platform"].add(state["platform"])
        choices["category"].update(request.get("categories") or [])
        choices["language"].add(post.get("lang") or "")
        choices["detector"].update(finding.get("detector") for finding in request.get("evidence") or [])
    return {name: sorted(value for value in values if value) for name, values in choices.items()}


def outlook(request: Mapping, requests, category: str | None = None) -> Outlook:
    """The jurisdiction, legal basis, categories and deadline an approval would send (takedowns/requests.py)."""
    jurisdiction = requests.jurisdictions[request["jurisdiction"]]
    base = Outlook(
        jurisdiction.code,
        request.get("legal_basis") or jurisdiction.legal_basis,
        request.get("citation") or jurisdiction.citation,
        allowed=sorted(jurisdiction.categories),
    )
    try:
        approved = requests.approved(dict(request), category)
    except ValueError as error:
        return Outlook(base.jurisdiction, base.legal_basis, base.citation, refusal=str(error), allowed=base.allowed)
    deadline = jurisdiction.deadline_for(approved["categories"], approved["severity"])
    return Outlook(
        base.jurisdiction, base.legal_basis, base.citation, approved["categories"], deadline, allowed=base.allowed
    )


def account_summary(state: Mapping | None) -> dict:
    """An account's confirmed violations and whether an account-level request was made (takedowns/accounts.py)."""
    if not state:
        return {"strikes": 0, "requested_at": None}
    return {"strikes": len(state.get("strikes") or []), "requested_at": state.get("requested_at")}


def watchlisted(request: Mapping) -> bool:
    return any(finding.get("detector") == "watchlist" for finding in request.get("evidence") or [])


def waited(state: Mapping, now: datetime) -> timedelta:
    """How long the item has been waiting for a reviewer."""
    return now - datetime.fromisoformat(state["transition"]["at"])


def human_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds} s"


def campaign_summary(fingerprint: str | None, lookup: Callable[[str], Mapping | None]) -> dict | None:
    """The campaign a post belongs to: how many accounts, platforms and items share it."""
    if not fingerprint:
        return None
    state = lookup(fingerprint) or {}
    sightings = state.get("sightings") or []
    return {
        "fingerprint": fingerprint,
        "accounts": len({(seen.get("platform"), seen.get("account_id")) for seen in sightings}),
        "platforms": len({seen.get("platform") for seen in sightings}),
        "items": len(sightings),
        "alerted": state.get("alerted_at") is not None,
    }
