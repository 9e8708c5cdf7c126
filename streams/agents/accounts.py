"""``track_accounts`` and ``track_campaigns``: strikes per account, sightings per campaign.

``track_accounts``   account-events -> strikes per account -> one account-level request
                     at the threshold, into item-events (takedowns/accounts.py)
``track_campaigns``  campaign-events -> sightings per fingerprint -> one campaign alert at
                     the thresholds; first removal per platform (takedowns/campaigns.py)
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from streams.agents._common import handle_each, publish_alert
from streams.app import app
from streams.runtime import current
from streams.tables import account_to_state, campaign_to_state
from streams.topics import account_events_topic, campaign_events_topic, item_events_topic
from takedowns import accounts, campaigns, messages
from takedowns.messages import Flagged

log = logging.getLogger("modwatch.agents")


@app.agent(account_events_topic)
async def track_accounts(stream):
    """Strikes per account; one account-level request when an account reaches the threshold."""
    await handle_each(stream, handle_account_event)


async def handle_account_event(key: str, account_event: dict) -> None:
    runtime = current()
    event = messages.read_account_event(account_event)
    if isinstance(event, messages.AccountExpiry):
        state = account_to_state.get(key)
        if state is not None and accounts.expired(state, datetime.now(UTC), runtime.account_policy):
            del account_to_state[key]
        return
    strike = event.strike
    state, flagged = accounts.on_strike(account_to_state.get(key), strike, runtime.account_policy)
    if state is None:
        return
    runtime.metrics.account_strikes.labels(strike["platform"], strike["cause"]).inc()
    if flagged is not None:
        # On the broker before the state is stored: after a crash the strike comes again and
        # the request is sent again, which the item lifecycle de-duplicates.
        await (
            await item_events_topic.send(
                key=accounts.account_item_key(strike["platform"], strike["account_id"]),
                value=Flagged(flagged).wire(),
                force=True,
            )
        )
        runtime.metrics.account_requests.labels(strike["platform"]).inc()
        log.info(
            "account %s reached %d confirmed violations: account-level request",
            key,
            len(state["strikes"]),
            extra={"platform": strike["platform"], "key": key},
        )
    account_to_state[key] = state


@app.agent(campaign_events_topic)
async def track_campaigns(stream):
    """Sightings of the same content by several accounts: one campaign alert at the thresholds."""
    await handle_each(stream, handle_campaign_event)


async def handle_campaign_event(key: str, campaign_event: dict) -> None:
    policy = current().campaign_policy
    state = campaign_to_state.get(key)
    event = messages.read_campaign_event(campaign_event)
    if isinstance(event, messages.Sighting):
        state, alert = campaigns.on_sighting(state, event.sighting, policy)
        if alert is not None:
            # On the broker before the state: a crash repeats the sighting, and publish_alert de-duplicates by id.
            await asyncio.gather(*publish_alert(alert["alert_id"], alert))
            log.info(
                "campaign %s: %d accounts on %s",
                key,
                len(alert["accounts"]),
                ", ".join(alert["platforms"]),
                extra={"key": key},
            )
    elif isinstance(event, messages.CampaignRemoval):
        state = campaigns.on_removal(state, event.removal)
    else:  # CampaignExpiry
        if state is not None and campaigns.expired(state, datetime.now(UTC), policy):
            del campaign_to_state[key]
        return
    if state is not None:
        campaign_to_state[key] = state
