"""End-to-end ``modwatch scan`` throughput, against a baseline timed in the same run.

    .venv/bin/python -m bench.bench_scan [--posts N] [--repeats R]

Writes N synthetic posts (bench/corpus.py) as JSON lines, then times two
processes over the file: ``modwatch scan FILE --output /dev/null`` (parse,
validate, every configured detector, policy, JSON output) and a baseline that
only reads the file and parses each line with orjson. Both pay interpreter
start-up; the ratio of their best times is the figure to compare between runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.corpus import posts as make_posts

BASELINE = "import sys, orjson\nfor line in open(sys.argv[1], 'rb'): orjson.loads(line)\n"


def write_posts(path: Path, count: int) -> None:
    with path.open("wb") as out:
        for post in make_posts(count):
            record = {
                "platform": post.platform,
                "post_id": post.post_id,
                "account_id": post.account_id,
                "text": post.text,
                "lang": post.lang,
                "posted_at": post.posted_at.isoformat(),
            }
            out.write(orjson.dumps(record) + b"\n")


def best_of(repeats: int, command: list[str]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.jsonl"
        write_posts(path, arguments.posts)
        baseline = best_of(arguments.repeats, [sys.executable, "-c", BASELINE, str(path)])
        scan = best_of(
            arguments.repeats, [sys.executable, "-m", "streams.cli", "scan", str(path), "--output", "/dev/null"]
        )
    print(f"posts: {arguments.posts}")
    print(f"baseline (read + orjson.loads): {arguments.posts / baseline:,.0f} posts/s ({baseline:.2f}s)")
    print(f"modwatch scan: {arguments.posts / scan:,.0f} posts/s ({scan:.2f}s); {scan / baseline:.1f}x the baseline's time")


if __name__ == "__main__":
    main()
