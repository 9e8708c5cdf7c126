"""Hashing images on every core: a process pool against the event loop's one thread.

    .venv/bin/python -m bench.bench_hash_pool [--png N] [--jpeg N] [--repeats R]

Hashes N distinct 256x256 PNGs (what bench_broker attaches to posts) and N
distinct 1600x1000 JPEGs (a phone photo as platforms serve it), with the
shipped hashing config (config/hashing.yaml: dihedral hashes, unletterboxing,
the JPEG draft side), two ways in the same run, best of R each, interleaved:

``in process``  ``ImageHasher.hash_bytes`` one image after another, as the
                worker hashes today (one core: decoding and PDQ hold the GIL)
``pool``        ``ImageHasher.prefetch`` on a ``ProcessPoolExecutor`` of
                ``os.cpu_count()`` spawned processes (started before timing),
                then ``hash_bytes`` answering from the cache

Reports images per second and the pool's speed-up; the machine's core count
bounds it (2 here).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from detectors.configfile import Problems
from detectors.media_hash import MediaHashDetector
from sim._images import generated_image, jpeg_bytes, png_bytes
from streams.settings import REPOSITORY_CONFIG


def images(pngs: int, jpegs: int, salt: str) -> dict[str, list[bytes]]:
    """Distinct images (the hasher caches by content), fresh for each timed pass."""
    return {
        "png 256x256": [png_bytes(generated_image(f"{salt}-png-{n}", 256)) for n in range(pngs)],
        "jpeg 1600x1000": [
            jpeg_bytes(generated_image(f"{salt}-jpeg-{n}", 1600).resize((1600, 1000)), 85) for n in range(jpegs)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=int, default=200)
    parser.add_argument("--jpeg", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    problems = Problems()
    detector = MediaHashDetector.from_config(REPOSITORY_CONFIG, problems)
    problems.raise_if_any()
    settings = detector.hasher.settings()
    workers = os.cpu_count() or 1
    best: dict[tuple[str, str], float] = {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(pow, 2, 2).result()  # the processes are up before anything is timed
        for repeat in range(arguments.repeats):
            sets = images(arguments.png, arguments.jpeg, f"r{repeat}")
            for kind, batch in sets.items():
                for way in ("in process", "pool"):
                    hasher = type(detector.hasher)(**settings)
                    started = time.perf_counter()
                    if way == "pool":
                        hasher.prefetch(batch, pool)
                    for data in batch:
                        hasher.hash_bytes(data)
                    elapsed = time.perf_counter() - started
                    best[(kind, way)] = min(best.get((kind, way), float("inf")), elapsed)
    print(f"hashing config: {settings}; pool of {workers} processes; best of {arguments.repeats}")
    print("| images | in process, images/s | pool, images/s | pool / in process |")
    print("| --- | ---: | ---: | ---: |")
    for kind, count in (("png 256x256", arguments.png), ("jpeg 1600x1000", arguments.jpeg)):
        alone, pooled = count / best[(kind, "in process")], count / best[(kind, "pool")]
        print(f"| {kind} | {alone:,.0f} | {pooled:,.0f} | {pooled / alone:.2f}x |")


if __name__ == "__main__":
    main()
