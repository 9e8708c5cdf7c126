"""``modwatch lag``: how far behind the workers are, per input partition, from the broker alone.

What ``kafka-consumer-groups.sh --describe`` would say, for the two groups
modwatch commits in: ``<app_id>-scan`` (the posts topic, read by the scan
stage's batched consumer) and ``<app_id>`` (every other input topic, and posts
when ``scan_consumer`` is ``faust``). Lag is the partition's end offset less
the group's committed offset; a partition the group never committed counts
from the partition's first offset. Works with every worker stopped, which is
when it is wanted most (the runbooks of deploy/prometheus/rules use it).
"""

from __future__ import annotations

import asyncio

import click
import orjson

from streams.cli._options import broker_option
from streams.cli._topics import ensure_topics_at, reading, resolve


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON line per partition instead of a table.")
@broker_option()
def lag(as_json: bool, broker: str | None) -> None:
    """Records not yet handled, per input topic and partition, for modwatch's consumer groups."""
    from streams.settings import Settings

    settings = Settings.load()
    bootstrap = resolve("posts", broker)[1]
    ensure_topics_at(bootstrap)  # an unreachable broker: one line, exit 2
    rows = asyncio.run(_lags(settings, bootstrap))
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"consumer lag ({sum(row['lag'] for row in rows):,} records in all)")
    for column in ("group", "topic", "partition", "committed", "end", "lag"):
        table.add_column(column)
    for row in rows:
        committed = "-" if row["committed"] is None else f"{row['committed']:,}"
        table.add_row(
            row["group"], row["topic"], str(row["partition"]), committed, f"{row['end']:,}", f"{row['lag']:,}"
        )
    Console().print(table)


def groups_of(settings) -> dict[str, list[str]]:
    """Consumer group -> the input topics whose offsets it commits."""
    others = [settings.topic(name) for name in ("reports", "platform-status", "decisions")]
    posts = settings.topic("posts")
    if settings.scan_consumer == "batched":
        return {f"{settings.app_id}-scan": [posts], settings.app_id: others}
    return {settings.app_id: [posts, *others]}


async def _lags(settings, bootstrap: str) -> list[dict]:
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from streams import kafka_auth

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_auth.client_options())
    await admin.start()
    rows = []
    try:
        async with reading(bootstrap=bootstrap) as consumer:
            for group, topics in groups_of(settings).items():
                described = await admin.describe_topics(topics)
                partitions = [
                    TopicPartition(topic["topic"], part["partition"])
                    for topic in described
                    if not topic.get("error_code")
                    for part in sorted(topic["partitions"], key=lambda part: part["partition"])
                ]
                if not partitions:
                    continue
                committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
                starts, ends = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
                for tp in partitions:
                    meta = committed.get(tp)
                    at = meta.offset if meta is not None and meta.offset >= 0 else None
                    rows.append(
                        {
                            "group": group,
                            "topic": tp.topic,
                            "partition": tp.partition,
                            "committed": at,
                            "end": ends[tp],
                            "lag": max(0, ends[tp] - (at if at is not None else starts[tp])),
                        }
                    )
    finally:
        await admin.close()
    return rows
