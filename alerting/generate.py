"""Rule generation: small pure functions from the domain model to Prometheus rule groups.

No I/O, clock or environment here: the same SLO always gives the same rules. The output
follows Sloth's names and meaning (see alerting/names.py) so Sloth users' dashboards and alert
routes keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerting import names
from alerting.model import SLO, Alert, EventsSLI, LatencySLI, RawSLI
from alerting.promql import le_pattern, selector_matchers, with_window
from alerting.windows import BurnTier, WindowCatalog
from sre_platform.durations import format_duration


@dataclass(frozen=True)
class Rule:
    """A recording rule (``record``) or an alerting rule (``alert``)."""

    expr: str
    labels: Mapping[str, str]
    record: str | None = None
    alert: str | None = None
    annotations: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RuleGroup:
    """A named group of rules, as in a Prometheus rules file."""

    name: str
    rules: tuple[Rule, ...]


def go_float(value: float) -> str:
    """Format a float as Go's ``%v`` does (``6`` not ``6.0``; shortest round-trip digits)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def slo_selector(slo: SLO) -> str:
    """The label matchers that pick this SLO's recorded series."""
    return (
        f'{{{names.LABEL_ID}="{slo.id}", {names.LABEL_SERVICE}="{slo.service}", '
        f'{names.LABEL_SLO}="{slo.name}"}}'
    )


def slo_labels(slo: SLO) -> dict[str, str]:
    """The labels every recorded series of this SLO carries."""
    return {
        **slo.labels,
        names.LABEL_ID: slo.id,
        names.LABEL_SERVICE: slo.service,
        names.LABEL_SLO: slo.name,
    }


def sli_expr(slo: SLO, window: str) -> str:
    """The error-ratio expression of the SLO's SLI over ``window``."""
    sli = slo.sli
    if isinstance(sli, EventsSLI):
        error = _grouped(with_window(sli.error_query, window))
        total = _grouped(with_window(sli.total_query, window))
        return f"{error}\n/\n{total}\n"
    if isinstance(sli, RawSLI):
        return _grouped(with_window(sli.error_ratio_query, window))
    return latency_sli_expr(sli, window)


def _grouped(query: str) -> str:
    """``query`` in parentheses; a PromQL ``#`` comment runs to the end of its line, so a
    query that may hold one gets its closing parenthesis on a line of its own."""
    return f"({query}\n)" if "#" in query else f"({query})"


def latency_sli_expr(sli: LatencySLI, window: str) -> str:
    """Bad events are all requests minus those in the bucket at the threshold."""
    total, good = _latency_rates(sli, window)
    return f"(\n  {total}\n  -\n  {good}\n)\n/\n({total})\n"


def _latency_rates(sli: LatencySLI, window: str) -> tuple[str, str]:
    """All requests per second and those at or under the threshold, over ``window``."""
    matchers = selector_matchers(sli.selector)
    le = f'le=~"{le_pattern(sli.threshold)}"'
    bucket = f"{sli.histogram}_bucket{{{matchers + ', ' if matchers else ''}{le}}}"
    count = f"{sli.histogram}_count{{{matchers}}}" if matchers else f"{sli.histogram}_count"
    return f"sum(rate({count}[{window}]))", f"sum(rate({bucket}[{window}]))"


def event_rate_exprs(slo: SLO, window: str) -> tuple[str, str] | None:
    """The error and total events per second of the SLI over ``window``; None for a raw SLI
    (an error-ratio query has no events to add up)."""
    sli = slo.sli
    if isinstance(sli, EventsSLI):
        return with_window(sli.error_query, window), with_window(sli.total_query, window)
    if isinstance(sli, LatencySLI):
        total, good = _latency_rates(sli, window)
        return f"{total}\n-\n{good}\n", total
    return None


def period_sli_expr(slo: SLO, period: str) -> str:
    """The SLI over the whole period: the mean of the 5m ratios, as Sloth records it."""
    base = f"{names.sli_error_record('5m')}{slo_selector(slo)}"
    return (
        f"sum_over_time({base}[{period}])\n"
        f"/ ignoring ({names.LABEL_WINDOW})\n"
        f"count_over_time({base}[{period}])\n"
    )


def derived_sli_expr(slo: SLO, base: str, window: str) -> str:
    """The SLI over ``window`` from the event-rate recordings over ``base``: a ratio of sums
    (every event weighs the same), never a mean of ratios."""
    selector = slo_selector(slo)
    error = f"{names.sli_error_events_record(base)}{selector}"
    total = f"{names.sli_total_events_record(base)}{selector}"
    return f"sum_over_time({error}[{window}])\n/\nsum_over_time({total}[{window}])\n"


def efficient_sli_recordings(slo: SLO, catalog: WindowCatalog) -> RuleGroup | None:
    """The efficient mode's SLI group; None for a raw SLI, which keeps the default rules.

    The raw series are read once, over the shortest window, into two recordings (error and
    total events per second); that window's ratio divides them, and every longer window and
    the period add them up over time. Prometheus evaluates a group's rules in order, so each
    rule reads the recordings of the same evaluation.
    """
    base_seconds = min(catalog.sli_windows)
    base = format_duration(base_seconds)
    rates = event_rate_exprs(slo, base)
    if rates is None:
        return None
    labels = slo_labels(slo)
    base_labels = _sorted({**labels, names.LABEL_WINDOW: base})
    selector = slo_selector(slo)
    rules = [
        Rule(record=names.sli_error_events_record(base), expr=rates[0], labels=base_labels),
        Rule(record=names.sli_total_events_record(base), expr=rates[1], labels=base_labels),
        Rule(
            record=names.sli_error_record(base),
            expr=(
                f"{names.sli_error_events_record(base)}{selector}\n/\n"
                f"{names.sli_total_events_record(base)}{selector}\n"
            ),
            labels=base_labels,
        ),
    ]
    for seconds in catalog.sli_windows:
        if seconds == base_seconds:
            continue
        window = format_duration(seconds)
        rules.append(
            Rule(
                record=names.sli_error_record(window),
                expr=derived_sli_expr(slo, base, window),
                labels=_sorted({**labels, names.LABEL_WINDOW: window}),
            )
        )
    return RuleGroup(names.GROUP_SLI + slo.id, tuple(rules))


def sli_recordings(slo: SLO, catalog: WindowCatalog) -> RuleGroup:
    """One recording rule per window: ``slo:sli_error:ratio_rate<window>``."""
    labels = slo_labels(slo)
    rules = []
    for seconds in catalog.sli_windows:
        window = format_duration(seconds)
        expr = period_sli_expr(slo, window) if seconds == catalog.period else sli_expr(slo, window)
        rules.append(
            Rule(
                record=names.sli_error_record(window),
                expr=expr,
                labels=_sorted({**labels, names.LABEL_WINDOW: window}),
            )
        )
    return RuleGroup(names.GROUP_SLI + slo.id, tuple(rules))


def meta_recordings(slo: SLO, catalog: WindowCatalog, version: str) -> RuleGroup:
    """The metadata series: objective, budget, period, burn rates, budget left, info."""
    labels = _sorted(slo_labels(slo))
    selector = slo_selector(slo)
    period = format_duration(catalog.period)
    objective = go_float(slo.objective_ratio)
    on = f"/ on({names.LABEL_ID}, {names.LABEL_SLO}, {names.LABEL_SERVICE}) group_left\n"
    budget = f"{names.ERROR_BUDGET}{selector}\n"
    info_labels = _sorted(
        {
            **labels,
            names.LABEL_MODE: slo.generator_mode,
            names.LABEL_OBJECTIVE: go_float(slo.objective),
            names.LABEL_SPEC: slo.spec_version,
            names.LABEL_VERSION: version,
        }
    )
    rules = (
        Rule(record=names.OBJECTIVE, expr=f"vector({objective})", labels=labels),
        Rule(record=names.ERROR_BUDGET, expr=f"vector(1-{objective})", labels=labels),
        Rule(
            record=names.TIME_PERIOD_DAYS,
            expr=f"vector({go_float(catalog.period / 86400)})",
            labels=labels,
        ),
        Rule(
            record=names.CURRENT_BURN_RATE,
            expr=f"{names.sli_error_record('5m')}{selector}\n{on}{budget}",
            labels=labels,
        ),
        Rule(
            record=names.PERIOD_BURN_RATE,
            expr=f"{names.sli_error_record(period)}{selector}\n{on}{budget}",
            labels=labels,
        ),
        Rule(
            record=names.PERIOD_BUDGET_REMAINING,
            expr=f"1 - {names.PERIOD_BURN_RATE}{selector}",
            labels=labels,
        ),
        Rule(record=names.INFO, expr="vector(1)", labels=info_labels),
    )
    return RuleGroup(names.GROUP_META + slo.id, rules)


def burn_condition(slo: SLO, tier: BurnTier) -> str:
    """Both windows of ``tier`` burn faster than its factor."""
    threshold = f"({go_float(tier.factor)} * {go_float(slo.error_budget_ratio)})"
    selector = slo_selector(slo)

    def over(window: int) -> str:
        record = names.sli_error_record(format_duration(window))
        return f"max({record}{selector} > {threshold}) without ({names.LABEL_WINDOW})"

    return f"(\n    {over(tier.short_window)}\n    and\n    {over(tier.long_window)}\n)"


def alert_rule(slo: SLO, catalog: WindowCatalog, severity: str) -> Rule:
    """The multi-window multi-burn-rate alert of one severity."""
    alert: Alert = slo.alerting.page if severity == names.SEVERITY_PAGE else slo.alerting.ticket
    quick, slow = catalog.tiers_of(severity)
    annotations = {**slo.alerting.annotations, **alert.annotations}
    service, slo_name = "{{$labels.sloth_service}}", "{{$labels.sloth_slo}}"
    annotations.setdefault(
        "summary", f"{service} {slo_name} SLO error budget burn rate is over expected."
    )
    annotations.setdefault(
        "title", f"({severity}) {service} {slo_name} SLO error budget burn rate is too fast."
    )
    assert slo.alerting.name is not None
    return Rule(
        alert=slo.alerting.name,
        expr=f"{burn_condition(slo, quick)}\nor\n{burn_condition(slo, slow)}\n",
        labels=_sorted({**slo.alerting.labels, **alert.labels, names.LABEL_SEVERITY: severity}),
        annotations=_sorted(annotations),
    )


def alert_rules(slo: SLO, catalog: WindowCatalog) -> RuleGroup | None:
    """The page and ticket alerts that are not disabled; None when both are."""
    rules = tuple(
        alert_rule(slo, catalog, severity)
        for severity, alert in (
            (names.SEVERITY_PAGE, slo.alerting.page),
            (names.SEVERITY_TICKET, slo.alerting.ticket),
        )
        if not alert.disabled
    )
    return RuleGroup(names.GROUP_ALERTS + slo.id, rules) if rules else None


def slo_groups(slo: SLO, version: str, mode: str = names.MODE_DEFAULT) -> tuple[RuleGroup, ...]:
    """All rule groups of one SLO, in Sloth's order: SLI, metadata, alerts.

    ``mode`` ``efficient`` changes only the SLI group (see efficient_sli_recordings); the
    recorded names and labels, the metadata and the alerts are the default mode's.
    """
    catalog = slo.catalog
    sli = efficient_sli_recordings(slo, catalog) if mode == names.MODE_EFFICIENT else None
    groups = [sli or sli_recordings(slo, catalog), meta_recordings(slo, catalog, version)]
    alerts = alert_rules(slo, catalog)
    if alerts is not None:
        groups.append(alerts)
    return tuple(groups)


def _sorted(labels: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(labels.items()))
