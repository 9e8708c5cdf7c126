"""The pipeline health dashboard's panels, row by row (deploy/grafana/dashboards.py writes its JSON)."""

from __future__ import annotations

from dashboard_panels import (
    PanelOrRow,
    at,
    latest,
    modwatch_dashboard,
    organize,
    row,
    series,
    stat_panel,
    steps,
    table_panel,
    timeseries_panel,
    trailing_day_quantile,
    with_panels,
)
from grafana_foundation_sdk.builders import dashboard

# --- pipeline health ---------------------------------------------------------------------


def pipeline_throughput() -> list[PanelOrRow]:
    return [
        row(5, "Throughput", 0),
        timeseries_panel(
            1,
            "Input events by topic and outcome",
            "Events read per second from each input topic: valid, or sent to the dead-letter topic.",
            at(0, 1, 12, 8),
            "reqps",
            series("sum by (topic, outcome) (rate(modwatch_events_total[5m]))", "{{topic}} {{outcome}}"),
        ),
        timeseries_panel(
            6,
            "Posts scanned by platform",
            "Valid posts run through the detectors per second, by platform.",
            at(12, 1, 12, 8),
            "reqps",
            series("sum by (platform) (rate(modwatch_posts_processed_total[5m]))", "{{platform}}"),
        ),
        timeseries_panel(
            7,
            "Kafka records received by topic",
            "Records the Faust consumer received per second, by topic (Faust's own sensor), internal topics included.",
            at(0, 9, 12, 8),
            "reqps",
            series("sum by (topic) (rate(modwatch_faust_messages_received_per_topic_total[5m]))", "{{topic}}"),
        ),
        timeseries_panel(
            8,
            "Kafka records sent by topic",
            "Records the worker produced per second, by topic (Faust's own sensor): "
            "outputs, item events, changelogs, dead letters.",
            at(12, 9, 12, 8),
            "reqps",
            series("sum by (topic) (rate(modwatch_faust_topic_messages_sent_total[5m]))", "{{topic}}"),
        ),
    ]


def pipeline_latency_and_lag() -> list[PanelOrRow]:
    return [
        row(9, "Latency and lag", 17),
        timeseries_panel(
            10,
            "Processing latency",
            "From a post's arrival on Kafka (record timestamp) to the worker's decision on it: "
            "median and 99th percentile.",
            at(0, 18, 12, 8),
            "s",
            series(
                "histogram_quantile(0.5, sum by (le) (rate(modwatch_processing_latency_seconds_bucket[5m])))", "p50"
            ),
            series(
                "histogram_quantile(0.99, sum by (le) (rate(modwatch_processing_latency_seconds_bucket[5m])))", "p99"
            ),
        ),
        timeseries_panel(
            4,
            "Detector batch duration p99",
            "99th percentile of the time one detector takes over one batch of posts.",
            at(12, 18, 12, 8),
            "s",
            series(
                "histogram_quantile(0.99, sum by (le, detector) (rate(modwatch_detector_batch_duration_seconds_bucket[5m])))",
                "{{detector}}",
            ),
        ),
        timeseries_panel(
            11,
            "Consumer lag by topic",
            "Records not yet processed (end offset minus committed offset), summed over partitions and workers. "
            "ModwatchConsumerLagGrowing fires above 1000 and growing.",
            at(0, 26, 12, 8),
            "short",
            series("job_topic:modwatch_consumer_lag_messages:sum", "{{topic}}"),
            lines=steps("green", (1000, "orange")),
        ),
        timeseries_panel(
            12,
            "Scan batch size",
            "Posts per batch taken by the scan agent: larger batches let the detectors vectorise.",
            at(12, 26, 6, 8),
            "short",
            series("histogram_quantile(0.5, sum by (le) (rate(modwatch_scan_batch_size_posts_bucket[5m])))", "p50"),
            series("histogram_quantile(0.99, sum by (le) (rate(modwatch_scan_batch_size_posts_bucket[5m])))", "p99"),
        ),
    ]


def pipeline_liveness() -> list[PanelOrRow]:
    return [
        stat_panel(
            13,
            "Workers up",
            "modwatch workers Prometheus scrapes successfully.",
            at(18, 26, 3, 8),
            "short",
            latest('sum(up{job="modwatch"})', "workers up"),
            steps("red", (1, "green")),
        ),
        stat_panel(
            14,
            "Broker reachable",
            "1 when every worker's last metadata probe reached a broker, 0 when one did not.",
            at(21, 26, 3, 8),
            "short",
            latest("min(modwatch_broker_reachable)", "reachable"),
            steps("red", (1, "green")),
        ),
    ]


def pipeline_outputs() -> list[PanelOrRow]:
    return [
        row(15, "Dead letters and outputs", 34),
        timeseries_panel(
            2,
            "Dead letters by reason",
            "Invalid input events per second, by the reason they were rejected.",
            at(0, 35, 12, 8),
            "reqps",
            series("sum by (reason) (rate(modwatch_deadletters_total[5m]))", "{{reason}}"),
            stacked=True,
        ),
        timeseries_panel(
            3,
            "Takedown requests by platform",
            "Takedown requests emitted per second (after de-duplication), by platform.",
            at(12, 35, 12, 8),
            "reqps",
            series("sum by (platform) (rate(modwatch_takedown_requests_total[5m]))", "{{platform}}"),
            stacked=True,
        ),
        timeseries_panel(
            16,
            "Alerts by type and severity",
            "Alerts published per second: detections, report velocity, SLA breaches.",
            at(0, 43, 12, 8),
            "reqps",
            series("sum by (type, severity) (rate(modwatch_alerts_total[5m]))", "{{type}} {{severity}}"),
        ),
        timeseries_panel(
            17,
            "Duplicates suppressed",
            "Alerts and takedown requests not sent again because one already exists for the item "
            "(replays, repeated posts).",
            at(12, 43, 12, 8),
            "reqps",
            series("sum by (output) (rate(modwatch_duplicates_suppressed_total[5m]))", "{{output}}"),
        ),
    ]


def pipeline_detections() -> list[PanelOrRow]:
    return [
        row(18, "Detections", 51),
        timeseries_panel(
            19,
            "Findings by detector",
            "Detector findings per second (recording rule job_detector_platform:modwatch_findings:rate5m).",
            at(0, 52, 12, 8),
            "reqps",
            series("sum by (detector) (job_detector_platform:modwatch_findings:rate5m)", "{{detector}}"),
        ),
        timeseries_panel(
            20,
            "Findings by category and platform",
            "Detector findings per second, by category and platform.",
            at(12, 52, 12, 8),
            "reqps",
            series("sum by (category, platform) (rate(modwatch_findings_total[5m]))", "{{category}} {{platform}}"),
        ),
        timeseries_panel(
            21,
            "Share of posts flagged by platform",
            "Posts the policy sent to review or takedown, as a share of the posts scanned "
            "(recording rule job_platform:modwatch_posts_flagged:ratio_rate5m).",
            at(0, 60, 12, 8),
            "percentunit",
            series("job_platform:modwatch_posts_flagged:ratio_rate5m", "{{platform}}"),
            max_value=1,
        ),
        timeseries_panel(
            22,
            "Policy decisions by action",
            "Decisions per second: takedown, review or none.",
            at(12, 60, 12, 8),
            "reqps",
            series("sum by (action) (rate(modwatch_decisions_total[5m]))", "{{action}}"),
        ),
        timeseries_panel(
            23,
            "Reviewer decisions by detector (last day)",
            "Approvals and rejections of pending items over the last day, by the detector that flagged them: "
            "many rejections mean a detector flags too much.",
            at(0, 68, 24, 8),
            "short",
            series(
                "sum by (detector, decision) (increase(modwatch_review_decisions_total[1d]))",
                "{{detector}} {{decision}}",
            ),
        ),
    ]


def pipeline_delivery_and_models() -> list[PanelOrRow]:
    return [
        row(24, "Delivery and models", 76),
        timeseries_panel(
            25,
            "Delivery outcomes by platform",
            "Attempts to deliver takedown requests to platforms per second: delivered, retry, failed. "
            "Empty until the delivery worker increments modwatch_delivery_attempts_total.",
            at(0, 77, 12, 8),
            "reqps",
            series(
                "sum by (platform, outcome) (rate(modwatch_delivery_attempts_total[5m]))", "{{platform}} {{outcome}}"
            ),
        ),
        table_panel(
            26,
            "Model and hash bank in use",
            "The text classifier model and the hash bank each worker loaded: file name and content digest.",
            at(12, 77, 12, 8),
            "short",
            latest("modwatch_model_info"),
            transformations=[organize(["Time", "Value", "__name__"])],
        ),
    ]


def pipeline_review() -> list[PanelOrRow]:
    return [
        row(27, "Review", 85),
        timeseries_panel(
            28,
            "Decisions per reviewer (last day)",
            "Each reviewer's approvals and rejections over the trailing day: the review console's throughput.",
            at(0, 86, 12, 8),
            "short",
            series(
                "sum by (reviewer, decision) (increase(modwatch_reviewer_decisions_total[1d]))",
                "{{reviewer}} {{decision}}",
            ),
        ),
        timeseries_panel(
            29,
            "Time from flag to decision p50 and p90",
            "How long items wait for a reviewer, from the flag to the decision, over the trailing day.",
            at(12, 86, 12, 8),
            "s",
            series(trailing_day_quantile(0.5, "le", "modwatch_review_wait_seconds_bucket"), "p50"),
            series(trailing_day_quantile(0.9, "le", "modwatch_review_wait_seconds_bucket"), "p90"),
        ),
    ]


def pipeline_dashboard() -> dashboard.Dashboard:
    board = modwatch_dashboard(
        "modwatch-pipeline-health",
        "modwatch: pipeline health",
        "Throughput, latency, lag, dead letters, detections and delivery of the modwatch workers.",
        since="now-6h",
    ).variables([])
    return with_panels(
        board,
        [
            *pipeline_throughput(),
            *pipeline_latency_and_lag(),
            *pipeline_liveness(),
            *pipeline_outputs(),
            *pipeline_detections(),
            *pipeline_delivery_and_models(),
            *pipeline_review(),
        ],
    )
