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
decisions_topic = _input("decisions")

# Everything that happens to one item, keyed by platform:post_id and written by
# modwatch's own producer: scan decisions (review or takedown), platform status
# events, reviewers' decisions, deadline ticks. One agent reads it one event at
# a time, so each item's state changes in order and each table write goes to
# the partition of the event that caused it, whatever partitioner the
# producers of the input topics used.
item_events_topic = _output("item-events")

# These two are also the changelogs of the tables that de-duplicate them
# (streams/tables.py): an output and the memory of having sent it are one
# record, so a crash can never leave one without the other. Compaction keeps
# the one record per item.
takedown_requests_topic = _output("takedown-requests", compacting=True)
alerts_topic = _output("alerts", compacting=True)

# The changelog of item_to_state (streams/tables.py): the latest state per item.
item_state_topic = _output("item-state", compacting=True)
# Strikes and account statuses, keyed platform:account_id (takedowns/accounts.py),
# and the changelog of account_to_state.
account_events_topic = _output("account-events")
account_state_topic = _output("account-state", compacting=True)
# Sightings of flagged content and removals, keyed by campaign fingerprint
# (takedowns/campaigns.py), and the changelog of campaign_to_state.
campaign_events_topic = _output("campaign-events")
campaign_state_topic = _output("campaign-state", compacting=True)
# The audit trail: one record per state transition, never compacted.
ledger_topic = _output("ledger")

# Live changes to the media hash bank, keyed hash_type:hash, compacted: every
# worker reads all of it from the start (streams/agents/followers.py follow_hash_bank).
hashbank_topic = _output("hashbank", compacting=True)
# Runtime watchlist entries, keyed platform:account_id (or platform:@handle),
# compacted: every worker reads all of it from the start (follow_watchlist).
watchlist_topic = _output("watchlist", compacting=True)

deadletter_topic = _output("deadletter")
