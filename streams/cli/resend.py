"""``modwatch resend REQUEST_ID``: send a request whose delivery failed again.

A request in ``delivery_failed`` stays there until someone acts: after the
platform's endpoint or the delivery config is fixed, this sends it again. It
is an operator's decision (``resend``) posted to a worker's ``/decisions``
with the API token from ``MODWATCH_API_TOKEN``; the worker that owns the item
moves the request back to ``requested`` and hands it to its dispatcher, and
the ledger records who asked and why. Exit 1 with the worker's reason when it
refuses (no such request, or a request whose delivery has not failed).
"""

from __future__ import annotations

import click

from streams.cli.review import now, post_decision, worker_url


@click.command()
@click.argument("request_id")
@click.option("--operator", required=True, help="Who sends it again (recorded in the ledger).")
@click.option("--reason", default=None, help="Why (recorded in the ledger): what was fixed.")
@click.option("--url", default=None, help="A worker's web address (default: 127.0.0.1 and the configured web_port).")
def resend(request_id: str, operator: str, reason: str | None, url: str | None) -> None:
    """Send REQUEST_ID, whose delivery failed, again (needs MODWATCH_API_TOKEN)."""
    decision = {"request_id": request_id, "decision": "resend", "reviewer": operator, "reason": reason, "at": now()}
    answer = post_decision(decision, worker_url(url))
    click.echo(f"resend of {request_id} accepted for item {answer['item']}", err=True)
