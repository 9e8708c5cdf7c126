"""Tables. Keys are ``platform:post_id``.

``post_to_takedown_request`` and ``post_to_alert`` use the output topics
themselves as changelogs: setting ``post_to_takedown_request[key]`` *is*
publishing the request. They are kept in memory whatever the worker's store:
at every start they are rebuilt from the output topic (compacted, one record
per item), so they hold exactly what reached the broker. A RocksDB copy could
hold a key whose record never landed (a ``kill -9`` between the local write
and the send), and the replay would then skip the output for good.

Every state that remembers an output is stored only after the broker has
acknowledged it (streams/agents/items.py ``apply``), so a crash at any point
repeats the cause and each output is de-duplicated by its id: a request or an
alert already published is never published twice, and one whose write never
landed is published when its input is read again.

``item_to_state`` holds each item's takedown lifecycle (takedowns/lifecycle.py)
with its clock; its compacted changelog brings every open request and its
``requested_at`` back after a restart.
"""

from __future__ import annotations

from streams.app import app, settings
from streams.topics import (
    account_state_topic,
    alerts_topic,
    campaign_state_topic,
    item_state_topic,
    takedown_requests_topic,
)

# Not "memory://": Faust falls back to the app's store when the URL is falsy,
# and yarl's URL("memory://") is (no host, no path).
MEMORY = "memory://output-tables/"

post_to_takedown_request = app.Table(
    "post_to_takedown_request",
    key_type=str,
    store=MEMORY,
    partitions=settings.partitions,
    changelog_topic=takedown_requests_topic,
)

post_to_alert = app.Table(
    "post_to_alert",
    key_type=str,
    store=MEMORY,
    partitions=settings.partitions,
    changelog_topic=alerts_topic,
)

item_to_state = app.Table(
    "item_to_state",
    key_type=str,
    partitions=settings.partitions,
    changelog_topic=item_state_topic,
)

# Confirmed violations per platform:account_id (takedowns/accounts.py).
account_to_state = app.Table(
    "account_to_state",
    key_type=str,
    partitions=settings.partitions,
    changelog_topic=account_state_topic,
)

# Sightings per campaign fingerprint (takedowns/campaigns.py).
campaign_to_state = app.Table(
    "campaign_to_state",
    key_type=str,
    partitions=settings.partitions,
    changelog_topic=campaign_state_topic,
)

# Faust would JSON-encode string keys ('"x:1"'); the contract keys every record
# with the bare ``platform:post_id``.
for _table in (post_to_takedown_request, post_to_alert, item_to_state, account_to_state, campaign_to_state):
    _table.key_serializer = "raw"
