"""What the worker builds once from its config, shared by its agents and its web views.

Importing ``streams.agents``, ``streams.web`` or ``streams.tables`` only
declares the app's topics, tables, agents, timers and views: no config file is
read and no model is loaded. :func:`streams.worker.run` builds a
:class:`Runtime` (every config file under ``config/``, so that every problem
is reported at once, before the worker starts), installs it, and only then
starts the worker; agents and views take it with :func:`current`. Tests build
their own (:meth:`Runtime.build` with a test config, or fields replaced) and
drive agents with ``agent.test_context()``.

The runtime also holds the worker's mutable process state that is not a
table: the broker probe's last answer (``/readyz``), the hash bank and
watchlist changes waiting for the next detection batch, the delivery client
and the re-check poller's clocks. None of it needs to survive a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from detectors.configfile import Problems
from detectors.events import InvalidEvent
from streams.metrics import METRICS, Metrics
from takedowns import accounts, campaigns, lifecycle, messages
from takedowns.requests import Requests, item_key_of_request

if TYPE_CHECKING:
    from detectors.pipeline import Pipeline
    from streams.settings import Settings

# A probe every second that gives up after 2 s: /readyz turns not-ready within
# about 3 s of the broker going away.
BROKER_PROBE_SECONDS = 1.0
BROKER_PROBE_TIMEOUT_SECONDS = 2.0
INPUT_TOPICS = ("posts", "reports", "platform-status", "decisions")
RECHECK_VERDICTS = ("removed", "available", "unknown", "refused")


def _not_probed() -> dict:
    return {"broker_ok": False, "probed_at": None, "broker_error": "not probed yet"}


@dataclass
class Runtime:
    """The worker's config, detection pipeline, policies, metrics and process state."""

    settings: Settings
    pipeline: Pipeline
    requests: Requests  # builds, stamps and reopens takedown requests (takedowns/requests.py)
    delivery_channels: dict
    rechecks: dict
    lifecycle: lifecycle.LifecycleSettings
    account_policy: Any
    campaign_policy: Any
    report_velocity: lifecycle.ReportVelocity
    metrics: Metrics = METRICS
    # The last broker probe's answer (agents/timers.py probe_broker, read by /readyz).
    health: dict = field(default_factory=_not_probed)
    # Admits each input record once and in order (agents/_order.py); set by the agents package.
    order: Any = None
    # Hash bank and watchlist changes read from their topics, applied between detection batches.
    bank_changes: list = field(default_factory=list)
    watchlist_changes: list = field(default_factory=list)
    # The entries those topics hold now, by key (GET /bank and /watchlist, streams/web_lists.py).
    live_entries: dict = field(default_factory=lambda: {"hashbank": {}, "watchlist": {}})
    # Held while a detection batch runs on its thread: the bank must not change under it.
    scanning: asyncio.Lock = field(default_factory=asyncio.Lock)
    deliverer: Any = None  # streams.delivery.Deliverer, made in the worker's event loop on first use
    dispatcher: Any = None  # streams.agents.deliveries.Dispatcher: requests being delivered, likewise
    recheck_session: Any = None  # aiohttp.ClientSession, likewise
    rechecked_at: dict = field(default_factory=dict)  # item key -> wall time of its last poll
    recheck_reported: dict = field(default_factory=dict)  # item key -> request_id whose removal was sent
    lag_series: set = field(default_factory=set)  # (topic, partition) series this worker publishes
    # Processes that decode and hash images (settings.hash_processes; started with the worker).
    _hash_pool: Any = None

    def hash_pool(self):
        """The worker's image-hashing process pool, started the first time a batch has images."""
        if self._hash_pool is None:
            import multiprocessing
            import os
            from concurrent.futures import ProcessPoolExecutor

            size = self.settings.hash_processes or os.cpu_count() or 1
            # spawn: a forked child of a process with Faust's threads and sockets is not safe.
            self._hash_pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"))
        return self._hash_pool

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """Load every config file; raise ConfigError listing every problem found."""
        from detectors.pipeline import Pipeline
        from streams.delivery import load_delivery_config
        from streams.poller import load_recheck_config

        problems = Problems()
        config_dir = settings.config_dir
        # The packed hash bank is kept beside the tables' local state: a restart reads it, not the CSVs.
        pipeline = Pipeline.from_config_dir(config_dir, bank_cache_dir=settings.data_dir / "bank-cache")
        # Relative outbox folders live under the worker's data_dir.
        channels = load_delivery_config(config_dir / "platforms.yaml", problems, base_dir=settings.data_dir)
        rechecks = load_recheck_config(config_dir / "platforms.yaml", problems)
        account_policy = accounts.load_account_policy(config_dir / "policy.yaml", problems)
        campaign_policy = campaigns.load_campaign_policy(config_dir / "policy.yaml", problems)
        problems.raise_if_any()
        runtime = cls(
            settings=settings,
            pipeline=pipeline,
            requests=Requests.for_pipeline(pipeline),
            delivery_channels=channels,
            rechecks=rechecks,
            lifecycle=lifecycle.LifecycleSettings(
                expire_after=timedelta(days=settings.expire_after_days),
                redeliver_after=timedelta(minutes=settings.redeliver_after_minutes),
            ),
            account_policy=account_policy,
            campaign_policy=campaign_policy,
            report_velocity=lifecycle.ReportVelocity(
                threshold=settings.report_velocity_threshold,
                window=timedelta(minutes=settings.report_velocity_window_minutes),
            ),
        )
        runtime.label_known_series()
        return runtime

    def label_known_series(self) -> None:
        """Series for every known label value start at zero (STYLE.md).

        Otherwise Prometheus never sees a counter's first increment after a
        restart, and rates miss it.
        """
        metrics, settings = self.metrics, self.settings
        detectors = [detector.name for detector in self.pipeline.detectors]
        for platform, config in self.pipeline.platforms.items():
            # A request cites only a category its jurisdiction lists (takedowns/requests.py).
            for category in sorted(self.pipeline.jurisdictions[config.jurisdiction].categories):
                metrics.time_to_removal.labels(platform, category, config.jurisdiction)
            for outcome in messages.ATTEMPT_OUTCOMES:
                metrics.delivery_attempts.labels(platform, outcome)
            for action in ("takedown", "review", "none"):
                metrics.decisions.labels(action, platform)
            metrics.reports.labels(platform)
            metrics.account_requests.labels(platform)
            metrics.account_requests_open.labels(platform)
            metrics.account_time_to_removal.labels(platform)
            for cause in ("removed", "review_approved"):
                metrics.account_strikes.labels(platform, cause)
            metrics.posts_processed.labels(platform)
            metrics.rejections.labels(platform)
            metrics.takedown_requests.labels(platform, config.jurisdiction)
            for within in ("yes", "no"):
                metrics.removals.labels(platform, within)
        for topic in INPUT_TOPICS:
            for outcome in ("valid", "deadletter"):
                metrics.events.labels(settings.topic(topic), outcome)
        for topic in (*INPUT_TOPICS, "item-events"):
            metrics.redeliveries.labels(settings.topic(topic))
            metrics.rewinds.labels(settings.topic(topic))
        for platform in self.rechecks:
            for verdict in RECHECK_VERDICTS:
                metrics.rechecks.labels(platform, verdict)
        for decision in ("approve", "reject"):
            for detector in detectors:
                metrics.review_decisions.labels(decision, detector)
        for alert_type, severity in messages.ALERT_SEVERITIES:
            metrics.alerts.labels(alert_type, severity)
        metrics.duplicates.labels("takedown_request")


_CURRENT: list[Runtime] = []


def install(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the one agents and views use (the worker calls this once, tests per test)."""
    _CURRENT[:] = [runtime]
    return runtime


def current() -> Runtime:
    if not _CURRENT:
        raise RuntimeError("the worker's runtime is not built: streams.worker.run builds it before it starts")
    return _CURRENT[0]


def is_built() -> bool:
    return bool(_CURRENT)


def decision_item_key(decision) -> str:
    """The item a reviewer's decision is about: from its request id, else its detection alert id."""
    if decision.request_id is not None:
        try:
            return item_key_of_request(decision.request_id)
        except ValueError as error:
            raise InvalidEvent("invalid_value", "request_id", str(error)) from None
    prefix = "detection:"
    if not decision.alert_id.startswith(prefix) or ":" not in decision.alert_id[len(prefix) :]:
        raise InvalidEvent("invalid_value", "alert_id", f"{decision.alert_id[:80]!r} is not a detection alert id")
    return decision.alert_id[len(prefix) :]
