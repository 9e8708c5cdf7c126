"""The pieces both dashboards are built from: queries, layout, panel shapes and the dashboard itself
(deploy/grafana/dashboards.py writes the JSON; dashboard_compliance.py and dashboard_pipeline.py are the dashboards)."""

from __future__ import annotations

from string import ascii_uppercase
from typing import TypeVar

from grafana_foundation_sdk.builders import common, dashboard, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import heatmap as heatmap_model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

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
