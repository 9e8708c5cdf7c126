"""``modwatch reviews`` and ``modwatch review approve|reject``: the review queue from a terminal.

``reviews`` lists what awaits review (a worker's ``GET /reviews``), oldest first, each item
with its whole request id, the post's text and the evidence quoted; ``--json`` prints the
worker's answer as it is. ``review approve|reject`` posts the same decision the console's
buttons make to ``POST /decisions`` with ``MODWATCH_API_TOKEN``; the worker refuses what the
console refuses (an approval its jurisdiction's law does not cover, 409) and the command exits
1 with the worker's reason.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from datetime import UTC, datetime

import click
import orjson

from takedowns.findings import quotes

URL_HELP = "A worker's web address (default: http://127.0.0.1:<web_port>, or MODWATCH_WORKER_URL)."


def worker_url(url: str | None) -> str:
    from streams.settings import Settings

    return url or f"http://127.0.0.1:{Settings.load().web_port}"


def post_decision(decision: dict, url: str) -> dict:
    """POST a decision with the API token; the worker's answer, or exit 1 with its reason."""
    from streams import access

    token = access.api_token(os.environ)
    if not token:
        raise click.UsageError(f"environment {access.TOKEN_VARIABLE}: required (the worker's API token)")
    request = urllib.request.Request(f"{url}/decisions", data=orjson.dumps(decision))
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        raise click.ClickException(f"{url}: {error.code}: {orjson.loads(error.read()).get('error')}") from None
    except OSError as error:
        raise click.ClickException(f"cannot reach the worker at {url}: {error}") from None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@click.command()
@click.option("--url", envvar="MODWATCH_WORKER_URL", default=None, help=URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="The worker's answer as JSON, whole.")
def reviews(url: str | None, as_json: bool) -> None:
    """List what awaits review, oldest first: whole ids, the post's text, the evidence."""
    from streams import access

    url = worker_url(url)
    request = urllib.request.Request(f"{url}/reviews")
    if access.api_token(os.environ):
        request.add_header("Authorization", f"Bearer {access.api_token(os.environ)}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        raise click.ClickException(f"{url}: {error.code}: {orjson.loads(error.read()).get('error')}") from None
    except OSError as error:
        raise click.ClickException(f"cannot reach the worker at {url}: {error}") from None
    if as_json:
        click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
        return
    pending = answer["pending_review"]
    click.echo(f"awaiting review: {len(pending)} ({answer.get('scope', '')})")
    for item in pending:
        click.echo(described(item))


def described(item: dict) -> str:
    """One item as lines: what, since when, the text, and the evidence quoted."""
    post = item.get("post") or {}
    text = " ".join((post.get("text") or "").split())
    quoted = sorted({quote for finding in item.get("evidence") or [] for quote in quotes(finding.get("evidence"))})
    detectors = sorted({finding.get("detector", "?") for finding in item.get("evidence") or []})
    return "\n".join(
        [
            "",
            f"{item['request_id']}  {item['platform']}:{item['post_id']}  since {item['since']}",
            f"  {', '.join(item.get('categories') or [])} · severity {item.get('severity')} · "
            f"{', '.join(detectors)} · language {post.get('lang') or 'unknown'}",
            f"  text: {text or '(none)'}",
            f"  evidence: {'; '.join(quoted) or '(no quoted span)'}",
        ]
    )


@click.group()
def review() -> None:
    """Approve or reject an item awaiting review, as the console's buttons do."""


def _decide(decision: str, request_id: str, reviewer: str, reason: str | None, url: str | None, **extra) -> None:
    record = {"request_id": request_id, "decision": decision, "reviewer": reviewer, "at": now(), **extra}
    if reason:
        record["reason"] = reason
    answer = post_decision(record, worker_url(url))
    click.echo(f"{decision} of {request_id} accepted for item {answer['item']}", err=True)


@review.command("approve")
@click.argument("request_id")
@click.option("--reviewer", envvar="MODWATCH_REVIEWER", required=True, help="Who decides (recorded in the ledger).")
@click.option("--reason", default=None, help="Why (recorded in the ledger).")
@click.option("--category", default=None, help="Approve it as this category (its jurisdiction must list it).")
@click.option("--url", envvar="MODWATCH_WORKER_URL", default=None, help=URL_HELP)
def approve(request_id: str, reviewer: str, reason: str | None, category: str | None, url: str | None) -> None:
    """Approve REQUEST_ID: the takedown request is sent (needs MODWATCH_API_TOKEN)."""
    _decide("approve", request_id, reviewer, reason, url, **({"category": category} if category else {}))


@review.command("reject")
@click.argument("request_id")
@click.option("--reviewer", envvar="MODWATCH_REVIEWER", required=True, help="Who decides (recorded in the ledger).")
@click.option("--reason", default=None, help="Why (recorded in the ledger).")
@click.option("--url", envvar="MODWATCH_WORKER_URL", default=None, help=URL_HELP)
def reject(request_id: str, reviewer: str, reason: str | None, url: str | None) -> None:
    """Reject REQUEST_ID: nothing is sent, the item is dismissed (needs MODWATCH_API_TOKEN)."""
    _decide("reject", request_id, reviewer, reason, url)
