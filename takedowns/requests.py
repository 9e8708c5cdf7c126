"""Takedown requests: their ids, how one is built from a flagged post, its clock, its reopening.

A request says what to remove, why (every finding), under which law (the
platform's jurisdiction, and the national instrument when a national
designation is among its grounds) and by when (the jurisdiction's deadline for
its categories). The lifecycle (takedowns/lifecycle.py) decides when one is
made, stamped or reopened; this module makes them.

Request ids are stable and reversible: ``tr-`` + base64url of
``platform:post_id``, so the same item gets the same id on any worker, and a
decision or an API call naming only the request id can be routed to the
partition that owns the item. A request reopened for reappeared content is
generation 2, 3, ... of the same item (``tr-...~2``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from detectors.configfile import Problems
from detectors.pipeline import Jurisdiction, Platform, load_jurisdictions, load_platforms

# What a reopened request does not inherit from the request it follows: its own
# state, removal, clock outcome and delivery (it is delivered and timed afresh).
NOT_INHERITED = frozenset(
    {
        "state",
        "removed_at",
        "removal_status",
        "time_to_removal_seconds",
        "within_deadline",
        "closed_at",
        "breaches",
        "delivered_at",
        "redeliveries",
    }
)


def request_id_for(platform: str, post_id: str, generation: int = 1) -> str:
    """``tr-`` + base64url of ``platform:post_id``; ``~<generation>`` from the second on."""
    encoded = base64.urlsafe_b64encode(f"{platform}:{post_id}".encode()).decode().rstrip("=")
    return f"tr-{encoded}" if generation == 1 else f"tr-{encoded}~{generation}"


def item_key_of_request(request_id: str) -> str:
    """The ``platform:post_id`` a request id was made from; ValueError if it was not made by modwatch."""
    if not request_id.startswith("tr-"):
        raise ValueError(f"{request_id!r} does not start with 'tr-'")
    encoded = request_id[3:].split("~", 1)[0]
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{request_id!r} is not a modwatch request id") from None
    if ":" not in key:
        raise ValueError(f"{request_id!r} is not a modwatch request id")
    return key


def designation_bases(findings: Sequence[dict], categories: Sequence[str], jurisdiction: str) -> list[dict]:
    """Designations a request may cite: from designated-organisation findings of the request's
    categories, each under the UN list (everywhere) or the request's own jurisdiction."""
    bases, seen = [], set()
    for finding in findings:
        if finding.get("detector") != "designated_organisation" or finding.get("category") not in categories:
            continue
        for basis in finding.get("evidence", {}).get("legal_bases", ()):
            key = (basis.get("list"), basis.get("reference"), basis.get("organisation"))
            if basis.get("jurisdiction") in ("*", jurisdiction) and key not in seen:
                seen.add(key)
                bases.append(dict(basis))
    return bases


def alert(flagged: dict, raised_at: datetime) -> dict:
    """The detection (or account) alert for a flagged post: what was found and the request it opened."""
    platform, post_id = flagged["platform"], flagged["post_id"]
    return {
        "alert_id": f"detection:{platform}:{post_id}",
        "type": "account" if flagged.get("target") == "account" else "detection",
        "platform": platform,
        "post_id": post_id,
        "account_id": flagged["account_id"],
        "url": flagged["url"],
        "action": flagged["action"],
        "severity": flagged["severity"],
        "categories": list(flagged["categories"]),
        "findings": list(flagged["findings"]),
        # For a review the request waits in pending_review under this id: decide on it.
        "request_id": request_id_for(platform, post_id),
        "raised_at": raised_at.isoformat(),
    }


class Requests:
    """Builds, stamps and reopens requests for the configured platforms and jurisdictions."""

    def __init__(self, platforms: Mapping[str, Platform], jurisdictions: Mapping[str, Jurisdiction]):
        self.platforms = platforms
        self.jurisdictions = jurisdictions

    @classmethod
    def from_config_dir(cls, config_dir: Path) -> Requests:
        """From ``jurisdictions.yaml`` and ``platforms.yaml`` alone; ConfigError lists every problem."""
        problems = Problems()
        jurisdictions, default = load_jurisdictions(Path(config_dir) / "jurisdictions.yaml", problems)
        platforms = load_platforms(Path(config_dir) / "platforms.yaml", problems, set(jurisdictions), default)
        problems.raise_if_any()
        return cls(platforms, jurisdictions)

    @classmethod
    def for_pipeline(cls, pipeline) -> Requests:
        """For the platforms and jurisdictions a detection pipeline was built with."""
        return cls(pipeline.platforms, pipeline.jurisdictions)

    alert = staticmethod(alert)

    def stamp(self, request: dict, requested_at: datetime) -> dict:
        """Start a request's clock: ``requested_at`` and the deadline its jurisdiction gives."""
        jurisdiction = self.jurisdictions[request["jurisdiction"]]
        deadline = jurisdiction.deadline_for(list(request["categories"]), request["severity"])
        return dict(request, requested_at=requested_at.isoformat(), deadline=(requested_at + deadline).isoformat())

    def approved(self, pending: dict, category: str | None = None) -> dict:
        """The request a reviewer's approval sends: the categories its jurisdiction's legal basis
        covers, the reviewer's ``category`` first when one is named.

        Raises ValueError saying why when the jurisdiction covers none of them, or not the
        named one: a request must never cite a law for a category that law does not list.
        """
        jurisdiction = self.jurisdictions[pending["jurisdiction"]]
        covered = sorted(jurisdiction.categories)
        if category is not None and category not in jurisdiction.categories:
            raise ValueError(
                f"{jurisdiction.code} ({jurisdiction.citation}) does not list {category!r}: "
                f"approve it as one of {', '.join(covered)}"
            )
        chosen = [category] if category is not None else []
        chosen += [found for found in pending["categories"] if found in jurisdiction.categories and found != category]
        if not chosen:
            raise ValueError(
                f"{jurisdiction.code} ({jurisdiction.citation}) lists none of {', '.join(pending['categories'])}: "
                f"approve it as one of {', '.join(covered)}, or reject it"
            )
        return dict(pending, categories=chosen)

    def reopen(self, old: dict, requested_at: datetime) -> dict:
        """A new request for content that reappeared after removal, linked to the old one."""
        generation = int(old["request_id"].rsplit("~", 1)[1]) + 1 if "~" in old["request_id"] else 2
        fresh = {name: value for name, value in old.items() if name not in NOT_INHERITED}
        fresh.update(
            request_id=request_id_for(old["platform"], old["post_id"], generation),
            previous_request_id=old["request_id"],
        )
        return self.stamp(fresh, requested_at)

    def takedown_request(self, flagged: dict, requested_at: datetime) -> dict:
        """The request sent to the platform: what, why, under which law, by when."""
        jurisdiction = self.jurisdictions[self.platforms[flagged["platform"]].jurisdiction]
        request = {
            "request_id": request_id_for(flagged["platform"], flagged["post_id"]),
            "target": flagged.get("target", "item"),  # item: the post; account: the account (takedowns/accounts.py)
            "platform": flagged["platform"],
            "post_id": flagged["post_id"],
            "account_id": flagged["account_id"],
            "url": flagged["url"],
            "categories": list(flagged["categories"]),
            "severity": flagged["severity"],
            "evidence": list(flagged["findings"]),
            "media_hashes": list(flagged.get("media_hashes", [])),
            "jurisdiction": jurisdiction.code,
            "legal_basis": jurisdiction.legal_basis,
            "citation": jurisdiction.citation,
            "posted_at": flagged["posted_at"],
            "campaign": flagged.get("campaign"),  # its fingerprint (takedowns/campaigns.py), when it has one
        }
        designations = designation_bases(flagged["findings"], request["categories"], jurisdiction.code)
        if designations:
            request.update(_designation_grounds(designations, jurisdiction))
        return self.stamp(request, requested_at)


def _designation_grounds(designations: list[dict], jurisdiction: Jurisdiction) -> dict:
    """The list and entry each designation-based ground came from, and the national instrument
    where the list is national (the UN list applies everywhere)."""
    grounds = {"designations": designations}
    national = [basis for basis in designations if basis["jurisdiction"] == jurisdiction.code]
    instruments = sorted({basis["legal_basis"] for basis in national if basis.get("legal_basis")})
    if instruments:
        grounds["legal_basis"] = "; ".join([jurisdiction.legal_basis, *instruments])
    entries = sorted({f"{basis['list']} {basis['reference']} ({basis['name']})" for basis in designations})
    grounds["citation"] = "; ".join([jurisdiction.citation, *entries])
    return grounds
