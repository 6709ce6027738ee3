"""Semantic checks of a parsed spec: at least what Sloth checks, plus this project's rules.

Each check returns Problems (errors and warnings) that name the SLO and the field path; the
loader adds the file. Nothing here raises or prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from pydantic import ValidationError

from alerting import names
from alerting.promql import (
    LABEL_NAME,
    METRIC_NAME,
    OBJECT_NAME,
    has_window,
    selector_matchers,
    syntax_error,
    with_window,
)
from alerting.spec import AlertingSpec, ServiceSpec, SLISpec, SLOSpec
from alerting.windows import catalog_for
from sre_platform.durations import parse_duration
from sre_platform.errors import Problem

RESERVED_LABELS = frozenset(
    {
        names.LABEL_ID,
        names.LABEL_SERVICE,
        names.LABEL_SLO,
        names.LABEL_WINDOW,
        names.LABEL_SEVERITY,
        names.LABEL_MODE,
        names.LABEL_OBJECTIVE,
        names.LABEL_SPEC,
        names.LABEL_VERSION,
    }
)
_OBJECTIVE_RULE = "must be greater than 0 and at most 100"
_NAME_RULE = "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def check_service(spec: ServiceSpec, default_period: int) -> list[Problem]:
    """Return every problem of one service document (its SLOs included)."""
    problems: list[Problem] = []
    if not OBJECT_NAME.match(spec.service):
        problems.append(Problem(_NAME_RULE, field="service"))
    problems += _check_labels(spec.labels, "labels", None, reserved=True)
    if not spec.slos:
        problems.append(Problem("at least one SLO is required", field="slos"))
    seen: set[str] = set()
    for slo in spec.slos:
        if slo.name in seen:
            problems.append(
                Problem("duplicate SLO name in this service", slo=slo.name, field="name")
            )
        seen.add(slo.name)
        problems += check_slo(slo, default_period)
    return problems


def check_slo(slo: SLOSpec, default_period: int) -> list[Problem]:
    """Return every problem of one SLO."""
    where = slo.name
    problems: list[Problem] = []
    if not OBJECT_NAME.match(slo.name):
        problems.append(Problem(_NAME_RULE, slo=where, field="name"))
    if not 0 < slo.objective <= 100:
        problems.append(Problem(_OBJECTIVE_RULE, slo=where, field="objective"))
    problems += _check_labels(slo.labels, "labels", where, reserved=True)
    problems += list(_check_sli(slo.sli, where))
    period = default_period
    if slo.period is not None:
        try:
            period = parse_duration(slo.period)
            catalog_for(period)
        except ValueError as error:
            problems.append(Problem(str(error), slo=where, field="period"))
            period = default_period
    problems += _check_alerting(slo.alerting, where)
    if 0 < slo.objective <= 100 and not any(p.severity == "error" for p in problems):
        problems += _never_firing(slo, period)
    return problems


def check_slo_parts(entry: object) -> list[Problem]:
    """Semantic problems of the parts of an SLO that parse, when the SLO as a whole did not.

    So that one missing field does not hide the other mistakes of the same SLO.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return []
    where = entry["name"]
    problems: list[Problem] = []
    objective = entry.get("objective")
    if isinstance(objective, int | float) and not 0 < objective <= 100:
        problems.append(Problem(_OBJECTIVE_RULE, slo=where, field="objective"))
    with contextlib.suppress(ValidationError):
        problems += _check_alerting(AlertingSpec.model_validate(entry.get("alerting", {})), where)
    return problems


def _check_sli(sli: SLISpec, slo: str) -> Iterator[Problem]:
    kinds = [k for k in ("events", "raw", "latency") if getattr(sli, k) is not None]
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        yield Problem(
            f"exactly one of events, raw or latency is required (found: {found})",
            slo=slo,
            field="sli",
        )
        return
    if sli.events is not None:
        yield from _check_query(sli.events.error_query, slo, "sli.events.error_query")
        yield from _check_query(sli.events.total_query, slo, "sli.events.total_query")
        if sli.events.error_query.strip() == sli.events.total_query.strip():
            yield Problem("error and total queries must differ", slo=slo, field="sli.events")
    elif sli.raw is not None:
        yield from _check_query(sli.raw.error_ratio_query, slo, "sli.raw.error_ratio_query")
    elif sli.latency is not None:
        latency = sli.latency
        if not METRIC_NAME.match(latency.histogram):
            yield Problem(
                "must be a metric name (the histogram's base name)",
                slo=slo,
                field="sli.latency.histogram",
            )
        try:
            selector_matchers(latency.selector)
        except ValueError as error:
            yield Problem(str(error), slo=slo, field="sli.latency.selector")
        if not latency.threshold > 0:
            yield Problem(
                "must be greater than 0 (seconds)", slo=slo, field="sli.latency.threshold"
            )


def _check_query(query: str, slo: str, field: str) -> Iterator[Problem]:
    if not query.strip():
        yield Problem("must not be empty", slo=slo, field=field)
        return
    if not has_window(query):
        yield Problem("must hold the {{.window}} placeholder", slo=slo, field=field)
        return
    error = syntax_error(with_window(query, "5m"))
    if error:
        yield Problem(f"invalid PromQL: {error}", slo=slo, field=field)


def _check_alerting(alerting: AlertingSpec, slo: str) -> list[Problem]:
    problems: list[Problem] = []
    both_disabled = alerting.page_alert.disable and alerting.ticket_alert.disable
    if not both_disabled:
        if not alerting.name:
            problems.append(
                Problem("required unless both alerts are disabled", slo=slo, field="alerting.name")
            )
        elif not METRIC_NAME.match(alerting.name):
            problems.append(
                Problem(
                    "must be a valid alert name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                    slo=slo,
                    field="alerting.name",
                )
            )
    problems += _check_labels(alerting.labels, "alerting.labels", slo, reserved=False)
    problems += _check_labels(alerting.annotations, "alerting.annotations", slo, reserved=False)
    for key in ("page_alert", "ticket_alert"):
        alert = getattr(alerting, key)
        problems += _check_labels(alert.labels, f"alerting.{key}.labels", slo, reserved=False)
        problems += _check_labels(
            alert.annotations, f"alerting.{key}.annotations", slo, reserved=False
        )
    return problems


def _check_labels(
    labels: Mapping[str, str], field: str, slo: str | None, *, reserved: bool
) -> list[Problem]:
    problems = []
    for key, value in labels.items():
        where = f"{field}.{key}"
        if not LABEL_NAME.match(key) or key.startswith("__"):
            problems.append(Problem("invalid label name", slo=slo, field=where))
        elif reserved and key in RESERVED_LABELS:
            problems.append(Problem("reserved label: set by the compiler", slo=slo, field=where))
        if not str(value).strip():
            problems.append(Problem("must not be empty", slo=slo, field=where))
    return problems


def _never_firing(slo: SLOSpec, period: int) -> list[Problem]:
    budget = (100 - slo.objective) / 100
    problems = []
    catalog = catalog_for(period)
    for key, severity in (
        ("page_alert", names.SEVERITY_PAGE),
        ("ticket_alert", names.SEVERITY_TICKET),
    ):
        if getattr(slo.alerting, key).disable:
            continue
        for tier in catalog.tiers_of(severity):
            if tier.threshold(budget) >= 1:
                problems.append(
                    Problem(
                        f"the {severity} {tier.name} tier can never fire: burn factor "
                        f"{tier.factor:g} x error budget {budget:g} = {tier.threshold(budget):g} "
                        "(an error ratio above 1 is impossible)",
                        slo=slo.name,
                        field=f"alerting.{key}",
                        severity="warning",
                    )
                )
    return problems
