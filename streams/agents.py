"""Agents: scan posts in batches, then publish each alert and request once.

``scan_posts``        posts -> validate -> detectors + policy (a batch at a time)
                      -> flagged (review or takedown) | deadletter
``publish_flagged``   flagged -> one alert and at most one takedown request per item
``validate_reports``  reports -> counted | deadletter
``validate_statuses`` platform-status -> counted | deadletter

No input event can stop an agent: a record that breaks the contract goes to
the dead-letter topic with its reason, and an unexpected error while handling
one record does the same (reason ``internal_error``) instead of killing the
worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from detectors.events import InvalidEvent
from detectors.pipeline import Pipeline
from streams.app import app, settings
from streams.deadletter import dead_letter, dead_letter_key
from streams.metrics import METRICS
from streams.tables import post_to_alert, post_to_takedown_request
from streams.topics import (
    deadletter_topic,
    flagged_topic,
    platform_status_topic,
    posts_topic,
    reports_topic,
)

log = logging.getLogger("modwatch.agents")

# Loaded at import, before the worker starts: every config problem is reported at once.
pipeline = Pipeline.from_config_dir(settings.config_dir)


async def send_dead_letter(event, error: InvalidEvent) -> None:
    message = event.message
    METRICS.events.labels(message.topic, "deadletter").inc()
    METRICS.deadletters.labels(message.topic, error.reason).inc()
    log.warning(
        "dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, error
    )
    await deadletter_topic.send(
        key=dead_letter_key(message.topic, message.partition, message.offset),
        value=dead_letter(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=event.key,
            raw=event.value,
            error=error,
        ),
    )


def parse_keyed(event, parse: Callable):
    """Parse an input record and check that its key is ``platform:post_id``."""
    parsed = parse(event.value)
    key = event.key.decode("utf-8", "replace") if isinstance(event.key, bytes) else event.key
    if key != parsed.key:
        raise InvalidEvent("invalid_key", "key", f"{key!r} is not {parsed.key!r} (platform:post_id)")
    return parsed


@app.agent(posts_topic)
async def scan_posts(stream):
    async for events in stream.take_events(settings.scan_batch_size, within=settings.scan_batch_seconds):
        parsed = []
        for event in events:
            try:
                parsed.append((event, parse_keyed(event, pipeline.parser.post)))
                METRICS.events.labels(event.message.topic, "valid").inc()
            except InvalidEvent as error:
                await send_dead_letter(event, error)
        if not parsed:
            continue
        METRICS.scan_batch_size.observe(len(parsed))
        for decision in await scan(parsed):
            post = decision.post
            METRICS.posts_processed.labels(post.platform).inc()
            METRICS.decisions.labels(decision.action, post.platform).inc()
            for finding in decision.findings:
                METRICS.findings.labels(finding.detector, finding.category, post.platform).inc()
            if decision.action != "none":
                await flagged_topic.send(key=post.key, value=pipeline.flagged(decision))


async def scan(parsed):
    """Run the pipeline over a batch; a post that breaks a detector is dead-lettered alone."""
    try:
        decisions = pipeline.scan([post for _, post in parsed])
    except Exception:  # noqa: BLE001 - find the post that broke the batch
        log.exception("detector pipeline failed on a batch of %d posts; retrying one by one", len(parsed))
        decisions = []
        for event, post in parsed:
            try:
                decisions.extend(pipeline.scan([post]))
            except Exception as error:  # noqa: BLE001
                log.exception("detector pipeline failed on %s", post.key)
                await send_dead_letter(event, InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}"))
        return decisions
    for detector_name, seconds in pipeline.last_durations.items():
        METRICS.detector_batch_duration.labels(detector_name).observe(seconds)
    return decisions


@app.agent(flagged_topic)
async def publish_flagged(stream):
    async for event in stream.events():
        key, flagged = event.key, event.value
        try:
            now = datetime.now(UTC)
            if key in post_to_alert:
                METRICS.duplicates.labels("alert").inc()
            else:
                alert = pipeline.alert(flagged, now)
                post_to_alert[key] = alert
                METRICS.alerts.labels(alert["type"], alert["severity"]).inc()
            if flagged["action"] != "takedown":
                continue
            if key in post_to_takedown_request:
                METRICS.duplicates.labels("takedown_request").inc()
                continue
            request = pipeline.takedown_request(flagged, now)
            post_to_takedown_request[key] = request
            METRICS.takedown_requests.labels(request["platform"], request["jurisdiction"]).inc()
            log.info("takedown request %s for %s (%s)", request["request_id"], key, ",".join(request["categories"]))
        except Exception as error:  # noqa: BLE001 - one bad record must not stop the agent
            log.exception("cannot publish flagged item %r", key)
            await send_dead_letter(event, InvalidEvent("internal_error", None, f"{type(error).__name__}: {error}"))


async def _validate_only(stream, parse: Callable) -> None:
    async for event in stream.events():
        try:
            parse_keyed(event, parse)
            METRICS.events.labels(event.message.topic, "valid").inc()
        except InvalidEvent as error:
            await send_dead_letter(event, error)


@app.agent(reports_topic)
async def validate_reports(stream):
    # The takedown-lifecycle issue counts reports per item; for now they are validated and counted.
    await _validate_only(stream, pipeline.parser.report)


@app.agent(platform_status_topic)
async def validate_statuses(stream):
    # The takedown-lifecycle issue turns these into removals; for now they are validated and counted.
    await _validate_only(stream, pipeline.parser.status)
