"""``scan_posts``: posts -> validate -> detectors + policy, a batch at a time -> item-events | deadletter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from detectors.events import InvalidEvent
from streams.agents._common import send_dead_letter
from streams.agents.followers import apply_bank_changes
from streams.app import app, settings
from streams.batching import take_batches
from streams.runtime import current
from streams.topics import campaign_events_topic, item_events_topic, posts_topic
from takedowns import campaigns
from takedowns.messages import Flagged, Sighting
from takedowns.requests import request_id_for

log = logging.getLogger("modwatch.agents")


# Where the Faust agent reads: the posts topic when settings.scan_consumer is
# "faust"; otherwise the batched reader (post_reader.py) reads it and this agent
# keeps only an in-memory channel that nothing sends to (tests drive it with
# test_context, which replaces its channel either way).
_source = posts_topic if settings.scan_consumer == "faust" else app.channel()


@app.agent(_source)
async def scan_posts(stream):
    batches = take_batches(
        stream, settings.scan_batch_size, within=settings.scan_batch_seconds, idle=settings.scan_idle_seconds
    )
    async for events in batches:
        await handle_posts(events, ordered=False)


async def handle_posts(events, *, ordered: bool) -> list:
    """One batch of post records, in order: validated, scanned, flagged ones published.

    Returns the broker's acknowledgements of every record the batch produced
    (item-events, campaign-events, dead letters). ``ordered``: the records
    come in offset order already (the batched reader); otherwise each is asked
    of ``runtime.order`` first (Faust's consumer, streams/offsets.py).
    """
    taken_at = time.time()
    acks: list = []
    parsed, hashed = await parse_posts(events, acks, ordered=ordered)
    if not parsed:
        return acks
    runtime = current()
    runtime.metrics.scan_batch_size.observe(len(parsed))
    validated_at = time.time()
    decided = await scan(parsed, acks, in_thread=not hashed)
    decided_at = time.time()
    stage = runtime.metrics.stage
    for event, _ in parsed:
        # From the record's Kafka timestamp (producer or broker time) to the decision.
        runtime.metrics.processing_latency.observe(max(0.0, decided_at - event.message.timestamp))
        stage["wait"].observe(max(0.0, taken_at - event.message.timestamp))
        stage["validate"].observe(validated_at - taken_at)
        stage["detect"].observe(decided_at - validated_at)
    count_decisions(decided)
    for decision in decided:
        if decision.action != "none":
            acks.extend(await publish_flagged(decision))
    published = time.time() - decided_at
    for _ in parsed:
        stage["publish"].observe(published)
    return acks


async def parse_posts(events, acks: list, *, ordered: bool) -> tuple[list[tuple], bool]:
    """(event, post) for each valid post admitted in order, and whether its images are hashed already.

    Invalid records are dead-lettered (their acknowledgements go to ``acks``).
    The batch's images are decoded and hashed on the runtime's process pool
    first, off the event loop and on every core; then each post's images are
    checked against the hashes (a corrupt one dead-letters its post).
    """
    runtime = current()
    admitted = []
    for event in events:
        if not ordered and not await runtime.order.admit(event):
            continue
        try:
            admitted.append((event, runtime.pipeline.parse_post(event.value, event.key, keyed=True, images=False)))
        except InvalidEvent as error:
            acks.append(await send_dead_letter(event, error))
    hashed = True
    if any(post.media for _, post in admitted):
        hashed = await _hash_images([post for _, post in admitted])
    parsed = []
    for event, post in admitted:
        try:
            runtime.pipeline.check_images(post)
            parsed.append((event, post))
        except InvalidEvent as error:
            acks.append(await send_dead_letter(event, error))
    if parsed:
        runtime.metrics.events.labels(parsed[0][0].message.topic, "valid").inc(len(parsed))
    return parsed, hashed


async def _hash_images(posts) -> bool:
    """Hash the posts' images on the runtime's pool, waiting on a thread: the loop stays free.

    Returns whether the pool hashed them; if not, detection hashes them itself.
    """
    runtime = current()
    pool = runtime.hash_pool()
    if pool is None:
        return False
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, runtime.pipeline.prefetch_images, posts, pool)
    except Exception:  # noqa: BLE001 - a broken pool: the images are hashed on the scan thread instead
        log.exception("image hashing pool failed; hashing this batch's images in the worker")
        return False
    return True


@app.task
async def warm_hash_pool():
    """Start the image-hashing processes with the worker: started at the first image instead,
    they kept the posts behind it waiting for seconds (spawned processes import the hasher)."""
    runtime = current()
    if runtime.pipeline.media is None:
        return
    pool = runtime.hash_pool()
    if pool is None:
        return
    try:
        started = await asyncio.get_running_loop().run_in_executor(None, runtime.pipeline.warm_image_pool, pool)
    except Exception:  # noqa: BLE001 - the batch that needs the pool will find it broken and hash in the worker
        log.exception("image hashing pool did not start")
        return
    log.info("image hashing pool ready: %d processes", started)


def count_decisions(decided) -> None:
    """The batch's posts, decisions and findings, each series incremented once per batch."""
    metrics = current().metrics
    posts, actions, findings = Counter(), Counter(), Counter()
    for decision in decided:
        platform = decision.post.platform
        posts[platform] += 1
        actions[(decision.action, platform)] += 1
        for finding in decision.findings:
            findings[(finding.detector, finding.category, platform)] += 1
    for platform, count in posts.items():
        metrics.posts_processed.labels(platform).inc(count)
    for labels, count in actions.items():
        metrics.decisions.labels(*labels).inc(count)
    for labels, count in findings.items():
        metrics.findings.labels(*labels).inc(count)


async def publish_flagged(decision) -> list:
    """A flagged post goes to its item's events (and its campaign's); returns the broker's acknowledgements."""
    runtime = current()
    post = decision.post
    flagged = runtime.pipeline.flagged(decision)
    flagged["campaign"] = campaigns.fingerprint(flagged, post.text, runtime.campaign_policy)
    acks = [await item_events_topic.send(key=post.key, value=Flagged(flagged).wire())]
    if flagged["campaign"] is not None:
        seen = campaigns.sighting(
            flagged, flagged["campaign"], request_id_for(post.platform, post.post_id), post.posted_at
        )
        acks.append(await campaign_events_topic.send(key=flagged["campaign"], value=Sighting(seen).wire()))
    return acks


async def scan(parsed, acks: list, *, in_thread: bool = False):
    """Run the pipeline over a batch; a post that breaks a detector is dead-lettered alone.

    Detection runs on the event loop: with the images hashed on the pool and
    the models compiled (detectors/fast_predict.py), a batch of 500 posts
    holds the loop for tens of milliseconds. On a thread it was slower
    (the thread and the loop hand Python's lock back and forth: a batch took
    three to five times as long while the loop was busy). ``in_thread``: the
    batch's images still need hashing here (no pool), which takes milliseconds
    per image, so the loop is kept free for heartbeats and the web API.
    Hash-bank changes are applied between batches, never during one.
    """
    async with current().scanning:
        apply_bank_changes()
        return await _scan_batch(parsed, acks, in_thread)


async def _scan_batch(parsed, acks: list, in_thread: bool):
    runtime = current()
    pipeline = runtime.pipeline
    run = _on_a_thread if in_thread else _here
    try:
        decisions = await run(pipeline.scan, [post for _, post in parsed])
    except Exception:  # noqa: BLE001 - find the post that broke the batch
        log.exception("detector pipeline failed on a batch of %d posts; retrying one by one", len(parsed))
        decisions = []
        for event, post in parsed:
            try:
                decisions.extend(await run(pipeline.scan, [post]))
            except Exception as error:  # noqa: BLE001
                log.exception("detector pipeline failed on %s", post.key)
                error = InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}")
                acks.append(await send_dead_letter(event, error))
        return decisions
    for detector_name, seconds in pipeline.last_durations.items():
        runtime.metrics.detector_batch_duration.labels(detector_name).observe(seconds)
    return decisions


async def _here(function, argument):
    return function(argument)


async def _on_a_thread(function, argument):
    return await asyncio.get_running_loop().run_in_executor(None, function, argument)
