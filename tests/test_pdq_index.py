"""The PDQ index against brute force and a faiss oracle, at every radius and through live changes."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from detectors.pdq_index import PDQIndex, brute_force_search

# -- Synthetic banks ---------------------------------------------------------------


def sparse_mask(rng: np.random.Generator, shape: tuple[int, ...], halvings: int) -> np.ndarray:
    """uint64 words whose bits are each set with probability 2**-halvings."""
    mask = rng.integers(0, 2**64, shape, dtype=np.uint64, endpoint=False)
    for _ in range(halvings - 1):
        mask &= rng.integers(0, 2**64, shape, dtype=np.uint64, endpoint=False)
    return mask


def perturbed(rng: np.random.Generator, rows: np.ndarray, halvings: int) -> np.ndarray:
    """Each row with about 256 / 2**halvings random bits flipped."""
    words = rows.view(np.uint64).reshape(len(rows), 4)
    return (words ^ sparse_mask(rng, words.shape, halvings)).view(np.uint8).reshape(len(rows), 32)


def clustered_bank(rng: np.random.Generator, count: int, cluster_size: int = 10) -> np.ndarray:
    """Near-duplicate clusters: members ~8 bits from their centre, ~16 from each other."""
    centres = rng.integers(0, 256, (count // cluster_size + 1, 32), dtype=np.uint8)
    return perturbed(rng, np.repeat(centres, cluster_size, axis=0)[:count], 5)


def oracle(rows: np.ndarray, queries: np.ndarray, radius: int) -> list[set[tuple[str, int]]]:
    """faiss's exhaustive IndexBinaryFlat: an implementation independent of ours."""
    flat = faiss.IndexBinaryFlat(256)
    flat.add(rows)
    limits, distances, ids = flat.range_search(queries, radius + 1)  # faiss keeps distance < radius
    return [
        {(rows[ids[i]].tobytes().hex(), int(distances[i])) for i in range(limits[q], limits[q + 1])}
        for q in range(len(queries))
    ]


@pytest.fixture(scope="module")
def bank_rows() -> np.ndarray:
    rng = np.random.default_rng(2026)
    rows = np.concatenate([clustered_bank(rng, 40_000), rng.integers(0, 256, (10_000, 32), dtype=np.uint8)])
    return np.unique(rows, axis=0)


@pytest.fixture(scope="module")
def queries(bank_rows) -> np.ndarray:
    rng = np.random.default_rng(11)
    near = perturbed(rng, bank_rows[rng.integers(0, len(bank_rows), 2000)], 3)  # ~32 bits flipped: either side of 31
    closer = perturbed(rng, bank_rows[rng.integers(0, len(bank_rows), 1000)], 4)
    unrelated = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    return np.concatenate([near, closer, unrelated])


def as_sets(results: list[list[tuple[str, int]]]) -> list[set[tuple[str, int]]]:
    return [set(found) for found in results]


def test_index_returns_exactly_the_brute_force_results_at_radius_31(bank_rows, queries):
    index = PDQIndex(bank_rows)
    expected = oracle(bank_rows, queries, 31)
    assert as_sets(index.search(queries, 31)) == expected
    # The queries exercise the index: many hits, many at the boundary.
    distances = [distance for found in expected for _, distance in found]
    assert len(distances) > 3000 and distances.count(31) > 50 and sum(map(bool, expected)) > 1500


@pytest.mark.parametrize("radius", [0, 15, 16, 47, 63, 70])
def test_index_is_exact_at_other_radii(bank_rows, queries, radius):
    subset = queries[::10]
    assert as_sets(PDQIndex(bank_rows).search(subset, radius)) == oracle(bank_rows, subset, radius)


def test_numpy_brute_force_agrees_with_faiss(bank_rows, queries):
    rows, subset = bank_rows[:5000], queries[::20]
    found = brute_force_search(rows, subset, 40)
    expected = oracle(rows, subset, 40)
    assert [{(rows[row].tobytes().hex(), distance) for row, distance in matches} for matches in found] == expected


def test_index_results_come_nearest_first():
    index = PDQIndex(["0" * 64, "0" * 63 + "1", "0" * 62 + "11"])
    assert [distance for _, distance in index.search(["0" * 64], 31)[0]] == [0, 1, 2]


def test_small_index_scans_and_is_exact(bank_rows, queries):
    rows = bank_rows[:1000]
    subset = queries[:500]
    assert as_sets(PDQIndex(rows).search(subset, 31)) == oracle(rows, subset, 31)


# -- Live changes ------------------------------------------------------------------


def test_added_hash_is_found_by_the_next_query_and_removed_one_is_not(bank_rows):
    index = PDQIndex(bank_rows[:20_000])
    new = "ab" * 32
    near_new = "ab" * 31 + "aa"  # 1 bit away
    assert index.search([near_new])[0] == []
    assert index.add(new) is True
    assert index.search([near_new])[0] == [(new, 1)]
    assert index.remove(new) is True
    assert index.search([near_new])[0] == []
    indexed = bank_rows[5].tobytes().hex()
    assert index.remove(indexed) is True and indexed not in index
    assert all(found != indexed for found, _ in index.search([indexed])[0])
    assert index.add(indexed) is True and index.search([indexed])[0][0] == (indexed, 0)
    assert index.add(indexed) is False and index.remove("cd" * 32) is False


def test_random_adds_and_removes_with_compactions_match_the_oracle(bank_rows, queries):
    rng = np.random.default_rng(5)
    index = PDQIndex(bank_rows[:20_000], min_delta=300)
    indexed = [row.tobytes().hex() for row in bank_rows[:20_000]]
    pool = [row.tobytes().hex() for row in bank_rows[20_000:24_000]]
    live = set(indexed)
    for _ in range(3000):
        if rng.random() < 0.6:
            value = pool[int(rng.integers(len(pool)))]
            assert index.add(value) is (value not in live)
            live.add(value)
        else:
            candidates = indexed if rng.random() < 0.7 else pool
            value = candidates[int(rng.integers(len(candidates)))]
            assert index.remove(value) is (value in live)
            live.discard(value)
    assert index.compactions >= 2 and len(index) == len(live)
    rows = np.frombuffer(b"".join(bytes.fromhex(value) for value in sorted(live)), dtype=np.uint8).reshape(-1, 32)
    subset = queries[:1500]
    assert as_sets(index.search(subset, 31)) == oracle(rows, subset, 31)
