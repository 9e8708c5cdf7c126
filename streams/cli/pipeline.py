"""``modwatch worker``, ``scan``, ``produce`` and ``tail``: running the pipeline, feeding it and reading it.

``worker``   the Faust worker on Kafka (streams/worker.py)
``scan``     the same validation and detectors over a JSONL file, with no Kafka
``produce``  a JSONL file to a topic, keyed by platform:post_id
``tail``     a topic's records as JSON lines
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import orjson

from detectors.events import InvalidEvent, item_key
from streams.cli._options import broker_option, config_option, output_option
from streams.cli._topics import ensure_topics_at, reading, resolve, writing


@click.command()
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


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@config_option()
@output_option("Write decisions here instead of standard output.")
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


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--topic",
    "-t",
    required=True,
    help="An input topic: posts, reports, platform-status or decisions (under the configured prefix), "
    "or a full name ending in one of them.",
)
@broker_option()
def produce(file: Path, topic: str, broker: str | None) -> None:
    """Send each line of FILE to an input TOPIC, keyed by platform:post_id where the line has them.

    Lines are sent as they are, valid or not: the worker is the one that
    validates. Exits 1 if the broker refused any of them.
    """
    _check_input_topic(topic)
    topic, bootstrap = resolve(topic, broker)
    ensure_topics_at(bootstrap)
    sent, refused = asyncio.run(_produce(file, topic, bootstrap))
    click.echo(f"sent {sent} record(s) to {topic}", err=True)
    if refused:
        raise click.ClickException(f"{topic}: the broker refused {len(refused)} record(s); first: {refused[0]}")


PRODUCE_TOPICS = ("posts", "reports", "platform-status", "decisions")
LIST_COMMANDS = {"hashbank": "modwatch bank", "watchlist": "modwatch watchlist"}


def _check_input_topic(topic: str) -> None:
    """Only modwatch's input topics: the others are written by modwatch itself, or need keyed records."""
    from streams.settings import TOPIC_NAMES

    short = topic.rsplit(".", 1)[-1] if "." in topic else topic
    if short in PRODUCE_TOPICS:
        return
    if short in LIST_COMMANDS:
        raise click.UsageError(f"--topic {topic}: a compacted topic of keyed changes; use {LIST_COMMANDS[short]}")
    if short in TOPIC_NAMES:
        raise click.UsageError(f"--topic {topic}: modwatch writes it; produce sends to {', '.join(PRODUCE_TOPICS)}")
    raise click.UsageError(f"--topic {topic}: not an input topic ({', '.join(PRODUCE_TOPICS)})")


async def _produce(file: Path, topic: str, bootstrap: str) -> tuple[int, list[str]]:
    """(records sent, the broker's refusals, line by line)."""
    sent, pending = 0, []
    async with writing(bootstrap) as producer:
        with file.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                pending.append((number, await producer.send(topic, value=line, key=_key_of(line))))
                sent += 1
        await producer.flush()
    refused = []
    for number, ack in pending:
        try:
            await ack
        except Exception as error:  # noqa: BLE001 - reported, not raised: the other lines were sent
            refused.append(f"{file}:{number}: {type(error).__name__}: {error}")
    return sent, refused


def _key_of(line: bytes) -> bytes | None:
    try:
        record = orjson.loads(line)
        return item_key(record["platform"], record["post_id"]).encode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


@click.command()
@click.argument("topic")
@broker_option()
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
    topic, bootstrap = resolve(topic, broker)
    ensure_topics_at(bootstrap)  # an unreachable broker: one line, exit 2
    asyncio.run(_tail(topic, bootstrap, from_beginning, timeout, max_records))


async def _tail(
    topic: str, bootstrap: str, from_beginning: bool, timeout: float | None, max_records: int | None
) -> None:
    seen = 0
    async with reading(topic, bootstrap=bootstrap, from_beginning=from_beginning) as consumer:
        while max_records is None or seen < max_records:
            batch = await consumer.getmany(timeout_ms=int((timeout or 1.0) * 1000))
            if not batch:
                if timeout is not None:
                    break
                continue
            for records in batch.values():
                for record in records:
                    sys.stdout.buffer.write(orjson.dumps(_as_line(record)) + b"\n")
                    seen += 1
            sys.stdout.flush()


def _as_line(record) -> dict:
    """A consumed record as ``tail`` prints it: the value as JSON when it is, else as text."""
    try:
        value = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        value = record.value.decode("utf-8", "backslashreplace")
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "backslashreplace") if record.key else None,
        "value": value,
    }
