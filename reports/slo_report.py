"""The SLO report's data: every SLO that Prometheus (the lab's or AMP) records, read over its
period, turned into figures by reports/figures.py.

Queries, all bounded: one discovery query (objective, period and first sample of every SLO),
then per SLO one range query on a grid of at most 1,001 instants (five series: the error
ratio's sum and sample count per step, the first and last page-alert sample per step, and
whether the page fires at the end), and one single-instant query per page incident (at most
MAX_INCIDENTS per SLO) for the budget it cost.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from alerting.model import SLO
from alerting.names import (
    LABEL_ID,
    LABEL_SERVICE,
    LABEL_SEVERITY,
    LABEL_SLO,
    OBJECTIVE,
    SEVERITY_PAGE,
    TIME_PERIOD_DAYS,
    sli_error_record,
)
from reports import figures
from reports.figures import RESOLUTION_SECONDS, Grid, Incident, Step
from sre_platform.durations import format_duration
from sre_platform.prometheus import PrometheusClient, Series, quote

SECONDS_PER_DAY = 86400
MAX_PERIOD_SECONDS = 90 * SECONDS_PER_DAY  # the longest period a spec may have
MAX_INCIDENTS = 50
TAG = "report_series"
_IDS = f"{LABEL_ID}, {LABEL_SERVICE}, {LABEL_SLO}"
_ERROR_5M = sli_error_record("5m")


@dataclass(frozen=True)
class SpecInfo:
    """What the spec adds to an SLO's section: its description and runbook link."""

    description: str
    runbook: str | None
    source: str


@dataclass(frozen=True)
class IncidentFigures:
    """A page incident and the share of the period's error budget it cost (None: no traffic
    while it fired)."""

    incident: Incident
    cost: float | None


@dataclass(frozen=True)
class SloFigures:
    """One SLO's section of the report. Figures are None when they cannot be known (no
    traffic, no series); ``notes`` says why, and what else a reader must know."""

    service: str
    slo: str
    slo_id: str
    objective: float | None = None
    period_seconds: float | None = None
    window_start: float | None = None
    data_start: float | None = None
    sli: float | None = None
    budget_spent: float | None = None
    chart: tuple[tuple[float, float | None, float], ...] = ()  # (t, remaining, even burn)
    incidents: tuple[IncidentFigures, ...] = ()
    incidents_left_out: int = 0
    step: int | None = None
    notes: tuple[str, ...] = ()
    spec: SpecInfo | None = None

    @property
    def met(self) -> bool | None:
        """Whether the SLI over the period reached the objective (None without figures)."""
        if self.sli is None or self.objective is None:
            return None
        return self.sli >= self.objective

    @property
    def no_traffic(self) -> bool:
        return self.sli is None and self.objective is not None and self.window_start is not None


@dataclass(frozen=True)
class Report:
    """The whole report: when, from where, over which period, and every SLO."""

    prometheus: str
    end: float
    period_option: str | None
    slos: tuple[SloFigures, ...]
    queries: int = 0
    points: int = 0


@dataclass
class _Meta:
    service: str
    slo: str
    slo_id: str
    values: dict[str, float] = field(default_factory=dict)


def spec_info(slos: Iterable[SLO]) -> dict[str, SpecInfo]:
    """The description and runbook link of each SLO of the specs, by SLO id."""
    found = {}
    for slo in slos:
        annotations = {**slo.alerting.annotations, **slo.alerting.page.annotations}
        found[slo.id] = SpecInfo(slo.description, annotations.get("runbook_url"), slo.source)
    return found


def selector(service: str, slo: str, slo_id: str, **extra: str) -> str:
    """The label matchers of one SLO's series (and ``extra`` ones)."""
    pairs = {LABEL_ID: slo_id, LABEL_SERVICE: service, LABEL_SLO: slo, **extra}
    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in pairs.items()) + "}"


def tagged(exprs: Mapping[str, str]) -> str:
    """One PromQL expression returning every expression of ``exprs``, each series labelled
    ``report_series=<key>`` (so one query answers for several)."""
    return " or ".join(
        f'label_replace({expr}, {quote(TAG)}, {quote(key)}, "", "")' for key, expr in exprs.items()
    )


def discovery_query(lookback_seconds: int) -> str:
    """Objective, period (days) and first sample time of every SLO seen in the lookback."""
    lookback = format_duration(lookback_seconds)
    step = format_duration(figures.choose_step(lookback_seconds))
    return tagged(
        {
            "objective": f"max by ({_IDS}) (last_over_time({OBJECTIVE}[{lookback}]))",
            "period_days": f"max by ({_IDS}) (last_over_time({TIME_PERIOD_DAYS}[{lookback}]))",
            "data_start": f"min by ({_IDS}) "
            f"(min_over_time(timestamp({OBJECTIVE})[{lookback}:{step}]))",
        }
    )


def _error_ratio(sel: str) -> str:
    # NaN (no traffic: 0/0) and impossible ratios fail the comparisons and are left out.
    return f"(max by ({_IDS}) ({_ERROR_5M}{sel}) >= 0 <= 1)"


def slo_query(meta_selector: str, alert_selector: str, step: int) -> str:
    """The five per-step series of one SLO (see Step), for a range query with ``step``."""
    # A range of step - 1 s holds the samples of (t - step, t]: Prometheus 2.x ranges include
    # both ends, so a range of the whole step would read the boundary sample twice.
    span = f"[{step - 1}s:{RESOLUTION_SECONDS}s]"
    error = _error_ratio(meta_selector)
    alert = f"ALERTS{alert_selector}"
    return tagged(
        {
            "error_sum": f"sum_over_time({error}{span})",
            "samples": f"count_over_time({error}{span})",
            "first_firing": f"min by ({_IDS}) (min_over_time(timestamp({alert}){span}))",
            "last_firing": f"max by ({_IDS}) (max_over_time(timestamp({alert}){span}))",
            "firing": f"max by ({_IDS}) ({alert})",
        }
    )


def incident_cost_query(meta_selector: str, seconds: int) -> str:
    """The mean error ratio over the ``seconds`` before the evaluation instant."""
    return f"avg_over_time({_error_ratio(meta_selector)}[{seconds}s:{RESOLUTION_SECONDS}s])"


def steps_from(series: Sequence[Series], grid: Grid) -> list[Step]:
    """The grid's steps from the tagged answer of slo_query (a missing point: nothing there)."""
    values: dict[str, dict[float, float]] = {}
    for item in series:
        tag = item.labels.get(TAG, "")
        values.setdefault(tag, {}).update(
            (round(t), v) for t, v in item.points if not math.isnan(v)
        )

    def get(tag: str, t: float) -> float | None:
        return values.get(tag, {}).get(round(t))

    return [
        Step(
            t=t,
            error_sum=get("error_sum", t) or 0.0,
            samples=int(get("samples", t) or 0),
            first_firing=get("first_firing", t),
            last_firing=get("last_firing", t),
        )
        for t in grid.times()
    ]


def firing_at(series: Sequence[Series], t: float) -> bool:
    """Whether the tagged answer of slo_query has the page firing at instant ``t``."""
    return any(
        item.labels.get(TAG) == "firing" and any(round(p) == round(t) for p, _ in item.points)
        for item in series
    )


class Collector:
    """Reads the report's data from one client, counting queries and points."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client
        self.queries = 0
        self.points = 0

    def at(self, expr: str, t: float) -> list[Series]:
        """``expr`` evaluated at instant ``t`` (a one-point range query: the instant is exact)."""
        return self.range(expr, t, t, RESOLUTION_SECONDS)

    def range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        result = self.client.query_range(expr, start, end, step)
        self.queries += 1
        self.points += sum(len(item.points) for item in result)
        return result


def _metas(series: Sequence[Series]) -> dict[str, _Meta]:
    metas: dict[str, _Meta] = {}
    for item in series:
        labels = item.labels
        ids = (labels.get(LABEL_SERVICE), labels.get(LABEL_SLO), labels.get(LABEL_ID))
        if None in ids or not item.points:
            continue
        service, slo, slo_id = (str(x) for x in ids)
        meta = metas.setdefault(slo_id, _Meta(service, slo, slo_id))
        meta.values[labels.get(TAG, "")] = item.points[-1][1]
    return metas


def _usable_objective(value: float | None) -> str | None:
    if value is None:
        return f"no {OBJECTIVE} series"
    if not (math.isfinite(value) and 0 < value < 1):
        return f"{OBJECTIVE} is {value:g}, not a ratio between 0 and 1"
    return None


def collect(
    client: PrometheusClient,
    end: float,
    period_seconds: int | None = None,
    specs: Mapping[str, SpecInfo] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Read every SLO of the Prometheus behind ``client`` (only those of ``specs`` when given)
    over the period ending at ``end`` (epoch seconds, rounded down to the minute):
    ``period_seconds``, or each SLO's own period."""
    end = math.floor(end / RESOLUTION_SECONDS) * RESOLUTION_SECONDS
    collector = Collector(client)
    lookback = period_seconds or MAX_PERIOD_SECONDS
    progress("finding the SLOs")
    metas = _metas(collector.at(discovery_query(lookback), end))
    if specs is not None:
        metas = {k: v for k, v in metas.items() if k in specs}
    slos = []
    for number, meta in enumerate(sorted(metas.values(), key=lambda m: m.slo_id), start=1):
        progress(f"reading SLO {number}/{len(metas)}: {meta.slo_id}")
        spec = specs.get(meta.slo_id) if specs else None
        slos.append(_slo_figures(collector, meta, end, period_seconds, lookback, spec))
    for slo_id, spec in sorted((specs or {}).items()):
        if slo_id not in metas:
            service, _, name = slo_id.partition("-")
            note = "no SLO series in Prometheus for this SLO (are its rules loaded?)"
            slos.append(SloFigures(service, name, slo_id, notes=(note,), spec=spec))
    return Report(
        prometheus=client.base_url,
        end=end,
        period_option=format_duration(period_seconds) if period_seconds else None,
        slos=tuple(slos),
        queries=collector.queries,
        points=collector.points,
    )


def _slo_figures(
    collector: Collector,
    meta: _Meta,
    end: float,
    period_option: int | None,
    lookback: int,
    spec: SpecInfo | None,
) -> SloFigures:
    base = SloFigures(meta.service, meta.slo, meta.slo_id, spec=spec)
    objective = meta.values.get("objective")
    problem = _usable_objective(objective)
    if problem is not None or objective is None:
        return replace(base, notes=(f"{problem}: no figures",))
    base = replace(base, objective=objective)
    period = period_option
    if period is None:
        days = meta.values.get("period_days")
        if days is None or not (math.isfinite(days) and 0 < days * SECONDS_PER_DAY <= lookback):
            note = f"no usable {TIME_PERIOD_DAYS} series: give the period with --period"
            return replace(base, notes=(note,))
        period = round(days * SECONDS_PER_DAY)
    window_start = end - period
    data_start = meta.values.get("data_start")
    query_start = window_start
    notes = []
    if data_start is not None and data_start > window_start:
        # data_start is read every discovery step: the series may begin up to one step earlier.
        query_start = max(window_start, data_start - figures.choose_step(lookback))
    grid = figures.grid_for(query_start, end)
    sel = selector(meta.service, meta.slo, meta.slo_id)
    alert_sel = selector(
        meta.service, meta.slo, meta.slo_id, alertstate="firing", **{LABEL_SEVERITY: SEVERITY_PAGE}
    )
    answer = collector.range(slo_query(sel, alert_sel, grid.step), grid.first, grid.end, grid.step)
    steps = steps_from(answer, grid)
    in_window = [s for s in steps[1:] if s.t > window_start]
    budget_ratio = 1 - objective
    first_data = next((s.t - grid.step for s in in_window if s.samples), None)
    if first_data is not None and first_data > window_start + grid.step:
        notes.append(
            f"Prometheus holds this SLO's SLI from about {utc(first_data)} only, later than "
            f"the period's start ({utc(window_start)}): the SLI covers what it holds, and the "
            "budget spent is a share of the whole period's budget."
        )
    remaining = figures.burndown(in_window, budget_ratio, period)
    chart = tuple(
        (s.t, r, 1 - (s.t - window_start) / period)
        for s, r in zip(in_window, remaining, strict=True)
        if r is not None
    )
    sli = figures.sli(in_window)
    spent = (
        figures.budget_share(figures.error_integral(in_window), budget_ratio, period)
        if sli is not None
        else None
    )
    if sli is None:
        notes.append("no traffic: no SLI sample in the period (every error ratio was 0/0)")
    found = figures.incidents(steps, window_start, firing_at(answer, grid.end))
    costs = tuple(
        IncidentFigures(
            item, _incident_cost(collector, sel, item, (window_start, end), period, budget_ratio)
        )
        for item in found[:MAX_INCIDENTS]
    )
    return replace(
        base,
        period_seconds=period,
        window_start=window_start,
        data_start=data_start,
        sli=sli,
        budget_spent=spent,
        chart=chart,
        incidents=costs,
        incidents_left_out=max(0, len(found) - MAX_INCIDENTS),
        step=grid.step,
        notes=tuple(notes),
    )


def _incident_cost(
    collector: Collector,
    sel: str,
    incident: Incident,
    window: tuple[float, float],
    period: float,
    budget_ratio: float,
) -> float | None:
    lo, hi = incident.clipped(*window)
    seconds = int(hi - lo)
    if seconds < 1:
        return 0.0
    answer = collector.at(incident_cost_query(sel, seconds), hi)
    values = [v for item in answer for _, v in item.points if math.isfinite(v)]
    if not values:
        return None
    return figures.budget_share(max(values) * seconds, budget_ratio, period)


def utc(t: float) -> str:
    """An instant for people: ``2025-01-02 13:04 UTC``."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
