"""``modwatch report``: what the ledger says.

``report``   time to removal per platform, category, jurisdiction and designated
             organisation (Kaplan-Meier, takedowns/compliance.py), from the ledger
             topic or a saved ledger file, read a record at a time; ``--plot``
             (takedowns/compliance_plot.py). ``modwatch reviews`` is in review.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streams.cli._options import InputRefused, broker_option, existing_file_option
from streams.cli._topics import (
    each_ledger_record,
    ensure_topics_at,
    keyed_batches,
    read_ledger_file,
    read_topic,
    resolve,
)

if TYPE_CHECKING:
    from takedowns.compliance import LatestRecords

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
    """Time to removal per platform, category, jurisdiction and designated organisation, from the ledger.

    Medians and 90th percentiles are Kaplan-Meier estimates that count open
    requests as not removed yet.
    """
    from datetime import UTC, datetime

    from takedowns import compliance

    since = since.replace(tzinfo=UTC) if since else None
    until = until.replace(tzinfo=UTC) if until else None
    latest, alerts = _ledger_and_alerts(ledger_file, alerts_file, broker)
    now = min(datetime.now(UTC), until) if until else datetime.now(UTC)
    campaign_rows = compliance.campaigns_section(alerts, latest)
    observed = compliance.observations(latest, now, since, until, time_scale=time_scale)
    del latest  # the observations are all the rest needs: the tables reuse its memory
    figures = compliance.build(observed)
    period = (since.date().isoformat() if since else "the start", until.date().isoformat() if until else "now")
    if output_format == "md":
        click.echo(compliance.render_markdown(figures, *period))
        if campaign_rows:
            click.echo(compliance.render_campaigns(campaign_rows))
    elif output_format == "csv":
        click.echo(compliance.render_csv(figures), nl=False)
    else:
        click.echo(compliance.render_json(dict(figures, campaigns=campaign_rows)))
    if plot_path:
        from takedowns import compliance_plot

        compliance_plot.plot(observed, plot_path, f"Requested items still up, {period[0]} to {period[1]}")
        click.echo(f"wrote {plot_path}", err=True)


def _ledger_and_alerts(ledger_file: Path | None, alerts_file: Path | None, broker: str | None):
    """The latest record of each request (takedowns/compliance.py ``LatestRecords``) and the alerts:
    from the files when given, else from the topics.

    The ledger is read a line (or a fetch) at a time and only each request's
    latest record is kept, reduced to what the report reads: a ledger of a
    million lines fits in a few hundred megabytes (bench/bench_report.py).
    Alerts are few, and read whole.
    """
    from takedowns import messages
    from takedowns.compliance import LatestRecords, LedgerError

    if ledger_file:
        alerts = read_ledger_file(alerts_file, "--alerts", messages.read_alert) if alerts_file else []
        try:
            return LatestRecords().add(each_ledger_record(ledger_file)), alerts
        except LedgerError as error:
            raise InputRefused(f"--ledger {ledger_file}: {error}") from None
    if alerts_file:
        raise InputRefused("--alerts goes with --ledger: without --ledger both are read from their topics")
    topic, bootstrap = resolve("ledger", broker)
    ensure_topics_at(bootstrap)  # an unreachable broker: one line, exit 2
    alerts_topic, _ = resolve("alerts", broker)
    try:
        latest = asyncio.run(_latest_of(topic, bootstrap))
    except LedgerError as error:
        raise InputRefused(f"topic {topic}: {error}") from None
    return latest, asyncio.run(read_topic(alerts_topic, bootstrap))


async def _latest_of(topic: str, bootstrap: str) -> LatestRecords:
    """The ledger topic folded into its latest records a fetch at a time."""
    from takedowns.compliance import LatestRecords

    latest = LatestRecords()
    async for batch in keyed_batches(topic, bootstrap):
        latest.add(value for _, value in batch if value is not None)
    return latest
