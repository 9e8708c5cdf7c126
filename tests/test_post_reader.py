"""The scan stage's batched reader (streams/agents/post_reader.py) against a stand-in consumer: no broker.

What a fetch becomes (item-events, dead letters) uses the shipped config and
the recording producer of tests/test_agents.py; when offsets are committed,
rewound or handed over uses a consumer that records what it is asked. The
reader against Kafka runs in the end-to-end tests and the crash harness.
"""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from tests.conftest import ROOT, tables_in_memory
from tests.test_agents import VIOLATING, built_runtime, post, producer  # noqa: F401 - fixtures

with tables_in_memory():
    from streams.agents import post_reader
    from streams.app import settings

TOPIC = settings.topic("posts")
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class Consumer:
    """Records commits and seeks; owns the partitions it is given."""

    def __init__(self, *assigned: TopicPartition):
        self.assigned = set(assigned)
        self.commits: list[dict] = []
        self.seeks: list[tuple] = []
        self.refuse_commit = False

    def assignment(self) -> set:
        return set(self.assigned)

    async def commit(self, offsets: dict) -> None:
        if self.refuse_commit:
            raise CommitFailedError("the group rebalanced")
        self.commits.append(dict(offsets))

    def seek(self, tp, offset: int) -> None:
        self.seeks.append((tp, offset))

    def highwater(self, tp) -> int:
        return 100


def record(partition: int, offset: int, value: bytes | None, key: bytes | None = b"x:1") -> ConsumerRecord:
    return ConsumerRecord(TOPIC, partition, offset, 1_700_000_000_000, 0, key, value, None, 0, 0, [])


class Held:
    """A handler whose outputs the broker acknowledges only when the test says so."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future] = []
        self.seen: list = []

    async def __call__(self, records, *, ordered: bool):
        assert ordered
        self.seen.extend(records)
        future = asyncio.get_running_loop().create_future()
        self.acks.append(future)
        return [future]


def test_a_record_reads_as_a_faust_event_does():
    read = post_reader.Record.of(record(1, 7, None, key=None))
    assert read.key is None and read.value is None and read.headers == []
    assert (read.message.topic, read.message.partition, read.message.offset) == (TOPIC, 1, 7)
    assert read.message.timestamp == 1_700_000_000.0  # seconds, as Faust gives it
    assert read.message.tp == P1


async def test_a_batch_is_committed_only_after_every_output_is_acknowledged():
    handler, consumer = Held(), Consumer(P0, P1)
    reader = post_reader.PostReader(handle=handler)
    fetched = {P0: [record(0, 3, b"a"), record(0, 4, b"b")], P1: [record(1, 9, b"c")]}
    handling = asyncio.ensure_future(reader.handle_batch(consumer, fetched))
    await asyncio.sleep(0.05)
    assert [r.message.offset for r in handler.seen] == [3, 4, 9]  # each partition in offset order
    assert consumer.commits == [] and not handling.done()  # the broker has not acknowledged yet
    handler.acks[0].set_result(None)
    assert await handling is True
    assert consumer.commits == [{P0: 5, P1: 10}]
    assert reader.committed == {P0: 5, P1: 10}


async def test_a_refused_output_rewinds_the_batch_instead_of_committing_it(monkeypatch):
    monkeypatch.setattr(post_reader, "RETRY_SECONDS", 0)
    handler, consumer = Held(), Consumer(P0)  # P1 has moved to another worker meanwhile
    reader = post_reader.PostReader(handle=handler)
    fetched = {P0: [record(0, 3, b"a"), record(0, 4, b"b")], P1: [record(1, 9, b"c")]}
    handling = asyncio.ensure_future(reader.handle_batch(consumer, fetched))
    await asyncio.sleep(0.01)
    handler.acks[0].set_exception(RuntimeError("broker refused the record"))
    assert await handling is False
    assert consumer.commits == [] and consumer.seeks == [(P0, 3)]


async def test_a_commit_refused_after_a_rebalance_leaves_the_batch_to_the_next_owner():
    handler, consumer = Held(), Consumer(P0)
    consumer.refuse_commit = True
    reader = post_reader.PostReader(handle=handler)
    handling = asyncio.ensure_future(reader.handle_batch(consumer, {P0: [record(0, 3, b"a")]}))
    await asyncio.sleep(0.01)
    handler.acks[0].set_result(None)
    assert await handling is False
    assert reader.committed == {} and consumer.seeks == []


async def test_partitions_are_handed_over_only_after_the_batch_in_hand_is_committed():
    handler, consumer = Held(), Consumer(P0)
    reader = post_reader.PostReader(handle=handler)
    reader.consumer = consumer

    async def fetched_and_handled():
        async with reader.lock:
            await reader.handle_batch(consumer, {P0: [record(0, 3, b"a")]})

    handling = asyncio.ensure_future(fetched_and_handled())
    await asyncio.sleep(0.01)
    revoking = asyncio.ensure_future(post_reader._Handover(reader).on_partitions_revoked({P0}))
    await asyncio.sleep(0.05)
    assert not revoking.done()  # waits for the batch in hand
    handler.acks[0].set_result(None)
    await asyncio.wait_for(revoking, 1)
    await handling
    assert consumer.commits == [{P0: 4}] and reader.committed == {}


async def test_lag_is_the_end_of_each_owned_partition_less_what_was_committed():
    reader = post_reader.PostReader()
    reader.consumer = Consumer(P0, P1)
    reader.committed = {P0: 60}  # P1 has nothing committed yet: no figure rather than a wrong one
    assert reader.lags() == {(TOPIC, "0"): 40}


async def test_a_fetch_becomes_flags_and_dead_letters_through_the_scan_code(producer):  # noqa: F811
    consumer = Consumer(P0)
    reader = post_reader.PostReader()
    fetched = {
        P0: [
            record(0, 0, post("1", VIOLATING), key=b"x:1"),
            record(0, 1, None, key=None),  # a null value: the contract's first break
            record(0, 2, post("3", "Cricket tonight: what an innings"), key=b"x:3"),
        ]
    }
    assert await reader.handle_batch(consumer, fetched) is True
    [(key, flagged)] = producer.records("item-events")
    assert key == "x:1" and flagged["flagged"]["action"] == "takedown"
    [(_, letter)] = producer.records("deadletter")
    assert (letter["partition"], letter["offset"]) == (0, 1)
    assert consumer.commits == [{P0: 3}]


async def test_a_broken_batch_is_retried_post_by_post_and_only_the_breaking_post_is_dead_lettered(producer):  # noqa: F811
    from streams.runtime import current

    pipeline = current().pipeline
    real_scan = pipeline.scan

    def breaks_on_one(posts):
        if any(p.post_id == "2" for p in posts):
            raise ValueError("a detector broke")
        return real_scan(posts)

    pipeline.scan = breaks_on_one
    try:
        fetched = {P0: [record(0, 0, post("1", VIOLATING), key=b"x:1"), record(0, 1, post("2", "x"), key=b"x:2")]}
        assert await post_reader.PostReader().handle_batch(Consumer(P0), fetched) is True
    finally:
        del pipeline.scan
    assert [key for key, _ in producer.records("item-events")] == ["x:1"]
    [(_, letter)] = producer.records("deadletter")
    assert letter["reason"] == "internal_error" and letter["offset"] == 1


async def test_detection_runs_on_the_loop_unless_the_batchs_images_still_need_hashing(producer, monkeypatch):  # noqa: F811
    """On a thread, the detectors and the loop hand Python's lock back and forth; the loop is kept free
    only when a batch's images must be hashed in the worker itself (no pool)."""
    import base64
    import threading

    from streams.agents import scan
    from streams.runtime import current

    pipeline = current().pipeline
    real_scan, threads = pipeline.scan, []

    def noting_the_thread(posts):
        threads.append(threading.current_thread() is threading.main_thread())
        return real_scan(posts)

    pipeline.scan = noting_the_thread
    png = (ROOT / "tests" / "data" / "pdq" / "images" / "misc-images" / "c.png").read_bytes()
    image = [{"kind": "image", "data_b64": base64.b64encode(png).decode()}]
    try:
        await scan.handle_posts(
            [post_reader.Record.of(record(0, 0, post("1", "Cricket tonight"), key=b"x:1"))], ordered=True
        )
        monkeypatch.setattr(type(current()), "hash_pool", lambda self: None)
        pictured = post("2", "Weekend photos", media=image)
        await scan.handle_posts([post_reader.Record.of(record(0, 1, pictured, key=b"x:2"))], ordered=True)
    finally:
        del pipeline.scan
    assert threads == [True, False]  # text only: on the loop; images to hash here: on a thread


async def test_the_worker_starts_its_hashing_processes_before_the_first_image(producer, monkeypatch):  # noqa: F811
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from streams.agents import scan
    from streams.runtime import current

    runtime = current()
    # spawn, as the worker's pool: processes start one by one as work arrives, not all at the first task.
    monkeypatch.setattr(runtime, "_hash_pool", ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")))
    try:
        await scan.warm_hash_pool()
        # Both processes started, and each hashed an image: the first real one waits for neither.
        assert len(runtime._hash_pool._processes) == 2
    finally:
        runtime._hash_pool.shutdown()


async def test_a_partition_never_committed_starts_where_the_agents_group_left_off_and_is_read_only_then(
    monkeypatch,
):
    """The fetcher starts reading from the earliest offset as soon as a partition is assigned:
    the partitions stay paused until the seek, or their first records would be handled twice."""
    events = []

    class Assigned(Consumer):
        def pause(self, *tps):
            events.append(("pause", set(tps)))

        def resume(self, *tps):
            events.append(("resume", set(tps)))

        async def committed(self, tp):
            events.append(("committed", tp))
            return 12 if tp == P1 else None  # P1: this group committed it before

        def seek(self, tp, offset):
            events.append(("seek", tp, offset))

    async def agent_group(partitions):
        events.append(("agent group", set(partitions)))
        return {P0: 7}

    monkeypatch.setattr(post_reader, "agent_group_offsets", agent_group)
    reader = post_reader.PostReader()
    reader.consumer = Assigned(P0, P1)
    await post_reader._Handover(reader).on_partitions_assigned({P0, P1})
    assert events[0] == ("pause", {P0, P1}) and events[-1] == ("resume", {P0, P1})
    assert ("agent group", {P0}) in events and ("seek", P0, 7) in events
    assert not any(event[0] == "seek" and event[1] == P1 for event in events)
    assert reader.committed == {P0: 7, P1: 12}
