"""Does a propaganda signal from ISIS supporters' tweets add to the extremism model? (issue 12)

    .venv/bin/python docs/experiments/fanboy_promotion.py PATH/TO/IsisFanboy.csv 2000

Adds N tweets of `isis_fanboy_tweets_en` (Fifth Tribe, Kaggle 2016; not shipped: its
repository has no licence file) to the extremism model's training data as English
promotion posts, split between the two folds, and prints the cross-author figures on
the written posts and the share of 2,000 further fanboy tweets the model flags.
Result (2026-12-03): with 2,000 tweets, violating written posts found across authors
fell (en 217 -> 216, ur 200 -> 177, roman_ur 120 -> 101, ps 194 -> 191 of 320) and
the model flagged 1,846 of 2,000 held-out fanboy tweets, most of them news relays and
chat: it learns the accounts' topic, not propaganda. Not shipped.
"""

from __future__ import annotations

import csv
import random
import sys

from detectors.extremism_data import WrittenPost, read_written, real_negatives
from detectors.extremism_evaluation import cross_author_figures
from detectors.extremism_model import ExtremismModel, ExtremismSettings, choose_thresholds, cross_author, fit


def main(path: str, count: int) -> None:
    csv.field_size_limit(10**8)
    settings = ExtremismSettings()
    written = read_written()
    real = real_negatives(settings.real_per_source, settings.seed)
    with open(path, encoding="utf-8", newline="") as handle:
        tweets = [row["tweets"] for row in csv.DictReader(handle) if row["tweets"]]
    random.Random(1).shuffle(tweets)
    fanboy = [
        WrittenPost(f"fanboy-{i}", "en", "promotion", "glorification", text, "fanboy-a" if i % 2 else "fanboy-b")
        for i, text in enumerate(tweets[:count])
    ]
    threat, promotion = cross_author(settings, written + fanboy, real)
    violating = (threat + promotion)[: len(written)]
    thresholds = choose_thresholds(settings, written, violating)
    print(count, thresholds, cross_author_figures("with fanboy", written, violating, thresholds).found)
    model = ExtremismModel(fit(settings, written + fanboy, real), thresholds)
    held = tweets[count : count + 2000]
    threat, promotion = model.score(held)
    print("further fanboy tweets flagged:", int(((threat + promotion) >= thresholds["en"]).sum()), "of", len(held))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
