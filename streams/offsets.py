"""Every record of an input partition once and in order, whatever a rebalance does.

Faust prefetches records into each agent's queue and clears those queues when
a rebalance starts. Its consumer then seeks back to the committed offset, but
it also remembers the highest offset it handed out and drops any record below
it, and aiokafka does not seek at all for a partition with no committed offset
yet. Between them a record can be fetched, cleared and never redelivered while
the records after it are handled and committed. tests/test_faults.py caught
this: a worker joining and leaving under load lost a takedown request in
roughly one run of ten.

:class:`Cursor` keeps, per partition, the next offset an agent expects, and an
agent asks it about each record before handling it:

``handle``     the expected offset;
``duplicate``  a lower one: a redelivery of a record already handled;
``gap``        a higher one: the caller asks the broker whether the offsets in
               between exist (:class:`OffsetProbe`). If they do not (a
               transaction marker), it handles the record (:meth:`accept`);
               if they do, records went missing: it seeks the partition back
               to the expected offset (:meth:`rewound`);
``skip``       a higher one while a rewind is under way: records still queued
               from before the seek. The caller marks them handled-by-nobody
               so that Faust never commits past them; they come again.

A rewind can itself race with the prefetch, and the lost records may be the
last ones in the partition, so a timer calls :meth:`due` and rewinds again
any partition that has records past the expected offset but has not moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["handle", "duplicate", "gap", "skip"]


@dataclass
class _Partition:
    expected: int
    progressed_at: float
    rewound_at: float | None = None  # when we last sought back to ``expected``


@dataclass
class Cursor:
    """Per-partition expected offsets: pure bookkeeping; the caller probes and seeks."""

    retry_after: float = 5.0  # a rewind that has not delivered the expected record by then is repeated
    stall_after: float = 15.0  # a partition behind its high-water mark and still for this long is rewound
    partitions: dict[Hashable, _Partition] = field(default_factory=dict)

    def known(self, tp: Hashable) -> bool:
        return tp in self.partitions

    def start(self, tp: Hashable, expected: int, now: float) -> None:
        """The partition is (again) ours; its next record should be ``expected``."""
        self.partitions[tp] = _Partition(expected=expected, progressed_at=now)

    def forget(self, tps) -> None:
        """Partitions revoked in a rebalance: another worker may move them on."""
        for tp in tps:
            self.partitions.pop(tp, None)

    def expected(self, tp: Hashable) -> int | None:
        part = self.partitions.get(tp)
        return None if part is None else part.expected

    def admit(self, tp: Hashable, offset: int, now: float) -> Verdict:
        part = self.partitions[tp]
        if offset == part.expected:
            self.accept(tp, offset, now)
            return "handle"
        if offset < part.expected:
            return "duplicate"
        return "skip" if part.rewound_at is not None else "gap"

    def accept(self, tp: Hashable, offset: int, now: float) -> None:
        """``offset`` is handled; nothing between the expected offset and it exists."""
        part = self.partitions[tp]
        part.expected = offset + 1
        part.progressed_at = now
        part.rewound_at = None

    def rewound(self, tp: Hashable, to: int, now: float) -> None:
        """The partition was sought back to ``to``; skip records until it comes."""
        part = self.partitions[tp]
        part.expected = to
        part.rewound_at = now

    def due(self, tp: Hashable, highwater: int | None, now: float) -> bool:
        """Whether the partition needs a (new) rewind to its expected offset."""
        part = self.partitions.get(tp)
        if part is None:
            return False
        if part.rewound_at is not None:
            return now - part.rewound_at >= self.retry_after
        return highwater is not None and highwater > part.expected and now - part.progressed_at >= self.stall_after

    def idle(self, tp: Hashable, now: float) -> None:
        """Checked and found nothing to fetch (the high-water mark is past a marker)."""
        part = self.partitions.get(tp)
        if part is not None:
            part.progressed_at = now
            part.rewound_at = None


class OffsetProbe:
    """Asks the broker which offset the first record at or after a position has.

    Its own consumer, outside the group: it commits nothing and moves no
    partition. Used only when a gap is seen, so its cost does not matter.
    """

    def __init__(self, bootstrap_servers: str, max_bytes: int, timeout: float = 5.0):
        self.bootstrap_servers = bootstrap_servers
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._consumer = None
        self._lock = asyncio.Lock()

    async def first_at_or_after(self, topic: str, partition: int, offset: int) -> int | None:
        """The first record's offset, or None when there is none (or the broker is silent)."""
        from aiokafka import TopicPartition

        async with self._lock:
            consumer = await self._started()
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            batch = await consumer.getmany(tp, timeout_ms=int(self.timeout * 1000), max_records=1)
            records = batch.get(tp, [])
            return records[0].offset if records else None

    async def _started(self):
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer

            from streams import kafka_auth

            consumer = AIOKafkaConsumer(
                **kafka_auth.client_options(),
                bootstrap_servers=self.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_bytes=self.max_bytes,
                max_partition_fetch_bytes=self.max_bytes,
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
