"""``modwatch report`` and ``modwatch reviews``: what the ledger says, and what awaits a reviewer.

``report``   time to removal per platform, category and jurisdiction (Kaplan-Meier,
             takedowns/compliance.py), from the ledger topic or a saved ledger file
``reviews``  the takedown requests awaiting review, from the worker's web API
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import orjson

from streams.cli._options import InputRefused, broker_option, existing_file_option
from streams.cli._topics import ensure_topics_at, read_ledger_file, read_topic, resolve

# --since and --until: a day, or a moment of it, in UTC.
MOMENT = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])


@click.command()
@click.option("--since", type=MOMENT, default=None, help="Count requests made from this time (UTC).")
@click.option("--until", type=MOMENT, default=None, help="Count requests made before this time (UTC).")
@click.option("--format", "output_format", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw one survival curve per platform into this PNG.",
)
@existing_file_option(
    "--ledger",
    "ledger_file",
    help="Read ledger records from this JSON-lines file (as `modwatch tail ledger` prints) instead of Kafka.",
)
@broker_option()
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1.0),
    default=1.0,
    show_default=True,
    help="For simulator runs (modwatch simulate): platform seconds per wall second; "
    "open requests are censored at their elapsed wall time times this.",
)
@existing_file_option("--alerts", "alerts_file", help="With --ledger: alerts as JSON lines, for the campaigns section.")
def report(since, until, output_format, plot_path, ledger_file, broker, time_scale, alerts_file) -> None:
    """Time to removal per platform, category and jurisdiction, from the ledger.

    Medians and 90th percentiles are Kaplan-Meier estimates that count open
    requests as not removed yet.
    """
    from datetime import UTC, datetime

    from takedowns import compliance

    since = since.replace(tzinfo=UTC) if since else None
    until = until.replace(tzinfo=UTC) if until else None
    records, alerts = _ledger_and_alerts(ledger_file, alerts_file, broker)
    now = min(datetime.now(UTC), until) if until else datetime.now(UTC)
    observed = compliance.observations(records, now, since, until, time_scale=time_scale)
    figures = compliance.build(observed)
    period = (since.date().isoformat() if since else "the start", until.date().isoformat() if until else "now")
    campaign_rows = compliance.campaigns_section(alerts, records)
    if output_format == "md":
        click.echo(compliance.render_markdown(figures, *period))
        if campaign_rows:
            click.echo(compliance.render_campaigns(campaign_rows))
    elif output_format == "csv":
        click.echo(compliance.render_csv(figures), nl=False)
    else:
        click.echo(compliance.render_json(dict(figures, campaigns=campaign_rows)))
    if plot_path:
        compliance.plot(observed, plot_path, f"Requested items still up, {period[0]} to {period[1]}")
        click.echo(f"wrote {plot_path}", err=True)


def _ledger_and_alerts(ledger_file: Path | None, alerts_file: Path | None, broker: str | None):
    """The ledger records and the alerts: from the files when given, else from the topics."""
    from takedowns import messages

    if ledger_file:
        alerts = read_ledger_file(alerts_file, "--alerts", messages.read_alert) if alerts_file else []
        return read_ledger_file(ledger_file), alerts
    if alerts_file:
        raise InputRefused("--alerts goes with --ledger: without --ledger both are read from their topics")
    topic, bootstrap = resolve("ledger", broker)
    ensure_topics_at(bootstrap)  # an unreachable broker: one line, exit 2
    alerts_topic, _ = resolve("alerts", broker)
    return asyncio.run(read_topic(topic, bootstrap)), asyncio.run(read_topic(alerts_topic, bootstrap))


@click.command()
@click.option(
    "--url",
    envvar="MODWATCH_WORKER_URL",
    default=None,
    help="Worker web address (default: http://127.0.0.1:<web_port>).",
)
def reviews(url: str | None) -> None:
    """List what awaits review, oldest first (from the worker's web API)."""
    import urllib.request

    from rich.console import Console
    from rich.table import Table

    from streams.settings import Settings

    url = url or f"http://127.0.0.1:{Settings.load().web_port}"
    try:
        with urllib.request.urlopen(f"{url}/reviews", timeout=10) as response:
            pending = orjson.loads(response.read())["pending_review"]
    except OSError as error:
        raise click.ClickException(f"cannot reach the worker at {url}: {error}") from None
    table = Table(title=f"awaiting review ({len(pending)})")
    for column in ("since", "request_id", "platform", "post", "categories", "severity"):
        table.add_column(column)
    for item in pending:
        table.add_row(
            item["since"],
            item["request_id"],
            item["platform"],
            item["post_id"],
            ", ".join(item["categories"] or []),
            item["severity"] or "",
        )
    Console().print(table)
