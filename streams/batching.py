"""Batches sized by arrival rate: ``take_batches``, Faust's ``Stream.take_events`` with an idle close.

Faust's ``take_events(max, within)`` yields a batch when ``max`` events have
come or ``within`` seconds have passed, so on a quiet stream every post waits
up to ``within`` for company that never comes. ``take_batches`` also closes a
batch as soon as no event has arrived for ``idle`` seconds: when traffic is
light a post leaves after ``idle``; under load events arrive back to back (a
fetch brings many at once) and batches fill up to ``max``, as before. The
batch is still never older than ``within``.

It uses the same Stream internals as ``take_events`` (a processor fills the
buffer while the stream is consumed passively; events are acknowledged only
after the batch has been handled), so offsets are committed exactly as they
are with ``take_events``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from mode.utils.futures import notify


def take_batches(stream, max_: int, within: float, idle: float) -> AsyncGenerator[list, None]:
    """Lists of at most ``max_`` events: full, ``idle`` seconds without a new event, or ``within`` after the first."""
    batches = _take_batches(stream, max_, within, idle)
    stream._active_agens.add(batches)  # Stream.on_stop closes it, as it closes take_events' generators
    return batches


async def _fill(stream, events: list, arrived: asyncio.Event, max_: int, closes_at: float, idle: float) -> None:
    """Wait while the batch grows: until it is full, ``idle`` passes without an event, or ``closes_at``."""
    loop = asyncio.get_running_loop()
    while len(events) < max_:
        remaining = closes_at - loop.time()
        if remaining <= 0:
            return
        arrived.clear()
        if await stream.wait_for_stopped(arrived, timeout=min(idle, remaining)) or not arrived.is_set():
            return  # the stream stops, or nothing came for ``idle`` seconds


async def _take_batches(stream, max_: int, within: float, idle: float) -> AsyncGenerator[list, None]:
    loop = asyncio.get_running_loop()
    events: list = []
    arrived = asyncio.Event()  # set by every event added; cleared by the waiting loop
    consumed = asyncio.Event()
    consuming: asyncio.Future | None = None
    enable_acks = stream.enable_acks

    async def add(value):
        nonlocal consuming
        if consuming is not None:  # a batch is being handled: nothing joins the buffer meanwhile
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_batches found no current event")
        events.append(event)
        arrived.set()
        if len(events) >= max_:
            consumed.clear()
            await stream.wait(consumed)  # never more than max_ in a batch
        return value

    stream.enable_acks = False  # acknowledged below, once the batch has been handled
    stream.add_processor(add)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if await stream.wait_for_stopped(arrived):
                break
            await _fill(stream, events, arrived, max_, loop.time() + within, idle)
            if not events:
                continue
            batch = list(events)
            consuming = loop.create_future()
            try:
                yield batch
            finally:
                events.clear()
                for event in batch:
                    await stream.ack(event)
                arrived.clear()
                notify(consuming)
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add)
