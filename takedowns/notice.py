"""The takedown notice: what a person at the platform reads, and the signed file beside it.

A request reaches a platform as a webhook, an email or a pair of files in an
outbox (streams/delivery does the sending). Whatever the channel, the notice
is built here from the request alone, with no I/O:

- :func:`request_body`: the exact bytes that are sent and signed (a webhook's
  body, and the ``body`` of the signed notice).
- :func:`notice_document`: the signed notice, ``<request_id>.json`` in the
  outbox and attached to the email: the headers a webhook would carry
  (takedowns/signing.py), the signed body, the request, and the SHA-256 of
  the HTML page.
- :func:`render_notice_html`: the notice as a self-contained HTML page,
  ``<request_id>.html`` in the outbox and the email's HTML body.
- :func:`notice_plain_text`: the email's plain text body.

The page depends only on the request, so rendering it twice gives the same
bytes: the outbox rewrites a missing or damaged page from the notice's
request, and the page must then still match the notice's ``html_sha256``.
Findings are worded by takedowns/findings.py (the platform's wording: what
matched is quoted).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from takedowns.findings import category_label, describe_finding
from takedowns.signing import signature_headers

# The page runs no script and loads nothing, even if a value slipped through unescaped:
# the Content-Security-Policy forbids both. Braces are doubled for str.format.
NOTICE_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Takedown request {request_id}</title>
<style>
body{{font-family:sans-serif;max-width:50em;margin:2em auto}}
th{{text-align:left;padding-right:1em;vertical-align:top}}
</style>
</head>
<body>
<h1>Takedown request {request_id}</h1>
<p>The content below was identified as {categories}, unlawful under {citation}.
Please remove it or disable access to it by {deadline}, and quote the request id in any answer.</p>
<table>
{table}
</table>
<h2>Evidence</h2>
<ul>
{findings}
</ul>
<p>The full request, as signed by modwatch, is in the JSON file of the same name.</p>
</body>
</html>
"""


def request_body(request: Mapping[str, Any]) -> bytes:
    """The exact bytes that are sent and signed."""
    return orjson.dumps(request)


def categories_text(request: Mapping[str, Any]) -> str:
    """The request's categories in words, for a reader: ``terrorism promotion, violent threat``."""
    return ", ".join(category_label(category) for category in request.get("categories") or []) or "unlawful content"


def evidence_findings(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The request's findings; anything else in ``evidence`` is passed over."""
    return [finding for finding in request.get("evidence") or [] if isinstance(finding, Mapping)]


def _escaped(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _is_web_link(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in {"http", "https"}


def _table_rows(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(heading, escaped HTML) for each row of the page's table."""
    url = request.get("url")
    url_cell = (
        f'<a href="{_escaped(url)}" rel="noreferrer noopener">{_escaped(url)}</a>'
        if _is_web_link(url)
        else _escaped(url)
    )
    rows = [
        ("Request", _escaped(request.get("request_id"))),
        ("Platform", _escaped(request.get("platform"))),
        ("Content", url_cell),
        ("Post id", _escaped(request.get("post_id"))),
        ("Account id", _escaped(request.get("account_id"))),
        ("Posted at", _escaped(request.get("posted_at"))),
        ("Categories", _escaped(categories_text(request))),
        ("Severity", _escaped(request.get("severity"))),
        ("Jurisdiction", _escaped(request.get("jurisdiction"))),
        ("Legal basis", _escaped(request.get("legal_basis"))),
        ("Citation", _escaped(request.get("citation"))),
        ("Requested at", _escaped(request.get("requested_at"))),
        ("Deadline", _escaped(request.get("deadline"))),
    ]
    if request.get("previous_request_id"):
        rows.append(("Follows request", _escaped(request["previous_request_id"])))
    return rows


def _findings_list(request: Mapping[str, Any]) -> str:
    """The findings as HTML list items, a line per phrase."""
    items = [
        "<li>" + "<br>".join(_escaped(phrase) for phrase in describe_finding(finding, public=False)) + "</li>"
        for finding in evidence_findings(request)
    ]
    return "\n".join(items) or "<li>No findings recorded.</li>"


def render_notice_html(request: Mapping[str, Any]) -> str:
    """The notice as a self-contained HTML page; every value from the request is escaped.

    The page depends only on the request, so writing it twice gives the same
    bytes. It runs no script and loads nothing, even if a value slipped
    through: the Content-Security-Policy forbids both.
    """
    table = "\n".join(f"<tr><th>{heading}</th><td>{value}</td></tr>" for heading, value in _table_rows(request))
    return NOTICE_PAGE.format(
        request_id=_escaped(request.get("request_id")),
        categories=_escaped(categories_text(request)),
        citation=_escaped(request.get("citation")),
        deadline=_escaped(request.get("deadline")),
        table=table,
        findings=_findings_list(request),
    )


def notice_document(request: Mapping[str, Any], secret: bytes | None, timestamp: float) -> dict:
    """The signed notice: the headers a webhook would carry, the exact signed body, and the request.

    ``prepared_at`` keeps the time to the microsecond: it starts the request's clock, which must
    never start before the request was emitted; the signature's timestamp is in whole seconds.
    """
    body = request_body(request)
    return {
        "notice": "modwatch takedown request",
        "request_id": request["request_id"],
        "platform": request["platform"],
        "prepared_at": datetime.fromtimestamp(timestamp, UTC).isoformat(),
        "signed": secret is not None,
        "headers": signature_headers(request["request_id"], secret, int(timestamp), body),
        # The exact bytes the signature covers; `request` is the same, parsed, for reading.
        "body": body.decode("utf-8"),
        "request": request,
        "html_sha256": hashlib.sha256(render_notice_html(request).encode("utf-8")).hexdigest(),
    }


def notice_plain_text(request: Mapping[str, Any]) -> str:
    """The notice as plain text (an email's text body), a line per finding."""
    request_id = str(request["request_id"])
    lines = [
        f"Takedown request {request_id}",
        f"Content: {request.get('url')}",
        f"Categories: {categories_text(request)}",
        f"Legal basis: {request.get('legal_basis')} ({request.get('citation')})",
        f"Deadline: {request.get('deadline')}",
        "",
        "Evidence:",
        *("- " + "; ".join(describe_finding(finding, public=False)) for finding in evidence_findings(request)),
        "",
        f"The signed request is attached as {request_id}.json.",
    ]
    return "\n".join(lines)
