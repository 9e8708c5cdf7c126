"""Rule detectors' throughput, against a baseline timed in the same run.

    .venv/bin/python -m bench.bench_rules [--posts N] [--repeats R]

Times ``detect()`` of the rule detectors (designated organisations, violent
threats, watchlist) over batches of 500 synthetic 150-character posts (four languages,
10 % naming a group beside a cue), on one core. The baseline is the cheapest
pass any detector must make: ``str.casefold`` of each post's text. The machine
is shared and noisy, so the ratio (baseline time / detector time, best of R)
is the figure to compare between runs; posts per second are given beside it.
"""

from __future__ import annotations

import argparse
import time

from bench.corpus import posts as make_posts
from detectors.configfile import Problems
from detectors.designations import DesignatedOrganisationDetector
from detectors.text import folded, folded_with_offsets
from detectors.threats import ViolentThreatDetector
from detectors.watchlist import WatchlistDetector
from streams.settings import REPOSITORY_CONFIG

BATCH = 500


def best_of(repeats: int, work) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def batches(posts):
    return [posts[start : start + BATCH] for start in range(0, len(posts), BATCH)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    problems = Problems()
    designations = DesignatedOrganisationDetector.from_config(REPOSITORY_CONFIG, problems)
    platforms = frozenset({"facebook", "instagram", "tiktok", "youtube", "x", "telegram"})
    watchlist = WatchlistDetector.from_config(REPOSITORY_CONFIG, problems, platforms)
    threats = ViolentThreatDetector.from_config(REPOSITORY_CONFIG, problems)
    problems.raise_if_any()
    posts = make_posts(arguments.posts)
    chunks = batches(posts)

    def timed(*detectors):
        # Each detector alone starts from cold folds, as the first detector of a batch does.
        def work():
            for chunk in chunks:
                folded.cache_clear()
                folded_with_offsets.cache_clear()
                for detector in detectors:
                    detector.detect(chunk)

        return work

    work = {
        "baseline": lambda: [post.text.casefold() for post in posts],
        "designated_organisation": timed(designations),
        "violent_threat": timed(threats),
        "watchlist": timed(watchlist),
        "rules (all three, one batch after another as the pipeline runs them)": timed(designations, threats, watchlist),
    }
    # Interleaved (A B C D E A B C D E ...), best of R each: the machine's speed drifts
    # within a run, and interleaving spreads the drift over every figure alike.
    results = {name: float("inf") for name in work}
    for _ in range(arguments.repeats):
        for name, function in work.items():
            results[name] = min(results[name], best_of(1, function))
    baseline = results.pop("baseline")
    flagged = sum(bool(found) for chunk in chunks for found in designations.detect(chunk))
    print(f"posts: {len(posts)} x {len(posts[0].text)} chars in batches of {BATCH}; {flagged} with findings")
    print(f"baseline str.casefold: {len(posts) / baseline:,.0f} posts/s")
    for name, seconds in results.items():
        print(f"{name}: {len(posts) / seconds:,.0f} posts/s per core; {seconds / baseline:.1f}x the baseline's time")


if __name__ == "__main__":
    main()
