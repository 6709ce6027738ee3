"""The SLO overview: every SLO of every service in one table, and a few counts above it."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat, table
from grafana_foundation_sdk.models import dashboard as model

from alerting import names
from dashboards import queries
from dashboards.panels import (
    GREEN,
    NO_TRAFFIC,
    ORANGE,
    RED,
    DataSource,
    Grid,
    Query,
    datasource_variable,
    stat_panel,
    targets,
)

UID = "sre-slo-overview"
NAME = "slo-overview"
TITLE = "SLO overview"
DETAIL_PATH = "/d/sre-slo-detail/slo-detail"

# The table's columns: (refId, query, header, unit); refIds follow the order of the targets.
COLUMNS = (
    ("A", queries.overview_objective(), "Objective", "percentunit"),
    ("B", queries.overview_period_days(), "Period (days)", "none"),
    ("C", queries.overview_sli(), "SLI over the period", "percentunit"),
    ("D", queries.overview_budget_remaining(), "Budget remaining", "percentunit"),
    ("E", queries.overview_burn_rate(), "Burn rate (5m)", "none"),
    ("F", queries.overview_alerts_firing(), "Alerts firing", "none"),
)


def detail_link() -> str:
    """The URL of a row's SLO detail, in Grafana's link form with the row's labels."""
    service = "${__data.fields." + names.LABEL_SERVICE + "}"
    slo = "${__data.fields." + names.LABEL_SLO + "}"
    return f"{DETAIL_PATH}?var-service={service}&var-slo={slo}"


def _count(
    grid: Grid, title: str, expr: str, description: str, warn: float | None, source: DataSource
) -> stat.Panel:
    steps = [(GREEN, None)] if warn is None else [(GREEN, None), (RED, warn)]
    return stat_panel(grid, source, title, expr, "none", steps, None, 0, 6, description, False)


def _override(name: str, *props: tuple[str, object]) -> tuple[str, list[model.DynamicConfigValue]]:
    return name, [model.DynamicConfigValue(id_val=key, value=value) for key, value in props]


def slo_table(grid: Grid, source: DataSource, height: int) -> table.Panel:
    """The SLO list: one row per SLO, merged from instant queries, linked to the detail."""
    panel_id, pos = grid.place(24, height)
    value = {ref: f"Value #{ref}" for ref, *_ in COLUMNS}
    rename = {
        names.LABEL_SERVICE: "Service",
        names.LABEL_SLO: "SLO",
        **{value[ref]: header for ref, _, header, _ in COLUMNS},
    }
    order = [names.LABEL_SERVICE, names.LABEL_SLO, *value.values()]
    organize = model.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {"Time": True, names.LABEL_ID: True},
            "renameByName": rename,
            "indexByName": {column: index for index, column in enumerate(order)},
        },
    )
    overrides = [
        _override(
            names.LABEL_SLO,
            ("links", [{"title": "SLO detail: ${__value.text}", "url": detail_link()}]),
        ),
        *(_override(value[ref], ("unit", unit)) for ref, _, _, unit in COLUMNS),
        _override(value["A"], ("decimals", 2)),
        _override(value["B"], ("decimals", 0)),
        _override(value["C"], ("decimals", 3)),
        _override(
            value["D"],
            ("custom.cellOptions", {"type": "gauge", "mode": "basic"}),
            ("min", 0),
            ("max", 1),
            ("decimals", 1),
            (
                "thresholds",
                {
                    "mode": "absolute",
                    "steps": [
                        {"color": RED, "value": None},
                        {"color": ORANGE, "value": 0.25},
                        {"color": GREEN, "value": 0.5},
                    ],
                },
            ),
        ),
        _override(
            value["E"],
            ("decimals", 2),
            ("custom.cellOptions", {"type": "color-text"}),
            (
                "thresholds",
                {
                    "mode": "absolute",
                    "steps": [
                        {"color": GREEN, "value": None},
                        {"color": ORANGE, "value": 1},
                        {"color": RED, "value": 6},
                    ],
                },
            ),
        ),
        _override(
            value["F"],
            ("decimals", 0),
            ("custom.cellOptions", {"type": "color-text"}),
            (
                "thresholds",
                {
                    "mode": "absolute",
                    "steps": [{"color": GREEN, "value": None}, {"color": RED, "value": 1}],
                },
            ),
        ),
    ]
    panel = (
        table.Panel()
        .id(panel_id)
        .grid_pos(pos)
        .title("SLOs")
        .description(
            "Every SLO of every service. SLI and budget over each SLO's own period; burn rate "
            "over the last 5 minutes (1 = spending the budget exactly over the period). A cell "
            "reads 'no traffic' when the SLO had no events to measure. Click an SLO for its "
            "detail."
        )
        .datasource(source.ref)
        .targets(
            targets([Query(expr, instant=True, table=True) for _, expr, _, _ in COLUMNS], source)
        )
        .no_value(NO_TRAFFIC)
        .transformations([model.DataTransformerConfig(id_val="merge", options={}), organize])
        .sort_by([])
    )
    for name, props in overrides:
        panel = panel.override_by_name(name, props)
    return panel


def build(slo_count: int, source: DataSource) -> dashboard.Dashboard:
    """The overview dashboard (its table grows with ``slo_count``, up to a cap)."""
    grid = Grid()
    counts = [
        _count(
            grid,
            "SLOs burning",
            queries.slos_burning(),
            "SLOs spending their error budget faster than it lasts (5m burn rate above 1).",
            1,
            source,
        ),
        _count(
            grid,
            "Budgets exhausted",
            queries.budgets_exhausted(),
            "SLOs with no error budget left over their period.",
            1,
            source,
        ),
        _count(
            grid,
            "Pages firing",
            queries.alerts_firing(names.SEVERITY_PAGE),
            "SLO page alerts firing now.",
            1,
            source,
        ),
        _count(
            grid,
            "SLOs without traffic",
            queries.slos_without_traffic(),
            "SLOs with no events in the last 5 minutes: their SLI cannot be measured.",
            None,
            source,
        ),
    ]
    height = max(6, min(30, 3 + slo_count))
    builder = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["slo", "sre-platform"])
        .description("Every SLO of every service: objective, SLI, budget left, burn, alerts.")
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .readonly()
        .with_variable(datasource_variable(source))
    )
    for panel in counts:
        builder = builder.with_panel(panel)
    return builder.with_panel(slo_table(grid, source, height))
