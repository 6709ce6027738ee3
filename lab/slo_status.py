"""The per-SLO table of `sre lab status`, read from the compiled rules' series in Prometheus.

One instant query per column, each keyed by (sloth_service, sloth_slo); the table is then put
together by a pure function so it can be tested without Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from alerting.names import (
    CURRENT_BURN_RATE,
    LABEL_SERVICE,
    LABEL_SEVERITY,
    LABEL_SLO,
    OBJECTIVE,
    PERIOD_BUDGET_REMAINING,
    sli_error_record,
)
from sre_platform.errors import LabError

Key = tuple[str, str]  # (service, slo)

QUERIES: dict[str, str] = {
    "objective": OBJECTIVE,
    "sli_5m": f"1 - {sli_error_record('5m')}",
    "sli_1h": f"1 - {sli_error_record('1h')}",
    "burn_rate": CURRENT_BURN_RATE,
    "budget_remaining": PERIOD_BUDGET_REMAINING,
}
ALERTS_QUERY = f'ALERTS{{alertstate="firing", {LABEL_SLO}!=""}}'
OTHER_ALERTS_QUERY = f'ALERTS{{alertstate="firing", {LABEL_SLO}=""}}'
# Labels every lab alert carries alike; what is left tells two firing alerts apart (replica="2").
_SHARED_LABELS = frozenset(
    {"__name__", "alertname", "alertstate", LABEL_SEVERITY, "source", "service", "team",
     "category", "job", "instance"}
)  # fmt: skip


@dataclass(frozen=True, order=True)
class FiringAlert:
    """An alert firing for an SLO: its name and severity (page or ticket)."""

    alertname: str
    severity: str


@dataclass(frozen=True, order=True)
class OtherAlert:
    """A firing alert that is not about one SLO: the lab's own (a replica down, client errors)."""

    alertname: str
    severity: str
    labels: tuple[tuple[str, str], ...]  # the labels that tell it apart, e.g. (("replica", "2"),)


@dataclass(frozen=True)
class SloRow:
    """One SLO's line in the status table; None where Prometheus has no value yet."""

    service: str
    slo: str
    objective: float | None
    sli_5m: float | None
    sli_1h: float | None
    burn_rate: float | None
    budget_remaining: float | None
    alerts_firing: tuple[FiringAlert, ...]


@dataclass(frozen=True)
class Sample:
    """One series of an instant query result: its labels and value."""

    labels: Mapping[str, str]
    value: float


def parse_vector(body: Mapping[str, Any]) -> list[Sample]:
    """Samples of a Prometheus ``/api/v1/query`` answer (a vector); LabError on anything else."""
    data = body.get("data") or {}
    if body.get("status") != "success" or data.get("resultType") != "vector":
        raise LabError(f"unexpected Prometheus answer: {body.get('error') or body}")
    return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]


def _key(labels: Mapping[str, str]) -> Key | None:
    service, slo = labels.get(LABEL_SERVICE), labels.get(LABEL_SLO)
    return (service, slo) if service and slo else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def build_rows(columns: Mapping[str, list[Sample]], alerts: list[Sample]) -> list[SloRow]:
    """The SLO table from the column queries' samples and the firing ALERTS series."""
    values: dict[str, dict[Key, float | None]] = {}
    for column, samples in columns.items():
        values[column] = {}
        for sample in samples:
            key = _key(sample.labels)
            if key is not None:
                values[column][key] = _finite(sample.value)
    firing: dict[Key, set[FiringAlert]] = {}
    for sample in alerts:
        key = _key(sample.labels)
        if key is not None:
            alert = FiringAlert(
                sample.labels.get("alertname", "?"), sample.labels.get(LABEL_SEVERITY, "?")
            )
            firing.setdefault(key, set()).add(alert)
    keys = sorted(set(values.get("objective", {})) | set(firing))
    return [
        SloRow(
            service=service,
            slo=slo,
            objective=values.get("objective", {}).get((service, slo)),
            sli_5m=values.get("sli_5m", {}).get((service, slo)),
            sli_1h=values.get("sli_1h", {}).get((service, slo)),
            burn_rate=values.get("burn_rate", {}).get((service, slo)),
            budget_remaining=values.get("budget_remaining", {}).get((service, slo)),
            alerts_firing=tuple(sorted(firing.get((service, slo), ()))),
        )
        for service, slo in keys
    ]


def query(client: httpx.Client, prometheus_url: str, expr: str) -> list[Sample]:
    """Run one instant query."""
    response = client.get(f"{prometheus_url}/api/v1/query", params={"query": expr})
    return parse_vector(response.json())


def slo_rows(client: httpx.Client, prometheus_url: str) -> list[SloRow]:
    """Query Prometheus for every column and build the table (LabError when unreachable)."""
    try:
        columns = {name: query(client, prometheus_url, expr) for name, expr in QUERIES.items()}
        alerts = query(client, prometheus_url, ALERTS_QUERY)
    except httpx.HTTPError as exc:
        raise LabError(f"Prometheus at {prometheus_url} did not answer: {exc}") from exc
    return build_rows(columns, alerts)


def other_alerts(client: httpx.Client, prometheus_url: str) -> list[OtherAlert]:
    """The firing alerts that are not about one SLO (LabError when Prometheus is unreachable)."""
    try:
        samples = query(client, prometheus_url, OTHER_ALERTS_QUERY)
    except httpx.HTTPError as exc:
        raise LabError(f"Prometheus at {prometheus_url} did not answer: {exc}") from exc
    return sorted(
        OtherAlert(
            sample.labels.get("alertname", "?"),
            sample.labels.get(LABEL_SEVERITY, "-"),
            tuple(sorted((k, v) for k, v in sample.labels.items() if k not in _SHARED_LABELS)),
        )
        for sample in samples
    )
