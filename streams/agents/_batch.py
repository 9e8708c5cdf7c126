"""Events of one agent handled a batch at a time: one wait for the broker per batch, not per event.

An agent that must store state only after the broker has its outputs (the
item lifecycle: streams/agents/items.py) used to wait for the broker once per
event, one event after another: a round trip per flagged post. A
:class:`Batch` lets it handle each event of a batch in order, as before,
sending its outputs without waiting; then it waits once for every
acknowledgement of the batch, and only then stores the states, each under
its own event (so each table write goes to the changelog partition of the
event that caused it, as Faust writes it per event). Events of one key see the
state left by the ones before them in the batch.

Nothing about the guarantees changes: every output of the batch is
acknowledged before any state that remembers it is stored, so a crash at any
point repeats causes whose outputs are de-duplicated by their ids, and the
input offsets are committed only after the batch (``take_batches``
acknowledges its events once the batch has been handled). A key whose
outputs the broker did not take is not stored: its events go to the
dead-letter topic, as one event that broke its handling would.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator

from faust.streams import _current_event  # Faust keeps the event a table write belongs to here


@contextlib.contextmanager
def handling(event) -> Iterator[None]:
    """Table reads and writes in this block belong to ``event`` (its partition), as in Faust's own iteration."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class Batch:
    """What a batch's events produced: acknowledgements and states by key, and what to do after."""

    def __init__(self, table) -> None:
        self.table = table
        self.event = None  # the event being handled
        self.events: dict[str, list] = defaultdict(list)
        self.acknowledgements: dict[str, list[asyncio.Future]] = defaultdict(list)
        self.states: dict[str, dict] = {}
        self.stores: list[tuple] = []  # (event, key, state), in order
        self.after: list[tuple[str, Callable[[], None]]] = []  # (key, action) once stored

    def begin(self, key: str, event) -> None:
        self.event = event
        self.events[key].append(event)

    def state(self, key: str) -> dict | None:
        """The key's state as the events before this one in the batch left it."""
        return self.states[key] if key in self.states else self.table.get(key)

    def acknowledge(self, key: str, acknowledgements: list[asyncio.Future]) -> None:
        self.acknowledgements[key].extend(acknowledgements)

    def store(self, key: str, state: dict) -> None:
        self.states[key] = state
        self.stores.append((self.event, key, state))

    def then(self, key: str, action: Callable[[], None]) -> None:
        self.after.append((key, action))

    async def finish(self) -> dict[str, BaseException]:
        """Wait for the broker, then store each state and run what follows; the keys that failed, and why."""
        keys = list(self.acknowledgements)
        results = await asyncio.gather(
            *(asyncio.gather(*self.acknowledgements[key]) for key in keys), return_exceptions=True
        )
        failed = {key: result for key, result in zip(keys, results, strict=True) if isinstance(result, BaseException)}
        last = {key: index for index, (_, key, _) in enumerate(self.stores)}
        for index, (event, key, state) in enumerate(self.stores):
            if key not in failed and last[key] == index:  # a key's state once per batch: its latest
                with handling(event):
                    self.table[key] = state
        for key, action in self.after:
            if key not in failed:
                action()
        return failed
