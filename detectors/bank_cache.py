"""The packed hash bank kept on local disk, so a restart reads arrays instead of CSV rows.

Reading a million-row bank folder takes most of a worker's start-up (reading,
checking and packing the rows: bench/RESULTS.md). :func:`load_bank_cached`
keeps what the packing produced (the sorted PDQ keys, their (label, source)
ids, the few other entries and the digest) in one ``.npz`` file in the
worker's state folder, named by a SHA-256 of the bank folder's CSV files, and
reads it instead when the files have not changed. Only the PDQ index is built
again.

The cache is never the truth: the CSV files are. A cache file is used only if
its name matches the files' content, its arrays match the checksum written
with them, and every field reads back; anything else (a missing, partial,
corrupt or old file) means the folder is read as usual and the cache written
again. A folder with any problem is never cached, so its problems are
reported at every start. No pickle is read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import orjson

from detectors.configfile import Problems
from detectors.hashbank import BankEntry, HashBank, load_bank

log = logging.getLogger("modwatch.hashbank")

CACHE_FORMAT = 1


def bank_fingerprint(folder: Path) -> str:
    """SHA-256 of the folder's ``*.csv`` names and contents (sorted by name), and the cache format."""
    digest = hashlib.sha256(f"modwatch bank cache {CACHE_FORMAT}\n".encode())
    for path in sorted(folder.glob("*.csv")):
        digest.update(f"{path.name}\n{path.stat().st_size}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_bank_cached(folder: Path, problems: Problems, cache_dir: Path | None) -> HashBank:
    """The bank of ``folder``, from ``cache_dir`` when a cache of the same files is there."""
    if cache_dir is None or not folder.is_dir():
        return load_bank(folder, problems)
    path = Path(cache_dir) / f"bank-{bank_fingerprint(folder)[:32]}.npz"
    bank = read_cache(path)
    if bank is not None:
        return bank
    before = len(problems.messages)
    bank = load_bank(folder, problems)
    if len(problems.messages) == before:
        write_cache(bank, path)
    return bank


def _checksum(keys: np.ndarray, pair_of: np.ndarray, meta: bytes) -> str:
    return hashlib.sha256(keys.tobytes() + pair_of.tobytes() + meta).hexdigest()


def write_cache(bank: HashBank, path: Path) -> None:
    """Write the cache file atomically and remove older ones; a failure is logged, never raised."""
    packed = bank.packed()
    meta = orjson.dumps(
        {
            "pairs": packed["pairs"],
            "entries": [[entry.hash_type, entry.hash, entry.label, entry.source] for entry in packed["entries"]],
            "sum": format(packed["sum"], "x") if packed["sum"] >= 0 else "-" + format(-packed["sum"], "x"),
            "count": packed["count"],
        }
    )
    keys, pair_of = np.ascontiguousarray(packed["keys"]), np.ascontiguousarray(packed["pair_of"], dtype=np.uint32)
    checksum = np.frombuffer(_checksum(keys, pair_of, meta).encode(), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".bank-", suffix=".npz", delete=False) as handle:
            np.savez(handle, keys=keys, pair_of=pair_of, meta=np.frombuffer(meta, dtype=np.uint8), checksum=checksum)
        os.replace(handle.name, path)
        for old in path.parent.glob("bank-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as error:
        log.warning("cannot write the hash bank cache %s: %s", path, error)


def read_cache(path: Path) -> HashBank | None:
    """The cached bank, or None when the file is missing or does not read back whole."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys, pair_of = arrays["keys"], arrays["pair_of"]
            meta, checksum = arrays["meta"].tobytes(), arrays["checksum"].tobytes().decode()
        if checksum != _checksum(keys, pair_of, meta):
            raise ValueError("checksum mismatch")
        fields = orjson.loads(meta)
        entries = [BankEntry(*entry) for entry in fields["entries"]]
        total = int(fields["sum"], 16)
        return HashBank.from_packed(
            keys, pair_of, [tuple(pair) for pair in fields["pairs"]], entries, total, fields["count"]
        )
    except Exception as error:  # noqa: BLE001 - a cache that does not read back whole is only ignored
        log.warning("ignoring the hash bank cache %s (%s); reading the bank folder", path, error)
        return None
