"""Agents: scan posts in batches, then publish each alert and request once.

Importing this package registers every agent, timer and task on the app
(streams/app.py); nothing is loaded until the worker installs its runtime
(streams/runtime.py). One module per duty:

``scan``        ``handle_posts``: posts -> validate -> detectors + policy (a batch at a
                time) -> item-events (review or takedown) | deadletter; read by
``post_reader`` the scan stage's own batched consumer (or by the ``scan_posts`` agent
                when ``scan_consumer`` is ``faust``)
``items``       ``track_items``: item-events -> one alert and at most one open request
                per item, the lifecycle state and its ledger (takedowns/lifecycle.py)
``accounts``    ``track_accounts`` (strikes, account-level requests) and
                ``track_campaigns`` (campaign alerts, first removal per platform)
``forwarders``  ``forward_reports``, ``forward_statuses``, ``forward_decisions``:
                validate -> the item's own partition | deadletter
``deliveries``  the Dispatcher: each open request of the worker's items, in memory
                -> webhook | email | outbox -> item-events; attempts to the ledger
``timers``      deadlines, re-checks, expiry, broker probe (/readyz), consumer lag
``followers``   every worker follows the whole hash bank and watchlist topics
``_order``      each input record once and in order (streams/offsets.py)

No input event can stop an agent: a record that breaks the contract goes to
the dead-letter topic with its reason, and an unexpected error while handling
one record does the same (reason ``internal_error``) instead of killing the
worker.

Detection is batched (``streams/batching.py``) because detectors vectorise;
``track_items`` takes batches too, to wait for the broker once per batch
(``_batch.py``), each table write still under the event that caused it; the
other de-duplicating agents read one event at a time.
"""

from streams.agents import (  # noqa: F401 - each registers its agents on the app
    _order,
    accounts,
    deliveries,
    followers,
    forwarders,
    items,
    post_reader,
    scan,
    timers,
)
from streams.agents._order import InputOrder


def prepare(runtime) -> None:
    """What the agents need from a built runtime before the worker starts."""
    if runtime.order is None:
        runtime.order = InputOrder(runtime.settings.broker)
