"""Every Prometheus metric modwatch exports, declared once.

Label values come from bounded sets (topics, reasons, platforms, detectors,
categories, jurisdictions from config), never from post or account ids, so the
number of series stays fixed however much traffic flows.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram


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


METRICS = Metrics()
