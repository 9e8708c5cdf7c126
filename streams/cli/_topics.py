"""The command line's Kafka clients: reading what modwatch wrote, and writing to its input topics.

Every command that reads a topic (``tail``, ``report``, ``demo``,
``simulate``) opens its consumer with :func:`reading`: outside any consumer
group, committing nothing, from the earliest offset unless told otherwise,
with the SASL settings of streams/kafka_auth.py. :func:`read_topic` reads a
whole topic up to its end offsets at the time of the call, and
:func:`keyed_batches` the same a fetch at a time; :func:`read_ledger_file`
reads the same records from a file of JSON lines saved from one, and
:func:`each_ledger_record` a line at a time. Every command that writes
(``produce``, ``demo``, ``simulate``) opens its producer with :func:`writing`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from streams.cli._options import InputRefused

# As large as the worker's own producer and consumer accept (streams/app.py MAX_MESSAGE_BYTES):
# a post with inline images is several megabytes.
MAX_RECORD_BYTES = 16 * 1024 * 1024


def ensure_topics_at(bootstrap: str, timeout: float = 15.0) -> None:
    """Create modwatch's topics on ``bootstrap`` where missing; an unreachable broker is one line, exit 2."""
    from dataclasses import replace

    from streams.admin import ensure_topics_or_refuse
    from streams.settings import Settings, broker_url

    ensure_topics_or_refuse(replace(Settings.load(), broker=broker_url(bootstrap)), bootstrap, timeout)


def resolve(topic: str, broker: str | None) -> tuple[str, str]:
    """A topic's full name (``posts`` is ``<prefix>.posts``) and the bootstrap servers: ``broker`` or the configured."""
    from streams.settings import TOPIC_NAMES, Settings, bootstrap_servers

    settings = Settings.load()
    if topic in TOPIC_NAMES:
        topic = settings.topic(topic)
    return topic, broker or bootstrap_servers(settings.broker)


@asynccontextmanager
async def reading(*topics: str, bootstrap: str, from_beginning: bool = True) -> AsyncIterator:
    """A started consumer of ``topics`` in no group (it commits nothing), stopped on the way out."""
    from aiokafka import AIOKafkaConsumer

    from streams import kafka_auth

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        group_id=None,
        **kafka_auth.client_options(),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def writing(bootstrap: str) -> AsyncIterator:
    """A started producer that waits for every in-sync replica, stopped (and so flushed) on the way out.

    Idempotent, as the worker's (streams/app.py): a retried send is never written twice."""
    from aiokafka import AIOKafkaProducer

    from streams import kafka_auth

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_RECORD_BYTES,
        **kafka_auth.client_options(),
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def read_topic(topic: str, bootstrap: str, wait_seconds: float = 10.0) -> list[dict]:
    """Every record of ``topic`` up to its end at the time of the call."""
    return [value for _, value in await read_keyed(topic, bootstrap, wait_seconds) if value is not None]


async def read_keyed(topic: str, bootstrap: str, wait_seconds: float = 10.0) -> list[tuple[str | None, dict | None]]:
    """Every record of ``topic`` up to its end at the time of the call, as (key, value); a tombstone's value is None."""
    return [record async for batch in keyed_batches(topic, bootstrap, wait_seconds) for record in batch]


async def keyed_batches(
    topic: str, bootstrap: str, wait_seconds: float = 10.0
) -> AsyncIterator[list[tuple[str | None, dict | None]]]:
    """The records of ``topic`` up to its end at the time of the call, a fetch at a time, as (key, value).

    For readers that fold a topic into something smaller (``report`` keeps the
    latest record of each request) and need not hold all of it at once.
    """
    async with reading(topic, bootstrap=bootstrap) as consumer:
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                return  # no such topic: nothing recorded yet
            await asyncio.sleep(0.1)
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        remaining = {partition for partition in partitions if ends[partition] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for partition, messages in batch.items():
                yield [
                    (
                        message.key.decode(errors="replace") if message.key is not None else None,
                        orjson.loads(message.value) if message.value else None,
                    )
                    for message in messages
                ]
                if messages and messages[-1].offset + 1 >= ends[partition]:
                    remaining.discard(partition)


def read_ledger_file(path: Path, option: str = "--ledger", read: Callable[[Any], object] | None = None) -> list[dict]:
    """Every record of a ledger file, in a list (see :func:`each_ledger_record`)."""
    return list(each_ledger_record(path, option, read))


def each_ledger_record(
    path: Path, option: str = "--ledger", read: Callable[[Any], object] | None = None
) -> Iterator[dict]:
    """The records of a ledger file one line at a time: JSON lines, each a record or ``{key, value}``
    as ``modwatch tail`` prints.

    Each record must be what ``read`` accepts (a ledger record unless told:
    ``messages.read_alert`` for alerts). Anything else, such as a file of posts,
    is refused at its first bad line: a usage error naming the option, the file
    and the line (exit 2), not a report of nothing. The records before it have
    been handed out by then: a reader that must not act on part of a file
    collects them first (:func:`read_ledger_file`).
    """
    from takedowns import messages

    read = read or ledger_shaped
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                record = record["value"] if isinstance(record, dict) and "value" in record else record
                read(record)
            except (orjson.JSONDecodeError, messages.MessageError) as error:
                raise InputRefused(f"{option} {path}:{number}: {_what_is_wrong(error)}") from None
            yield record


# What a ledger record must carry to be read (ledger_shaped): a transition, or a delivery attempt.
TRANSITION_FIELDS = (("request_id", str), ("platform", str), ("seq", int), ("to", str))
ATTEMPT_FIELDS = (("request_id", str), ("platform", str), ("attempt", int))


def ledger_shaped(record: Any) -> None:
    """What ``report`` and ``export`` need of a ledger record: an object with its request and its
    place in the request's history (``seq`` and the state it moved ``to``), or a delivery attempt.
    Lighter than the whole schema, so that ledgers from other modwatch versions still read."""
    problem = _ledger_shape_problem(record)
    if problem:
        from takedowns import messages

        raise messages.MessageError(f"ledger record: {problem}")


def _ledger_shape_problem(record: Any) -> str | None:
    """What ``record`` lacks of a ledger record's shape; None when nothing (every line of a ledger: kept cheap)."""
    if not isinstance(record, dict):
        return f"{type(record).__name__} is not an object"
    fields = ATTEMPT_FIELDS if record.get("kind") == "delivery_attempt" else TRANSITION_FIELDS
    for name, kind in fields:
        if not isinstance(record.get(name), kind):
            return f"{name} is missing or not {kind.__name__}"
    return None


def _what_is_wrong(error: Exception) -> str:
    from takedowns import messages

    if isinstance(error, messages.MessageError):
        return f"not a record of this kind ({error})"
    return f"not JSON ({error})"
