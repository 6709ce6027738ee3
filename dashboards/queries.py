"""The PromQL of every panel: small pure functions, no Grafana here.

SLO queries read only the period-independent series the compiler records (alerting/names.py),
so SLOs of different periods sit in one table. How each query treats an SLO without traffic
(its SLI ratios are 0/0 = NaN) is chosen per panel and documented in docs/dashboards.md:

- ``finite_ratio``: a ratio, burn rate or SLI is kept only when it is a number (``>= 0``, or
  ``<= 1`` for a budget left that may be negative), so NaN drops out and the panel shows its
  "no traffic" text instead of NaN;
- ``or vector(0)`` (or ``or`` a zero per SLO) only where 0 is the true answer: no alert firing,
  no SLO burning, no rejected order.
"""

from __future__ import annotations

from alerting import names
from sre_platform.durations import format_duration

SLO_KEYS = (names.LABEL_ID, names.LABEL_SERVICE, names.LABEL_SLO)
BY_SLO = f"by ({', '.join(SLO_KEYS)})"
FIRING = 'alertstate="firing"'
RATE_WINDOW = "5m"
HAS_SLO_ID = f'{names.LABEL_ID}!=""'


def severity_is(severity: str) -> str:
    """The matcher of an alert severity."""
    return f'{names.LABEL_SEVERITY}="{severity}"'


def selector(*matchers: str) -> str:
    """``{m1, m2}`` from label matchers (``{}`` when there are none)."""
    return "{" + ", ".join(m for m in matchers if m) + "}"


def per_slo(expr: str) -> str:
    """``expr`` reduced to one series per SLO, labelled by id, service and SLO only."""
    return f"max {BY_SLO} ({expr})"


# --- The SLO overview: one row per SLO -----------------------------------------------------


def overview_objective() -> str:
    """The objective of every SLO; always present (a constant), so every SLO has a row."""
    return per_slo(names.OBJECTIVE)


def overview_period_days() -> str:
    """The period of every SLO, in days."""
    return per_slo(names.TIME_PERIOD_DAYS)


def overview_sli() -> str:
    """The SLI over the period (1 - error ratio); NaN (no traffic) drops out."""
    error = f"{per_slo(names.PERIOD_BURN_RATE + ' >= 0')} * on ({', '.join(SLO_KEYS)}) "
    return f"1 - ({error}{per_slo(names.ERROR_BUDGET)})"


def overview_budget_remaining() -> str:
    """The share of the period's error budget left (negative when overspent); no NaN."""
    return per_slo(f"{names.PERIOD_BUDGET_REMAINING} <= 1")


def overview_burn_rate() -> str:
    """The current (5m) burn rate; no NaN."""
    return per_slo(f"{names.CURRENT_BURN_RATE} >= 0")


def overview_alerts_firing() -> str:
    """How many alerts of each SLO fire; 0 (the true answer) for an SLO with none."""
    firing = f"count {BY_SLO} (ALERTS{selector(FIRING, HAS_SLO_ID)})"
    return f"{firing} or 0 * {overview_objective()}"


def count_or_zero(expr: str) -> str:
    """How many series ``expr`` has; 0 when it has none."""
    return f"count({expr}) or vector(0)"


def slos_burning() -> str:
    """SLOs burning their budget faster than it lasts (current burn rate above 1)."""
    return count_or_zero(f"{names.CURRENT_BURN_RATE} > 1")


def budgets_exhausted() -> str:
    """SLOs with no error budget left over their period."""
    return count_or_zero(f"{names.PERIOD_BUDGET_REMAINING} <= 0")


def slos_without_traffic() -> str:
    """SLOs whose 5m SLI is NaN (no events in 5 minutes: 0/0)."""
    record = names.sli_error_record("5m")
    return count_or_zero(f"{record} != {record}")


def alerts_firing(severity: str) -> str:
    """SLO alerts of ``severity`` firing across every SLO."""
    matchers = selector(FIRING, severity_is(severity), HAS_SLO_ID)
    return count_or_zero(f"ALERTS{matchers}")


# --- The SLO detail: one SLO chosen by the variables service and slo ----------------------


def slo_matchers(service: str = "$service", slo: str = "$slo") -> str:
    """Matchers of the SLO chosen by the dashboard variables."""
    return f'{names.LABEL_SERVICE}="{service}", {names.LABEL_SLO}="{slo}"'


def one(record: str, *extra: str) -> str:
    """``max(record{chosen SLO})``: one series without labels (or none)."""
    return f"max({record}{selector(slo_matchers(), *extra)})"


def detail_value(record: str) -> str:
    """A constant of the chosen SLO (objective, budget, period)."""
    return one(record)


def detail_sli() -> str:
    """The chosen SLO's SLI over its period; no NaN."""
    return f"1 - ({one(names.PERIOD_BURN_RATE)} >= 0) * {one(names.ERROR_BUDGET)}"


def detail_budget_remaining() -> str:
    """The chosen SLO's budget left over its period; no NaN."""
    return f"{one(names.PERIOD_BUDGET_REMAINING)} <= 1"


def detail_burn_rate(record: str) -> str:
    """The chosen SLO's current or period burn rate; no NaN."""
    return f"{one(record)} >= 0"


def detail_alerts_firing() -> str:
    """How many alerts of the chosen SLO fire (0 when none)."""
    return f"count(ALERTS{selector(slo_matchers(), FIRING)}) or vector(0)"


def sli_error(window: str) -> str:
    """The chosen SLO's error ratio over ``window``; no NaN."""
    return f"{one(names.sli_error_record(window))} >= 0"


def period_is(days: float) -> str:
    """Selects nothing unless the chosen SLO's period is ``days`` days."""
    return f"({one(names.TIME_PERIOD_DAYS)} == {_number(days)})"


def window_burn_rate(window_seconds: int, guard_days: float | None = None) -> str:
    """The chosen SLO's burn rate over a window: its error ratio there / its error budget.

    With ``guard_days``, only for an SLO of that period (several periods share the panel).
    """
    expr = f"{sli_error(format_duration(window_seconds))} / {one(names.ERROR_BUDGET)}"
    return f"({expr}) and on () {period_is(guard_days)}" if guard_days is not None else expr


def burn_threshold(factors_by_days: dict[float, float]) -> str:
    """A constant line at the burn factor of the chosen SLO's period.

    ``factors_by_days`` maps each period (days) among the dashboard's SLOs to the factor.
    With one period the line is drawn wherever the SLO has its period series.
    """
    parts = [
        f"0 * {period_is(days)} + {_number(factor)}"
        for days, factor in sorted(factors_by_days.items())
    ]
    return " or ".join(parts)


def alert_state(severity: str) -> str:
    """1 while an alert of ``severity`` fires for the chosen SLO, else 0: never empty."""
    matchers = selector(slo_matchers(), FIRING, severity_is(severity))
    return f"max(ALERTS{matchers}) or vector(0)"


# --- The exchange service: RED and business metrics ---------------------------------------


def job_is(job: str) -> str:
    """The matcher of a scrape job."""
    return f'job="{job}"'


def rate(metric: str, *matchers: str, window: str = RATE_WINDOW) -> str:
    """``rate(metric{matchers}[window])``."""
    return f"rate({metric}{selector(*matchers)}[{window}])"


REQUESTS = "exchange_http_requests_total"


def _sum(expr: str, by: str) -> str:
    return f"sum by ({by}) ({expr})" if by else f"sum({expr})"


def request_rate(job: str, by: str = "route") -> str:
    """Requests answered per second, by ``by`` (a label, or "" for the total)."""
    return _sum(rate(REQUESTS, job_is(job)), by)


def error_ratio(job: str, by: str = "route") -> str:
    """Share of requests answered 5xx, by ``by``; no series (no traffic) rather than NaN."""
    errors = _sum(rate(REQUESTS, job_is(job), 'code=~"5.."'), by)
    return f"{errors}\n/\n({request_rate(job, by)} > 0)"


def latency_quantile(quantile: float, histogram: str, job: str) -> str:
    """The ``quantile`` of order execution time from the histogram; no NaN without orders."""
    buckets = rate(f"{histogram}_bucket", job_is(job))
    return f"histogram_quantile({_number(quantile)}, sum by (le) ({buckets})) >= 0"


def orders_rate(counter: str, job: str) -> str:
    """Orders per second counted by ``counter``; 0 when the counter has not appeared yet (a
    counter with labels appears at its first event)."""
    return f"sum({rate(counter, job_is(job))}) or vector(0)"


def replicas_up(job: str) -> str:
    """Replicas answering their scrape."""
    return f"sum(up{selector(job_is(job))})"


def replicas_total(job: str) -> str:
    """Replicas Prometheus scrapes."""
    return f"count(up{selector(job_is(job))})"


def restarts(job: str, window: str = "1h") -> str:
    """Replica restarts by the lab supervisor over ``window``, by replica."""
    counter = f"lab_supervisor_restarts_total{selector(job_is(job))}"
    return f"sum by (replica) (increase({counter}[{window}]))"


# --- Hosts: node_exporter -------------------------------------------------------------------


INSTANCE = 'instance="$instance"'
IDLE = 'mode="idle"'
NOT_LOOPBACK = 'device!="lo"'


def host(*extra: str) -> str:
    """Matchers of the host chosen by the ``instance`` variable."""
    return selector(INSTANCE, *extra)


def cpu_busy() -> str:
    """Share of CPU time not idle, averaged over the host's CPUs."""
    return f"1 - avg({rate('node_cpu_seconds_total', INSTANCE, IDLE)})"


def cpu_by_mode() -> str:
    """CPU time share per mode (user, system, iowait, ...), idle left out."""
    busy = rate("node_cpu_seconds_total", INSTANCE, 'mode!="idle"')
    return f"sum by (mode) ({busy})\n/ on () group_left\n{cpu_count()}"


def memory_used() -> str:
    """Share of memory in use (not available)."""
    return f"1 - node_memory_MemAvailable_bytes{host()}\n/\nnode_memory_MemTotal_bytes{host()}"


def filesystem_used() -> str:
    """Share of each real filesystem in use."""
    real = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*"'
    return (
        f"1 - node_filesystem_avail_bytes{host(real)}\n"
        f"/\n(node_filesystem_size_bytes{host(real)} > 0)"
    )


def disk_io(direction: str) -> str:
    """Bytes read or written per second, by device."""
    metric = f"node_disk_{direction}_bytes_total"
    return f"sum by (device) ({rate(metric, INSTANCE)})"


def network(direction: str) -> str:
    """Bytes received or transmitted per second, by interface (loopback left out)."""
    metric = f"node_network_{direction}_bytes_total"
    return f"sum by (device) ({rate(metric, INSTANCE, NOT_LOOPBACK)})"


def load_average(minutes: int) -> str:
    """The load average over ``minutes`` (1, 5 or 15)."""
    return f"node_load{minutes}{host()}"


def cpu_count() -> str:
    """How many CPUs the host has (the load average's scale)."""
    return f"count(node_cpu_seconds_total{host(IDLE)})"


def _number(value: float) -> str:
    """A float as PromQL reads it, shortest form (``14.4``, ``6``, ``0.04``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
