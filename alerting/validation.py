"""Semantic checks of a spec: at least what Sloth checks, plus what Prometheus itself refuses.

Each check returns Problems (errors and warnings) that name the SLO and the field path; the
loader adds the file. Nothing here raises or prints.

The checks take a parsed model or, when the document did not parse as a whole, the raw
mapping: every part that has the right type is checked either way, so one pass reports the
typo in one field and the bad query in another together. The rules are those of the engines
the output goes to: PromQL as Prometheus 2.42 parses it (``alerting.promql``), alert labels
and annotations as the Go templates Prometheus parses (``alerting.gotemplate``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from alerting import names
from alerting.gotemplate import prometheus_template_error
from alerting.promql import (
    LABEL_NAME,
    METRIC_NAME,
    OBJECT_NAME,
    has_window,
    result_kind_error,
    selector_matchers,
    stray_windows,
    syntax_error,
    with_window,
)
from alerting.spec import yaml12_number
from alerting.windows import WindowCatalog, catalog_for
from sre_platform.durations import format_duration, parse_duration
from sre_platform.errors import Problem

RESERVED_PREFIX = "sloth_"  # every label the compiler sets (names.LABEL_*) starts so
ALERT_NAME_LABEL = "alertname"
_OBJECTIVE_RULE = "must be greater than 0 and at most 100"
_NAME_RULE = "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
_WINDOW_RULE = (
    "{{.window}} must be the whole range of a range selector or subquery, e.g. rate(x[{{.window}}])"
)
_NO_BUDGET = (
    "a 100% objective leaves no error budget: every alert fires on the first failed request "
    "(its threshold is 0), and the burn-rate and budget-remaining series divide by zero "
    "(+Inf, or NaN while there are no errors); an objective such as 99.99 keeps them meaningful"
)


def reserved_label_reason(name: str, *, alert: bool = False) -> str | None:
    """Why a user may not set label ``name`` (None when it is free).

    ``sloth_*`` labels are the compiler's own; on an alert, Prometheus sets ``alertname``.
    """
    if name.startswith(RESERVED_PREFIX):
        return "reserved label: the compiler sets sloth_* labels"
    if alert and name == ALERT_NAME_LABEL:
        return "reserved label: Prometheus sets alertname from alerting.name"
    return None


def _get(part: Any, key: str) -> Any:
    """A field of a parsed model or of a raw mapping (None when absent)."""
    if isinstance(part, Mapping):
        return part.get(key)
    return getattr(part, key, None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


Catalogs = Mapping[int, WindowCatalog]  # custom alert windows by period (--windows-path)


def check_service(
    spec: Any, default_period: int, catalogs: Catalogs | None = None
) -> list[Problem]:
    """Every problem of one service document (a ServiceSpec or the raw mapping), SLOs included.

    With ``catalogs`` (custom alert windows by period), every SLO's period must have one.
    """
    problems: list[Problem] = []
    service = _get(spec, "service")
    if isinstance(service, str) and not OBJECT_NAME.match(service):
        problems.append(Problem(_NAME_RULE, field="service"))
    problems += _check_labels(_get(spec, "labels"), "labels", None, series=True)
    slos = _get(spec, "slos")
    if isinstance(slos, list) and not slos:
        problems.append(Problem("at least one SLO is required", field="slos"))
    seen: set[str] = set()
    for index, entry in enumerate(slos if isinstance(slos, list) else []):
        name = _get(entry, "name")
        if not isinstance(name, str):  # an SLO without a name is named by its place
            problems += [
                Problem(p.message, None, None, f"slos[{index}].{p.field}", p.severity)
                for p in check_slo(entry, default_period, catalogs)
            ]
            continue
        if name in seen:
            problems.append(Problem("duplicate SLO name in this service", slo=name, field="name"))
        seen.add(name)
        problems += check_slo(entry, default_period, catalogs)
    return problems


def check_slo(slo: Any, default_period: int, catalogs: Catalogs | None = None) -> list[Problem]:
    """Every problem of one SLO (an SLOSpec, or the raw mapping when it did not parse)."""
    if not isinstance(slo, Mapping) and not hasattr(slo, "sli"):
        return []
    name = _get(slo, "name")
    where = name if isinstance(name, str) else None
    problems: list[Problem] = []
    if isinstance(name, str) and not OBJECT_NAME.match(name):
        problems.append(Problem(_NAME_RULE, slo=where, field="name"))
    objective = yaml12_number(_get(slo, "objective"))
    objective_ok = _is_number(objective) and 0 < objective <= 100
    if _is_number(objective) and not objective_ok:
        problems.append(Problem(_OBJECTIVE_RULE, slo=where, field="objective"))
    problems += _check_labels(_get(slo, "labels"), "labels", where, series=True)
    sli = _get(slo, "sli")
    if sli is not None:
        problems += list(_check_sli(sli, where))
    period = default_period
    period_text = _get(slo, "period")
    if isinstance(period_text, str):
        try:
            period = parse_duration(period_text)
            catalog_for(period)
        except ValueError as error:
            problems.append(Problem(str(error), slo=where, field="period"))
            period = default_period
    alerting = _get(slo, "alerting")
    if alerting is None and isinstance(slo, Mapping):
        alerting = {}  # as the spec model's default
    if alerting is not None:
        problems += _check_alerting(alerting, where)
    catalog = None
    if catalogs is not None:
        catalog = catalogs.get(period)
        if catalog is None:
            problems.append(Problem(missing_windows(period, catalogs), slo=where, field="period"))
    if objective_ok and not any(p.severity == "error" for p in problems):
        problems += _budget_warnings(slo, float(objective), catalog or catalog_for(period), where)
    return problems


def missing_windows(period: int, catalogs: Catalogs) -> str:
    """Why an SLO of ``period`` cannot use the custom alert windows given."""
    found = ", ".join(format_duration(p) for p in sorted(catalogs)) or "none"
    return (
        f"no AlertWindows file in --windows-path has sloPeriod {format_duration(period)} "
        f"(periods there: {found}); custom windows replace the default ones, as in Sloth"
    )


def _check_sli(sli: Any, slo: str | None) -> Iterator[Problem]:
    kinds = [k for k in ("events", "raw", "latency") if _get(sli, k) is not None]
    if len(kinds) != 1:
        if isinstance(sli, Mapping) and "plugin" in sli:
            return  # the spec model's own message says plugins are refused
        found = ", ".join(kinds) or "none"
        yield Problem(
            f"exactly one of events, raw or latency is required (found: {found})",
            slo=slo,
            field="sli",
        )
        return
    events, raw, latency = _get(sli, "events"), _get(sli, "raw"), _get(sli, "latency")
    if events is not None:
        error_query, total_query = _get(events, "error_query"), _get(events, "total_query")
        yield from check_query(error_query, slo, "sli.events.error_query")
        yield from check_query(total_query, slo, "sli.events.total_query")
        if (
            isinstance(error_query, str)
            and isinstance(total_query, str)
            and error_query.strip() == total_query.strip()
        ):
            yield Problem("error and total queries must differ", slo=slo, field="sli.events")
    elif raw is not None:
        yield from check_query(_get(raw, "error_ratio_query"), slo, "sli.raw.error_ratio_query")
    else:
        yield from _check_latency(latency, slo)


def _check_latency(latency: Any, slo: str | None) -> Iterator[Problem]:
    histogram = _get(latency, "histogram")
    if isinstance(histogram, str) and not METRIC_NAME.match(histogram):
        yield Problem(
            "must be a metric name (the histogram's base name)",
            slo=slo,
            field="sli.latency.histogram",
        )
    selector = _get(latency, "selector")
    if isinstance(selector, str):
        try:
            selector_matchers(selector)
        except ValueError as error:
            yield Problem(str(error), slo=slo, field="sli.latency.selector")
    threshold = _get(latency, "threshold")
    if _is_number(threshold) and not (0 < threshold < float("inf")):
        yield Problem(
            "must be a number of seconds greater than 0", slo=slo, field="sli.latency.threshold"
        )


def check_query(query: Any, slo: str | None, field: str) -> Iterator[Problem]:
    """The problems of one query holding the ``{{.window}}`` placeholder (none if not text)."""
    if not isinstance(query, str):
        return
    if not query.strip():
        yield Problem("must not be empty", slo=slo, field=field)
        return
    if not has_window(query):
        yield Problem("must hold the {{.window}} placeholder", slo=slo, field=field)
        return
    if stray_windows(query):
        yield Problem(_WINDOW_RULE, slo=slo, field=field)
        return
    expr = with_window(query, "5m")
    error = syntax_error(expr) or result_kind_error(expr)
    if error:
        yield Problem(f"invalid PromQL: {error}", slo=slo, field=field)


def _check_alerting(alerting: Any, slo: str | None) -> list[Problem]:
    problems: list[Problem] = []
    page, ticket = _get(alerting, "page_alert"), _get(alerting, "ticket_alert")
    both_disabled = _get(page, "disable") is True and _get(ticket, "disable") is True
    name = _get(alerting, "name")
    if name is None and not both_disabled:
        problems.append(
            Problem("required unless both alerts are disabled", slo=slo, field="alerting.name")
        )
    elif isinstance(name, str) and not name.strip():
        # Prometheus takes any text as an alert name (it becomes the alertname label's value).
        problems.append(Problem("must not be empty", slo=slo, field="alerting.name"))
    alert_name = name if isinstance(name, str) else ""
    problems += _check_labels(
        _get(alerting, "labels"), "alerting.labels", slo, alert_name=alert_name
    )
    problems += _check_annotations(
        _get(alerting, "annotations"), "alerting.annotations", slo, alert_name
    )
    for key, alert in (("page_alert", page), ("ticket_alert", ticket)):
        if alert is None:
            continue
        problems += _check_labels(
            _get(alert, "labels"), f"alerting.{key}.labels", slo, alert_name=alert_name
        )
        problems += _check_annotations(
            _get(alert, "annotations"), f"alerting.{key}.annotations", slo, alert_name
        )
    return problems


def _check_labels(
    labels: Any,
    field: str,
    slo: str | None,
    *,
    series: bool = False,
    alert_name: str | None = None,
) -> list[Problem]:
    """Label names and values; ``series`` labels go on recorded series, alert labels on alerts.

    Prometheus parses an alert's labels as Go templates; a recorded series' labels are plain.
    """
    if not isinstance(labels, Mapping):
        return []
    problems = []
    for key, value in labels.items():
        where = f"{field}.{key}"
        if not isinstance(key, str) or not LABEL_NAME.match(key) or key.startswith("__"):
            problems.append(Problem("invalid label name", slo=slo, field=where))
        elif reason := reserved_label_reason(key, alert=not series):
            problems.append(Problem(reason, slo=slo, field=where))
        if not isinstance(value, str):
            continue
        if not value.strip():
            problems.append(Problem("must not be empty", slo=slo, field=where))
        elif alert_name is not None and (error := prometheus_template_error(value, alert_name)):
            problems.append(Problem(error, slo=slo, field=where))
    return problems


def _check_annotations(
    annotations: Any, field: str, slo: str | None, alert_name: str
) -> list[Problem]:
    """Annotation names, and their text as the Go templates Prometheus parses."""
    if not isinstance(annotations, Mapping):
        return []
    problems = []
    for key, value in annotations.items():
        where = f"{field}.{key}"
        if not isinstance(key, str) or not LABEL_NAME.match(key) or key.startswith("__"):
            problems.append(Problem("invalid annotation name", slo=slo, field=where))
        if not isinstance(value, str):
            continue
        if not value.strip():
            problems.append(Problem("must not be empty", slo=slo, field=where))
        elif error := prometheus_template_error(value, alert_name):
            problems.append(Problem(error, slo=slo, field=where))
    return problems


def _budget_warnings(
    slo: Any, objective: float, catalog: WindowCatalog, where: str | None
) -> list[Problem]:
    """Alerts that can never fire, and an objective that leaves no budget at all."""
    budget = (100 - objective) / 100
    alerting = _get(slo, "alerting")
    enabled = {
        key: _get(_get(alerting, key), "disable") is not True
        for key in ("page_alert", "ticket_alert")
    }
    if budget <= 0:
        return [Problem(_NO_BUDGET, slo=where, field="objective", severity="warning")]
    problems = []
    for key, severity in (
        ("page_alert", names.SEVERITY_PAGE),
        ("ticket_alert", names.SEVERITY_TICKET),
    ):
        if not enabled[key]:
            continue
        for tier in catalog.tiers_of(severity):
            if tier.threshold(budget) >= 1:
                problems.append(
                    Problem(
                        f"the {severity} {tier.name} tier can never fire: burn factor "
                        f"{tier.factor:g} x error budget {budget:g} = {tier.threshold(budget):g} "
                        "(an error ratio above 1 is impossible)",
                        slo=where,
                        field=f"alerting.{key}",
                        severity="warning",
                    )
                )
    return problems
