"""Text classifier throughput, against a baseline timed in the same run.

    .venv/bin/python -m bench.bench_classifier [--posts N] [--repeats R]

Times ``TextClassifierDetector.detect()`` with the shipped model over batches
of 500 synthetic 150-character posts, pinned to one core:

* ``latin, untagged``: English and Roman Urdu posts without ``lang``, so every
  post pays for the language guess and is classified: the worst case;
* ``four languages, tagged``: bench/corpus.py's mix (English, Roman Urdu, Urdu
  and Pashto with ``lang`` set); the Arabic-script half is skipped.

The baseline is a trivial pass over the same batches: ``len(post.text.lower())``
for each post. For reference, the run also times the model's own vectoriser
alone and scikit-learn's ``HashingVectorizer`` (character 1-5-grams within
words), which the classifier does not use because it loops in Python per
n-gram. The machine is shared and noisy, so the ratio (detector time /
baseline time, best of R) is the figure to compare between runs; posts per
second are given beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime

from sklearn.feature_extraction.text import HashingVectorizer

from bench.corpus import posts as corpus_posts
from detectors.configfile import Problems
from detectors.events import Post
from detectors.text_classifier import TextClassifierDetector
from streams.settings import REPOSITORY_CONFIG

BATCH = 500
LENGTH = 150
WORDS = {
    "en": (
        "the match last night was great and we are going to the market after work with friends family buy fruit "
        "you are such an idiot shut up nobody cares about your stupid opinion people like that should leave "
        "weather today looks fine train late again coffee please thanks everyone who came"
    ).split(),
    "roman_ur": (
        "aaj mausam bohat acha hai hum sab bazaar ja rahe hain phir chai piyenge aur cricket match dekhenge dosto "
        "ke sath tum bilkul pagal ho chup kar kamina ghatiya insaan tera kuch nahi hoga yeh log kya samajhte hain "
        "bhai kal milte hain"
    ).split(),
}


def latin_posts(count: int, seed: int = 11) -> list[Post]:
    """English and Roman Urdu word salad, 150 characters, no language tag."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        vocabulary = WORDS["en" if number % 2 == 0 else "roman_ur"]
        words: list[str] = []
        while sum(len(word) + 1 for word in words) <= LENGTH:
            words.append(rng.choice(vocabulary))
        made.append(
            Post(
                platform="x",
                post_id=f"latin-{number}",
                account_id=f"acct-{rng.randrange(10_000)}",
                posted_at=datetime(2026, 11, 29, tzinfo=UTC),
                text=" ".join(words)[:LENGTH],
            )
        )
    return made


def best_of(repeats: int, work) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    # "Per core": the detector is single-threaded numpy and scipy; pinning
    # makes sure no helper thread borrows the other core.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    problems = Problems()
    detector = TextClassifierDetector.from_config(REPOSITORY_CONFIG, problems)
    problems.raise_if_any()

    workloads = {
        "latin, untagged": latin_posts(arguments.posts),
        "four languages, tagged": corpus_posts(arguments.posts, length=LENGTH),
    }
    print(f"model {detector.model.file_name} (sha256 {detector.model.sha256[:16]}...), min_score {detector.min_score}")
    for name, posts in workloads.items():
        batches = [posts[start : start + BATCH] for start in range(0, len(posts), BATCH)]
        detector.detect(batches[0])  # warm-up: first-call imports and allocations
        baseline = best_of(arguments.repeats, lambda: [[len(post.text.lower()) for post in batch] for batch in batches])
        classifier = best_of(arguments.repeats, lambda: [detector.detect(batch) for batch in batches])
        findings = sum(len(found) for batch in batches for found in detector.detect(batch))
        print(f"{name}: {len(posts)} posts x {LENGTH} chars in batches of {BATCH}; {findings} findings")
        print(f"  baseline len(str.lower): {len(posts) / baseline:,.0f} posts/s")
        print(
            f"  text_classifier: {len(posts) / classifier:,.0f} posts/s per core; "
            f"{classifier / baseline:,.0f}x the baseline's time"
        )
        texts = [[post.text for post in batch] for batch in batches]
        vectorizer = next(iter(detector.model.heads.values())).pipeline.named_steps["features"]
        ours = best_of(arguments.repeats, lambda: [vectorizer.transform(batch) for batch in texts])
        reference = HashingVectorizer(analyzer="char_wb", ngram_range=(1, 5))
        theirs = best_of(arguments.repeats, lambda: [reference.transform(batch) for batch in texts])
        print(
            f"  vectoriser alone: {len(posts) / ours:,.0f} posts/s; scikit-learn HashingVectorizer "
            f"(char_wb 1-5): {len(posts) / theirs:,.0f} posts/s"
        )


if __name__ == "__main__":
    main()
