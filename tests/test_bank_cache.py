"""detectors/bank_cache.py: a restart reads the packed bank, never a stale or broken one."""

from __future__ import annotations

import random
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

from detectors import bank_cache
from detectors.bank_cache import load_bank_cached
from detectors.configfile import Problems
from detectors.hashbank import load_bank

SHARED = "f" * 64  # one PDQ hash under two labels: kept beside the packed arrays


def pdq(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(64))


def write_bank(folder: Path, rows: int = 300, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    hashes = [pdq(rng) for _ in range(rows)]
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["hash_type,hash,label,source"]
    lines += [f"pdq,{value},group-{index % 3},list-a" for index, value in enumerate(hashes)]
    lines += [f"pdq,{SHARED},group-0,list-a", f"pdq,{SHARED},group-9,list-b", f"md5,{'a' * 32},group-1,list-c"]
    (folder / "bank.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hashes


def same_bank(first, second, probe: list[str]) -> None:
    assert (first.digest, len(first), first.counts()) == (second.digest, len(second), second.counts())
    assert sorted(map(astuple, first.entries())) == sorted(map(astuple, second.entries()))
    assert first.near(probe, 31) == second.near(probe, 31)
    assert first.exact("md5", "a" * 32) == second.exact("md5", "a" * 32)


def read_from_csv_forbidden(monkeypatch) -> None:
    def refuse(*_, **__):
        raise AssertionError("the bank folder was read: the cache was not used")

    monkeypatch.setattr(bank_cache, "load_bank", refuse)


def test_a_restart_reads_the_cache_and_gets_the_same_bank(tmp_path, monkeypatch):
    hashes = write_bank(tmp_path / "hashbank")
    first = load_bank_cached(tmp_path / "hashbank", Problems(), tmp_path / "cache")
    [cached] = list((tmp_path / "cache").glob("bank-*.npz"))
    read_from_csv_forbidden(monkeypatch)
    second = load_bank_cached(tmp_path / "hashbank", Problems(), tmp_path / "cache")
    probe = hashes[:5] + [SHARED, hashes[7][:-1] + ("0" if hashes[7][-1] != "0" else "1")]
    same_bank(first, second, probe)
    same_bank(load_bank(tmp_path / "hashbank", Problems()), second, probe)
    assert {entry.label for entry, _ in second.near([SHARED], 0)[0]} == {"group-0", "group-9"}
    # Live changes work on a bank read from the cache.
    assert second.add("pdq", "0" * 64, "group-x", "live") and second.near(["0" * 64], 0)[0]
    assert second.remove("pdq", hashes[0]) == 1 and second.near([hashes[0]], 0) == [[]]
    assert cached.exists()


def test_a_changed_bank_file_is_read_again_and_the_old_cache_goes(tmp_path, monkeypatch):
    write_bank(tmp_path / "hashbank", seed=1)
    load_bank_cached(tmp_path / "hashbank", Problems(), tmp_path / "cache")
    [old] = list((tmp_path / "cache").glob("bank-*.npz"))
    hashes = write_bank(tmp_path / "hashbank", seed=2)
    bank = load_bank_cached(tmp_path / "hashbank", Problems(), tmp_path / "cache")
    assert bank.near([hashes[0]], 0)[0] and not old.exists()
    assert len(list((tmp_path / "cache").glob("bank-*.npz"))) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip a key", "garbage"])
def test_a_broken_cache_is_ignored_and_written_again(tmp_path, damage):
    hashes = write_bank(tmp_path / "hashbank")
    expected = load_bank_cached(tmp_path / "hashbank", Problems(), tmp_path / "cache")
    [cached] = list((tmp_path / "cache").glob("bank-*.npz"))
    if damage == "truncate":
        cached.write_bytes(cached.read_bytes()[:500])
    elif damage == "garbage":
        cached.write_bytes(b"not a cache at all")
    else:
        with np.load(cached) as arrays:
            saved = {name: arrays[name].copy() for name in arrays.files}
        saved["keys"][3, 0] ^= 0xFF  # the checksum no longer matches
        np.savez(cached, **saved)
    bank = load_bank_cached(tmp_path / "hashbank", Problems(), tmp_path / "cache")
    same_bank(expected, bank, hashes[:5])
    assert bank_cache.read_cache(cached) is not None  # written again, whole


def test_a_bank_folder_with_problems_is_reported_and_never_cached(tmp_path):
    folder = tmp_path / "hashbank"
    write_bank(folder)
    (folder / "bad.csv").write_text("hash_type,hash,label,source\nmd5,nothex,a,b\n", encoding="utf-8")
    problems = Problems()
    load_bank_cached(folder, problems, tmp_path / "cache")
    assert any("nothex" in message for message in problems.messages)
    assert not list((tmp_path / "cache").glob("bank-*.npz"))
