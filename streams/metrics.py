"""Every Prometheus metric modwatch exports, declared once.

Label values come from bounded sets (topics, reasons, platforms, detectors,
categories, jurisdictions from config), never from post or account ids, so the
number of series stays fixed however much traffic flows.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

# From one minute to thirty days: legal deadlines run from 1 hour (EU) to 7 days (DE).
TIME_TO_REMOVAL_BUCKETS = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
)


# The scan agent's stages, in order (modwatch_stage_latency_seconds).
SCAN_STAGES = ("wait", "validate", "detect", "publish")


class Metrics:
    """Built against a registry so that tests can use a fresh one."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.events = Counter(
            "modwatch_events_total",
            "Input events read, by topic and outcome (valid or deadletter).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.deadletters = Counter(
            "modwatch_deadletters_total",
            "Events sent to the dead-letter topic, by source topic and reason.",
            ["topic", "reason"],
            registry=registry,
        )
        self.posts_processed = Counter(
            "modwatch_posts_processed_total",
            "Valid posts run through the detector pipeline, by platform.",
            ["platform"],
            registry=registry,
        )
        self.findings = Counter(
            "modwatch_findings_total",
            "Detector findings, by detector, category and platform.",
            ["detector", "category", "platform"],
            registry=registry,
        )
        self.decisions = Counter(
            "modwatch_decisions_total",
            "Policy decisions on posts, by action (takedown, review, none) and platform.",
            ["action", "platform"],
            registry=registry,
        )
        self.takedown_requests = Counter(
            "modwatch_takedown_requests_total",
            "Takedown requests emitted (after de-duplication), by platform and jurisdiction.",
            ["platform", "jurisdiction"],
            registry=registry,
        )
        self.duplicates = Counter(
            "modwatch_duplicates_suppressed_total",
            "Alerts or takedown requests not emitted because one already exists for the item.",
            ["output"],
            registry=registry,
        )
        self.alerts = Counter(
            "modwatch_alerts_total",
            "Alerts emitted, by type and severity.",
            ["type", "severity"],
            registry=registry,
        )
        self.detector_batch_duration = Histogram(
            "modwatch_detector_batch_duration_seconds",
            "Time one detector takes over one batch of posts.",
            ["detector"],
            # A batch holds up to 500 posts: from well under a millisecond to a second.
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.scan_batch_size = Histogram(
            "modwatch_scan_batch_size_posts",
            "Posts per batch taken by the scan agent.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
            registry=registry,
        )
        self.time_to_removal = Histogram(
            "modwatch_time_to_removal_seconds",
            "Time from a takedown request to the platform's removal, by platform, category and jurisdiction.",
            ["platform", "category", "jurisdiction"],
            buckets=TIME_TO_REMOVAL_BUCKETS,
            registry=registry,
        )
        self.removals = Counter(
            "modwatch_removals_total",
            "Requested items the platform removed, by platform and whether within the deadline (yes/no).",
            ["platform", "within_deadline"],
            registry=registry,
        )
        self.rejections = Counter(
            "modwatch_rejections_total",
            "Requests the platform rejected, by platform.",
            ["platform"],
            registry=registry,
        )
        self.reports = Counter(
            "modwatch_reports_total",
            "User reports counted toward report velocity (a reporter's repeated report once), by platform.",
            ["platform"],
            registry=registry,
        )
        self.review_decisions = Counter(
            "modwatch_review_decisions_total",
            "Reviewers' decisions (approve/reject) on pending items, by detector that flagged them.",
            ["decision", "detector"],
            registry=registry,
        )
        self.reviewer_decisions = Counter(
            "modwatch_reviewer_decisions_total",
            "Reviewers' decisions (approve/reject) by reviewer: a reviewer's throughput. Reviewer names come "
            "only from decisions made with the API token (the console's login), so they are the staff's.",
            ["reviewer", "decision"],
            registry=registry,
        )
        self.review_wait = Histogram(
            "modwatch_review_wait_seconds",
            "From an item's flag for review to the reviewer's decision on it.",
            buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400),
            registry=registry,
        )
        self.requests_open = Gauge(
            "modwatch_takedown_requests_open",
            "Requests sent and not yet removed, rejected or expired, per platform (this worker's partitions).",
            ["platform"],
            registry=registry,
        )
        self.requests_overdue = Gauge(
            "modwatch_takedown_requests_overdue",
            "Open requests past their deadline, per platform (this worker's partitions).",
            ["platform"],
            registry=registry,
        )
        self.rechecks = Counter(
            "modwatch_rechecks_total",
            "Polls of open requests' URLs on platforms without callbacks, by verdict: removed, available, unknown, refused.",
            ["platform", "verdict"],
            registry=registry,
        )
        self.account_strikes = Counter(
            "modwatch_account_strikes_total",
            "Confirmed violations counted against accounts: review_approved or removed.",
            ["platform", "cause"],
            registry=registry,
        )
        self.account_requests = Counter(
            "modwatch_account_requests_total",
            "Account-level takedown requests: an account reached the strike threshold (policy.yaml accounts).",
            ["platform"],
            registry=registry,
        )
        self.account_requests_open = Gauge(
            "modwatch_account_requests_open",
            "Open account-level requests (this worker's partitions).",
            ["platform"],
            registry=registry,
        )
        self.account_time_to_removal = Histogram(
            "modwatch_account_time_to_removal_seconds",
            "From an account-level request to the account's suspension.",
            ["platform"],
            buckets=TIME_TO_REMOVAL_BUCKETS,
            registry=registry,
        )
        self.redeliveries = Counter(
            "modwatch_redelivered_records_total",
            "Input records delivered again after a rebalance or rewind, and skipped (handled once already).",
            ["topic"],
            registry=registry,
        )
        self.rewinds = Counter(
            "modwatch_partition_rewinds_total",
            "Times an input partition was sought back because records between two offsets never arrived.",
            ["topic"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "modwatch_consumer_lag_messages",
            "Records not yet processed: end offset minus committed offset, per assigned input partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.broker_up = Gauge(
            "modwatch_broker_reachable",
            "1 when a bootstrap broker answered the last metadata probe, else 0.",
            registry=registry,
        )
        self.partitions_short_of_replicas = Gauge(
            "modwatch_partitions_short_of_replicas",
            "Partitions of modwatch's topics that refuse writes: no leader, or fewer in-sync replicas than "
            "min_insync_replicas (last metadata probe).",
            registry=registry,
        )
        self.hashbank_entries = Gauge(
            "modwatch_hashbank_entries",
            "Entries in the live media hash bank, by hash type (pdq, md5, sha256).",
            ["hash_type"],
            registry=registry,
        )
        self.model_info = Info(
            "modwatch_model",
            "The text classifier model and the hash bank in use: file name and content digest.",
            registry=registry,
        )
        self.stage_latency = Histogram(
            "modwatch_stage_latency_seconds",
            "Time each post spends in each stage of the scan agent: wait (its Kafka timestamp "
            "to the start of its batch: the topic and the batch window), validate, detect, publish.",
            ["stage"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        # One child per stage, made once: .labels() on the hot path costs a dict lookup and a lock.
        self.stage = {name: self.stage_latency.labels(name) for name in SCAN_STAGES}
        self.processing_latency = Histogram(
            "modwatch_processing_latency_seconds",
            "From a post's arrival on Kafka to the worker's decision on it.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.delivery_attempts = Counter(
            "modwatch_delivery_attempts_total",
            "Attempts to deliver a takedown request to a platform, by platform and outcome "
            "(delivered, retry, failed, rejected, circuit_open).",
            ["platform", "outcome"],
            registry=registry,
        )


METRICS = Metrics()
