"""Shared building blocks of every dashboard: the data source, targets, field defaults, layout.

Thin helpers over grafana-foundation-sdk's builders so each dashboard module reads as a list of
panels. Every panel gets an explicit unique id and an explicit gridPos from ``Grid``; every
target an explicit refId.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeseriesPanel
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE_VARIABLE = "datasource"
GRID_COLUMNS = 24
NO_TRAFFIC = "no traffic"

GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"


@dataclass(frozen=True)
class DataSource:
    """The Prometheus data source the dashboards read, chosen by the ``datasource`` variable.

    ``type`` is the data source plugin: ``prometheus`` for a plain Prometheus (the lab), or
    ``grafana-amazonprometheus-datasource`` for AMP in AMG. ``default`` is the variable's
    initial value (a data source name or uid), empty for Grafana's default one.
    """

    type: str = "prometheus"
    default: str = ""

    @property
    def ref(self) -> model.DataSourceRef:
        """The reference every panel and variable uses: the ``datasource`` variable."""
        return model.DataSourceRef(type_val=self.type, uid=f"${{{DATASOURCE_VARIABLE}}}")


def datasource_variable(source: DataSource) -> dashboard.DatasourceVariable:
    """The ``datasource`` variable: any data source of ``source.type``."""
    variable = (
        dashboard.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .type(source.type)
        .regex("")
    )
    if source.default:
        variable = variable.current(
            model.VariableOption(text=source.default, value=source.default, selected=True)
        )
    return variable


def query_variable(
    name: str, label: str, query: str, source: DataSource
) -> dashboard.QueryVariable:
    """A single-value variable filled by ``label_values(...)`` from the data source."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(source.ref)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(False)
        .include_all(False)
    )


def ref_id(index: int) -> str:
    """refIds A, B, ..., Z, AA, AB, ... for the ``index``-th target (from 0)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass(frozen=True)
class Query:
    """One panel target: a PromQL expression and how to show it."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


def targets(queries: Sequence[Query], source: DataSource) -> list[prometheus.Dataquery]:
    """SDK targets for ``queries``, refIds A, B, ... in order."""
    built = []
    for index, query in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .expr(query.expr)
            .ref_id(ref_id(index))
            .datasource(source.ref)
            .legend_format(query.legend or "__auto")
        )
        target = target.instant() if query.instant else target.range()
        if query.table:
            target = target.format(PromQueryFormat.TABLE)
        built.append(target)
    return built


def thresholds(*steps: tuple[str, float | None]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: the first step's value is None (the base color)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(color=color, value=value) for color, value in steps])
    )


def dashed(refids: Sequence[str], color: str) -> list[tuple[str, list[model.DynamicConfigValue]]]:
    """Overrides drawing the series of ``refids`` as dashed lines of ``color``."""
    return [
        (
            ref,
            [
                model.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash"}),
                model.DynamicConfigValue(
                    id_val="color", value={"mode": "fixed", "fixedColor": color}
                ),
            ],
        )
        for ref in refids
    ]


def legend() -> common_builders.VizLegendOptions:
    """A legend as a list under the chart."""
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def dashed_threshold_lines(panel: TimeseriesPanel) -> TimeseriesPanel:
    """Draw a timeseries panel's thresholds as dashed lines."""
    return panel.thresholds_style(
        common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
    )


@dataclass
class Grid:
    """Lays panels out left to right on Grafana's 24-column grid, row by row, with ids 1, 2, ...

    ``place(w, h)`` returns the next position; a panel that does not fit the current row starts
    a new one below the tallest panel of the row. ``newline()`` ends the current row.
    """

    x: int = 0
    y: int = 0
    row_height: int = 0
    next_id: int = 1
    positions: list[model.GridPos] = field(default_factory=list)

    def place(self, w: int, h: int) -> tuple[int, model.GridPos]:
        """The id and gridPos of the next panel of width ``w`` and height ``h``."""
        if not 0 < w <= GRID_COLUMNS or h <= 0:
            raise ValueError(f"a panel must be 1 to {GRID_COLUMNS} columns wide and 1+ high")
        if self.x + w > GRID_COLUMNS:
            self.newline()
        pos = model.GridPos(x=self.x, y=self.y, w=w, h=h)
        self.x += w
        self.row_height = max(self.row_height, h)
        panel_id = self.next_id
        self.next_id += 1
        return panel_id, pos

    def newline(self) -> None:
        """Start a new row of panels below the current one."""
        if self.x:
            self.y += self.row_height
        self.x, self.row_height = 0, 0


def last_value() -> common_builders.ReduceDataOptions:
    """Reduce a series to its last number (what a stat panel shows)."""
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def stat_panel(
    grid: Grid,
    source: DataSource,
    title: str,
    expr: str,
    unit: str,
    steps: Sequence[tuple[str, float | None]],
    no_value: str | None,
    decimals: int = 2,
    width: int = 6,
    description: str | None = None,
    sparkline: bool = True,
) -> stat.Panel:
    """A stat ``width`` columns wide, 4 high: the last value of one instant query, coloured by
    ``steps``, with the series drawn behind it when ``sparkline``."""
    panel_id, pos = grid.place(width, 4)
    panel = stat.Panel().id(panel_id).grid_pos(pos).title(title)
    if description is not None:
        panel = panel.description(description)
    panel = (
        panel.datasource(source.ref)
        .targets(targets([Query(expr, legend=title, instant=True)], source))
        .unit(unit)
        .decimals(decimals)
    )
    if no_value is not None:
        panel = panel.no_value(no_value)
    graph = common.BigValueGraphMode.AREA if sparkline else common.BigValueGraphMode.NONE
    return (
        panel.thresholds(thresholds(*steps))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(graph)
        .reduce_options(last_value())
    )


def chart_panel(
    grid: Grid,
    source: DataSource,
    title: str,
    description: str,
    unit: str,
    items: Sequence[Query],
    no_value: str = NO_TRAFFIC,
) -> TimeseriesPanel:
    """A 12x8 time series of ``items`` from 0 up, thin unfilled lines, with a legend."""
    panel_id, pos = grid.place(12, 8)
    return (
        TimeseriesPanel()
        .id(panel_id)
        .grid_pos(pos)
        .title(title)
        .description(description)
        .datasource(source.ref)
        .targets(targets(items, source))
        .unit(unit)
        .min(0)
        .no_value(no_value)
        .legend(legend())
        .line_width(1)
        .fill_opacity(0)
    )
