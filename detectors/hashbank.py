"""Hash banks and the media hash detector.

A bank is a set of entries ``(hash_type, hash, label, source)`` read from
``config/hashbank/*.csv`` and kept current by live ``add``/``remove`` calls
(the stream shell feeds them from a compacted topic). A post's image matches
an entry when:

* its MD5 or SHA-256 equals the entry's (a dict lookup), or
* its PDQ hash is within ``match_radius`` bits of the entry's (Hamming
  distance), and its PDQ quality is at least ``min_quality``.

PDQ radius search is the part that needs an index. :func:`brute_force_search`
compares the query with every bank hash and is the reference. :class:`PDQIndex`
returns exactly the same results, faster, by multi-index hashing (Norouzi,
Punjani and Fleet, "Fast search in Hamming space with multi-index hashing",
CVPR 2012): it cuts each 256-bit hash into 16 substrings of 16 bits. Two hashes
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

import csv
import functools
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import numpy as np
from PIL import Image

from detectors.base import Finding
from detectors.configfile import ANY_KEY, VALUE, Problems, load_yaml, optional_file, read_text
from detectors.events import InvalidEvent, Post
from detectors.hashing import (
    HEX_LENGTHS,
    JPEG_DRAFT_SIDE,
    MAX_IMAGE_PIXELS,
    PDQ_CONFIDENT_MATCH_THRESHOLD,
    PDQ_MIN_QUALITY,
    UNLETTERBOX_TOLERANCE,
    ImageHasher,
    PDQHash,
    UnreadableImage,
    normalise_hash,
)

HASH_TYPES = tuple(HEX_LENGTHS)  # pdq, md5, sha256
BANK_COLUMNS = ("hash_type", "hash", "label", "source")
DEFAULT_CATEGORY = "terrorism_promotion"
PDQ_BYTES = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, as detectors/events.py

# -- PDQ index ----------------------------------------------------------------

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
    over the live hashes (tests/test_hashbank.py checks it).

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


# -- Bank ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BankEntry:
    hash_type: str  # pdq, md5 or sha256
    hash: str  # lowercase hex
    label: str  # who listed it or what it is: an organisation, a campaign, a category
    source: str  # where the list came from, quoted in evidence


def make_entry(hash_type: str, hash: str, label: str, source: str) -> BankEntry:
    """A validated entry, or ``ValueError`` quoting the bad value."""
    hash_type = _hash_type(hash_type)
    try:
        hash = normalise_hash(hash_type, hash)
    except ValueError as error:
        raise ValueError(f"hash: {error}") from None
    return BankEntry(hash_type, hash, _text("label", label), _text("source", source))


def _hash_type(value: str) -> str:
    hash_type = value.strip().lower() if isinstance(value, str) else value
    if hash_type not in HASH_TYPES:
        raise ValueError(f"hash_type: {value!r} is not one of {', '.join(HASH_TYPES)}")
    return hash_type


@functools.lru_cache(maxsize=4096)
def _text(name: str, value: str) -> str:
    """A label or source: quoted in evidence, so one printable line.

    Cached: a bank of a million entries has a handful of labels and sources,
    and every entry then shares one string object for each.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: {value!r} is empty")
    if len(value) > 256 or _CONTROL.search(value):
        raise ValueError(f"{name}: {value[:80]!r} is longer than 256 characters or has control characters")
    return value.strip()


def _entry_digest(entry: BankEntry) -> int:
    text = "\x1f".join((entry.hash_type, entry.hash, entry.label, entry.source))
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


class HashBank:
    """Bank entries by hash, with a PDQ radius index and exact MD5/SHA-256 lookups.

    One hash may carry several entries, one per label (two organisations may
    list the same image); ``add`` with an existing hash and label replaces its
    source. ``digest`` identifies the content whatever the order of changes
    (a sum of per-entry SHA-256s), so two workers with the same bank report the
    same value; ``version`` counts the changes this process has seen.
    """

    def __init__(self, entries: Iterable[BankEntry] = (), *, min_delta: int = 2048):
        self._by_type: dict[str, dict[str, tuple[BankEntry, ...]]] = {hash_type: {} for hash_type in HASH_TYPES}
        self._sum = 0
        self._count = 0
        self.version = 0
        for entry in entries:
            self._put(entry)
        self._pdq_index = PDQIndex(list(self._by_type["pdq"]), min_delta=min_delta, deduplicate=False)

    def __len__(self) -> int:
        return self._count

    @property
    def digest(self) -> str:
        return f"{self._sum % (1 << 256):064x}"[:16]

    def counts(self) -> dict[str, int]:
        return {hash_type: sum(map(len, table.values())) for hash_type, table in self._by_type.items()}

    def entries(self) -> list[BankEntry]:
        return [entry for table in self._by_type.values() for found in table.values() for entry in found]

    def _put(self, entry: BankEntry) -> bool:
        """Insert or replace; True when something changed. Leaves the PDQ index to the caller."""
        table = self._by_type[entry.hash_type]
        existing = table.get(entry.hash)
        if existing is None:  # the common case: a new hash
            table[entry.hash] = (entry,)
        else:
            kept = tuple(other for other in existing if other.label != entry.label)
            if len(kept) < len(existing):
                replaced = next(other for other in existing if other.label == entry.label)
                if replaced == entry:
                    return False
                self._sum -= _entry_digest(replaced)
                self._count -= 1
            table[entry.hash] = kept + (entry,)
        self._sum += _entry_digest(entry)
        self._count += 1
        self.version += 1
        return True

    def add(self, hash_type: str, hash: str, label: str, source: str) -> bool:
        """Add (or replace the source of) one entry; ``ValueError`` quoting a bad field."""
        entry = make_entry(hash_type, hash, label, source)
        changed = self._put(entry)
        if changed and entry.hash_type == "pdq":
            self._pdq_index.add(entry.hash)
        return changed

    def remove(self, hash_type: str, hash: str, label: str | None = None) -> int:
        """Remove the hash's entry for ``label``, or all its entries; returns how many went."""
        hash_type = _hash_type(hash_type)
        try:
            hash = normalise_hash(hash_type, hash)
        except ValueError as error:
            raise ValueError(f"hash: {error}") from None
        table = self._by_type[hash_type]
        existing = table.get(hash, ())
        gone = [entry for entry in existing if label is None or entry.label == label]
        if not gone:
            return 0
        kept = tuple(entry for entry in existing if entry not in gone)
        if kept:
            table[hash] = kept
        else:
            del table[hash]
            if hash_type == "pdq":
                self._pdq_index.remove(hash)
        for entry in gone:
            self._sum -= _entry_digest(entry)
        self._count -= len(gone)
        self.version += 1
        return len(gone)

    def exact(self, hash_type: str, hash: str) -> tuple[BankEntry, ...]:
        return self._by_type[hash_type].get(hash, ())

    def near(self, pdq_hashes: Sequence[str], radius: int) -> list[list[tuple[BankEntry, int]]]:
        """For each PDQ hash, every entry within ``radius`` bits and its distance, nearest first."""
        table = self._by_type["pdq"]
        return [
            [(entry, distance) for found, distance in matches for entry in table[found]]
            for matches in self._pdq_index.search(list(pdq_hashes), radius)
        ]


# -- Bank files ---------------------------------------------------------------


def load_bank_file(
    path: Path, problems: Problems, seen: dict[tuple[str, str, str], str] | None = None
) -> list[BankEntry]:
    """Entries of one ``hash_type,hash,label,source`` CSV file; every fault becomes a problem with its line.

    ``seen`` maps each entry already read (from earlier files) to its ``file:line``.
    """
    text = read_text(path, problems, encoding="utf-8-sig")  # tolerate the BOM spreadsheet programs write
    if text is None:
        return []
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    expected = ",".join(BANK_COLUMNS)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        problems.add(f"{path}:1: header: the file is empty; expected the header {expected!r}")
        return []
    except csv.Error as error:
        problems.add(f"{path}:1: header: not CSV: {error}")
        return []
    if header and header[0] in HASH_TYPES:
        problems.add(f"{path}:1: header: is missing (the first line is an entry); expected {expected!r}")
        return []
    missing = [name for name in BANK_COLUMNS if name not in header]
    unknown = [name for name in header if name not in BANK_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        detail = "; ".join(
            part
            for part in (
                f"lacks {', '.join(missing)}" if missing else "",
                f"has unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "",
                "repeats a column" if len(set(header)) != len(header) else "",
            )
            if part
        )
        problems.add(f"{path}:1: header: {','.join(header)!r} {detail}; expected {expected!r}")
        return []
    entries: list[BankEntry] = []
    seen = {} if seen is None else seen
    try:
        for row in reader:
            line = reader.line_num
            if not row or not "".join(row).strip():
                continue
            if len(row) != len(header):
                problems.add(f"{path}:{line}: has {len(row)} fields, the header {len(header)}: {','.join(row)[:120]!r}")
                continue
            values = dict(zip(header, row))
            entry = _entry_from_row(path, line, values, problems)
            if entry is None:
                continue
            key = (entry.hash_type, entry.hash, entry.label)
            if key in seen:
                problems.add(f"{path}:{line}: hash: {entry.hash!r} with label {entry.label!r} repeats {seen[key]}")
                continue
            seen[key] = f"{path}:{line}"
            entries.append(entry)
    except csv.Error as error:
        problems.add(f"{path}:{reader.line_num}: not CSV: {error}")
    return entries


def _entry_from_row(path: Path, line: int, values: dict[str, str], problems: Problems) -> BankEntry | None:
    """The row's entry, or None after reporting each bad field (all of them, not the first)."""
    faults = []
    try:
        hash_type = _hash_type(values["hash_type"])
    except ValueError as error:
        faults.append(str(error))
    else:
        try:
            normalise_hash(hash_type, values["hash"])
        except ValueError as error:
            faults.append(f"hash: {error}")
    for name in ("label", "source"):
        try:
            _text(name, values[name])
        except ValueError as error:
            faults.append(str(error))
    for fault in faults:
        problems.add(f"{path}:{line}: {fault}")
    if faults:
        return None
    return make_entry(values["hash_type"], values["hash"], values["label"], values["source"])


def load_bank_dir(folder: Path, problems: Problems) -> list[BankEntry]:
    """Entries of every ``*.csv`` in ``folder`` (sorted by name); a missing folder is an empty bank."""
    if not optional_file(folder, "the hash bank is empty"):
        return []
    entries: list[BankEntry] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path in sorted(folder.glob("*.csv")):
        entries.extend(load_bank_file(path, problems, seen))
    return entries


def read_pdq_list(path: Path, problems: Problems, min_quality: int = PDQ_MIN_QUALITY) -> tuple[list[str], int]:
    """PDQ hashes from a ThreatExchange-style list, and how many were skipped for low quality.

    Each non-empty line is ``hash`` or ``hash,quality[,anything...]`` as the
    ThreatExchange PDQ tools print them; ``#`` starts a comment line. A line
    with a quality below ``min_quality`` is skipped: such hashes would match
    unrelated flat images. Repeated hashes are kept once.
    """
    text = read_text(path, problems, encoding="utf-8-sig")
    if text is None:
        return [], 0
    hashes: dict[str, None] = {}
    skipped = 0
    for line, content in enumerate(text.splitlines(), start=1):
        content = content.strip()
        if not content or content.startswith("#"):
            continue
        fields = [part.strip() for part in content.split(",")]
        try:
            value = normalise_hash("pdq", fields[0])
        except ValueError as error:
            problems.add(f"{path}:{line}: hash: {error}")
            continue
        if len(fields) > 1 and fields[1]:
            if not fields[1].isdigit() or int(fields[1]) > 100:
                problems.add(f"{path}:{line}: quality: {fields[1]!r} is not a PDQ quality (0 to 100)")
                continue
            if int(fields[1]) < min_quality:
                skipped += 1
                continue
        hashes[value] = None
    return list(hashes), skipped


def bank_csv(entries: Iterable[BankEntry]) -> str:
    """Entries as a bank file, header included."""
    lines = [",".join(BANK_COLUMNS)]
    for entry in entries:
        lines.append(",".join(_csv_field(value) for value in (entry.hash_type, entry.hash, entry.label, entry.source)))
    return "\n".join(lines) + "\n"


def _csv_field(value: str) -> str:
    if any(character in value for character in ',"\n\r') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


# -- Configuration ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashingConfig:
    """config/hashing.yaml; every default is the named constant it cites."""

    match_radius: int = PDQ_CONFIDENT_MATCH_THRESHOLD
    min_quality: int = PDQ_MIN_QUALITY
    match_rotations: bool = True
    unletterbox_tolerance: int | None = UNLETTERBOX_TOLERANCE
    max_pixels: int = MAX_IMAGE_PIXELS
    jpeg_draft_side: int | None = JPEG_DRAFT_SIDE
    default_category: str = DEFAULT_CATEGORY
    label_categories: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def category_of(self, entry: BankEntry) -> str:
        return self.label_categories.get(entry.label, self.default_category)


HASHING_SCHEMA = {
    "pdq": dict.fromkeys(
        ("match_radius", "min_quality", "match_rotations", "unletterbox", "unletterbox_tolerance"), VALUE
    ),
    "images": {"max_pixels": VALUE, "jpeg_draft_side": VALUE},
    "categories": {"default": VALUE, "by_label": {ANY_KEY: VALUE}},
}


def load_hashing_config(path: Path, problems: Problems, categories: frozenset[str] | None = None) -> HashingConfig:
    """Read config/hashing.yaml (a missing file means the defaults).

    ``categories``, when given (the policy's), is what every category named
    here must be one of: a misspelt category would be recorded and never acted on.
    """
    if not optional_file(path, "media hash matching uses its defaults"):
        return HashingConfig()
    document = load_yaml(path, problems)
    document.check_keys(HASHING_SCHEMA)
    defaults = HashingConfig()

    def integer(where: tuple, default: int, minimum: int, maximum: int) -> int:
        value = document.number(where, default=default, minimum=minimum, maximum=maximum)
        if value != int(value):
            document.problem(where, f"must be a whole number, not {document.get(where)!r}")
            return default
        return int(value)

    def flag(where: tuple, default: bool) -> bool:
        value = document.get(where)
        if value is None:
            return default
        if not isinstance(value, bool):
            document.problem(where, f"must be true or false, not {value!r}")
            return default
        return value

    document.mapping(("pdq",))
    document.mapping(("images",))
    document.mapping(("categories",))
    tolerance: int | None = defaults.unletterbox_tolerance
    if document.get(("pdq", "unletterbox")) is not None and not flag(("pdq", "unletterbox"), True):
        tolerance = None
    elif document.get(("pdq", "unletterbox_tolerance")) is not None:
        tolerance = integer(("pdq", "unletterbox_tolerance"), UNLETTERBOX_TOLERANCE, 0, 255)
    default_category = document.text(("categories", "default"), default=DEFAULT_CATEGORY) or DEFAULT_CATEGORY
    label_categories = {}
    for label, category in document.mapping(("categories", "by_label")).items():
        where = ("categories", "by_label", label)
        if not isinstance(category, str) or not category.strip():
            document.problem(where, f"must be a category name, not {category!r}")
            continue
        label_categories[label] = category.strip()
    if categories is not None:
        if default_category not in categories:
            document.problem(("categories", "default"), f"{default_category!r} is not a category in config/policy.yaml")
        for label, category in label_categories.items():
            if category not in categories:
                document.problem(
                    ("categories", "by_label", label), f"{category!r} is not a category in config/policy.yaml"
                )
    return HashingConfig(
        match_radius=integer(("pdq", "match_radius"), defaults.match_radius, 0, 128),
        min_quality=integer(("pdq", "min_quality"), defaults.min_quality, 0, 100),
        match_rotations=flag(("pdq", "match_rotations"), defaults.match_rotations),
        unletterbox_tolerance=tolerance,
        # Pillow refuses images above twice its own limit before we can look at them.
        max_pixels=integer(("images", "max_pixels"), defaults.max_pixels, 1, 2 * Image.MAX_IMAGE_PIXELS),
        jpeg_draft_side=integer(("images", "jpeg_draft_side"), JPEG_DRAFT_SIDE, 0, 1 << 16) or None,
        default_category=default_category,
        label_categories=MappingProxyType(label_categories),
    )


# -- Detector -----------------------------------------------------------------


def _valid(hash_type: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_hash(hash_type, value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Match:
    entry: BankEntry
    media_hash: str
    distance: int
    quality: int | None
    transform: str | None
    unletterboxed: bool

    def rank(self) -> tuple:
        # Nearest first; exact file hashes before PDQ; the image as posted before its rotations.
        rotated = self.transform not in (None, "original")
        return (self.distance, self.entry.hash_type == "pdq", rotated, self.unletterboxed, self.entry.label)


class MediaHashDetector:
    """Matches each post's images against the hash bank.

    For each media item: its MD5 and SHA-256 (computed from ``data`` when the
    post carries the image, else as the producer sent them) are looked up
    exactly, and its PDQ hashes (computed from ``data``, else the producer's
    ``pdq``) are searched within ``match_radius``. When the post carries the
    image, the producer's ``pdq`` is ignored (hashes modwatch computed are the
    evidence) and its MD5/SHA-256 must agree with the bytes (:meth:`validate`).
    Computed PDQ hashes below ``min_quality`` are not searched and leave no
    finding, only a count in ``last_counts["low_quality"]``; a producer's
    ``pdq`` has no quality and is trusted. Videos match on MD5/SHA-256 only.

    One finding per media item and category: the nearest match, with the
    number of bank entries that matched. Score is 1.0 for an exact file hash
    and ``1 - distance / 256`` (the fraction of PDQ bits that agree) for PDQ:
    at the default radius of 31 that is at least 0.879, above the policy's
    takedown threshold of 0.8, as a confirmed hash match should be.
    """

    name: ClassVar[str] = "media_hash"

    def __init__(self, bank: HashBank, config: HashingConfig = HashingConfig()):
        self.bank = bank
        self.config = config
        self.hasher = ImageHasher(
            max_pixels=config.max_pixels,
            unletterbox_tolerance=config.unletterbox_tolerance,
            dihedral=config.match_rotations,
            jpeg_draft_side=config.jpeg_draft_side,
        )
        # Counts from the last detect() call, for the stream shell's metrics.
        self.last_counts = {"images_hashed": 0, "unreadable": 0, "low_quality": 0}

    @classmethod
    def from_config(
        cls, config_dir: Path, problems: Problems, categories: frozenset[str] | None = None
    ) -> MediaHashDetector:
        config = load_hashing_config(config_dir / "hashing.yaml", problems, categories)
        return cls(HashBank(load_bank_dir(config_dir / "hashbank", problems)), config)

    def validate(self, post: Post) -> None:
        """Raise :class:`InvalidEvent` for an image that cannot be hashed, or whose hashes contradict it.

        Call it after parsing and before :meth:`detect`: the hashes are kept,
        so detection does not decode the image again.
        """
        for index, media in enumerate(post.media):
            if media.data is None:
                continue
            try:
                hashes = self.hasher.hash_bytes(media.data)
            except UnreadableImage as error:
                raise InvalidEvent(error.reason, f"media[{index}].data_b64", error.message) from None
            for name in ("md5", "sha256"):
                claimed, actual = getattr(media, name), getattr(hashes, name)
                if claimed is not None and claimed != actual:
                    raise InvalidEvent(
                        "invalid_value",
                        f"media[{index}].{name}",
                        f"{claimed!r} is not the {name} of data_b64 ({actual!r})",
                    )

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        counts = {"images_hashed": 0, "unreadable": 0, "low_quality": 0}
        self.last_counts = counts
        if len(self.bank) == 0:
            return [[] for _ in posts]
        matches: dict[tuple[int, int], list[_Match]] = {}
        queries: list[tuple[tuple[int, int], PDQHash]] = []
        for post_index, post in enumerate(posts):
            for media_index, media in enumerate(post.media):
                key = (post_index, media_index)
                exact, pdq = self._media_hashes(media, counts)
                for hash_type, value, quality in exact:
                    for entry in self.bank.exact(hash_type, value):
                        matches.setdefault(key, []).append(_Match(entry, value, 0, quality, None, False))
                queries.extend((key, hash) for hash in pdq)
        if queries:
            found = self.bank.near([hash.hash for _, hash in queries], self.config.match_radius)
            for (key, hash), near in zip(queries, found):
                for entry, distance in near:
                    matches.setdefault(key, []).append(
                        _Match(entry, hash.hash, distance, hash.quality, hash.transform, hash.unletterboxed)
                    )
        findings: list[list[Finding]] = [[] for _ in posts]
        for (post_index, media_index), media_matches in sorted(matches.items()):
            by_category: dict[str, list[_Match]] = {}
            for match in media_matches:
                by_category.setdefault(self.config.category_of(match.entry), []).append(match)
            for category, category_matches in by_category.items():
                findings[post_index].append(self._finding(media_index, category, category_matches))
        return findings

    def post_hashes(self, post: Post) -> list[dict]:
        """The hashes of a post's media worth adding to the bank if the post is confirmed.

        Exact hashes, and the PDQ hash of each image as posted (the original
        orientation, untrimmed) when its quality is good enough to match on.
        """
        found = []
        counts = {"images_hashed": 0, "unreadable": 0, "low_quality": 0}
        for media in post.media:
            exact, pdq = self._media_hashes(media, counts)
            found += [{"hash_type": hash_type, "hash": value} for hash_type, value, _ in exact]
            found += [
                {"hash_type": "pdq", "hash": hash.hash}
                for hash in pdq
                if hash.transform == "original" and not hash.unletterboxed
            ]
        return found

    def _media_hashes(self, media, counts: dict[str, int]) -> tuple[list[tuple[str, str, int | None]], list[PDQHash]]:
        """Exact hashes ``(type, hex, quality)`` and the PDQ hashes worth searching, for one media item."""
        if media.data is not None:
            try:
                hashes = self.hasher.hash_bytes(media.data)
            except UnreadableImage:
                counts["unreadable"] += 1  # validate() rejects these; detect() must not raise
                return [], []
            counts["images_hashed"] += 1
            usable = [hash for hash in hashes.pdq if hash.quality >= self.config.min_quality]
            if hashes.pdq and not usable:
                counts["low_quality"] += 1
            exact = [("md5", hashes.md5, hashes.quality), ("sha256", hashes.sha256, hashes.quality)]
            return exact, usable
        # The parser has checked these; a Post built elsewhere may not have been.
        exact = [(name, value, None) for name in ("md5", "sha256") if (value := _valid(name, getattr(media, name)))]
        pdq = _valid("pdq", media.pdq) if media.kind == "image" else None
        return exact, [PDQHash(pdq, None, "original", False)] if pdq else []

    def _finding(self, media_index: int, category: str, matches: list[_Match]) -> Finding:
        best = min(matches, key=_Match.rank)
        exact = best.entry.hash_type != "pdq"
        evidence = {
            "media_index": media_index,
            "hash_type": best.entry.hash_type,
            "hash": best.entry.hash,
            "media_hash": best.media_hash,
            "distance": best.distance,
            "quality": best.quality,
            "label": best.entry.label,
            "source": best.entry.source,
            "matches": len({(match.entry.hash_type, match.entry.hash, match.entry.label) for match in matches}),
            "bank_digest": self.bank.digest,
        }
        if not exact:
            evidence.update(
                transform=best.transform, unletterboxed=best.unletterboxed, match_radius=self.config.match_radius
            )
        score = 1.0 if exact else 1.0 - best.distance / 256
        return Finding(self.name, category, score, MappingProxyType(evidence))
