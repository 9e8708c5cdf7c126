"""Hash banks: the hashes of known images and videos, and the files they are read from.

A bank is a set of entries ``(hash_type, hash, label, source)`` read from
``config/hashbank/*.csv`` and kept current by live ``add``/``remove`` calls
(the stream shell feeds them from a compacted topic). :class:`HashBank` looks
MD5 and SHA-256 up in a dict, keeps PDQ entries packed
(:class:`~detectors.pdq_entries.PdqEntries`) and searches them within a radius
with :class:`~detectors.pdq_index.PDQIndex`; :mod:`detectors.media_hash`
matches posts against it.

Bank files are CSV with the header ``hash_type,hash,label,source``; every bad
row is reported with its file and line (:func:`load_bank_file`).
ThreatExchange-style PDQ lists (``hash,quality``) become bank files through
:func:`read_pdq_list` and :func:`bank_csv` (``modwatch hash-import``).
"""

from __future__ import annotations

import csv
import functools
import gc
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from detectors.configfile import Problems, optional_file, read_text
from detectors.hashing import HEX_LENGTHS, PDQ_MIN_QUALITY, normalise_hash
from detectors.pdq_entries import PdqEntries
from detectors.pdq_index import PDQIndex

HASH_TYPES = tuple(HEX_LENGTHS)  # pdq, md5, sha256
BANK_COLUMNS = ("hash_type", "hash", "label", "source")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, as detectors/events.py

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
        self._by_type: dict[str, dict | PdqEntries] = {hash_type: {} for hash_type in HASH_TYPES}
        self._sum = 0
        self._count = 0
        self.version = 0
        for entry in entries:
            self._put(entry)
        # Packed once built: the dict of a million hex strings and entry objects is let go.
        pdq = self._by_type["pdq"] = PdqEntries(self._by_type["pdq"], entry=BankEntry)
        self._pdq_index = PDQIndex(pdq.rows(), min_delta=min_delta, deduplicate=False)

    def packed(self) -> dict:
        """The bank as detectors/bank_cache.py keeps it: packed PDQ arrays, every other entry, the digest's sum."""
        keys, pair_of, pairs, overlay = self._by_type["pdq"].packed()
        others = [
            entry
            for kind, table in self._by_type.items()
            if kind != "pdq"
            for found in table.values()
            for entry in found
        ]
        entries = [entry for found in overlay.values() for entry in found] + others
        return {
            "keys": keys,
            "pair_of": pair_of,
            "pairs": pairs,
            "entries": entries,
            "sum": self._sum,
            "count": self._count,
        }

    @classmethod
    def from_packed(cls, keys, pair_of, pairs, entries, total: int, count: int, *, min_delta: int = 2048) -> HashBank:
        """The bank :meth:`packed` described; only the PDQ index is built again."""
        bank = cls.__new__(cls)
        bank._by_type = {hash_type: {} for hash_type in HASH_TYPES}
        overlay: dict[str, tuple] = {}
        for entry in entries:
            table = overlay if entry.hash_type == "pdq" else bank._by_type[entry.hash_type]
            table[entry.hash] = table.get(entry.hash, ()) + (entry,)
        pdq = bank._by_type["pdq"] = PdqEntries.from_packed(keys, pair_of, pairs, overlay, entry=BankEntry)
        bank._sum, bank._count, bank.version = total, count, count
        bank._pdq_index = PDQIndex(pdq.rows(), min_delta=min_delta, deduplicate=False)
        return bank

    def __len__(self) -> int:
        return self._count

    @property
    def digest(self) -> str:
        return f"{self._sum % (1 << 256):064x}"[:16]

    def counts(self) -> dict[str, int]:
        return {
            hash_type: table.entry_count() if isinstance(table, PdqEntries) else sum(map(len, table.values()))
            for hash_type, table in self._by_type.items()
        }

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
    """The row's entry, or None after reporting each bad field (all of them, not the first).

    Each field is checked once, as :func:`make_entry` checks it: a bank of a
    million rows spent a third of its load time checking them twice.
    """
    faults, checked = [], {}
    try:
        hash_type = checked["hash_type"] = _hash_type(values["hash_type"])
    except ValueError as error:
        faults.append(str(error))
    else:
        try:
            checked["hash"] = normalise_hash(hash_type, values["hash"])
        except ValueError as error:
            faults.append(f"hash: {error}")
    for name in ("label", "source"):
        try:
            checked[name] = _text(name, values[name])
        except ValueError as error:
            faults.append(str(error))
    for fault in faults:
        problems.add(f"{path}:{line}: {fault}")
    if faults:
        return None
    return BankEntry(checked["hash_type"], checked["hash"], checked["label"], checked["source"])


def load_bank(folder: Path, problems: Problems) -> HashBank:
    """The bank of every ``*.csv`` in ``folder``, with the cyclic garbage collector paused.

    Reading a million rows allocates millions of objects, and each of the
    collector's passes rescans every object still alive: with it running, a
    third of the load was collection. Nothing the load makes refers to itself,
    so nothing is left for the collector; it runs again as usual afterwards.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return HashBank(load_bank_dir(folder, problems))
    finally:
        if paused:
            gc.enable()


def load_bank_dir(folder: Path, problems: Problems) -> list[BankEntry]:
    """Entries of every ``*.csv`` in ``folder`` (sorted by name); a missing folder is an empty bank.

    A clean bank is read a column at a time (:func:`_read_clean`); any fault
    anywhere sends the whole folder through the row-by-row reading, which
    reports every fault with its file and line. Both give the same entries.
    """
    if not optional_file(folder, "the hash bank is empty"):
        return []
    paths = sorted(folder.glob("*.csv"))
    clean = _read_clean(paths)
    if clean is not None:
        return clean
    entries: list[BankEntry] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path in paths:
        entries.extend(load_bank_file(path, problems, seen))
    return entries


def _read_clean(paths: list[Path]) -> list[BankEntry] | None:
    """Every file's entries when nothing is wrong with any of them, else None.

    Checking each column at once (one regular expression over a column of
    hashes, each distinct label and source once) reads a million rows in a
    fraction of the row-by-row time, which was most of a worker's start-up
    with a large bank.
    """
    entries: list[BankEntry] = []
    for path in paths:
        found = _read_clean_file(path)
        if found is None:
            return None
        entries.extend(found)
    if len({(entry.hash_type, entry.hash, entry.label) for entry in entries}) != len(entries):
        return None  # a repeated entry: the row-by-row reading names both lines
    return entries


def _read_clean_file(path: Path) -> list[BankEntry] | None:
    text = read_text(path, Problems(), encoding="utf-8-sig")
    if text is None:
        return None
    try:
        rows = list(csv.reader(text.splitlines(keepends=True), strict=True))
    except csv.Error:
        return None
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if sorted(header) != sorted(BANK_COLUMNS):
        return None
    rows = [row for row in rows[1:] if row and any(field.strip() for field in row)]
    if any(len(row) != len(header) for row in rows):
        return None
    if not rows:
        return []
    columns = dict(zip(header, zip(*rows)))
    types, hashes, labels, sources = (columns[name] for name in BANK_COLUMNS)
    if not set(types) <= set(HASH_TYPES):
        return None  # also a type that only needs its case or spaces fixed: the careful path fixes it
    for hash_type in set(types):
        of_type = hashes if len(set(types)) == 1 else [value for kind, value in zip(types, hashes) if kind == hash_type]
        length = HEX_LENGTHS[hash_type]
        if not re.fullmatch(rf"(?:[0-9a-f]{{{length}}}\n)*[0-9a-f]{{{length}}}", "\n".join(of_type)):
            return None
    for name, column in (("label", labels), ("source", sources)):
        for value in set(column):
            try:
                if _text(name, value) != value:
                    return None
            except ValueError:
                return None
    return [BankEntry(*fields) for fields in zip(types, hashes, labels, sources)]


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
