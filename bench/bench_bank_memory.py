"""Memory and load time of a large PDQ bank: packed entries against the dict they replaced.

Writes a bank file of N random PDQ hashes (seven labels, one source), then
loads it in a fresh process three ways, in the same run:

``baseline``  the process with detectors imported and an empty bank
``dict``      the layout before detectors/pdq_entries.py: a dict of hex hash ->
              tuple of entry objects, beside the PDQ index
``packed``    :class:`~detectors.hashbank.HashBank` as the worker builds it
              from the CSV (``load_bank``: the collector paused while it loads)
``cached``    the same bank as a restarted worker reads it from its local
              cache (detectors/bank_cache.py; the cache is written by a load
              before the timed one, and the bank folder's checksum is timed)

and reports each one's VmRSS after loading (what the worker keeps), VmHWM (its
peak while loading) and the load time, with the bank's share (RSS minus the
baseline's) as a ratio to the dict layout's; then what one full garbage
collection costs with the bank alive, before and after ``gc.freeze()`` (which
the worker calls once its start-up is done).

    .venv/bin/python -m bench.bench_bank_memory            # 1M hashes
    .venv/bin/python -m bench.bench_bank_memory --size 100000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

LOAD = r"""
import gc, sys, time
from pathlib import Path
from detectors.configfile import Problems
from detectors.hashbank import HashBank, load_bank, load_bank_dir
from detectors.pdq_index import PDQIndex

mode, folder = sys.argv[1], Path(sys.argv[2])
started = time.perf_counter()
if mode == "dict":
    entries = load_bank_dir(folder, Problems())
    kept = {entry.hash: (entry,) for entry in entries}
    index = PDQIndex(list(kept), deduplicate=False)
    del entries
elif mode == "packed":
    kept = load_bank(folder, Problems())
elif mode == "cached":
    from detectors.bank_cache import load_bank_cached

    kept = load_bank_cached(folder, Problems(), folder / "cache")
else:
    kept = HashBank()
gc.collect()
elapsed = time.perf_counter() - started
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
# What one full collection costs with the bank alive, then after gc.freeze() (what the
# worker does once start-up is done: streams.worker.freeze_startup_objects).
collections = []
for freeze in (False, True):
    if freeze:
        gc.freeze()
    best = float("inf")
    for _ in range(3):
        begun = time.perf_counter()
        gc.collect()
        best = min(best, time.perf_counter() - begun)
    collections.append(best * 1000)
print(elapsed, int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024, *collections)
"""


def write_bank(folder: Path, size: int, seed: int = 1) -> None:
    rows = np.random.default_rng(seed).integers(0, 256, size=(size, 32), dtype=np.uint8)
    with open(folder / "bench.csv", "w", encoding="utf-8") as out:
        out.write("hash_type,hash,label,source\n")
        for number, row in enumerate(rows):
            out.write(f"pdq,{row.tobytes().hex()},group-{number % 7},bench bank\n")


def measure(mode: str, folder: Path) -> tuple[float, ...]:
    """Load seconds, VmRSS MB, VmHWM MB, and one full collection's ms before and after gc.freeze()."""
    found = subprocess.run(
        [sys.executable, "-c", LOAD, mode, str(folder)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return tuple(float(value) for value in found.stdout.split())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="PDQ hashes in the bank")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_bank(folder, arguments.size)
        results = {mode: measure(mode, folder) for mode in ("baseline", "dict", "packed")}
        measure("cached", folder)  # writes the cache
        results["cached"] = measure("cached", folder)
    base = results["baseline"][1]
    dict_share = results["dict"][1] - base
    print(f"bank of {arguments.size:,} PDQ hashes, seven labels")
    print(
        "| layout | load s | VmRSS MB | bank's share MB | share / dict | VmHWM MB "
        "| full collection ms | after gc.freeze() ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, (seconds, rss, peak, collection, frozen) in results.items():
        share = rss - base
        ratio = f"{share / dict_share:.2f}" if mode != "baseline" and dict_share > 0 else ""
        print(
            f"| {mode} | {seconds:.1f} | {rss:,.0f} | {share:,.0f} | {ratio} | {peak:,.0f} "
            f"| {collection:.1f} | {frozen:.1f} |"
        )


if __name__ == "__main__":
    main()
