"""Compliance figures from the ledger: how fast each platform removes what it was asked to.

Time-to-removal is censored data. A request still open when the report is made
(or closed without removal: rejected, expired) has not been removed *yet*;
dropping it would make a platform that ignores requests look fast, and counting
it as removed "now" would invent removals. The Kaplan–Meier estimator uses
each open request for as long as it has been open and no longer, so medians
and percentiles here are Kaplan–Meier estimates. The naive median over removed
requests only is shown beside them, labelled as such. This module is the one
Kaplan–Meier estimator in modwatch: the simulator's check of a measured median
against the configured one (sim/_median_check.py) uses its survival and
Greenwood's variance too, and tests/test_kaplan_meier.py holds it to lifelines.

Input is the ledger (streams/agents/items.py writes one record per transition, each
carrying the request's state after it). The last record per request wins; a
record repeated after a crash (same request_id and seq) changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import orjson

# Requests in these states have reached the platform and are counted.
COUNTED_STATES = frozenset({"requested", "acknowledged", "removed", "rejected", "expired", "reappeared"})


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


def latest_records(records: Iterable[dict]) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for record in records:
        if record.get("kind") == "delivery_attempt" or "to" not in record:
            continue  # attempts are audit detail, not states
        request_id = record.get("request_id")
        if request_id and record.get("seq", 0) >= latest.get(request_id, {}).get("seq", -1):
            latest[request_id] = record
    return latest


def observations(
    records: Iterable[dict],
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    time_scale: float = 1.0,
) -> list[Observation]:
    """One observation per counted request.

    ``time_scale`` is for simulator runs whose platforms compress waiting
    (sim/platforms.py): removal times are in platform time already, but a
    request open (or closed unremoved) after W wall seconds has been up
    ``W * time_scale`` platform seconds, and is censored there.
    """
    found = []
    for request_id, record in latest_records(records).items():
        if record.get("state") not in COUNTED_STATES or not record.get("requested_at"):
            continue
        requested = datetime.fromisoformat(record["requested_at"])
        if (since and requested < since) or (until and requested >= until):
            continue
        deadline = datetime.fromisoformat(record["deadline"])
        removed = record.get("removed_at") is not None and record["state"] in {"removed", "reappeared"}
        if removed:
            end = datetime.fromisoformat(record["removed_at"])
        elif record["state"] in {"rejected", "expired"}:
            end = datetime.fromisoformat(record["at"])
        else:
            end = now
        if not removed and time_scale != 1.0:
            end = requested + (end - requested) * time_scale
        seconds = max(0.0, (end - requested).total_seconds())
        within = (end <= deadline) if removed else (False if end > deadline else None)
        found.append(
            Observation(
                request_id=request_id,
                platform=record["platform"],
                category=(record.get("categories") or ["unknown"])[0],
                jurisdiction=record.get("jurisdiction") or "unknown",
                state=record["state"],
                seconds=seconds,
                removed=removed,
                within_deadline=within,
                overdue=not removed and record["state"] in {"requested", "acknowledged"} and end > deadline,
                target=record.get("target") or ("account" if record.get("categories") == ["account"] else "item"),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class KaplanMeierStep:
    """The estimate just after one removal time."""

    time: float
    at_risk: int  # requests still up just before ``time``, censored ones at ``time`` included
    removed: int  # removals at ``time``
    survival: float  # S(time)
    greenwood_sum: float  # sum of d / (n (n - d)) over removal times <= time; Var S = S² x this


def kaplan_meier_steps(durations: list[tuple[float, bool]]) -> list[KaplanMeierStep]:
    """The Kaplan–Meier estimate of "not yet removed", one step per removal time.

    ``durations`` are (seconds, removed). At equal times removals are counted
    before censorings, the usual convention: a request censored at t was still
    up at t. Greenwood's term is left out where every request at risk is
    removed (n = d): S is 0 from there, and so is its variance, whereas the
    term itself would be infinite (lifelines does the same).
    """
    ordered = sorted(durations, key=lambda item: (item[0], not item[1]))
    at_risk = len(ordered)
    survival, greenwood_sum = 1.0, 0.0
    steps = []
    index = 0
    while index < len(ordered):
        time = ordered[index][0]
        removed = censored = 0
        while index < len(ordered) and ordered[index][0] == time:
            if ordered[index][1]:
                removed += 1
            else:
                censored += 1
            index += 1
        if removed:
            survival *= 1 - removed / at_risk
            if at_risk > removed:
                greenwood_sum += removed / (at_risk * (at_risk - removed))
            steps.append(KaplanMeierStep(time, at_risk, removed, survival, greenwood_sum))
        at_risk -= removed + censored
    return steps


def kaplan_meier(durations: list[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Survival curve S(t) of "not yet removed": [(t, S(t))] at each removal time (see :func:`kaplan_meier_steps`)."""
    return [(step.time, step.survival) for step in kaplan_meier_steps(durations)]


def survival_at(durations: list[tuple[float, bool]], at: float) -> tuple[float, float]:
    """Kaplan–Meier S(at) and Greenwood's sum at ``at`` (both of the last removal time <= at; 1 and 0 before any)."""
    survival, greenwood_sum = 1.0, 0.0
    for step in kaplan_meier_steps(durations):
        if step.time > at:
            break
        survival, greenwood_sum = step.survival, step.greenwood_sum
    return survival, greenwood_sum


def km_quantile(curve: list[tuple[float, float]], share_removed: float) -> float | None:
    """Smallest time by which ``share_removed`` of requests are estimated removed; None if never reached."""
    for time, survival in curve:
        if survival <= 1 - share_removed + 1e-12:
            return time
    return None


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
    }


def build(observations_: list[Observation]) -> dict:
    """Posts' requests by platform, category, jurisdiction; account-level requests apart, by platform."""
    accounts = [observation for observation in observations_ if observation.target == "account"]
    observations_ = [observation for observation in observations_ if observation.target != "account"]
    sections = {}
    for dimension in ("platform", "category", "jurisdiction"):
        groups: dict[str, list[Observation]] = {}
        for observation in observations_:
            groups.setdefault(getattr(observation, dimension), []).append(observation)
        sections[dimension] = {name: summarise(group) for name, group in sorted(groups.items())}
    by_platform_category: dict[str, list[Observation]] = {}
    for observation in observations_:
        by_platform_category.setdefault(f"{observation.platform} / {observation.category}", []).append(observation)
    sections["platform_category"] = {name: summarise(group) for name, group in sorted(by_platform_category.items())}
    sections["all"] = {"all": summarise(observations_)}
    by_platform: dict[str, list[Observation]] = {}
    for observation in accounts:
        by_platform.setdefault(observation.platform, []).append(observation)
    sections["accounts"] = {name: summarise(group) for name, group in sorted(by_platform.items())}
    return sections


def campaigns_section(alerts: Iterable[dict], records: Iterable[dict]) -> list[dict]:
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
            if record and record.get("removed_at") and record.get("state") in {"removed", "reappeared"}:
                seconds = max(0.0, (datetime.fromisoformat(record["removed_at"]) - first_seen).total_seconds())
                removed[record["platform"]] = min(seconds, removed.get(record["platform"], seconds))
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
    for section in ("platform", "platform_category", "category", "jurisdiction", "all", "accounts"):
        if not report.get(section):
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


def render_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    fields = list(COLUMNS) + [
        "km_median_seconds",
        "km_p90_seconds",
        "share_removed_within_deadline",
        "naive_median_of_removed_seconds",
    ]
    writer.writerow(["dimension", "value"] + fields)
    for section, rows in report.items():
        for name, row in rows.items():
            writer.writerow([section, name] + ["" if row[field] is None else row[field] for field in fields])
    return out.getvalue()


def render_json(report: dict) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()


def plot(observations_: list[Observation], path, title: str) -> None:
    """One Kaplan–Meier curve per platform: share of requested items still up over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure, axes = pyplot.subplots(figsize=(9, 5.5), dpi=110)
    platforms: dict[str, list[Observation]] = {}
    for observation in observations_:
        platforms.setdefault(observation.platform, []).append(observation)
    longest = max((observation.seconds for observation in observations_), default=3600.0) / 3600 or 1.0
    for platform, group in sorted(platforms.items()):
        curve = kaplan_meier([(observation.seconds, observation.removed) for observation in group])
        times = [0.0] + [time / 3600 for time, _ in curve] + [longest]
        values = [1.0] + [survival for _, survival in curve] + [curve[-1][1] if curve else 1.0]
        median = km_quantile(curve, 0.5)
        label = f"{platform} (n={len(group)}, median {duration(median)})"
        axes.step(times, values, where="post", label=label)
    axes.set_xlabel("hours since the request")
    axes.set_ylabel("share of requested items still up")
    axes.set_ylim(0, 1.05)
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
