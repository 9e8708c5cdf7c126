"""Create modwatch's topics before anything subscribes to or writes them.

A worker that subscribes to a topic that does not exist yet ignores it until
its next rebalance, and a producer that writes first lets the broker create it
with the broker's defaults. Both are avoided by creating every topic up front,
with the configured partition count (tables are co-partitioned with their
input streams, so all topics share it) and compaction on the two outputs that
keep one record per item.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams import kafka_auth
from streams.settings import TOPIC_NAMES, Settings, bootstrap_servers

COMPACTED = frozenset(
    {"alerts", "takedown-requests", "item-state", "account-state", "campaign-state", "hashbank", "watchlist"}
)
# The ledger is the audit trail: every record kept, for as long as the broker keeps anything.
KEPT_FOREVER = frozenset({"ledger"})


def topic_specs(settings: Settings) -> list[NewTopic]:
    return [
        NewTopic(
            name=settings.topic(name),
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            topic_configs={**_configs(name), "min.insync.replicas": str(settings.min_insync_replicas)},
        )
        for name in TOPIC_NAMES
    ]


def faust_leader_topic(settings: Settings) -> NewTopic:
    """Faust's ``<app_id>-__assignor-__leader`` topic, which Faust would otherwise create once running.

    Created up front, it is in every worker's first metadata: when Faust created it later, the
    consumers' next metadata refresh (at the latest after 5 minutes, at once when a broker is lost)
    saw a new topic in the subscription and rebalanced the group for it.
    """
    return NewTopic(
        name=f"{settings.app_id}-__assignor-__leader",
        num_partitions=1,
        replication_factor=settings.replication_factor,
        topic_configs={"min.insync.replicas": str(settings.min_insync_replicas)},
    )


def _configs(name: str) -> dict[str, str]:
    if name in COMPACTED:
        return {"cleanup.policy": "compact"}
    if name in KEPT_FOREVER:
        return {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
    return {}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that are missing; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker), **kafka_auth.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [*topic_specs(settings), faust_leader_topic(settings)]
        missing = [spec for spec in wanted if spec.name not in existing]
        if not missing:
            return []
        try:
            await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            pass  # another worker created it between our list and create
        return [spec.name for spec in missing]
    finally:
        await admin.close()


def ensure_topics_or_refuse(settings: Settings, where: str, timeout: float = 15.0) -> list[str]:
    """:func:`ensure_topics`, with an unreachable broker as one ``ConfigError`` line naming ``where``
    (exit code 2 from the command line) instead of a traceback and aiokafka's per-attempt errors."""
    import asyncio
    import logging

    from aiokafka.errors import KafkaError

    from detectors.configfile import ConfigError

    client_log = logging.getLogger("aiokafka")
    client_log.disabled = True  # its per-attempt errors would bury the one line below
    try:
        return asyncio.run(asyncio.wait_for(ensure_topics(settings), timeout))
    except (OSError, TimeoutError, KafkaError) as error:
        reason = str(error) if type(error).__name__ in str(error) else f"{type(error).__name__} {error}".strip()
        raise ConfigError([f"broker {where}: not reachable: {reason}"]) from None
    finally:
        client_log.disabled = False
