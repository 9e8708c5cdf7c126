"""Compliance figures from the ledger: how fast each platform removes what it was asked to.

Time-to-removal is censored data. A request still open when the report is made
(or closed without removal: rejected, expired) has not been removed *yet*;
dropping it would make a platform that ignores requests look fast, and counting
it as removed "now" would invent removals. The Kaplan–Meier estimator
(takedowns/survival.py) uses each open request for as long as it has been open
and no longer, so medians and percentiles here are Kaplan–Meier estimates. The
naive median over removed requests only is shown beside them, labelled as such.

Input is the ledger (streams/agents/items.py writes one record per transition, each
carrying the request's state after it). The last record per request wins; a
record repeated after a crash (same request_id and seq) changes nothing. Only
that record counts, and only a few of its fields: :class:`LatestRecords` keeps
those (a :class:`LatestRecord`, a few hundred bytes) as each record is read,
so ``modwatch report`` reads a ledger of millions of lines a line (or a fetch)
at a time instead of holding every record with its evidence.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from takedowns.findings import finding_details
from takedowns.survival import kaplan_meier, km_quantile

# Requests in these states have reached the platform and are counted.
COUNTED_STATES = frozenset({"requested", "acknowledged", "removed", "rejected", "expired", "reappeared"})
REMOVED_STATES = frozenset({"removed", "reappeared"})
# Where a record says when the request's clock stopped, by state: at its removal, or when it
# was closed without one (its transition's ``at``). An open request's clock runs to "now".
ENDED_AT = {"removed": "removed_at", "reappeared": "removed_at", "rejected": "at", "expired": "at"}


@dataclass(frozen=True, slots=True)
class Observation:
    request_id: str
    platform: str
    category: str
    jurisdiction: str
    state: str
    seconds: float  # to removal, or to censoring
    removed: bool  # False: censored (still open, rejected, expired)
    within_deadline: bool | None  # None while open and not yet past the deadline
    overdue: bool
    target: str = "item"  # item: a post; account: an account-level request (takedowns/accounts.py)
    deadline_seconds: float | None = None  # the legal deadline, counted from requested_at
    organisations: tuple[tuple[str, str], ...] = ()  # (id, name) of each designated organisation its evidence names


class LatestRecord(NamedTuple):
    """What the report reads of a request's latest ledger record (a tuple: a report may hold a million)."""

    seq: int
    state: str | None
    platform: str | None
    category: str  # the first of its categories, "unknown" if it has none
    target: str  # item or account
    jurisdiction: str | None
    # Times as POSIX seconds: a float is a third of an ISO 8601 string's memory.
    requested_at: float | None
    deadline: float | None
    ended_at: float | None  # when its clock stopped (ENDED_AT); None while open
    organisations: tuple[tuple[str, str], ...]


class LedgerError(ValueError):
    """A ledger record the report cannot read; the message names the request, the field and the value."""


class LatestRecords:
    """The latest ledger record of each request, reduced to a :class:`LatestRecord` as it is read.

    ``add`` takes records in ledger order, one or a batch at a time; of two
    records with the same ``seq`` the later read wins. Delivery attempts are
    audit detail, not states, and are skipped. A time that is not an ISO 8601
    time with its offset raises :class:`LedgerError`.
    """

    def __init__(self) -> None:
        self.by_request: dict[str, LatestRecord] = {}
        # One copy of each list of organisations: a few organisations name most requests.
        self._organisations: dict[tuple, tuple] = {}

    def add(self, records: Iterable[dict]) -> LatestRecords:
        by_request = self.by_request
        for record in records:
            if record.get("kind") == "delivery_attempt" or "to" not in record:
                continue
            request_id = record.get("request_id")
            if not request_id:
                continue
            seq = record.get("seq", 0)
            kept = by_request.get(request_id)
            if kept is None or seq >= kept.seq:
                by_request[request_id] = self._reduced(record, seq)
        return self

    def _reduced(self, record: dict, seq: int) -> LatestRecord:
        categories = record.get("categories") or ["unknown"]
        target = record.get("target") or ("account" if categories == ["account"] else "item")
        organisations = named_organisations(record.get("evidence"))
        state = record.get("state")
        return LatestRecord(
            seq=seq,
            state=_interned(state),
            platform=_interned(record.get("platform")),
            category=_interned(str(categories[0])),
            target=_interned(target),
            jurisdiction=_interned(record.get("jurisdiction")),
            requested_at=_seconds(record, "requested_at"),
            deadline=_seconds(record, "deadline"),
            ended_at=_seconds(record, ENDED_AT[state]) if state in ENDED_AT else None,
            organisations=self._organisations.setdefault(organisations, organisations),
        )


def _interned(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


def _seconds(record: dict, field: str) -> float | None:
    """The record's time ``field`` in POSIX seconds; None when it has none."""
    text = record.get(field)
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        # A time without its offset would be read as the report's local time: refused too.
        raise LedgerError(
            f"request {record.get('request_id')!r} (seq {record.get('seq')}): {field}: "
            f"{text!r} is not an ISO 8601 time with its UTC offset"
        )
    return moment.timestamp()


def named_organisations(evidence: Any) -> tuple[tuple[str, str], ...]:
    """(id, name) of each designated organisation the evidence's designated_organisation findings name.

    The ids are the findings' ``organisations``; a name comes from the
    finding's ``legal_bases`` (detectors/designation_lists.py ``as_basis``),
    and is empty where the finding has none.
    """
    if not isinstance(evidence, list):
        return ()
    names: dict[str, str] = {}
    for finding in evidence:
        if not isinstance(finding, dict) or finding.get("detector") != "designated_organisation":
            continue
        details = finding_details(finding)
        named = {
            basis.get("organisation"): basis.get("name")
            for basis in details.get("legal_bases") or ()
            if isinstance(basis, dict)
        }
        for organisation in details.get("organisations") or ():
            organisation = str(organisation)
            names[organisation] = names.get(organisation) or str(named.get(organisation) or "")
    return tuple(sorted(names.items()))


def latest_records(records: Iterable[dict] | LatestRecords) -> dict[str, LatestRecord]:
    """The latest record of each request: ``records`` read through :class:`LatestRecords`, or what one gathered."""
    return (records if isinstance(records, LatestRecords) else LatestRecords().add(records)).by_request


def observations(
    records: Iterable[dict] | LatestRecords,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    time_scale: float = 1.0,
) -> list[Observation]:
    """One observation per counted request, from ledger records or the latest records already gathered.

    ``time_scale`` is for simulator runs whose platforms compress waiting
    (sim/platforms.py): removal times are in platform time already, but a
    request open (or closed unremoved) after W wall seconds has been up
    ``W * time_scale`` platform seconds, and is censored there.
    """
    # In POSIX seconds, as LatestRecord keeps its times.
    now_, since_, until_ = (moment.timestamp() if moment else None for moment in (now, since, until))
    found = []
    for request_id, record in latest_records(records).items():
        requested = record.requested_at
        if record.state not in COUNTED_STATES or requested is None:
            continue
        if (since_ is not None and requested < since_) or (until_ is not None and requested >= until_):
            continue
        removed = record.ended_at is not None and record.state in REMOVED_STATES
        end = record.ended_at if record.ended_at is not None else now_
        if not removed and time_scale != 1.0:
            end = requested + (end - requested) * time_scale
        past_deadline = record.deadline is not None and end > record.deadline
        if record.deadline is None:  # none of modwatch's records: nothing to be within or overdue against
            within = None
        else:
            within = (not past_deadline) if removed else (False if past_deadline else None)
        found.append(
            Observation(
                request_id=request_id,
                platform=record.platform,
                category=record.category,
                jurisdiction=record.jurisdiction or "unknown",
                state=record.state,
                seconds=max(0.0, end - requested),
                removed=removed,
                within_deadline=within,
                overdue=not removed and record.state in {"requested", "acknowledged"} and past_deadline,
                target=record.target,
                deadline_seconds=record.deadline - requested if record.deadline is not None else None,
                organisations=record.organisations,
            )
        )
    return found


def naive_median(observations_: list[Observation]) -> float | None:
    removed = sorted(observation.seconds for observation in observations_ if observation.removed)
    if not removed:
        return None
    middle = len(removed) // 2
    return removed[middle] if len(removed) % 2 else (removed[middle - 1] + removed[middle]) / 2


def summarise(group: list[Observation]) -> dict:
    curve = kaplan_meier([(observation.seconds, observation.removed) for observation in group])
    removed = [observation for observation in group if observation.removed]
    decided = [observation for observation in group if observation.within_deadline is not None]
    return {
        "requests": len(group),
        "removed": len(removed),
        "rejected": sum(observation.state == "rejected" for observation in group),
        "expired": sum(observation.state == "expired" for observation in group),
        "open": sum(observation.state in {"requested", "acknowledged"} for observation in group),
        "overdue": sum(observation.overdue for observation in group),
        "km_median_seconds": km_quantile(curve, 0.5),
        "km_p90_seconds": km_quantile(curve, 0.9),
        "naive_median_of_removed_seconds": naive_median(group),
        "share_removed_within_deadline": (
            sum(bool(observation.within_deadline) for observation in decided) / len(decided) if decided else None
        ),
        "share_removed": len(removed) / len(group) if group else None,
    }


def posts_and_accounts(observations_: list[Observation]) -> tuple[list[Observation], list[Observation]]:
    """Posts' requests and account-level requests: every table, and the plot, keeps them apart."""
    posts = [observation for observation in observations_ if observation.target != "account"]
    return posts, [observation for observation in observations_ if observation.target == "account"]


def build(observations_: list[Observation]) -> dict:
    """Posts' requests by platform, category, jurisdiction and designated organisation;
    account-level requests apart, by platform."""
    posts, accounts = posts_and_accounts(observations_)
    sections = {
        dimension: _summarised((getattr(observation, dimension), observation) for observation in posts)
        for dimension in ("platform", "category", "jurisdiction")
    }
    sections["platform_category"] = _summarised(
        (f"{observation.platform} / {observation.category}", observation) for observation in posts
    )
    sections["all"] = {"all": summarise(posts)}
    sections["accounts"] = _summarised((observation.platform, observation) for observation in accounts)
    sections["organisation"] = organisation_section(posts)
    return sections


def _summarised(named: Iterable[tuple[str, Observation]]) -> dict[str, dict]:
    """A summary per group, in name order, from (group name, observation) pairs."""
    groups: dict[str, list[Observation]] = {}
    for name, observation in named:
        groups.setdefault(name, []).append(observation)
    return {name: summarise(group) for name, group in sorted(groups.items())}


def organisation_section(posts: list[Observation]) -> dict[str, dict]:
    """Per designated organisation the posts' requests name (by id), as TCAP reports per entity.

    A request naming two organisations counts under each; a request naming none
    is not here. Each row carries the organisation's ``name`` beside the figures.
    """
    names = {identifier: name for observation in posts for identifier, name in observation.organisations if name}
    rows = _summarised(
        (identifier, observation) for observation in posts for identifier, _ in observation.organisations
    )
    return {identifier: {"name": names.get(identifier, ""), **row} for identifier, row in rows.items()}


def campaigns_section(alerts: Iterable[dict], records: Iterable[dict] | LatestRecords) -> list[dict]:
    """Each campaign alert with, per platform, how long after the first sighting it removed its first copy."""
    latest = latest_records(records)
    rows = []
    for alert in alerts:
        if alert.get("type") != "campaign":
            continue
        first_seen = datetime.fromisoformat(alert["first_seen"])
        removed: dict[str, float] = {}
        for request_id in alert.get("request_ids", []):
            record = latest.get(request_id)
            if record and record.ended_at is not None and record.state in REMOVED_STATES:
                seconds = max(0.0, record.ended_at - first_seen.timestamp())
                removed[record.platform] = min(seconds, removed.get(record.platform, seconds))
        rows.append(
            {
                "fingerprint": alert["fingerprint"],
                "accounts": len(alert["accounts"]),
                "platforms": alert["platforms"],
                "items": len(alert["items"]),
                "first_seen": alert["first_seen"],
                "first_removal_seconds": {platform: removed.get(platform) for platform in alert["platforms"]},
            }
        )
    return sorted(rows, key=lambda row: row["first_seen"])


def render_campaigns(rows: list[dict]) -> str:
    lines = [
        "## Campaigns",
        "",
        "The same content from several accounts (takedowns/campaigns.py); per platform, the time "
        "from the first sighting to that platform's first removal of a copy.",
        "",
        "| campaign | accounts | items | first seen | first removal by platform |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        removals = ", ".join(
            f"{platform} {duration(seconds) if seconds is not None else 'none yet'}"
            for platform, seconds in row["first_removal_seconds"].items()
        )
        lines.append(
            f"| {row['fingerprint'][:24]} | {row['accounts']} | {row['items']} | {row['first_seen']} | {removals} |"
        )
    return "\n".join(lines + [""])


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "not reached"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


COLUMNS = ("requests", "removed", "rejected", "expired", "open", "overdue")


def render_markdown(report: dict, since: str, until: str) -> str:
    lines = [
        f"# Time to removal, {since} to {until}",
        "",
        "Medians and 90th percentiles are Kaplan–Meier estimates: requests still open count as "
        'not removed yet (censored), not as removed. "naive median" uses removed requests only '
        "and flatters platforms that leave requests open.",
        "",
    ]
    titles = {
        "platform": "By platform",
        "category": "By category",
        "jurisdiction": "By jurisdiction",
        "platform_category": "By platform and category",
        "all": "All requests",
        "accounts": "Account-level requests, by platform",
    }
    for section in ("platform", "platform_category", "category", "jurisdiction", "organisation", "all", "accounts"):
        if not report.get(section):
            continue
        if section == "organisation":
            lines += render_organisations(report[section])
            continue
        lines += [
            f"## {titles[section]}",
            "",
            "| | " + " | ".join(COLUMNS) + " | median (KM) | p90 (KM) | within deadline | naive median |",
            "|---" * (len(COLUMNS) + 5) + "|",
        ]
        for name, row in report[section].items():
            lines.append(
                f"| {name} | "
                + " | ".join(str(row[column]) for column in COLUMNS)
                + f" | {duration(row['km_median_seconds'])} | {duration(row['km_p90_seconds'])}"
                + f" | {share(row['share_removed_within_deadline'])} | {duration(row['naive_median_of_removed_seconds'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def render_organisations(rows: dict[str, dict]) -> list[str]:
    lines = [
        "## By designated organisation",
        "",
        "Posts' requests whose evidence names a designated organisation (a designated_organisation "
        "finding); a request naming two counts under each.",
        "",
        "| organisation | name | requests | share removed | removed within deadline | median (KM) |",
        "|---|---|---|---|---|---|",
    ]
    for identifier, row in rows.items():
        lines.append(
            f"| {identifier} | {row['name']} | {row['requests']} | {share(row['share_removed'])}"
            f" | {share(row['share_removed_within_deadline'])} | {duration(row['km_median_seconds'])} |"
        )
    return lines + [""]


def render_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    fields = list(COLUMNS) + [
        "km_median_seconds",
        "km_p90_seconds",
        "share_removed_within_deadline",
        "naive_median_of_removed_seconds",
        "share_removed",
        "name",  # a designated organisation's, in the organisation rows
    ]
    writer.writerow(["dimension", "value"] + fields)
    for section, rows in report.items():
        for name, row in rows.items():
            writer.writerow([section, name] + ["" if row.get(field) is None else row[field] for field in fields])
    return out.getvalue()


def render_json(report: dict) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
