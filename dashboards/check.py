"""Run every panel query of the built dashboards against a Prometheus and find the empty ones.

Each dashboard's query variables are resolved to each of their values (in order, a later
variable's ``label_values`` query resolved with the earlier ones, as Grafana chains them); every
panel is then queried once per combination, as Grafana would after plain substitution. A panel
is reported when no target returns a series ("no series") or when any target returns NaN
("NaN"). Instant targets run at the current time; range targets over the last few minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dashboards.build import BuiltDashboard
from dashboards.variables import query_variables, resolve
from sre_platform.prometheus import PrometheusClient

NO_SERIES = "no series"
NAN = "NaN"
NO_VALUES = "no values"
RANGE_SECONDS = 300.0
RANGE_STEP_SECONDS = 30.0
LABEL_LOOKBACK_SECONDS = 600.0
# Queries in flight at once: answers are mostly waiting on the network (AMP is far away).
QUERY_WORKERS = 8


@dataclass(frozen=True)
class Finding:
    """A panel that would show nothing (``no series``) or NaN, for one choice of variables;
    or a variable without values (``panel`` names the variable, no panel can be checked)."""

    dashboard: str
    panel_id: int | None
    panel: str
    variables: Mapping[str, str]
    problem: str
    queries: tuple[str, ...]

    def describe(self) -> str:
        """One line for people: dashboard, panel, variables, problem."""
        chosen = ", ".join(f"{k}={v}" for k, v in self.variables.items())
        where = f" [{chosen}]" if chosen else ""
        return f'{self.dashboard}: "{self.panel}"{where}: {self.problem}'


@dataclass
class CheckReport:
    """What the check ran and what it found."""

    dashboards: int = 0
    panels_checked: int = 0
    queries_run: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def panels(model: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel with targets, rows' nested panels included, in order."""
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from (p for p in panel.get("panels", []) if p.get("targets"))
        elif panel.get("targets"):
            yield panel


def choices(
    model: Mapping[str, Any], client: PrometheusClient, now: float
) -> tuple[list[dict[str, str]], list[tuple[str, dict[str, str], str]]]:
    """Every combination of the dashboard's query variable values, and each variable that has
    no values (its name, the earlier choices, its resolved query)."""
    combos: list[dict[str, str]] = [{}]
    empty: list[tuple[str, dict[str, str], str]] = []
    for name, query in query_variables(model):
        grown: list[dict[str, str]] = []
        for combo in combos:
            match = resolve(query.selector, combo)
            values = client.label_values(query.label, match, now - LABEL_LOOKBACK_SECONDS, now)
            if not values:
                empty.append((name, combo, f"label_values({match}, {query.label})"))
            grown += [{**combo, name: value} for value in sorted(values)]
        combos = grown
    return combos, empty


def _outcome(client: PrometheusClient, target: Mapping[str, Any], expr: str, now: float) -> str:
    """``no series``, ``NaN`` or ``ok`` for one target."""
    if target.get("instant"):
        values = [sample.value for sample in client.query(expr)]
    else:
        series = client.query_range(expr, now - RANGE_SECONDS, now, RANGE_STEP_SECONDS)
        values = [v for s in series for _, v in s.points]
    if not values:
        return NO_SERIES
    return NAN if any(math.isnan(v) for v in values) else "ok"


def check_dashboard(
    built: BuiltDashboard,
    client: PrometheusClient,
    report: CheckReport,
    progress: Callable[[str], None] = lambda _: None,
    pool: Executor | None = None,
) -> None:
    """Check one dashboard; add what it finds to ``report``. The queries of one choice of
    variables run on ``pool`` when given (answers are read in order, so findings are too)."""
    now = time.time()
    combos, empty = choices(built.model, client, now)
    for name, combo, query in empty:
        report.findings.append(
            Finding(built.title, None, f"variable {name}", _frozen(combo), NO_VALUES, (query,))
        )
    checked = list(panels(built.model))
    for combo in combos:
        shown = ", ".join(f"{k}={v}" for k, v in combo.items())
        progress(f"{built.title}{f' ({shown})' if shown else ''}")
        jobs = [(t, resolve(t["expr"], combo)) for panel in checked for t in panel["targets"]]
        run = lambda job: _outcome(client, job[0], job[1], now)  # noqa: E731
        answers = iter(pool.map(run, jobs) if pool is not None else map(run, jobs))
        report.queries_run += len(jobs)
        for panel in checked:
            report.panels_checked += 1
            outcomes = [(next(answers), resolve(t["expr"], combo)) for t in panel["targets"]]
            nan = tuple(expr for outcome, expr in outcomes if outcome == NAN)
            problem = NAN if nan else NO_SERIES if all(o == NO_SERIES for o, _ in outcomes) else ""
            if problem:
                shown_queries = nan or tuple(expr for _, expr in outcomes)
                report.findings.append(
                    Finding(
                        built.title,
                        panel.get("id"),
                        panel.get("title", ""),
                        _frozen(combo),
                        problem,
                        shown_queries,
                    )
                )


def check_dashboards(
    dashboards: Sequence[BuiltDashboard],
    client: PrometheusClient,
    progress: Callable[[str], None] = lambda _: None,
    workers: int = QUERY_WORKERS,
) -> CheckReport:
    """Check every dashboard, ``workers`` queries at a time (raises PrometheusError when
    Prometheus cannot answer)."""
    report = CheckReport(dashboards=len(dashboards))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboards-check")
    try:
        for built in dashboards:
            check_dashboard(built, client, report, progress, pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return report


def as_json(report: CheckReport) -> dict[str, Any]:
    """The report as a JSON document."""
    return {
        "ok": report.ok,
        "dashboards": report.dashboards,
        "panels_checked": report.panels_checked,
        "queries_run": report.queries_run,
        "findings": [
            {
                "dashboard": f.dashboard,
                "panel_id": f.panel_id,
                "panel": f.panel,
                "variables": dict(f.variables),
                "problem": f.problem,
                "queries": list(f.queries),
            }
            for f in report.findings
        ],
    }


def _frozen(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))
