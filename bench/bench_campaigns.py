"""What campaign grouping adds to the scan agent's per-event cost (issue 8, acceptance 4).

    .venv/bin/python -m bench.bench_campaigns [--posts N] [--repeats R]

Times, in one process and one run, the work ``scan_posts`` does per batch of
500 posts (bench/corpus.py: 150 characters, four languages, 10 % naming a
designated group) with every configured detector:

* baseline: ``pipeline.scan`` of the batch, then for each flagged post
  ``pipeline.flagged`` and the JSON of its item event (what is sent to Kafka);
* with campaigns: the same, plus the post's fingerprint
  (``takedowns.campaigns.fingerprint``), its sighting, and the JSON of the
  campaign event.

The broker sends themselves are not timed: the extra record per flagged post
is one more buffered producer send, like the item event beside it. The
figure is the ratio of the two best times (target: at most 1.20).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import orjson

from bench.corpus import posts as make_posts
from detectors.pipeline import Pipeline
from streams.settings import REPOSITORY_CONFIG
from takedowns import campaigns
from takedowns.requests import request_id_for

BATCH = 500


def scan_batches(pipeline: Pipeline, batches, policy, with_campaigns: bool) -> float:
    started = time.perf_counter()
    for batch in batches:
        for decision in pipeline.scan(batch):
            if decision.action == "none":
                continue
            flagged = pipeline.flagged(decision)
            if with_campaigns:
                post = decision.post
                flagged["campaign"] = campaigns.fingerprint(flagged, post.text, policy)
                if flagged["campaign"] is not None:
                    seen = campaigns.sighting(
                        flagged, flagged["campaign"], request_id_for(post.platform, post.post_id), post.posted_at
                    )
                    orjson.dumps({"type": "sighting", "sighting": seen})
            orjson.dumps({"type": "flagged", "flagged": flagged})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pipeline = Pipeline.from_config_dir(REPOSITORY_CONFIG)
    from detectors.configfile import Problems

    policy = campaigns.load_campaign_policy(REPOSITORY_CONFIG / "policy.yaml", Problems())
    corpus = make_posts(args.posts)
    batches = [corpus[start : start + BATCH] for start in range(0, len(corpus), BATCH)]
    flagged = sum(decision.action != "none" for batch in batches for decision in pipeline.scan(batch))
    best = {False: float("inf"), True: float("inf")}
    for _ in range(args.repeats):  # alternate, so drift on a shared machine hits both alike
        for with_campaigns in (False, True):
            best[with_campaigns] = min(best[with_campaigns], scan_batches(pipeline, batches, policy, with_campaigns))
    print(
        f"{args.posts} posts ({flagged} flagged), batches of {BATCH}, best of {args.repeats}, {datetime.now(UTC):%Y-%m-%d}"
    )
    print("| scan agent work | posts/s | per post | ratio |\n| --- | ---: | ---: | ---: |")
    for label, key in (
        ("baseline: detectors, policy, item event", False),
        ("with campaign fingerprint and sighting", True),
    ):
        seconds = best[key]
        print(
            f"| {label} | {args.posts / seconds:,.0f} | {seconds / args.posts * 1e6:.1f} µs | {seconds / best[False]:.3f} |"
        )


if __name__ == "__main__":
    main()
