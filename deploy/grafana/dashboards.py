"""modwatch's Grafana dashboards, written as code with Grafana's typed builders.

Grafana provisions deploy/grafana/dashboards/*.json, and those files are generated
here. Hand-edited dashboard JSON drifts: a panel copied with the last panel's query,
a legend or unit left behind, a layout that overlaps. Here each panel shape is one
function and each panel one call, so a review reads the PromQL and the layout, not
boilerplate. Do not edit the JSON; change this file and regenerate:

    make dashboards   (or: .venv/bin/python deploy/grafana/dashboards.py)

tests/test_dashboards_as_code.py fails while the committed JSON differs from what
this file generates. tests/test_compose.py checks the metric names, datasources and
layout, and tests/test_prometheus_integration.py runs every query on live data.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import ascii_uppercase
from typing import TypeVar

from grafana_foundation_sdk.builders import common, dashboard, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import heatmap as heatmap_model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

# The uid deploy/grafana/provisioning/datasources/prometheus.yml gives the datasource.
PROMETHEUS = dashboard_model.DataSourceRef(type_val="prometheus", uid="prometheus")
GRAFANA = dashboard_model.DataSourceRef(type_val="grafana", uid="-- Grafana --")

# The compliance dashboard's three variables as one selector. Each variable's "All" is ".*",
# so with nothing picked the selector matches every series.
SELECTED = '{platform=~"$platform", category=~"$category", jurisdiction=~"$jurisdiction"}'

PanelOrRow = Builder[dashboard_model.Panel] | dashboard.Row
P = TypeVar("P", timeseries.Panel, stat.Panel, table.Panel, heatmap.Panel)


# --- queries and shared pieces ---------------------------------------------------------


def series(expr: str, legend: str) -> prometheus.Dataquery:
    """A range query: a line per series over the dashboard's time range."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).range()


def latest(expr: str, legend: str = "") -> prometheus.Dataquery:
    """An instant query: the last value only, for stats and tables."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).instant()


def trailing_day_quantile(quantile: float, by: str, buckets: str) -> str:
    """The ``quantile`` of a histogram's observations over the last day, per ``by`` (which must hold ``le``)."""
    return f"histogram_quantile({quantile}, sum by ({by}) (rate({buckets}[1d])))"


def at(x: int, y: int, w: int, h: int) -> dashboard_model.GridPos:
    """A place on Grafana's grid: 24 columns wide, rows of 30 pixels."""
    return dashboard_model.GridPos(x=x, y=y, w=w, h=h)


def steps(base: str, *above: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Colours by value: ``base`` below the first step, then each (value, colour)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                dashboard_model.Threshold(value=None, color=base),
                *(dashboard_model.Threshold(value=value, color=color) for value, color in above),
            ]
        )
    )


def row(panel_id: int, title: str, y: int) -> dashboard.Row:
    return dashboard.Row(title).id(panel_id).collapsed(False).grid_pos(at(0, y, 24, 1))


def with_queries(panel: P, queries: tuple[prometheus.Dataquery, ...]) -> P:
    """Give ``panel`` the Prometheus datasource and the queries, lettered A, B, ... in order."""
    panel.datasource(PROMETHEUS)
    for ref_id, query in zip(ascii_uppercase, queries):
        panel.with_target(query.ref_id(ref_id).datasource(PROMETHEUS))
    return panel


# --- panel shapes ------------------------------------------------------------------------


def timeseries_panel(
    panel_id: int,
    title: str,
    description: str,
    place: dashboard_model.GridPos,
    unit: str,
    *queries: prometheus.Dataquery,
    stacked: bool = False,
    max_value: float | None = None,
    lines: dashboard.ThresholdsConfig | None = None,
) -> timeseries.Panel:
    """Lines from zero with a table legend (mean, max); ``lines`` draws thresholds, such as an SLA."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .grid_pos(place)
        .unit(unit)
        .min(0)
        .draw_style(common_model.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common_model.VisibilityMode.NEVER)
        .stacking(
            common.StackingConfig()
            .mode(common_model.StackingMode.NORMAL if stacked else common_model.StackingMode.NONE)
            .group("A")
        )
        .legend(
            common.VizLegendOptions()
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max"])
        )
        .tooltip(
            common.VizTooltipOptions()
            .mode(common_model.TooltipDisplayMode.MULTI)
            .sort(common_model.SortOrder.DESCENDING)
        )
    )
    if max_value is not None:
        panel.max(max_value)
    if lines is not None:
        panel.thresholds(lines).thresholds_style(
            common.GraphThresholdsStyleConfig().mode(common_model.GraphThresholdsStyleMode.LINE)
        )
    return with_queries(panel, queries)


def stat_panel(
    panel_id: int,
    title: str,
    description: str,
    place: dashboard_model.GridPos,
    unit: str,
    query: prometheus.Dataquery,
    colours: dashboard.ThresholdsConfig,
    decimals: int | None = None,
) -> stat.Panel:
    """One number, the last one, coloured by ``colours``, over a sparkline."""
    panel = (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .grid_pos(place)
        .unit(unit)
        .thresholds(colours)
        .color_scheme(dashboard.FieldColor().mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
        .color_mode(common_model.BigValueColorMode.VALUE)
        .graph_mode(common_model.BigValueGraphMode.AREA)
        .text_mode(common_model.BigValueTextMode.AUTO)
        .justify_mode(common_model.BigValueJustifyMode.AUTO)
        .orientation(common_model.VizOrientation.AUTO)
    )
    if decimals is not None:
        panel.decimals(decimals)
    return with_queries(panel, (query,))


def table_panel(
    panel_id: int,
    title: str,
    description: str,
    place: dashboard_model.GridPos,
    unit: str,
    *queries: prometheus.Dataquery,
    transformations: list[dashboard_model.DataTransformerConfig],
) -> table.Panel:
    """The instant queries' labels and values as rows, reshaped by ``transformations``."""
    panel = (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .grid_pos(place)
        .unit(unit)
        .show_header(True)
        .cell_height(common_model.TableCellHeight.SM)
        .footer(common.TableFooterOptions().show(False).reducer(["sum"]))
        .transformations(transformations)
    )
    return with_queries(panel, tuple(query.format(PromQueryFormat.TABLE) for query in queries))


def organize(excluded: list[str], renamed: dict[str, str] | None = None) -> dashboard_model.DataTransformerConfig:
    """Grafana's "organize fields" transformation: hide some columns, rename others."""
    options: dict[str, object] = {"excludeByName": dict.fromkeys(excluded, True)}
    if renamed:
        options["renameByName"] = renamed
    return dashboard_model.DataTransformerConfig(id_val="organize", options=options)


def bucket_heatmap(
    panel_id: int, title: str, description: str, place: dashboard_model.GridPos, query: prometheus.Dataquery
) -> heatmap.Panel:
    """Counts per histogram bucket (``le``) and interval, as Prometheus gives them: no re-bucketing."""
    panel = (
        heatmap.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .grid_pos(place)
        .scale_distribution(common.ScaleDistributionConfig().type(common_model.ScaleDistribution.LINEAR))
        .hide_from(common.HideSeriesConfig().legend(False).tooltip(False).viz(False))
        .calculate(False)
        .cell_gap(1)
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_model.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .steps(64)
            .exponent(0.5)
            .fill("dark-orange")
            .reverse(False)
            .scale(heatmap_model.HeatmapColorScale.EXPONENTIAL)
        )
        .y_axis(heatmap.YAxisConfig().axis_placement(common_model.AxisPlacement.LEFT).unit("s").reverse(False))
        .rows_frame(heatmap.RowsHeatmapOptions().layout(common_model.HeatmapCellLayout.LE))
        # The tooltip: one cell, with the histogram of its column.
        .mode(common_model.TooltipDisplayMode.SINGLE)
        .show_y_histogram()
        .show_color_scale(False)
        .show_legend()
        # Hides the empty cells: buckets with no removal in the interval.
        .filter_values(heatmap.FilterValueRange().le(1e-09))
        .cell_values(heatmap.CellValues().unit("short"))
        .exemplars_color("rgba(255,0,255,0.7)")
    )
    return with_queries(panel, (query.format(PromQueryFormat.HEATMAP).interval(""),))


# --- dashboards --------------------------------------------------------------------------


def modwatch_dashboard(uid: str, title: str, description: str, since: str) -> dashboard.Dashboard:
    """What both dashboards share: read-only, shared crosshair, 30 s refresh, Grafana's annotations."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["modwatch"])
        .timezone("browser")
        .readonly()
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .version(1)
        .time(since, "now")
        .links([])
        .annotation(
            dashboard.AnnotationQuery()
            .built_in(1)
            .datasource(GRAFANA)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .name("Annotations & Alerts")
            .type("dashboard")
        )
    )


def with_panels(board: dashboard.Dashboard, panels: list[PanelOrRow]) -> dashboard.Dashboard:
    """Rows and panels in order. Each brings its own place, which the builder keeps: it
    places only a panel left at x=0, y=0, and no panel here sits there but the first row."""
    for panel in panels:
        if isinstance(panel, dashboard.Row):
            board.with_row(panel)
        else:
            board.with_panel(panel)
    return board


def label_variable(name: str, label: str, description: str, metric: str) -> dashboard.QueryVariable:
    """A multi-select of the values ``metric`` has for label ``name``, "All" matching any (``.*``)."""
    values = f"label_values({metric}, {name})"
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(PROMETHEUS)
        .query({"query": values, "refId": f"{name}-values"})
        .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard_model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .options([])
        .hide(dashboard_model.VariableHide.DONT_HIDE)
        .regex("")
    )


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


# --- output ------------------------------------------------------------------------------


def render(board: dashboard.Dashboard) -> str:
    """Sorted keys, two-space indent, a final newline: the same bytes on every run."""
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def render_dashboards() -> dict[str, str]:
    """File name under deploy/grafana/dashboards/ to its JSON; nothing is written."""
    return {
        "platform-compliance.json": render(compliance_dashboard()),
        "pipeline-health.json": render(pipeline_dashboard()),
    }


def main() -> None:
    for name, text in render_dashboards().items():
        path = DASHBOARDS_DIR / name
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
