"""Topics. Input topics carry raw bytes: modwatch parses them itself so that a
malformed record reaches the dead-letter topic instead of being skipped by a
deserializer."""

from __future__ import annotations

from streams.app import app, settings


def _input(name: str):
    return app.topic(
        settings.topic(name),
        key_type=bytes,
        key_serializer="raw",
        value_type=bytes,
        value_serializer="raw",
        partitions=settings.partitions,
    )


def _output(name: str, *, compacting: bool = False):
    return app.topic(
        settings.topic(name),
        key_type=str,
        value_serializer="json",
        partitions=settings.partitions,
        compacting=compacting or None,
    )


posts_topic = _input("posts")
reports_topic = _input("reports")
platform_status_topic = _input("platform-status")

# Posts the policy flagged (review or takedown), re-keyed by platform:post_id.
# The de-duplicating agent reads it one event at a time so its table writes go
# to the partition of the event that caused them.
flagged_topic = _output("flagged")

# These two are also the changelogs of the tables that de-duplicate them
# (streams/tables.py): an output and the memory of having sent it are one
# record, so a crash can never leave one without the other. Compaction keeps
# the one record per item.
takedown_requests_topic = _output("takedown-requests", compacting=True)
alerts_topic = _output("alerts", compacting=True)

deadletter_topic = _output("deadletter")
