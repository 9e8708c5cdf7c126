"""PDQ hash -> its bank entries, packed: 32 bytes and a 4-byte id per hash.

A bank of a million PDQ hashes held as a dict of hex strings to tuples of
entry objects took ~430 MB of the worker's memory; the same bank here takes
36 MB (bench/bench_bank_memory.py). Almost every hash carries one entry, and
a bank has a handful of (label, source) pairs, so a hash is a row of a sorted
array of 32-byte keys with the id of its pair, and its entry object is made
when a search finds it.

A hash with several entries (two organisations listing one image), and every
live change since the arrays were packed, sits in a small overlay dict; a
packed hash that was removed is an empty tuple there. When the overlay grows
past a sixteenth of the packed rows (or 4,096), :meth:`PdqEntries.compact`
packs everything again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

KEY = np.dtype((np.void, 32))
_MIN_OVERLAY = 4096


class PdqEntries:
    """A mapping of PDQ hex hash -> tuple of bank entries, as :class:`~detectors.hashbank.HashBank` uses it.

    ``entry(hash_type, hash, label, source)`` makes an entry (the bank's
    ``BankEntry``) for a packed hash when it is looked up.
    """

    def __init__(self, entries: Mapping[str, tuple[Any, ...]] | None = None, *, entry: Callable[..., Any]):
        self._entry = entry
        self._pairs: list[tuple[str, str]] = []
        self._pair_ids: dict[tuple[str, str], int] = {}
        self._overlay: dict[str, tuple[Any, ...]] = {}
        self._pack(dict(entries or {}))

    def _pair(self, entry: Any) -> int:
        pair = (entry.label, entry.source)
        found = self._pair_ids.get(pair)
        if found is None:
            found = self._pair_ids[pair] = len(self._pairs)
            self._pairs.append(pair)
        return found

    def _pack(self, entries: dict[str, tuple[Any, ...]]) -> None:
        """Single-entry hashes into the sorted arrays; the rest into the overlay."""
        single = [(value, found[0]) for value, found in entries.items() if len(found) == 1]
        self._overlay = {value: found for value, found in entries.items() if len(found) > 1}
        keys = np.frombuffer(bytes.fromhex("".join(value for value, _ in single)), dtype=KEY)  # one decode
        pairs = np.fromiter((self._pair(entry) for _, entry in single), dtype=np.uint32, count=len(single))
        order = np.argsort(keys, kind="stable")
        self._keys, self._pair_of = keys[order], pairs[order]
        self._packed_overridden = 0  # packed rows the overlay replaces or removes

    def _position(self, value: str) -> int:
        """Row of ``value`` in the packed arrays, or -1."""
        if not len(self._keys):
            return -1
        key = np.frombuffer(bytes.fromhex(value), dtype=KEY)
        position = int(np.searchsorted(self._keys, key[0]))
        return position if position < len(self._keys) and bool(self._keys[position] == key[0]) else -1

    def _packed_entry(self, value: str, position: int) -> tuple[Any, ...]:
        label, source = self._pairs[int(self._pair_of[position])]
        return (self._entry("pdq", value, label, source),)

    def get(self, value: str, default=None):
        if value in self._overlay:
            return self._overlay[value] or default
        position = self._position(value)
        return default if position < 0 else self._packed_entry(value, position)

    def __getitem__(self, value: str) -> tuple[Any, ...]:
        found = self.get(value)
        if found is None:
            raise KeyError(value)
        return found

    def __contains__(self, value: str) -> bool:
        return self.get(value) is not None

    def __setitem__(self, value: str, entries: tuple[Any, ...]) -> None:
        if value not in self._overlay and self._position(value) >= 0:
            self._packed_overridden += 1
        self._overlay[value] = tuple(entries)
        self._compact_if_due()

    def __delitem__(self, value: str) -> None:
        if value in self._overlay:
            if self._position(value) >= 0:
                self._overlay[value] = ()  # stays overridden: the packed row is gone
            else:
                del self._overlay[value]
        elif self._position(value) >= 0:
            self._overlay[value] = ()
            self._packed_overridden += 1
        else:
            raise KeyError(value)
        self._compact_if_due()

    def items(self) -> Iterator[tuple[str, tuple[Any, ...]]]:
        overlay = self._overlay
        for position, key in enumerate(self._keys):
            value = key.tobytes().hex()
            if value not in overlay:
                yield value, self._packed_entry(value, position)
        yield from ((value, found) for value, found in overlay.items() if found)

    def values(self) -> Iterator[tuple[Any, ...]]:
        return (found for _, found in self.items())

    def __iter__(self) -> Iterator[str]:
        return (value for value, _ in self.items())

    def __len__(self) -> int:
        """Hashes with at least one entry."""
        return len(self._keys) - self._packed_overridden + sum(1 for found in self._overlay.values() if found)

    def entry_count(self) -> int:
        overlaid = sum(len(found) for found in self._overlay.values())
        return len(self._keys) - self._packed_overridden + overlaid

    def rows(self) -> np.ndarray:
        """Every hash with an entry as an (n, 32) uint8 array, the layout of the PDQ index."""
        overlay = self._overlay
        if overlay:
            keep = np.ones(len(self._keys), dtype=bool)
            for value in overlay:
                position = self._position(value)
                if position >= 0:
                    keep[position] = False
            extra = b"".join(bytes.fromhex(value) for value, found in overlay.items() if found)
            keys = np.concatenate([self._keys[keep], np.frombuffer(extra, dtype=KEY)])
        else:
            keys = self._keys
        return np.frombuffer(keys.tobytes(), dtype=np.uint8).reshape(-1, 32)

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._pair_of.nbytes

    def _compact_if_due(self) -> None:
        if len(self._overlay) > max(_MIN_OVERLAY, len(self._keys) // 16):
            self.compact()

    def compact(self) -> None:
        """Pack the overlay's single-entry hashes too; drop removed rows."""
        self._pack(dict(self.items()))

    def packed(self) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]], dict[str, tuple[Any, ...]]]:
        """(keys as (n, 32) uint8, pair ids, pairs, overlay) after compacting: what :meth:`from_packed` takes."""
        self.compact()
        keys = np.frombuffer(self._keys.tobytes(), dtype=np.uint8).reshape(-1, 32)
        return keys, self._pair_of, list(self._pairs), dict(self._overlay)

    @classmethod
    def from_packed(
        cls,
        keys: np.ndarray,
        pair_of: np.ndarray,
        pairs: list[tuple[str, str]],
        overlay: dict[str, tuple[Any, ...]],
        *,
        entry: Callable[..., Any],
    ) -> PdqEntries:
        """The mapping :meth:`packed` described, without reading or sorting anything again."""
        if keys.ndim != 2 or keys.shape[1] != 32 or len(pair_of) != len(keys):
            raise ValueError(f"packed arrays do not match: keys {keys.shape}, pair ids {pair_of.shape}")
        if len(pair_of) and int(pair_of.max()) >= len(pairs):
            raise ValueError("a pair id beyond the pairs")
        made = cls.__new__(cls)
        made._entry = entry
        made._pairs = [tuple(pair) for pair in pairs]
        made._pair_ids = {pair: index for index, pair in enumerate(made._pairs)}
        made._overlay = dict(overlay)
        made._keys = np.ascontiguousarray(keys).view(KEY).reshape(-1)
        made._pair_of = np.asarray(pair_of, dtype=np.uint32)
        made._packed_overridden = 0
        return made
