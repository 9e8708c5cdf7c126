"""streams/batching.py: batches close when full, when the stream goes quiet, or when old enough."""

from __future__ import annotations

import asyncio

from tests.conftest import tables_in_memory

with tables_in_memory():
    from streams.app import app
    from streams.batching import take_batches

SETTINGS = {"max_": 3, "within": 30.0, "idle": 0.05}
batches: list[list[int]] = []


@app.agent(app.channel(), name="test_batching")
async def collect(stream):
    async for events in take_batches(stream, **SETTINGS):
        batches.append([event.value for event in events])


async def wait_for(count: int) -> None:
    for _ in range(400):
        if sum(len(batch) for batch in batches) >= count:
            return
        await asyncio.sleep(0.01)


async def test_a_quiet_stream_closes_each_batch_at_once_instead_of_waiting_for_company():
    batches.clear()
    async with collect.test_context() as agent:
        for value in range(3):
            await agent.put(value)
            await wait_for(value + 1)  # the `within` of 30 s would time the test out
    assert batches == [[0], [1], [2]]


async def test_a_busy_stream_fills_batches_and_never_exceeds_the_maximum():
    batches.clear()
    async with collect.test_context() as agent:
        for value in range(7):
            await agent.put(value)  # back to back: no gap of `idle`
        await wait_for(7)
    assert [value for batch in batches for value in batch] == list(range(7))
    assert all(len(batch) <= 3 for batch in batches) and batches[0] == [0, 1, 2]


async def test_a_batch_is_never_older_than_within_however_steady_the_trickle(monkeypatch):
    batches.clear()
    monkeypatch.setitem(SETTINGS, "within", 0.15)
    monkeypatch.setitem(SETTINGS, "max_", 100)
    async with collect.test_context() as agent:
        for value in range(12):
            await agent.put(value)
            await asyncio.sleep(0.03)  # shorter than `idle`: only `within` can close the batch
        await wait_for(12)
    assert [value for batch in batches for value in batch] == list(range(12))
    assert len(batches) >= 2 and all(len(batch) < 12 for batch in batches)
