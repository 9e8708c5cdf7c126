"""The ``modwatch`` command line.

``worker``   run the Faust worker
``scan``     run the validation and detector pipeline over a JSONL file, no Kafka
``produce``  send a JSONL file to a topic, keyed by platform:post_id
``tail``     print a topic's records as JSON lines
``demo``     the embedded default: a local broker, a worker and sample traffic
``report``   time to removal from the ledger (Kaplan-Meier)
``reviews``  what awaits review
``export``   a request as a DSA statement of reasons or a Lumen notice
``train``    train the text classifier (reproduces the shipped model)
``evaluate`` per-class precision, recall and F1 of a model on held-out data
``hash``     PDQ (with quality), MD5 and SHA-256 of image files
``hash-import`` a ThreatExchange-style PDQ list as a bank CSV
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import orjson

from detectors.configfile import ConfigError
from detectors.events import InvalidEvent, item_key
from streams.cli_io import read_ledger_file, read_topic

SAMPLES = Path(__file__).resolve().parent / "samples"


@click.group()
def cli() -> None:
    """modwatch: find terrorist and violent-extremist content, request its removal, measure compliance."""


def main() -> None:
    try:
        cli(prog_name="modwatch")
    except ConfigError as error:
        click.echo("modwatch: configuration problems:", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


@cli.command()
@click.option("--web-port", type=int, envvar="MODWATCH_WEB_PORT", help="Port of /metrics and the web API.")
@click.option("--loglevel", "-l", default=None, help="debug, info, warning or error (default: config log_level).")
@click.option(
    "--insecure",
    is_flag=True,
    default=False,
    help="Accept writes without MODWATCH_API_TOKEN, on any address (logged at every start).",
)
def worker(web_port: int | None, loglevel: str | None, insecure: bool) -> None:
    """Run the Faust worker: consume posts, reports and statuses; publish alerts and requests."""
    import os

    if web_port is not None:
        os.environ["MODWATCH_WEB_PORT"] = str(web_port)
    if insecure:
        os.environ["MODWATCH_INSECURE"] = "1"
    from streams.worker import run

    run(loglevel)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Config folder (default: ./config or MODWATCH_CONFIG_DIR).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write decisions here instead of standard output.",
)
@click.option(
    "--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True, help="Posts per detector batch."
)
def scan(file: Path, config_dir: Path | None, output: Path | None, batch_size: int) -> None:
    """Validate and scan the posts in FILE (JSON lines), with no Kafka.

    One output line per valid post: {platform, post_id, action, severity,
    categories, findings}. Invalid lines are reported on standard error with
    their line number and reason, and the rest are still scanned.
    """
    from detectors.pipeline import Pipeline
    from streams.settings import default_config_dir

    pipeline = Pipeline.from_config_dir(config_dir or default_config_dir())
    try:
        source = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    except OSError as error:
        raise click.FileError(str(file), hint=error.strerror) from error
    sink = output.open("wb") if output else sys.stdout.buffer
    invalid = 0
    batch = []

    def flush() -> None:
        for decision in pipeline.scan(batch):
            sink.write(orjson.dumps(decision.as_dict()) + b"\n")
        batch.clear()

    with source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                batch.append(pipeline.parse_post(line))
            except InvalidEvent as error:
                invalid += 1
                click.echo(f"{file}:{number}: {error.reason}: {error}", err=True)
                continue
            if len(batch) >= batch_size:
                flush()
        flush()
    sink.flush()
    if output:
        sink.close()
    if invalid:
        click.echo(f"{file}: {invalid} invalid line(s) skipped", err=True)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--topic",
    "-t",
    required=True,
    help="Topic name, or a short name (posts, reports, platform-status) under the configured prefix.",
)
@click.option(
    "--broker",
    envvar="KAFKA_BOOTSTRAP_SERVERS",
    default=None,
    help="host:port[,host:port] (default: the configured broker).",
)
def produce(file: Path, topic: str, broker: str | None) -> None:
    """Send each line of FILE to TOPIC, keyed by platform:post_id where the line has them.

    Lines are sent as they are, valid or not: the worker is the one that validates.
    """
    from dataclasses import replace

    from streams.admin import ensure_topics
    from streams.settings import Settings, broker_url

    topic, bootstrap = _resolve(topic, broker)
    asyncio.run(ensure_topics(replace(Settings.load(), broker=broker_url(bootstrap))))
    sent = asyncio.run(_produce(file, topic, bootstrap))
    click.echo(f"sent {sent} record(s) to {topic}", err=True)


async def _produce(file: Path, topic: str, bootstrap: str) -> int:
    from aiokafka import AIOKafkaProducer

    from streams import kafka_auth

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1024 * 1024, **kafka_auth.client_options()
    )
    await producer.start()
    sent = 0
    try:
        with file.open("rb") as lines:
            for line in lines:
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                await producer.send(topic, value=line, key=_key_of(line))
                sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def _key_of(line: bytes) -> bytes | None:
    try:
        record = orjson.loads(line)
        return item_key(record["platform"], record["post_id"]).encode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


@cli.command()
@click.argument("topic")
@click.option(
    "--broker",
    envvar="KAFKA_BOOTSTRAP_SERVERS",
    default=None,
    help="host:port[,host:port] (default: the configured broker).",
)
@click.option("--from-beginning/--from-end", default=True, show_default=True)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Stop after this many seconds without a new record (default: run until Ctrl-C).",
)
@click.option("--max", "max_records", type=int, default=None, help="Stop after this many records.")
def tail(topic: str, broker: str | None, from_beginning: bool, timeout: float | None, max_records: int | None) -> None:
    """Print the records of TOPIC as JSON lines: {topic, partition, offset, key, value}."""
    topic, bootstrap = _resolve(topic, broker)
    asyncio.run(_tail(topic, bootstrap, from_beginning, timeout, max_records))


async def _tail(
    topic: str, bootstrap: str, from_beginning: bool, timeout: float | None, max_records: int | None
) -> None:
    from aiokafka import AIOKafkaConsumer

    from streams import kafka_auth

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        group_id=None,
        **kafka_auth.client_options(),
    )
    await consumer.start()
    seen = 0
    try:
        while max_records is None or seen < max_records:
            batch = await consumer.getmany(timeout_ms=int((timeout or 1.0) * 1000))
            if not batch:
                if timeout is not None:
                    break
                continue
            for records in batch.values():
                for record in records:
                    try:
                        value = orjson.loads(record.value) if record.value is not None else None
                    except orjson.JSONDecodeError:
                        value = record.value.decode("utf-8", "backslashreplace")
                    line = {
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                        "key": record.key.decode("utf-8", "backslashreplace") if record.key else None,
                        "value": value,
                    }
                    sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
                    seen += 1
            sys.stdout.flush()
    finally:
        await consumer.stop()


def _resolve(topic: str, broker: str | None) -> tuple[str, str]:
    from streams.settings import TOPIC_NAMES, Settings, bootstrap_servers

    settings = Settings.load()
    if topic in TOPIC_NAMES:
        topic = settings.topic(topic)
    return topic, broker or bootstrap_servers(settings.broker)


@cli.command()
@click.option(
    "--posts",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=SAMPLES / "posts.jsonl",
    show_default=True,
    help="Sample traffic to send.",
)
@click.option("--wait", type=float, default=60.0, show_default=True, help="Seconds to wait for the worker's outputs.")
@click.option("--keep-broker/--stop-broker", default=False, help="Leave the local broker running afterwards.")
def demo(posts: Path, wait: float, keep_broker: bool) -> None:
    """Start a local Kafka and a worker, send sample traffic, show what modwatch decided."""
    from streams.demo import run_demo

    sys.exit(run_demo(posts, wait, keep_broker))


@cli.command()
@click.option(
    "--minutes", type=click.FloatRange(min=0.05), default=3.0, show_default=True, help="How long to send traffic."
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Platform seconds per wall second (default: sim/config.yaml, 600).",
)
@click.option(
    "--rate", type=click.FloatRange(min=0.1), default=None, help="Posts per second (default: sim/config.yaml, 20)."
)
@click.option(
    "--drain",
    "drain_seconds",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="Seconds to keep watching after the last post.",
)
@click.option("--keep-broker", is_flag=True, help="Leave the local Kafka running afterwards.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".modwatch-data"),
    show_default=True,
    help="Where the report's plot goes.",
)
def simulate(minutes, time_scale, rate, drain_seconds, keep_broker, out_dir) -> None:
    """Run modwatch against simulated platforms and check what it measured.

    Starts a local Kafka, six simulated platforms (sim/config.yaml) and a
    worker that delivers to them by signed webhook; sends synthetic
    multilingual traffic; shows a live scoreboard; ends with the compliance
    report, its plot, and a check that each platform's measured median time
    to removal agrees with the configured one. Exit status 1 when a check fails.
    """
    from streams.simulate import run_simulation

    sys.exit(run_simulation(minutes, time_scale, rate, drain_seconds, keep_broker, out_dir))


@cli.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Count requests made from this time (UTC).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Count requests made before this time (UTC).",
)
@click.option("--format", "output_format", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw one survival curve per platform into this PNG.",
)
@click.option(
    "--ledger",
    "ledger_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Read ledger records from this JSON-lines file (as `modwatch tail ledger` prints) instead of Kafka.",
)
@click.option("--broker", envvar="KAFKA_BOOTSTRAP_SERVERS", default=None, help="host:port[,host:port].")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1.0),
    default=1.0,
    show_default=True,
    help="For simulator runs (modwatch simulate): platform seconds per wall second; "
    "open requests are censored at their elapsed wall time times this.",
)
@click.option(
    "--alerts",
    "alerts_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --ledger: alerts as JSON lines, for the campaigns section.",
)
def report(since, until, output_format, plot_path, ledger_file, broker, time_scale, alerts_file) -> None:
    """Time to removal per platform, category and jurisdiction, from the ledger.

    Medians and 90th percentiles are Kaplan-Meier estimates that count open
    requests as not removed yet.
    """
    from datetime import UTC, datetime

    from takedowns import compliance

    since = since.replace(tzinfo=UTC) if since else None
    until = until.replace(tzinfo=UTC) if until else None
    alerts = []
    if ledger_file:
        records = read_ledger_file(ledger_file)
        if alerts_file:
            alerts = read_ledger_file(alerts_file)
    else:
        topic, bootstrap = _resolve("ledger", broker)
        records = asyncio.run(read_topic(topic, bootstrap))
        alerts_topic, _ = _resolve("alerts", broker)
        alerts = asyncio.run(read_topic(alerts_topic, bootstrap))
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


@cli.command()
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


@cli.group(invoke_without_command=True)
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Config folder (default: ./config or MODWATCH_CONFIG_DIR).",
)
@click.pass_context
def designations(context: click.Context, config_dir: Path | None) -> None:
    """Designated-organisation lists: with no subcommand, coverage per jurisdiction.

    For each jurisdiction of jurisdictions.yaml: the lists whose designations
    count there (the UN list everywhere, a national list in its own
    jurisdiction), how many organisations they designate, how many of those
    have names in each language, and whether the list is verified.
    """
    if context.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from detectors.configfile import Problems
    from detectors.designations import load_all_designations
    from detectors.pipeline import load_jurisdictions
    from streams.settings import default_config_dir

    config_dir = config_dir or default_config_dir()
    problems = Problems()
    organisations = load_all_designations(config_dir, problems)
    jurisdictions, _ = load_jurisdictions(config_dir / "jurisdictions.yaml", problems)
    problems.raise_if_any()
    table = Table(title=f"Designations by jurisdiction ({config_dir})")
    for column in (
        "jurisdiction",
        "list",
        "applies",
        "organisations",
        "en",
        "ur",
        "roman_ur",
        "ps",
        "review_only",
        "verified",
    ):
        table.add_column(
            column, justify="left" if column in ("jurisdiction", "list", "applies", "verified") else "right"
        )
    lists: dict[str, dict] = {}
    for organisation in organisations:
        for designation in organisation.designations:
            entry = lists.setdefault(
                designation.list_name,
                {"jurisdiction": designation.jurisdiction, "organisations": {}, "verified": designation.verified},
            )
            entry["organisations"][organisation.id] = organisation
    for code in jurisdictions:
        for list_name, entry in sorted(lists.items()):
            if entry["jurisdiction"] not in ("*", code):
                continue
            listed = entry["organisations"].values()
            languages = [
                sum(any(language == wanted for language, _ in o.aliases) for o in listed)
                for wanted in ("en", "ur", "roman_ur", "ps")
            ]
            table.add_row(
                code,
                list_name,
                "everywhere" if entry["jurisdiction"] == "*" else code,
                str(len(listed)),
                *map(str, languages),
                str(sum(o.review_only for o in listed)),
                "yes" if entry["verified"] else "NO: compiled from public reports, verify",
            )
    Console(width=None if sys.stdout.isatty() else 160).print(table)


UN_SOURCE = Path(__file__).resolve().parent.parent / "detectors" / "datasets" / "un_sc"


@designations.command("build-un")
@click.option(
    "--xml",
    "xml_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=UN_SOURCE / "consolidated_list_2024-09-26.xml.gz",
    show_default=True,
    help="UN Security Council Consolidated List XML (.xml or .xml.gz).",
)
@click.option(
    "--overlay",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=UN_SOURCE / "overlay.yaml",
    show_default=True,
    help="modwatch's spellings, acronyms and exclusions applied on top.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here (default: standard output).",
)
def build_un(xml_path: Path, overlay: Path, out: Path | None) -> None:
    """Build designations.yaml from the UN 1267 and 1988 lists."""
    from detectors.unlist import build

    text = build(xml_path, overlay)
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


from streams.cli_export import export  # noqa: E402 - commands defined in their own modules
from streams.cli_hash import hash_images, import_hash_list  # noqa: E402
from streams.cli_model import evaluate, train  # noqa: E402
from streams.cli_threat import evaluate_threat  # noqa: E402

cli.add_command(export)
cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(evaluate_threat)
cli.add_command(hash_images)
cli.add_command(import_hash_list)

if __name__ == "__main__":
    main()
