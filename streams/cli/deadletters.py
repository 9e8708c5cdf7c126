"""``modwatch deadletter list|replay``: what was refused, and sending it again once the cause is fixed.

A dead letter names its source record (topic, partition, offset) and keeps
a 4 KiB preview of it and, up to 15 MiB, the whole record (streams/deadletter.py). ``replay`` reads the source record itself back from
its topic (Kafka keeps input for its retention, 7 days by default) and
produces its key, value and headers to the same topic again, with a
``modwatch-replay-of: topic:partition:offset`` header, so that a worker whose
config now accepts it (a platform added, a limit raised) handles it like any
new record. A record no longer on its topic is replayed from the dead
letter's copy when that copy is whole, and reported otherwise. Only input
topics are replayed; a replayed record that is refused again is dead-lettered
again, with its new offset.
"""

from __future__ import annotations

import asyncio

import click
import orjson

from streams.cli._options import broker_option
from streams.cli._topics import ensure_topics_at, read_keyed, reading, resolve, writing
from streams.cli.pipeline import PRODUCE_TOPICS
from streams.deadletter import whole_record

REPLAY_HEADER = "modwatch-replay-of"


@click.group()
def deadletter() -> None:
    """Dead letters: list them, replay them once the cause is fixed."""


def _selected(broker: str | None, reason: str | None, topic: str | None) -> tuple[list[dict], str]:
    name, bootstrap = resolve("deadletter", broker)
    ensure_topics_at(bootstrap)  # an unreachable broker: one line, exit 2
    source = resolve(topic, broker)[0] if topic else None
    letters = [
        letter
        for _, letter in asyncio.run(read_keyed(name, bootstrap))
        if letter is not None
        and (reason is None or letter.get("reason") == reason)
        and (source is None or letter.get("topic") == source)
    ]
    return letters, bootstrap


@deadletter.command("list")
@click.option("--reason", default=None, help="Only this reason (invalid_json, unknown_platform, ...).")
@click.option("--topic", default=None, help="Only records from this topic (posts, reports, ...).")
@broker_option()
def deadletter_list(reason: str | None, topic: str | None, broker: str | None) -> None:
    """One JSON line per dead letter: where from, why, and how large (the raw copies left out)."""
    letters, _ = _selected(broker, reason, topic)
    for letter in letters:
        click.echo(
            orjson.dumps({name: value for name, value in letter.items() if name not in ("raw", "raw_whole")}).decode()
        )
    click.echo(f"{len(letters)} dead letter(s)", err=True)


@deadletter.command("replay")
@click.option("--reason", default=None, help="Only this reason.")
@click.option("--topic", default=None, help="Only records from this input topic.")
@broker_option()
def deadletter_replay(reason: str | None, topic: str | None, broker: str | None) -> None:
    """Send the source record of each dead letter (from an input topic) to its topic again."""
    letters, bootstrap = _selected(broker, reason, topic)
    inputs = {resolve(name, broker)[0] for name in PRODUCE_TOPICS}
    chosen = [letter for letter in letters if letter.get("topic") in inputs]
    replayed, missing = asyncio.run(_replay(chosen, bootstrap))
    click.echo(f"replayed {replayed} of {len(letters)} dead letter(s)", err=True)
    skipped = len(letters) - len(chosen)
    if skipped:
        click.echo(
            f"{skipped} from topics modwatch writes or follows (not replayed: fix them at their source)", err=True
        )
    if missing:
        raise click.ClickException(
            f"{len(missing)} could not be replayed (gone from their topic, and the dead letter kept only a preview: the record was over 15 MiB): {missing[0]}"
        )


async def _replay(letters: list[dict], bootstrap: str) -> tuple[int, list[str]]:
    from aiokafka import TopicPartition

    replayed, missing = 0, []
    async with reading(bootstrap=bootstrap) as consumer, writing(bootstrap) as producer:
        acks = []
        for letter in letters:
            where = f"{letter['topic']}:{letter['partition']}:{letter['offset']}"
            tp = TopicPartition(letter["topic"], letter["partition"])
            found = await _record_at(consumer, tp, letter["offset"])
            if found is not None:
                key, value, headers = found.key, found.value, list(found.headers or ())
            elif (value := whole_record(letter)) is not None:
                key = letter["key"].encode() if letter.get("key") is not None else None
                headers = []
            else:
                missing.append(where)
                continue
            headers = [(name, data) for name, data in headers if name != REPLAY_HEADER]
            headers.append((REPLAY_HEADER, where.encode()))
            acks.append(await producer.send(letter["topic"], key=key, value=value, headers=headers))
            replayed += 1
        await asyncio.gather(*acks)
    return replayed, missing


async def _record_at(consumer, tp, offset: int):
    """The record at ``offset`` of ``tp``, or None when it is no longer there."""
    consumer.assign([tp])
    start = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    if not start <= offset < end:
        return None
    consumer.seek(tp, offset)
    for _ in range(20):
        for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
            if record.offset == offset:
                return record
            if record.offset > offset:
                return None
    return None
