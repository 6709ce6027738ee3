"""The demo exchange's service dashboard: RED (rate, errors, duration) and business metrics.

Metric names are the exchange's own (lab/service.py): ``exchange_http_requests_total{route,
method,code}``, the ``order_execution_seconds`` histogram, ``exchange_orders_placed_total``,
``exchange_orders_rejected_total{reason}``, ``exchange_orders_failed_total``; replicas come from
``up`` of the scrape job, restarts from the lab supervisor (``lab_supervisor_restarts_total``).
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard

from alerting.model import SLO, LatencySLI
from dashboards import queries
from dashboards.panels import (
    BLUE,
    GREEN,
    NO_TRAFFIC,
    ORANGE,
    RED,
    DataSource,
    Grid,
    Query,
    chart_panel,
    dashed_threshold_lines,
    datasource_variable,
    stat_panel,
    thresholds,
)

UID = "sre-exchange-service"
NAME = "exchange-service"
TITLE = "Exchange service"
JOB = "exchange"
SUPERVISOR_JOB = "lab-supervisor"
HISTOGRAM = "order_execution_seconds"
DEFAULT_LATENCY_THRESHOLD = 0.04
QUANTILES = (0.5, 0.9, 0.99)


def latency_threshold(slos: Sequence[SLO]) -> float:
    """The latency SLO's threshold on the execution histogram (40 ms in slo_specs/)."""
    found = [
        slo.sli.threshold
        for slo in slos
        if isinstance(slo.sli, LatencySLI) and slo.sli.histogram == HISTOGRAM
    ]
    return min(found) if found else DEFAULT_LATENCY_THRESHOLD


def build(slos: Sequence[SLO], source: DataSource) -> dashboard.Dashboard:
    """The exchange's RED and business dashboard."""
    threshold = latency_threshold(slos)
    p99 = queries.latency_quantile(0.99, HISTOGRAM, JOB)
    grid = Grid()
    panels: list[object] = [
        stat_panel(
            grid,
            source,
            "Requests",
            queries.request_rate(JOB, by=""),
            "reqps",
            [(BLUE, None)],
            "no traffic",
        ),
        stat_panel(
            grid,
            source,
            "Error ratio",
            queries.error_ratio(JOB, by=""),
            "percentunit",
            [(GREEN, None), (ORANGE, 0.001), (RED, 0.01)],
            NO_TRAFFIC,
        ),
        stat_panel(
            grid,
            source,
            "Order execution p99",
            p99,
            "s",
            [(GREEN, None), (RED, threshold)],
            "no orders",
        ),
        stat_panel(
            grid,
            source,
            "Replicas up",
            queries.replicas_up(JOB),
            "none",
            [(RED, None), (GREEN, 1)],
            "not scraped",
        ),
    ]
    grid.newline()
    panels.append(
        chart_panel(
            grid,
            source,
            "Request rate",
            "Requests answered per second, by route.",
            "reqps",
            [Query(queries.request_rate(JOB), legend="{{route}}")],
        )
    )
    panels.append(
        chart_panel(
            grid,
            source,
            "Error ratio",
            "Share of requests answered with a 5xx, by route.",
            "percentunit",
            [Query(queries.error_ratio(JOB), legend="{{route}}")],
        )
    )
    latency = chart_panel(
        grid,
        source,
        "Order execution latency",
        f"Order execution time p50/p90/p99 from the {HISTOGRAM} histogram; the dashed line "
        f"is the latency SLO's threshold ({threshold * 1000:g} ms).",
        "s",
        [
            Query(queries.latency_quantile(q, HISTOGRAM, JOB), legend=f"p{q * 100:g}")
            for q in QUANTILES
        ],
        no_value="no orders",
    ).thresholds(thresholds((GREEN, None), (RED, threshold)))
    panels.append(dashed_threshold_lines(latency))
    panels.append(
        chart_panel(
            grid,
            source,
            "Orders",
            "Orders placed (executed), rejected (invalid or unauthenticated) and failed per "
            "second; 0 while a kind has not happened yet.",
            "ops",
            [
                Query(queries.orders_rate("exchange_orders_placed_total", JOB), legend="placed"),
                Query(
                    queries.orders_rate("exchange_orders_rejected_total", JOB), legend="rejected"
                ),
                Query(queries.orders_rate("exchange_orders_failed_total", JOB), legend="failed"),
            ],
        )
    )
    panels.append(
        chart_panel(
            grid,
            source,
            "Replicas",
            "Replicas answering their scrape, of those Prometheus scrapes.",
            "none",
            [
                Query(queries.replicas_up(JOB), legend="up"),
                Query(queries.replicas_total(JOB), legend="scraped"),
            ],
            no_value="not scraped",
        )
    )
    panels.append(
        chart_panel(
            grid,
            source,
            "Restarts (last hour)",
            "Replica restarts by the lab's supervisor over the last hour, by replica (the lab "
            "only; on AWS the Auto Scaling group replaces instances instead).",
            "none",
            [Query(queries.restarts(SUPERVISOR_JOB), legend="replica {{replica}}")],
            no_value="no supervisor",
        )
    )
    builder = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["exchange", "sre-platform"])
        .description("The demo exchange: requests, errors, latency, orders, replicas.")
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .readonly()
        .with_variable(datasource_variable(source))
    )
    for panel in panels:
        builder = builder.with_panel(panel)  # type: ignore[arg-type]
    return builder
