"""End-to-end ``modwatch scan`` throughput, against a baseline timed in the same run.

    .venv/bin/python -m bench.bench_scan [--posts N] [--repeats R] [--against REV]

Writes N synthetic posts (bench/corpus.py) as JSON lines, then times two
processes over the file: ``modwatch scan FILE --output /dev/null`` (parse,
validate, every configured detector, policy, JSON output) and a baseline that
only reads the file and parses each line with orjson. Both pay interpreter
start-up; the ratio of their best times is the figure to compare between runs.

``--against REV`` also times ``modwatch scan`` of an earlier commit (checked
out with ``git worktree`` into a temporary folder, run with its own code and
config) on the same file in the same run, and prints this tree's rate as a
multiple of that commit's: how much a change cost, free of the machine's load.
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--against", metavar="REV", help="also time modwatch scan at this git commit")
    arguments = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.jsonl"
        write_posts(path, arguments.posts)
        baseline = best_of(arguments.repeats, [sys.executable, "-c", BASELINE, str(path)])
        command = [sys.executable, "-m", "streams.cli", "scan", str(path), "--output", "/dev/null"]
        if arguments.against:
            earlier = Path(folder) / "earlier"
            subprocess.run(
                ["git", "-C", str(root), "worktree", "add", "--detach", "-q", str(earlier), arguments.against],
                check=True,
            )
            try:
                scans = interleaved(
                    arguments.repeats, {"this tree": (command, root), arguments.against: (command, earlier)}
                )
            finally:
                subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(earlier)], check=True)
            scan, before = scans["this tree"], scans[arguments.against]
        else:
            scan = best_of(arguments.repeats, command)
    print(f"posts: {arguments.posts}")
    print(f"baseline (read + orjson.loads): {arguments.posts / baseline:,.0f} posts/s ({baseline:.2f}s)")
    print(
        f"modwatch scan: {arguments.posts / scan:,.0f} posts/s ({scan:.2f}s); {scan / baseline:.1f}x the baseline's time"
    )
    if arguments.against:
        print(
            f"modwatch scan at {arguments.against}: {arguments.posts / before:,.0f} posts/s ({before:.2f}s); "
            f"{before / baseline:.1f}x the baseline's time"
        )
        print(f"this tree's rate / {arguments.against}'s rate: {before / scan:.2f}x")


def interleaved(repeats: int, commands: dict[str, tuple[list[str], Path]]) -> dict[str, float]:
    """Best time of each command, run in turn (A B A B ...) so that load changes hit both alike."""
    best = {name: float("inf") for name in commands}
    for _ in range(repeats):
        for name, (command, folder) in commands.items():
            environment = dict(os.environ, PYTHONPATH=str(folder), MODWATCH_CONFIG_DIR=str(folder / "config"))
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=folder, env=environment)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


if __name__ == "__main__":
    main()
