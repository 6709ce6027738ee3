"""The host dashboard from node_exporter: CPU, memory, disk, network and load of one host of the
fleet, chosen by the ``instance`` variable (every host node_exporter runs on)."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard, stat, timeseries

from dashboards import queries
from dashboards.panels import (
    GREEN,
    ORANGE,
    RED,
    DataSource,
    Grid,
    Query,
    chart_panel,
    datasource_variable,
    query_variable,
    stat_panel,
)

UID = "sre-hosts"
NAME = "hosts"
TITLE = "Hosts"
NO_DATA = "not scraped"
BUSY = ((GREEN, None), (ORANGE, 0.7), (RED, 0.9))


def _stat(grid: Grid, source: DataSource, title: str, expr: str, unit: str) -> stat.Panel:
    share = unit == "percentunit"
    steps = BUSY if share else ((GREEN, None),)
    return stat_panel(grid, source, title, expr, unit, steps, NO_DATA, 1 if share else 2)


def _chart(
    grid: Grid,
    source: DataSource,
    title: str,
    description: str,
    unit: str,
    items: Sequence[Query],
    percent: bool = False,
) -> timeseries.Panel:
    panel = chart_panel(grid, source, title, description, unit, items, NO_DATA)
    return panel.max(1) if percent else panel


def build(source: DataSource) -> dashboard.Dashboard:
    """The host dashboard."""
    grid = Grid()
    panels: list[object] = [
        _stat(grid, source, "CPU busy", queries.cpu_busy(), "percentunit"),
        _stat(grid, source, "Memory used", queries.memory_used(), "percentunit"),
        _stat(grid, source, "Load (1m)", queries.load_average(1), "short"),
        _stat(grid, source, "CPUs", queries.cpu_count(), "short"),
    ]
    grid.newline()
    panels += [
        _chart(
            grid,
            source,
            "CPU",
            "Share of CPU time per mode (idle left out), over all CPUs of the host.",
            "percentunit",
            [Query(queries.cpu_by_mode(), legend="{{mode}}")],
            percent=True,
        ),
        _chart(
            grid,
            source,
            "Memory used",
            "Share of memory not available to new work.",
            "percentunit",
            [Query(queries.memory_used(), legend="used")],
            percent=True,
        ),
        _chart(
            grid,
            source,
            "Disk space used",
            "Share of each real filesystem in use, by mount point.",
            "percentunit",
            [Query(queries.filesystem_used(), legend="{{mountpoint}}")],
            percent=True,
        ),
        _chart(
            grid,
            source,
            "Disk I/O",
            "Bytes read and written per second, by device.",
            "Bps",
            [
                Query(queries.disk_io("read"), legend="read {{device}}"),
                Query(queries.disk_io("written"), legend="written {{device}}"),
            ],
        ),
        _chart(
            grid,
            source,
            "Network",
            "Bytes received and transmitted per second, by interface (loopback left out).",
            "Bps",
            [
                Query(queries.network("receive"), legend="in {{device}}"),
                Query(queries.network("transmit"), legend="out {{device}}"),
            ],
        ),
        _chart(
            grid,
            source,
            "Load average",
            "Runnable and waiting tasks, averaged over 1, 5 and 15 minutes, and the CPU count.",
            "short",
            [
                *(Query(queries.load_average(m), legend=f"load {m}m") for m in (1, 5, 15)),
                Query(queries.cpu_count(), legend="CPUs"),
            ],
        ),
    ]
    builder = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["hosts", "node_exporter", "sre-platform"])
        .description("Every host of the fleet, one at a time: CPU, memory, disk, network, load.")
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .readonly()
        .with_variable(datasource_variable(source))
        .with_variable(
            query_variable("instance", "Host", "label_values(node_uname_info, instance)", source)
        )
    )
    for panel in panels:
        builder = builder.with_panel(panel)  # type: ignore[arg-type]
    return builder
