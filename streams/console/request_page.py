"""The console's request page (one request's whole story) and the platform scoreboard."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from html import escape

from streams.console import pages
from streams.console import review_items as items

REQUEST_FIELDS = (
    ("state", "state"),
    ("platform", "platform"),
    ("post", "post_id"),
    ("account", "account_id"),
    ("URL", "url"),
    ("categories", "categories"),
    ("severity", "severity"),
    ("jurisdiction", "jurisdiction"),
    ("legal basis", "legal_basis"),
    ("citation", "citation"),
    ("requested at", "requested_at"),
    ("delivered at", "delivered_at"),
    ("deadline", "deadline"),
    ("removed at", "removed_at"),
    ("removal status", "removal_status"),
    ("previous request", "previous_request_id"),
)


def cause_text(cause: Mapping) -> str:
    """A transition's cause in a line: who or what moved the request, and the platform's answer if any."""
    kind = cause.get("type", "?")
    parts = [kind]
    for name in ("action", "decision", "reviewer", "operator", "category", "reason", "status", "source"):
        if cause.get(name):
            parts.append(f"{name}: {cause[name]}")
    if kind == "delivery":
        parts.append(f"{cause.get('outcome')} by {cause.get('channel')} after {cause.get('attempts')} attempt(s)")
    attempt = cause.get("last_attempt") or {}
    if attempt.get("status_code") or attempt.get("error"):
        parts.append(
            f"last attempt {attempt.get('attempt')}"
            + (f": HTTP {attempt['status_code']}" if attempt.get("status_code") else "")
            + (f", {attempt['error']}" if attempt.get("error") else "")
        )
    return " · ".join(str(part) for part in parts)


def history_table(history: list[Mapping]) -> str:
    rows = "".join(
        f"<tr><td>{transition.get('seq')}</td><td>{escape(str(transition.get('from')))} → "
        f"<b>{escape(str(transition.get('to')))}</b></td><td class=when>{escape(_moment(transition.get('at')))}</td>"
        f"<td>{escape(cause_text(transition.get('cause') or {}))}</td></tr>"
        for transition in history
    )
    return f"<table id=history><tr><th>#</th><th>transition</th><th>at</th><th>cause</th></tr>{rows}</table>"


def _moment(at: object) -> str:
    """An ISO timestamp to the second, in UTC as stored: 2026-12-03 16:10:16."""
    return str(at)[:19].replace("T", " ") if at else "-"


def time_to_removal(request: Mapping) -> str:
    seconds = request.get("time_to_removal_seconds")
    if seconds is None:
        return "not removed"
    within = "within" if request.get("within_deadline") else "after"
    return f"{items.human_duration(timedelta(seconds=seconds))}, {within} the deadline"


def resend_form(request: Mapping, csrf: str) -> str:
    """For a request whose delivery failed: send it again once the endpoint is fixed (``modwatch resend``)."""
    if request.get("state") != "delivery_failed":
        return ""
    return (
        '<form class="decide" method="post" action="/console/decide">'
        f'<input type="hidden" name="request_id" value="{escape(request["request_id"])}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<input name="reason" placeholder="what was fixed (goes into the ledger)">'
        '<button class="approve" name="decision" value="resend" type="submit">Resend</button></form>'
    )


def request_page(
    state: Mapping, request: Mapping, history: list[Mapping], reviewer: str, csrf: str = "", notice: str = ""
) -> str:
    fields = "".join(
        f"<tr><th>{label}</th><td>{escape(', '.join(value) if isinstance(value, list) else str(value))}</td></tr>"
        for label, name in REQUEST_FIELDS
        if (value := request.get(name)) not in (None, "", [])
    )
    post, findings = state.get("post") or {}, request.get("evidence") or []
    body = (
        f"<h2>Request {escape(request['request_id'])}</h2>"
        + (f'<div class="notice">{escape(notice)}</div>' if notice else "")
        + resend_form(request, csrf)
        + f"<table>{fields}<tr><th>time to removal</th><td>{time_to_removal(request)}</td></tr></table>"
        f"<h3>History</h3>{history_table(history)}"
        "<p class=meta>The item keeps its last 64 transitions; the ledger topic keeps all of them.</p>"
        f'<h3>Post</h3><div class="text">{pages.text_block(post.get("text", ""), findings)}</div>'
        f"{pages.media_block(post, findings)}<h3>Evidence</h3>{pages.finding_rows(findings)}"
    )
    return pages.layout(f"Request {request['request_id']}", body, reviewer)


def scoreboard_page(figures: Mapping[str, Mapping], reviewer: str, now: datetime) -> str:
    header = "".join(
        f"<th>{name}</th>"
        for name in (
            "platform",
            "requests",
            "removed",
            "rejected",
            "open",
            "overdue",
            "median",
            "p90",
            "within deadline",
        )
    )
    rows = []
    for platform, row in sorted(figures.items()):
        share = row.get("share_removed_within_deadline")
        rows.append(
            f"<tr><td><b>{escape(platform)}</b></td>"
            + "".join(f"<td>{row.get(name, 0)}</td>" for name in ("requests", "removed", "rejected", "open", "overdue"))
            + f"<td>{items.human_duration(_seconds(row.get('km_median_seconds')))}</td>"
            f"<td>{items.human_duration(_seconds(row.get('km_p90_seconds')))}</td>"
            f"<td>{'-' if share is None else f'{share:.0%}'}</td></tr>"
        )
    body = (
        f"<h2>Platform scoreboard</h2><table><tr>{header}</tr>{''.join(rows)}</table>"
        "<p class=meta>Kaplan–Meier median and 90th percentile time to removal; open requests count as not removed "
        f"yet. This worker's partitions, at {escape(now.isoformat(timespec='seconds'))}.</p>"
    )
    return pages.layout("Scoreboard", body, reviewer)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)
