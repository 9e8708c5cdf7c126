"""Exact radius search over PDQ hashes: the index behind the media hash bank.

PDQ radius search is the part of hash matching that needs an index.
:func:`brute_force_search` compares the query with every bank hash and is the
reference. :class:`PDQIndex` returns exactly the same results, faster, by
multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space
with multi-index hashing", CVPR 2012): it cuts each 256-bit hash into 16 substrings of 16 bits. Two hashes
within 31 bits differ in at most 1 bit in at least one substring (16
substrings each differing in 2 or more bits add up to at least 32), so the
candidates are the bank hashes that share some substring with the query up to
one flipped bit: 16 tables x 17 buckets, about 4,000 candidates in a bank of a
million, each then checked with an exact popcount. Larger radii probe more
buckets (all keys within ``ceil((r + 1) / 16) - 1`` bits); the result is exact
for every radius.

faiss's ``IndexBinaryMultiHash`` implements the same idea, but with one flipped
bit (``nflip=1``, needed to be exact at r = 31) its range search took 1.9 ms a
query on a bank of 1M, slower than faiss's own brute force (1.4 ms); this index
took 0.19 ms (bench/RESULTS.md, "PDQ index").

Live changes do not rebuild the index. An added hash goes to a small "delta"
searched by brute force; a removed one is marked dead and filtered out of
results. When the delta or the dead grow past a fraction of the bank, the
next change compacts everything into a fresh index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from detectors.hashing import PDQ_CONFIDENT_MATCH_THRESHOLD

PDQ_BYTES = 32

_SUBSTRINGS = 16  # 16 substrings of 16 bits: one table per substring
_KEYS = 1 << 16
# Up to 3 flipped bits per substring (radius <= 63) a query probes at most 16 x 697
# buckets; at 4 it would probe 40,000 and meet most of the bank: scan instead.
_MAX_FLIPS = 3
# Below 4,096 hashes a scan (~0.1 ms a query) costs what probing 272 buckets does.
_SCAN_BELOW = 4096
# Candidates examined per vectorised step: 65,536 keep the temporaries (~3 MB) in
# cache; a million made a batch of queries twice as slow per query.
_CANDIDATES_PER_STEP = 1 << 16


def _flip_masks(flips: int) -> np.ndarray:
    """Every 16-bit mask with at most ``flips`` bits set."""
    masks = np.arange(_KEYS, dtype=np.int64)
    return masks[np.bitwise_count(masks.astype(np.uint16)) <= flips]


_FLIP_MASKS = [_flip_masks(flips) for flips in range(_MAX_FLIPS + 1)]


def pdq_rows(hashes: Iterable[str]) -> np.ndarray:
    """Hex PDQ hashes -> an (n, 32) uint8 array, the layout every index here uses."""
    joined = b"".join(bytes.fromhex(value) for value in hashes)
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, PDQ_BYTES).copy()


def _words(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows, dtype=np.uint8).view(np.uint64).reshape(-1, PDQ_BYTES // 8)


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Set bits per row of an (n, 4) uint64 array, as int16 (a row may have all 256 set)."""
    counts = np.bitwise_count(words)
    return counts[:, 0].astype(np.int16) + counts[:, 1] + counts[:, 2] + counts[:, 3]


def brute_force_search(rows: np.ndarray, queries: np.ndarray, radius: int) -> list[list[tuple[int, int]]]:
    """For each query, every ``(row number, distance)`` with distance <= radius, by comparing with all rows.

    The reference the index is tested against, and the scan it uses for
    small banks and for the delta.
    """
    words, query_words = _words(rows), _words(queries)
    results: list[list[tuple[int, int]]] = [[] for _ in range(len(query_words))]
    if len(words) == 0:
        return results
    step = max(1, _CANDIDATES_PER_STEP // len(words))
    for start in range(0, len(query_words), step):
        block = query_words[start : start + step]
        distances = np.bitwise_count(words[np.newaxis, :, :] ^ block[:, np.newaxis, :]).sum(axis=2, dtype=np.int32)
        query_numbers, row_numbers = np.nonzero(distances <= radius)
        for query, row in zip(query_numbers.tolist(), row_numbers.tolist()):
            results[start + query].append((row, int(distances[query, row])))
    return results


class _MultiIndex:
    """Immutable multi-index hashing tables over an (n, 32) array of unique hashes."""

    def __init__(self, rows: np.ndarray):
        self.rows = np.ascontiguousarray(rows, dtype=np.uint8)
        self.words = _words(self.rows)
        count = len(self.rows)
        self.scan_only = count < _SCAN_BELOW
        if self.scan_only:
            return
        keys = self.rows.view(">u2").reshape(count, _SUBSTRINGS)
        # ids[offsets[t, k] : offsets[t, k + 1]] are the rows whose substring t is k:
        # a stable radix sort per table, linear in the bank.
        positions = np.int32 if _SUBSTRINGS * count < 2**31 else np.int64
        self.ids = np.empty(_SUBSTRINGS * count, dtype=positions)
        self.offsets = np.empty((_SUBSTRINGS, _KEYS + 1), dtype=positions)
        every_key = np.arange(_KEYS, dtype=np.uint16)  # same dtype as the column: no conversion of the column
        for table in range(_SUBSTRINGS):
            column = keys[:, table].astype(np.uint16)  # native and contiguous: radix-sorted fast
            order = np.argsort(column, kind="stable")
            self.ids[table * count : (table + 1) * count] = order
            self.offsets[table, :_KEYS] = np.searchsorted(column[order], every_key) + table * count
            self.offsets[table, _KEYS] = (table + 1) * count
        self.offsets = self.offsets.ravel()

    def __len__(self) -> int:
        return len(self.rows)

    def search(self, queries: np.ndarray, radius: int) -> list[list[tuple[int, int]]]:
        flips = math.ceil((radius + 1) / _SUBSTRINGS) - 1
        if self.scan_only or flips > _MAX_FLIPS:
            return brute_force_search(self.rows, queries, radius)
        masks = _FLIP_MASKS[max(flips, 0)]
        query_keys = np.ascontiguousarray(queries, dtype=np.uint8).view(">u2").reshape(-1, _SUBSTRINGS)
        query_words = _words(queries)
        results: list[list[tuple[int, int]]] = [[] for _ in range(len(queries))]
        # Expected candidates per query on a uniform bank: tables x probes x rows per bucket.
        expected = _SUBSTRINGS * len(masks) * max(1.0, len(self) / _KEYS)
        step = max(1, int(_CANDIDATES_PER_STEP // expected))
        table_base = (np.arange(_SUBSTRINGS, dtype=np.int64) * (_KEYS + 1))[np.newaxis, :, np.newaxis]
        for start in range(0, len(queries), step):
            keys = query_keys[start : start + step].astype(np.int64)
            buckets = ((keys[:, :, np.newaxis] ^ masks[np.newaxis, np.newaxis, :]) + table_base).reshape(len(keys), -1)
            begins = self.offsets[buckets].ravel()
            lengths = self.offsets[buckets + 1].ravel() - begins
            total = int(lengths.sum())
            if total == 0:
                continue
            # Expand each bucket [begin, begin + length) into positions, without a Python loop.
            firsts = np.cumsum(lengths) - lengths
            positions = np.arange(total, dtype=np.int64) + np.repeat(begins - firsts, lengths)
            candidates = self.ids[positions]
            per_query = lengths.reshape(len(keys), -1).sum(axis=1)
            owners = np.repeat(np.arange(len(keys), dtype=np.int64), per_query)
            their_words = np.repeat(query_words[start : start + step], per_query, axis=0)
            differing = np.take(self.words, candidates, axis=0) ^ their_words
            distances = _popcount_rows(differing)
            near = np.flatnonzero(distances <= radius)
            # A hash sharing several substrings with the query is found once per table.
            pair_keys, first = np.unique(owners[near] * len(self) + candidates[near], return_index=True)
            for pair, distance in zip(pair_keys.tolist(), distances[near[first]].tolist()):
                owner, row = divmod(pair, len(self))
                results[start + owner].append((row, distance))
        return results


def _unique_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, PDQ_BYTES)
    if len(rows) < 2:
        return rows.copy()
    _, first = np.unique(rows.view(np.dtype((np.void, PDQ_BYTES))).ravel(), return_index=True)
    return rows[np.sort(first)]


class PDQIndex:
    """Exact radius search over a changing set of PDQ hashes.

    ``search`` returns, for each query, every hash in the set within
    ``radius`` bits with its distance: the same as :func:`brute_force_search`
    over the live hashes (tests/test_pdq_index.py checks it).

    ``add`` and ``remove`` cost a lookup, not a rebuild: added hashes wait in
    a delta scanned by brute force, removed ones are marked dead. A change that
    leaves the delta larger than ``max(min_delta, n / 64)`` or the dead
    larger than ``max(min_delta, n / 8)`` of the ``n`` indexed hashes compacts
    both into a new index, in the call that crossed the line (half a second per
    million hashes, once every ~15,000 changes to a bank of a million). The
    delta scan then costs no more than a query on the index itself.
    """

    def __init__(self, hashes: Iterable[str] | np.ndarray = (), *, min_delta: int = 2048, deduplicate: bool = True):
        """``deduplicate=False`` skips a sort of the hashes (8 s for 10M) when the caller knows they are unique."""
        rows = hashes if isinstance(hashes, np.ndarray) else pdq_rows(hashes)
        self.min_delta = min_delta
        self.compactions = 0
        rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, PDQ_BYTES)
        self._build(_unique_rows(rows) if deduplicate else rows)

    def _build(self, rows: np.ndarray) -> None:
        self._main = _MultiIndex(rows)
        self._main_alive = np.ones(len(rows), dtype=bool)
        self._main_dead = 0
        self._delta_rows = np.empty((max(64, self.min_delta // 8), PDQ_BYTES), dtype=np.uint8)
        self._delta_alive = np.zeros(len(self._delta_rows), dtype=bool)
        self._delta_count = 0
        self._delta_positions: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._main) - self._main_dead + len(self._delta_positions)

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (hashes, tables, delta, tombstones)."""
        tables = (self._main.ids.nbytes + self._main.offsets.nbytes) if not self._main.scan_only else 0
        delta = self._delta_rows.nbytes + self._delta_alive.nbytes
        return self._main.rows.nbytes + tables + self._main_alive.nbytes + delta

    def __contains__(self, pdq: str) -> bool:
        row = bytes.fromhex(pdq)
        return row in self._delta_positions or self._main_position(row, alive_only=True) >= 0

    def _main_position(self, row: bytes, *, alive_only: bool) -> int:
        query = np.frombuffer(row, dtype=np.uint8).reshape(1, PDQ_BYTES)
        for position, _ in self._main.search(query, 0)[0]:
            if self._main_alive[position] or not alive_only:
                return position
        return -1

    def add(self, pdq: str) -> bool:
        """Add one hash (64 hex digits); False when it is already there."""
        row = bytes.fromhex(pdq)
        if len(row) != PDQ_BYTES:
            raise ValueError(f"{pdq!r} is not a PDQ hash (64 hex digits)")
        if row in self._delta_positions:
            return False
        position = self._main_position(row, alive_only=False)
        if position >= 0:
            if self._main_alive[position]:
                return False
            self._main_alive[position] = True  # removed earlier, back again: no new row
            self._main_dead -= 1
            return True
        if self._delta_count == len(self._delta_rows):
            self._delta_rows = np.concatenate([self._delta_rows, np.empty_like(self._delta_rows)])
            self._delta_alive = np.concatenate([self._delta_alive, np.zeros(len(self._delta_alive), dtype=bool)])
        self._delta_rows[self._delta_count] = np.frombuffer(row, dtype=np.uint8)
        self._delta_alive[self._delta_count] = True
        self._delta_positions[row] = self._delta_count
        self._delta_count += 1
        self._compact_if_due()
        return True

    def remove(self, pdq: str) -> bool:
        """Remove one hash; False when it is not there."""
        row = bytes.fromhex(pdq)
        position = self._delta_positions.pop(row, None)
        if position is not None:
            self._delta_alive[position] = False
        else:
            position = self._main_position(row, alive_only=True)
            if position < 0:
                return False
            self._main_alive[position] = False
            self._main_dead += 1
        self._compact_if_due()
        return True

    def _compact_if_due(self) -> None:
        indexed = len(self._main)
        delta_full = self._delta_count > max(self.min_delta, indexed // 64)
        if delta_full or self._main_dead > max(self.min_delta, indexed // 8):
            self.compact()

    def compact(self) -> None:
        """Rebuild the index from the live hashes: empty delta, no dead rows."""
        delta = slice(0, self._delta_count)
        live = np.concatenate([self._main.rows[self._main_alive], self._delta_rows[delta][self._delta_alive[delta]]])
        self._build(live)
        self.compactions += 1

    def search(
        self, queries: Sequence[str] | np.ndarray, radius: int = PDQ_CONFIDENT_MATCH_THRESHOLD
    ) -> list[list[tuple[str, int]]]:
        """For each query, ``(hash, distance)`` of every live hash within ``radius``, nearest first."""
        if not isinstance(queries, np.ndarray):
            queries = pdq_rows(queries)
        results: list[list[tuple[str, int]]] = [[] for _ in range(len(queries))]
        if len(queries) == 0:
            return results
        main_rows, alive = self._main.rows, self._main_alive
        for query, found in enumerate(self._main.search(queries, radius)):
            results[query].extend((main_rows[row].tobytes().hex(), distance) for row, distance in found if alive[row])
        if self._delta_positions:
            delta_rows = self._delta_rows[: self._delta_count]
            for query, found in enumerate(brute_force_search(delta_rows, queries, radius)):
                results[query].extend(
                    (delta_rows[row].tobytes().hex(), distance) for row, distance in found if self._delta_alive[row]
                )
        for found in results:
            found.sort(key=lambda match: (match[1], match[0]))
        return results
