"""``read_posts``: the scan stage on its own batched consumer, outside Faust's per-record machinery.

The scan stage is stateless: it reads posts and writes item-events, campaign
events and dead letters, and keeps no table. Read through a Faust agent, each
post pays Faust's per-record costs (the stream's event objects, acks, the
offset bookkeeping, the order cursor); here an aiokafka consumer of its own
(group ``<app_id>-scan``) fetches a batch, the same code as the agent's
(:func:`streams.agents.scan.handle_posts`) handles it, and its offsets are
committed once per batch. ``bench/RESULTS.md`` has the comparison;
``scan_consumer: faust`` (``MODWATCH_SCAN_CONSUMER``) brings the agent back.

What it keeps:

- **Order.** One task fetches and handles batches one after another; a batch
  holds each partition's records in offset order, and the consumer hands each
  offset once per assignment.
- **Nothing lost.** A batch's offsets are committed only after the broker has
  acknowledged every record the batch produced (the app's producer waits for
  all in-sync replicas). When an output is refused the batch's partitions are
  rewound to its first records and read again.
- **Nothing doubled.** A crash between the acknowledgements and the commit
  hands the batch again to the partition's next owner; its flags reach the item
  stage twice, which keeps one alert, request and transition per item.
- **Rebalance.** Before partitions are given away the listener waits for the
  batch in hand and its commit (:class:`_Handover`).
- **First start.** A partition this group has never committed starts where
  the Faust agent's group (``<app_id>``) had got to, so switching from
  ``scan_consumer: faust`` neither skips nor repeats the topic.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streams import kafka_auth
from streams.app import MAX_MESSAGE_BYTES, app, settings
from streams.settings import bootstrap_servers

log = logging.getLogger("modwatch.agents")

RETRY_SECONDS = 1.0  # after a refused output or a consumer failure, before reading again
FETCH_TIMEOUT_MS = 500


@dataclass(frozen=True, slots=True)
class Message:
    """Where a record was read: what Faust's ``event.message`` offers the scan code."""

    topic: str
    partition: int
    offset: int
    timestamp: float  # seconds, as Faust gives it (aiokafka gives milliseconds)
    tp: object


@dataclass(frozen=True, slots=True)
class Record:
    """A post record as the scan code reads a Faust event: ``key``, ``value``, ``headers``, ``message``."""

    key: bytes | None
    value: bytes | None
    headers: list
    message: Message

    @classmethod
    def of(cls, record, tp=None) -> Record:
        """``tp``: the record's partition when the caller has it (a fetch is keyed by them)."""
        tp = tp or TopicPartition(record.topic, record.partition)
        message = Message(record.topic, record.partition, record.offset, record.timestamp / 1000.0, tp)
        return cls(record.key, record.value, list(record.headers or ()), message)


class PostReader:
    """Fetch a batch, handle it, wait for its outputs, commit it; again."""

    def __init__(self, consumer_factory=None, handle=None):
        self.lock = asyncio.Lock()  # held from a batch's fetch result to its commit
        self.committed: dict = {}  # TopicPartition -> next offset, for the lag gauge
        self.consumer = None
        self.stopping = False  # the worker is shutting down: no new batch is started
        self._consumer_factory = consumer_factory or self._new_consumer
        self._handle = handle

    def _new_consumer(self):
        return AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings.broker),
            group_id=scan_group(),
            client_id=f"{settings.app_id}-scan",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
            fetch_max_bytes=max(52_428_800, MAX_MESSAGE_BYTES),
            session_timeout_ms=int(settings.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(min(3.0, settings.session_timeout_seconds / 3) * 1000),
            **kafka_auth.client_options(),
        )

    async def run(self) -> None:
        """Read until cancelled; a failing consumer is started again after RETRY_SECONDS."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the scan stage must not stop: log it, start again
                log.exception("post reader failed; starting it again in %.0f s", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _consume(self) -> None:
        consumer = self.consumer = self._consumer_factory()
        consumer.subscribe([settings.topic("posts")], listener=_Handover(self))
        await consumer.start()
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=settings.scan_batch_size)
                if fetched and not self.stopping:  # left uncommitted when stopping: read again after the restart
                    async with self.lock:
                        await self.handle_batch(consumer, fetched)
        finally:
            self.consumer = None
            self.committed.clear()
            await consumer.stop()

    async def handle_batch(self, consumer, fetched: dict) -> bool:
        """Handle one fetch (partition -> records); commit it once every output is acknowledged.

        Returns whether it was committed. A refused output rewinds the batch's
        partitions so that it is read again; a commit refused because the group
        has moved on leaves the batch to the partitions' next owner.
        """
        from streams.agents.scan import handle_posts

        records = [Record.of(record, tp) for tp, batch in fetched.items() for record in batch]
        try:
            acks = await (self._handle or handle_posts)(records, ordered=True)
            if acks:
                await asyncio.gather(*acks)
        except Exception:  # noqa: BLE001 - an output the broker refused: read the batch again
            log.exception("scan batch of %d posts not acknowledged; reading it again", len(records))
            self._rewind(consumer, fetched)
            await asyncio.sleep(RETRY_SECONDS)
            return False
        offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            log.warning("scan batch not committed (%s): the partitions' next owner reads it again", error)
            return False
        self.committed.update(offsets)
        return True

    @staticmethod
    def _rewind(consumer, fetched: dict) -> None:
        assigned = consumer.assignment()
        for tp, batch in fetched.items():
            if tp in assigned:
                consumer.seek(tp, batch[0].offset)

    def lags(self) -> dict:
        """(topic, partition) -> records not yet committed, for each partition this reader owns."""
        consumer = self.consumer
        if consumer is None:
            return {}
        found = {}
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            committed = self.committed.get(tp)
            if end is not None and committed is not None:
                found[(tp.topic, str(tp.partition))] = max(0, end - committed)
        return found


class _Handover(ConsumerRebalanceListener):
    """Finish the batch in hand before partitions move; start new ones where the app left off."""

    def __init__(self, reader: PostReader):
        self.reader = reader

    async def on_partitions_revoked(self, revoked) -> None:
        async with self.reader.lock:  # the batch in hand is handled and committed first
            for tp in revoked:
                self.reader.committed.pop(tp, None)

    async def on_partitions_assigned(self, assigned) -> None:
        consumer = self.reader.consumer
        if consumer is None or not assigned:
            return
        # Nothing is read from them until their start is settled: the fetcher starts at
        # once, from the earliest offset for a group that never committed.
        consumer.pause(*assigned)
        try:
            await self._settle_starts(consumer, assigned)
        finally:
            consumer.resume(*assigned)

    async def _settle_starts(self, consumer, assigned) -> None:
        fresh = []
        for tp in assigned:
            committed = await consumer.committed(tp)
            if committed is None:
                fresh.append(tp)
            else:
                self.reader.committed[tp] = committed
        if not fresh:
            return
        for tp, offset in (await agent_group_offsets(fresh)).items():
            consumer.seek(tp, offset)
            self.reader.committed[tp] = offset
            log.info(
                "scan reader starts %s[%d] at %d, where the scan agent's group left off",
                tp.topic,
                tp.partition,
                offset,
                extra={"topic": tp.topic, "partition": tp.partition, "offset": offset},
            )


def scan_group() -> str:
    return f"{settings.app_id}-scan"


async def agent_group_offsets(partitions: list) -> dict:
    """The Faust agent group's committed offsets for these partitions (those it has)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker), **kafka_auth.client_options())
    try:
        await admin.start()
        found = await admin.list_consumer_group_offsets(settings.app_id, partitions=partitions)
    except KafkaError as error:
        log.warning("could not read the scan agent group's offsets (%s): new partitions start from the earliest", error)
        return {}
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta is not None and meta.offset >= 0}


READER = PostReader()


@app.on_before_shutdown.connect
async def finish_the_batch_in_hand(sender=None, **_) -> None:
    """A worker that stops commits the batch it is handling before its tasks are cancelled."""
    READER.stopping = True
    async with READER.lock:
        pass


if settings.scan_consumer == "batched":

    @app.task
    async def read_posts():
        """The scan stage's batched consumer (this module's docstring)."""
        await READER.run()
