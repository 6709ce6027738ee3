"""The SLO detail: one SLO, chosen by the variables ``service`` and ``slo``.

SLI error ratio over 5m/1h/6h/1d with the error budget line, the budget burn-down over the
period, the burn rate of each alert window against its page and ticket factors (taken from
alerting/windows.py for the chosen SLO's period, picked at query time through
``slo:time_period:days``), the alert state of each severity, and the specs' descriptions and
runbooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard, stat, statetimeline, text, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.text import TextMode

from alerting import names
from alerting.model import SLO
from alerting.windows import WORKBOOK_PERIOD, BurnTier, WindowCatalog, catalog_for
from dashboards import queries
from dashboards.markdown import slo_table
from dashboards.panels import (
    BLUE,
    GREEN,
    NO_TRAFFIC,
    ORANGE,
    RED,
    DataSource,
    Grid,
    Query,
    dashed,
    datasource_variable,
    legend,
    query_variable,
    stat_panel,
    targets,
    thresholds,
)
from sre_platform.durations import format_duration

UID = "sre-slo-detail"
NAME = "slo-detail"
TITLE = "SLO detail"
SLI_WINDOWS = ("5m", "1h", "6h", "1d")
DAY = 86400


def variables(source: DataSource) -> list[dashboard.QueryVariable]:
    """``service`` from every SLO series, then ``slo`` among that service's SLOs."""
    return [
        query_variable(
            "service",
            "Service",
            f"label_values({names.OBJECTIVE}, {names.LABEL_SERVICE})",
            source,
        ),
        query_variable(
            "slo",
            "SLO",
            f'label_values({names.OBJECTIVE}{{{names.LABEL_SERVICE}="$service"}}, '
            f"{names.LABEL_SLO})",
            source,
        ),
    ]


def _stat(
    grid: Grid,
    source: DataSource,
    title: str,
    expr: str,
    unit: str,
    decimals: int,
    description: str,
    steps: Sequence[tuple[str, float | None]] = ((BLUE, None),),
    no_value: str = NO_TRAFFIC,
) -> stat.Panel:
    return stat_panel(
        grid, source, title, expr, unit, steps, no_value, decimals, 3, description, False
    )


def stats(grid: Grid, source: DataSource) -> list[stat.Panel]:
    """The chosen SLO's numbers now."""
    return [
        _stat(
            grid,
            source,
            "Objective",
            queries.detail_value(names.OBJECTIVE),
            "percentunit",
            3,
            "The SLO's objective.",
            no_value="unknown SLO",
        ),
        _stat(
            grid,
            source,
            "SLI over the period",
            queries.detail_sli(),
            "percentunit",
            3,
            "Good events over the SLO's period (mean of its 5m ratios, as Sloth records it).",
        ),
        _stat(
            grid,
            source,
            "Budget remaining",
            queries.detail_budget_remaining(),
            "percentunit",
            1,
            "Share of the period's error budget left; negative when overspent.",
            ((RED, None), (ORANGE, 0.25), (GREEN, 0.5)),
        ),
        _stat(
            grid,
            source,
            "Burn rate (5m)",
            queries.detail_burn_rate(names.CURRENT_BURN_RATE),
            "none",
            2,
            "How fast the budget burns now: 1 spends it exactly over the period.",
            ((GREEN, None), (ORANGE, 1), (RED, 6)),
        ),
        _stat(
            grid,
            source,
            "Burn rate (period)",
            queries.detail_burn_rate(names.PERIOD_BURN_RATE),
            "none",
            2,
            "The mean burn rate over the SLO's period.",
            ((GREEN, None), (RED, 1)),
        ),
        _stat(
            grid,
            source,
            "Alerts firing",
            queries.detail_alerts_firing(),
            "none",
            0,
            "This SLO's page and ticket alerts firing now.",
            ((GREEN, None), (RED, 1)),
        ),
        _stat(
            grid,
            source,
            "Error budget",
            queries.detail_value(names.ERROR_BUDGET),
            "percentunit",
            3,
            "The error ratio the objective allows (1 - objective).",
            no_value="unknown SLO",
        ),
        _stat(
            grid,
            source,
            "Period (days)",
            queries.detail_value(names.TIME_PERIOD_DAYS),
            "none",
            0,
            "The SLO's period: the window its SLI and budget are measured over.",
            no_value="unknown SLO",
        ),
    ]


def _timeseries(
    grid: Grid, source: DataSource, title: str, description: str, unit: str, w: int, h: int
) -> timeseries.Panel:
    panel_id, pos = grid.place(w, h)
    return (
        timeseries.Panel()
        .id(panel_id)
        .grid_pos(pos)
        .title(title)
        .description(description)
        .datasource(source.ref)
        .unit(unit)
        .min(0)
        .no_value(NO_TRAFFIC)
        .legend(legend())
        .line_width(1)
        .fill_opacity(0)
    )


def sli_chart(grid: Grid, source: DataSource) -> timeseries.Panel:
    """The SLI error ratio over 5m, 1h, 6h and 1d, with the error budget drawn dashed."""
    items = [Query(queries.sli_error(w), legend=f"error ratio {w}") for w in SLI_WINDOWS]
    items.append(Query(queries.detail_value(names.ERROR_BUDGET), legend="error budget"))
    panel = _timeseries(
        grid,
        source,
        "SLI error ratio",
        "Share of bad events over each window; above the dashed error budget line the SLO "
        "burns faster than its objective allows.",
        "percentunit",
        12,
        8,
    ).targets(targets(items, source))
    for ref, props in dashed(["E"], RED):
        panel = panel.override_by_query(ref, props)
    return panel


def burn_down(grid: Grid, source: DataSource, period: int) -> timeseries.Panel:
    """The budget left over the period, shown over one period."""
    return (
        _timeseries(
            grid,
            source,
            "Error budget remaining",
            "Share of the error budget left over the SLO's period (the burn-down); below 0 "
            "the SLO is out of budget.",
            "percentunit",
            12,
            8,
        )
        .min(-1)
        .max(1)
        .time_from(format_duration(period))
        .targets(
            targets([Query(queries.detail_budget_remaining(), legend="budget remaining")], source)
        )
        .thresholds(thresholds((RED, None), (GREEN, 0)))
        .fill_opacity(10)
    )


def catalogs_of(slos: Sequence[SLO], period_seconds: int | None) -> list[WindowCatalog]:
    """One window catalog per period among ``slos``: the SLOs' own (custom AlertWindows when
    they have them; the first SLO's when SLOs of one period differ), by period."""
    found: dict[int, WindowCatalog] = {}
    for slo in slos:
        found.setdefault(slo.period_seconds, slo.catalog)
    if not found:
        period = period_seconds or WORKBOOK_PERIOD
        found[period] = catalog_for(period)
    return [found[period] for period in sorted(found)]


def _tiers(catalogs: Sequence[WindowCatalog], severity: str) -> list[tuple[int, BurnTier]]:
    return [(c.period, tier) for c in catalogs for tier in c.tiers_of(severity)]


def burn_chart(
    grid: Grid, source: DataSource, catalogs: Sequence[WindowCatalog], severity: str
) -> timeseries.Panel:
    """The burn rate over each window of ``severity``'s tiers, and each tier's factor line;
    with several periods, each window and factor only for an SLO of its period."""
    guard = len(catalogs) > 1
    items: list[Query] = []
    seen: set[tuple[int, int]] = set()
    for period, tier in _tiers(catalogs, severity):
        days = period / DAY if guard else None
        for kind, window in (("long", tier.long_window), ("short", tier.short_window)):
            if (period, window) in seen:
                continue
            seen.add((period, window))
            label = f"{format_duration(window)} ({tier.name} {kind})"
            if guard:
                label += f" {format_duration(period)} SLO"
            items.append(Query(queries.window_burn_rate(window, days), legend=label))
    lines = []
    for name in ("quick", "slow"):
        factors = {
            p / DAY: tier.factor for p, tier in _tiers(catalogs, severity) if tier.name == name
        }
        lines.append(Query(queries.burn_threshold(factors), legend=f"{severity} {name} factor"))
    panel = _timeseries(
        grid,
        source,
        f"Burn rate, {severity} windows",
        f"The burn rate over each window of the {severity} alert. The {severity} fires when "
        "both windows of a tier (long and short) burn above that tier's factor (dashed).",
        "none",
        12,
        8,
    ).targets(targets([*items, *lines], source))
    refs = [t.ref_id for t in panel.build().targets[len(items) :]]
    for ref, props in dashed(refs, RED if severity == names.SEVERITY_PAGE else ORANGE):
        panel = panel.override_by_query(ref, props)
    return panel


def alert_timeline(grid: Grid, source: DataSource) -> statetimeline.Panel:
    """The page and ticket alert state: 1 firing, 0 not; one series per severity, never empty."""
    panel_id, pos = grid.place(24, 5)
    items = [Query(queries.alert_state(s), legend=s) for s in names.SEVERITIES]
    mapping = model.ValueMap(
        options={
            "0": model.ValueMappingResult(text="ok", color=GREEN, index=0),
            "1": model.ValueMappingResult(text="firing", color=RED, index=1),
        }
    )
    return (
        statetimeline.Panel()
        .id(panel_id)
        .grid_pos(pos)
        .title("Alert state")
        .description("Whether this SLO's page and ticket alerts fire.")
        .datasource(source.ref)
        .targets(targets(items, source))
        .mappings([mapping])
        .thresholds(thresholds((GREEN, None), (RED, 1)))
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .legend(legend())
    )


def about(grid: Grid, slos: Sequence[SLO]) -> text.Panel:
    """The specs' descriptions and runbooks: one markdown table of every SLO (a text panel
    cannot query, so it lists them all, the chosen one named on top)."""
    panel_id, pos = grid.place(24, max(5, min(24, 4 + len(slos))))
    content = "Chosen: **$service / $slo**\n\n" + slo_table(slos)
    return (
        text.Panel()
        .id(panel_id)
        .grid_pos(pos)
        .title("Descriptions and runbooks")
        .targets([])
        .mode(TextMode.MARKDOWN)
        .content(content)
    )


def build(
    slos: Sequence[SLO], period_seconds: int | None, source: DataSource
) -> dashboard.Dashboard:
    """The detail dashboard for ``slos`` (the alert windows of every period among them)."""
    catalogs = catalogs_of(slos, period_seconds)
    shown_period = period_seconds or max(c.period for c in catalogs)
    grid = Grid()
    panels: list[object] = [*stats(grid, source)]
    grid.newline()
    panels += [sli_chart(grid, source), burn_down(grid, source, shown_period)]
    grid.newline()
    panels += [burn_chart(grid, source, catalogs, s) for s in names.SEVERITIES]
    grid.newline()
    panels.append(alert_timeline(grid, source))
    grid.newline()
    panels.append(about(grid, slos))
    builder = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["slo", "sre-platform"])
        .description("One SLO: SLI, budget burn-down, burn rate per alert window, alerts.")
        .time("now-1d", "now")
        .refresh("1m")
        .timezone("browser")
        .readonly()
        .with_variable(datasource_variable(source))
    )
    for variable in variables(source):
        builder = builder.with_variable(variable)
    for panel in panels:
        builder = builder.with_panel(panel)  # type: ignore[arg-type]
    return builder
