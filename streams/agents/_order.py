"""Each input record once and in order (streams/offsets.py explains why Faust alone does not)."""

from __future__ import annotations

import logging
import time

from streams.app import MAX_MESSAGE_BYTES, app
from streams.offsets import Cursor, OffsetProbe
from streams.runtime import current
from streams.settings import bootstrap_servers

log = logging.getLogger("modwatch.agents")


class InputOrder:
    """Asks the :class:`Cursor` about each record; probes the broker and seeks back on a gap."""

    def __init__(self, broker: str):
        self.cursor = Cursor()
        self.probe = OffsetProbe(bootstrap_servers(broker), MAX_MESSAGE_BYTES)

    async def admit(self, event) -> bool:
        """Whether to handle this record: each offset of a partition once, in order."""
        message = event.message
        tp, offset, now = message.tp, message.offset, time.monotonic()
        if not self.cursor.known(tp):
            self.cursor.start(tp, await self._next_offset_of(tp), now)
        verdict = self.cursor.admit(tp, offset, now)
        if verdict == "handle":
            return True
        if verdict == "duplicate":
            current().metrics.redeliveries.labels(tp.topic).inc()
            return False
        if verdict == "gap":
            expected = self.cursor.expected(tp)
            first = await self.probe.first_at_or_after(tp.topic, tp.partition, expected)
            if first == offset:  # offsets in between do not exist (transaction markers)
                self.cursor.accept(tp, offset, now)
                return True
            await self.rewind(tp, expected, f"offset {offset} arrived while {expected} was expected")
        # Marked done without an ack: Faust will not commit past it; it comes again after the seek.
        message.acked = True
        return False

    @staticmethod
    async def _next_offset_of(tp) -> int:
        committed = app.consumer._committed_offset.get(tp)  # Faust keeps no public accessor for it
        if committed is not None and committed >= 0:
            return committed
        earliest = await app.consumer.earliest_offsets(tp)
        return earliest.get(tp) or 0

    async def rewind(self, tp, to: int, why: str) -> None:
        self.cursor.rewound(tp, to, time.monotonic())
        current().metrics.rewinds.labels(tp.topic).inc()
        log.warning(
            "rewinding %s[%s] to offset %d: %s",
            tp.topic,
            tp.partition,
            to,
            why,
            extra={"topic": tp.topic, "partition": tp.partition, "offset": to},
        )
        await app.consumer.seek(tp, to)

    async def rewind_stalled(self) -> None:
        """Rewind a partition whose records stopped arriving short of its high-water mark."""
        consumer, cursor = app.consumer, self.cursor
        assigned = consumer.assignment()
        for tp in list(cursor.partitions):
            if tp not in assigned or not cursor.due(tp, consumer.highwater(tp), time.monotonic()):
                continue
            expected = cursor.expected(tp)
            first = await self.probe.first_at_or_after(tp.topic, tp.partition, expected)
            if first is None:
                cursor.idle(tp, time.monotonic())
            elif cursor.known(tp):
                await self.rewind(tp, first, f"no record at or after {expected} arrived")


@app.on_partitions_revoked.connect
async def forget_revoked_partitions(sender, revoked, **kwargs) -> None:
    order = current().order
    if isinstance(order, InputOrder):
        order.cursor.forget(revoked)


@app.timer(interval=2.0)
async def rewind_stalled_partitions():
    order = current().order
    if not app.rebalancing and isinstance(order, InputOrder):
        await order.rewind_stalled()
