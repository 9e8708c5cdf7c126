"""The platform compliance dashboard's panels, row by row (deploy/grafana/dashboards.py writes its JSON)."""

from __future__ import annotations

from dashboard_panels import (
    SELECTED,
    PanelOrRow,
    at,
    bucket_heatmap,
    label_variable,
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
from grafana_foundation_sdk.models import dashboard as dashboard_model

# --- platform compliance -----------------------------------------------------------------


def compliance_now() -> list[PanelOrRow]:
    return [
        row(1, "Now", 0),
        stat_panel(
            2,
            "Open requests",
            "Takedown requests sent and not yet removed, rejected or expired.",
            at(0, 1, 6, 4),
            "short",
            latest('sum(modwatch_takedown_requests_open{platform=~"$platform"})', "open"),
            steps("green"),
        ),
        stat_panel(
            3,
            "Overdue requests",
            "Open requests past their legal deadline. ModwatchRequestsOverdue fires when this stays above 0.",
            at(6, 1, 6, 4),
            "short",
            latest('sum(modwatch_takedown_requests_overdue{platform=~"$platform"})', "overdue"),
            steps("green", (1, "red")),
        ),
        stat_panel(
            4,
            "Removed within deadline (last day)",
            "Share of the last day's removals that came within the legal deadline, over the selected platforms. "
            "The SLA alert fires below 90%.",
            at(12, 1, 6, 4),
            "percentunit",
            latest(
                'sum(job_platform:modwatch_removals_within_deadline:ratio_1d{platform=~"$platform"}'
                ' * job_platform:modwatch_removals:increase1d{platform=~"$platform"})'
                ' / sum(job_platform:modwatch_removals:increase1d{platform=~"$platform"})',
                "within deadline",
            ),
            steps("red", (0.5, "orange"), (0.9, "green")),
            decimals=1,
        ),
        stat_panel(
            5,
            "Removals (last day)",
            "Requested items the platforms removed over the last day.",
            at(18, 1, 6, 4),
            "short",
            latest('sum(job_platform:modwatch_removals:increase1d{platform=~"$platform"})', "removals"),
            steps("green"),
            decimals=0,
        ),
    ]


def compliance_time_to_removal() -> list[PanelOrRow]:
    buckets = f"modwatch_time_to_removal_seconds_bucket{SELECTED}"
    return [
        row(6, "Time to removal", 5),
        timeseries_panel(
            7,
            "Time to removal p50 and p90 by platform",
            "From the takedown request to the platform's removal, over the trailing day (recording rules "
            "job_platform:modwatch_time_to_removal_seconds:p50_rate1d and p90_rate1d). "
            "Interpolated within the histogram's buckets (1 minute to 30 days).",
            at(0, 6, 24, 9),
            "s",
            series(
                'job_platform:modwatch_time_to_removal_seconds:p50_rate1d{platform=~"$platform"}', "{{platform}} p50"
            ),
            series(
                'job_platform:modwatch_time_to_removal_seconds:p90_rate1d{platform=~"$platform"}', "{{platform}} p90"
            ),
        ),
        bucket_heatmap(
            8,
            "Time to removal distribution",
            "Removals per time-to-removal bucket in each interval, "
            "for the selected platforms, categories and jurisdictions.",
            at(0, 15, 12, 9),
            series(
                f"sum by (le) (increase({buckets}[$__rate_interval]))",
                "{{le}}",
            ),
        ),
        table_panel(
            9,
            "Time to removal by category and jurisdiction (last day)",
            "Median and 90th percentile over the trailing day, per category and jurisdiction of the selected platforms.",
            at(12, 15, 12, 9),
            "s",
            latest(trailing_day_quantile(0.5, "le, category, jurisdiction", buckets)),
            latest(trailing_day_quantile(0.9, "le, category, jurisdiction", buckets)),
            transformations=[
                dashboard_model.DataTransformerConfig(id_val="merge", options={}),
                organize(["Time"], {"Value #A": "p50", "Value #B": "p90"}),
            ],
        ),
    ]


def compliance_deadlines() -> list[PanelOrRow]:
    return [
        row(10, "Deadlines", 24),
        timeseries_panel(
            11,
            "Share removed within deadline by platform",
            "Share of the trailing day's removals that came within the legal deadline (recording rule "
            "job_platform:modwatch_removals_within_deadline:ratio_1d). "
            "The line marks the 90% SLA; open requests are not in it (see overdue).",
            at(0, 25, 12, 8),
            "percentunit",
            series('job_platform:modwatch_removals_within_deadline:ratio_1d{platform=~"$platform"}', "{{platform}}"),
            max_value=1,
            lines=steps("red", (0.9, "green")),
        ),
        timeseries_panel(
            12,
            "Removals on time and late by platform (last day)",
            "Removals over the trailing day, within the deadline (yes) or after it (no).",
            at(12, 25, 12, 8),
            "short",
            series(
                'sum by (platform, within_deadline) (increase(modwatch_removals_total{platform=~"$platform"}[1d]))',
                "{{platform}} within deadline: {{within_deadline}}",
            ),
        ),
        timeseries_panel(
            13,
            "Open requests by platform",
            "Requests sent and not yet removed, rejected or expired, refreshed every tick.",
            at(0, 33, 12, 8),
            "short",
            series('sum by (platform) (modwatch_takedown_requests_open{platform=~"$platform"})', "{{platform}}"),
        ),
        timeseries_panel(
            14,
            "Overdue requests by platform",
            "Open requests past their legal deadline, refreshed every tick.",
            at(12, 33, 12, 8),
            "short",
            series('sum by (platform) (modwatch_takedown_requests_overdue{platform=~"$platform"})', "{{platform}}"),
            lines=steps("green", (1, "red")),
        ),
    ]


def compliance_by_category() -> list[PanelOrRow]:
    return [
        row(15, "By category and jurisdiction", 41),
        timeseries_panel(
            16,
            "Removals by category and jurisdiction (last day)",
            "Removals over the trailing day, by category and jurisdiction of the selected platforms.",
            at(0, 42, 8, 8),
            "short",
            series(
                f"sum by (category, jurisdiction) (increase(modwatch_time_to_removal_seconds_count{SELECTED}[1d]))",
                "{{category}} {{jurisdiction}}",
            ),
        ),
        timeseries_panel(
            17,
            "Takedown requests by platform and jurisdiction (last day)",
            "Requests sent over the trailing day.",
            at(8, 42, 8, 8),
            "short",
            series(
                "sum by (platform, jurisdiction) (increase(modwatch_takedown_requests_total"
                '{platform=~"$platform", jurisdiction=~"$jurisdiction"}[1d]))',
                "{{platform}} {{jurisdiction}}",
            ),
        ),
        timeseries_panel(
            18,
            "Rejections by platform (last day)",
            "Requests the platforms rejected over the trailing day.",
            at(16, 42, 8, 8),
            "short",
            series(
                'sum by (platform) (increase(modwatch_rejections_total{platform=~"$platform"}[1d]))', "{{platform}}"
            ),
        ),
    ]


def compliance_accounts() -> list[PanelOrRow]:
    suspensions = 'modwatch_account_time_to_removal_seconds_bucket{platform=~"$platform"}'
    return [
        row(19, "Accounts, campaigns and reports", 50),
        timeseries_panel(
            20,
            "Account-level requests by platform (last day)",
            "Account-level requests sent over the trailing day: accounts that reached the strike threshold "
            "(config/policy.yaml, accounts).",
            at(0, 51, 8, 8),
            "short",
            series(
                'sum by (platform) (increase(modwatch_account_requests_total{platform=~"$platform"}[1d]))',
                "{{platform}}",
            ),
        ),
        timeseries_panel(
            21,
            "Open account-level requests by platform",
            "Account-level requests still open (the account not yet suspended, the request not rejected or expired), "
            "refreshed every tick.",
            at(8, 51, 8, 8),
            "short",
            series('sum by (platform) (modwatch_account_requests_open{platform=~"$platform"})', "{{platform}}"),
        ),
        timeseries_panel(
            22,
            "Time to account suspension p50 and p90 by platform",
            "From an account-level request to the platform's suspension of the account, over the trailing day; "
            "empty until a platform suspends an account.",
            at(16, 51, 8, 8),
            "s",
            series(trailing_day_quantile(0.5, "platform, le", suspensions), "{{platform}} p50"),
            series(trailing_day_quantile(0.9, "platform, le", suspensions), "{{platform}} p90"),
        ),
    ]


def compliance_campaigns_and_reports() -> list[PanelOrRow]:
    return [
        timeseries_panel(
            23,
            "Campaigns raised (last day)",
            "Campaign alerts over the trailing day, by severity: the same flagged content from several accounts "
            "on several platforms (config/policy.yaml, campaigns).",
            at(0, 59, 8, 8),
            "short",
            series('sum by (severity) (increase(modwatch_alerts_total{type="campaign"}[1d]))', "{{severity}}"),
        ),
        timeseries_panel(
            24,
            "User reports by platform",
            "User reports per second counted toward report velocity, by platform (a reporter's repeated report counts once).",
            at(8, 59, 8, 8),
            "reqps",
            series('sum by (platform) (rate(modwatch_reports_total{platform=~"$platform"}[5m]))', "{{platform}}"),
        ),
        timeseries_panel(
            25,
            "Report-velocity alerts (last day)",
            "Report-velocity alerts over the trailing day, by severity: items reported more often than "
            "report_velocity_threshold within report_velocity_window_minutes (config/modwatch.yaml).",
            at(16, 59, 8, 8),
            "short",
            series('sum by (severity) (increase(modwatch_alerts_total{type="report_velocity"}[1d]))', "{{severity}}"),
        ),
    ]


def compliance_dashboard() -> dashboard.Dashboard:
    board = modwatch_dashboard(
        "modwatch-platform-compliance",
        "modwatch: platform compliance",
        "How fast platforms remove what modwatch requested: time to removal, share within the legal deadline, "
        "open and overdue requests, by platform, category and jurisdiction.",
        since="now-7d",
    ).variables(
        [
            label_variable(
                "platform", "Platform", "Platforms in config/platforms.yaml.", "modwatch_takedown_requests_open"
            ),
            label_variable("category", "Category", "Categories found so far.", "modwatch_findings_total"),
            label_variable(
                "jurisdiction",
                "Jurisdiction",
                "Jurisdictions requests were sent under.",
                "modwatch_takedown_requests_total",
            ),
        ]
    )
    return with_panels(
        board,
        [
            *compliance_now(),
            *compliance_time_to_removal(),
            *compliance_deadlines(),
            *compliance_by_category(),
            *compliance_accounts(),
            *compliance_campaigns_and_reports(),
        ],
    )
