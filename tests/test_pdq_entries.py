"""The packed PDQ entries (detectors/pdq_entries.py) against a plain dict, the layout they replace."""

from __future__ import annotations

import random

import pytest

from detectors import pdq_entries
from detectors.hashbank import BankEntry, HashBank, make_entry
from detectors.pdq_entries import PdqEntries


def pdq(generator: random.Random) -> str:
    return generator.randbytes(32).hex()


def entries_for(value: str, labels: list[str]) -> tuple[BankEntry, ...]:
    return tuple(BankEntry("pdq", value, label, f"source of {label}") for label in labels)


@pytest.mark.parametrize("seed", range(5))
def test_every_change_reads_back_as_a_dict_would(seed, monkeypatch):
    monkeypatch.setattr(pdq_entries, "_MIN_OVERLAY", 8)  # compact often
    generator = random.Random(seed)
    reference = {value: entries_for(value, ["a"]) for value in (pdq(generator) for _ in range(200))}
    several = pdq(generator)
    reference[several] = entries_for(several, ["a", "b"])  # two labels: kept in the overlay
    packed = PdqEntries(reference, entry=BankEntry)
    known = list(reference)
    for _ in range(600):
        operation = generator.random()
        if operation < 0.35:
            value = generator.choice(known) if generator.random() < 0.5 else pdq(generator)
            labels = generator.sample(["a", "b", "c"], generator.randint(1, 2))
            reference[value] = packed_value = entries_for(value, labels)
            packed[value] = packed_value
            known.append(value)
        elif operation < 0.6 and reference:
            value = generator.choice(list(reference))
            del reference[value]
            del packed[value]
        else:
            value = generator.choice(known)
            assert packed.get(value) == reference.get(value)
    assert dict(packed.items()) == reference
    assert len(packed) == len(reference)
    assert packed.entry_count() == sum(map(len, reference.values()))
    rows = {row.tobytes().hex() for row in packed.rows()}
    assert rows == set(reference) and len(packed.rows()) == len(reference)
    missing = pdq(generator)
    assert packed.get(missing) is None and missing not in packed
    with pytest.raises(KeyError):
        del packed[missing]


def test_a_bank_keeps_36_bytes_per_single_entry_hash():
    generator = random.Random(7)
    bank = HashBank(make_entry("pdq", pdq(generator), f"label-{n % 5}", "list") for n in range(20_000))
    table = bank._by_type["pdq"]
    assert isinstance(table, PdqEntries) and table.nbytes == 20_000 * 36
    assert bank.counts()["pdq"] == 20_000


def test_a_packed_hash_is_found_near_and_exactly_with_its_label_and_source():
    generator = random.Random(3)
    values = [pdq(generator) for _ in range(5000)]
    bank = HashBank(make_entry("pdq", value, f"group-{n % 3}", f"list {n % 2}") for n, value in enumerate(values))
    flipped = bytearray(bytes.fromhex(values[42]))
    flipped[0] ^= 0b111  # three bits away
    [[(entry, distance)]] = bank.near([flipped.hex()], 31)
    assert (entry.hash, entry.label, entry.source, distance) == (values[42], "group-0", "list 0", 3)
    assert bank.exact("pdq", values[43]) == (BankEntry("pdq", values[43], "group-1", "list 1"),)
    assert bank.remove("pdq", values[42]) == 1 and bank.near([flipped.hex()], 31) == [[]]
    assert bank.add("pdq", values[42], "group-9", "list 9") and bank.exact("pdq", values[42])[0].label == "group-9"
    assert len(bank._by_type["pdq"].rows()) == 5000
