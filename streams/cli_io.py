"""Reading what modwatch wrote: a whole topic up to its end, or a file of JSON lines saved from one.

One helper for every command that reads an output topic (``report``,
``export``, ``simulate``), so each reads the same way: from the earliest
offset to the end offsets at the time of the call, with the SASL settings of
streams/kafka_auth.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import orjson


def read_ledger_file(path: Path) -> list[dict]:
    """The records of a ledger (or alerts) file: JSON lines, each a record or ``{key, value}`` as ``modwatch tail`` prints."""
    records = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise click.ClickException(f"{path}:{number}: not JSON: {error}") from None
            records.append(record["value"] if isinstance(record, dict) and "value" in record else record)
    return records


async def read_topic(topic: str, bootstrap: str, wait_seconds: float = 10.0) -> list[dict]:
    """Every record of ``topic`` up to its end at the time of the call."""
    from aiokafka import AIOKafkaConsumer

    from streams import kafka_auth

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        **kafka_auth.client_options(),
    )
    await consumer.start()
    records = []
    try:
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                return []  # no such topic: nothing recorded yet
            await asyncio.sleep(0.1)
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        remaining = {partition for partition in partitions if ends[partition] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for partition, messages in batch.items():
                records.extend(orjson.loads(message.value) for message in messages if message.value)
                if messages and messages[-1].offset + 1 >= ends[partition]:
                    remaining.discard(partition)
    finally:
        await consumer.stop()
    return records
