"""Sloth's Kubernetes CRD: ``apiVersion: sloth.slok.dev/v1``, ``kind: PrometheusServiceLevel``.

Its ``spec`` is prometheus/v1 with Kubernetes' camelCase names (github.com/slok/sloth v0.16.0,
pkg/kubernetes/api/sloth/v1/types.go): ``errorQuery``, ``totalQuery``, ``errorRatioQuery``,
``pageAlert``, ``ticketAlert``, ``sloPlugins``; there is no ``version``, no per-SLO period and
none of this project's extensions (the API server prunes fields its schema does not have). The
spec is renamed into the prometheus/v1 shape and checked by the same code; problems name the
CRD's own fields. A prometheus/v1 spelling in a CRD (``page_alert``) is an unknown field there,
as Sloth's Kubernetes decoder drops it.

The info series says ``sloth_spec: sloth.slok.dev/v1`` and ``sloth_mode: cli-gen-k8s``, as
Sloth's CLI writes (pkg/lib/gen.go, GenerateFromK8sV1).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting import names
from alerting.formats import Translation
from alerting.spec import Text

# CRD name -> prometheus/v1 name, by the mapping each appears in.
_SERVICE_KEYS = {"sloPlugins": "slo_plugins"}
_RAW_KEYS = {"errorRatioQuery": "error_ratio_query"}
_EVENTS_KEYS = {"errorQuery": "error_query", "totalQuery": "total_query"}
_ALERTING_KEYS = {"pageAlert": "page_alert", "ticketAlert": "ticket_alert"}
_TO_CRD = {
    v1: crd
    for table in (_SERVICE_KEYS, _RAW_KEYS, _EVENTS_KEYS, _ALERTING_KEYS)
    for crd, v1 in table.items()
}
# prometheus/v1 names that a CRD does not have: kept as unknown fields, marked so that they
# cannot pass for the prometheus/v1 field of the same name.
_NOT_IN_CRD = {*_TO_CRD, "version", "period", "latency"}
_MARK = "\x00"
_SEGMENT = re.compile(r"([^.\[\]]+)")


class KubernetesMeta(BaseModel):
    """The object's metadata; Kubernetes' other ObjectMeta fields (uid, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    namespace: str | None = None
    labels: dict[str, Text] = Field(default_factory=dict)
    annotations: dict[str, Text] = Field(default_factory=dict)


class PrometheusServiceLevel(BaseModel):
    """The whole CRD object; ``spec`` is checked as prometheus/v1 after renaming."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    apiVersion: Literal["sloth.slok.dev/v1"]
    kind: Literal["PrometheusServiceLevel"]
    metadata: KubernetesMeta
    spec: dict[str, Any]
    status: dict[str, Any] | None = None  # written by Sloth's controller, not read


def translate(parsed: PrometheusServiceLevel) -> Translation:
    """The prometheus/v1 shape of a parsed CRD's spec."""
    document = {"version": names.SPEC_VERSION, **_renamed(parsed.spec, _SERVICE_KEYS)}
    slos = document.get("slos")
    if isinstance(slos, list):
        document["slos"] = [_slo(slo) for slo in slos]
    return Translation(
        document,
        spec_version=names.SPEC_KUBERNETES,
        generator_mode=names.GENERATOR_MODE_KUBERNETES,
        service_field=lambda path: f"spec.{crd_path(path)}",
        slo_field=crd_path,
        vocabulary=lambda name: None if name in ("period", "latency") else _TO_CRD.get(name, name),
        why_unknown=why_unknown,
    )


_EXTENSIONS = {
    "latency": "latency SLIs are",
    "period": "a per-SLO period is",
}


def why_unknown(name: str) -> str | None:
    """Why a prometheus/v1 field is unknown in a CRD (``latency``, ``period``, ``version``)."""
    name = name.removesuffix(_MARK)
    if name in _EXTENSIONS:
        return (
            f"{_EXTENSIONS[name]} an extension of sre-platform's prometheus/v1 specs, which "
            "Sloth's CRD does not have (its API server would drop it): write this SLO as a "
            "prometheus/v1 spec"
        )
    if name == "version":
        return "a CRD has no version: its apiVersion says it"
    return None


def crd_path(path: str) -> str:
    """A prometheus/v1 field path in the CRD's names (``page_alert`` -> ``pageAlert``)."""

    def name(match: re.Match[str]) -> str:
        segment = match.group(1)
        if segment.endswith(_MARK):
            return segment.removesuffix(_MARK)
        return _TO_CRD.get(segment, segment)

    return _SEGMENT.sub(name, path)


def _renamed(mapping: Any, table: dict[str, str]) -> Any:
    if not isinstance(mapping, dict):
        return mapping
    renamed = {}
    for key, value in mapping.items():
        if key in table:
            renamed[table[key]] = value
        elif isinstance(key, str) and key in _NOT_IN_CRD:
            renamed[key + _MARK] = value
        else:
            renamed[key] = value
    return renamed


def _slo(slo: Any) -> Any:
    slo = _renamed(slo, {})
    if not isinstance(slo, dict):
        return slo
    sli = _renamed(slo.get("sli"), {})
    if isinstance(sli, dict):
        if "raw" in sli:
            sli["raw"] = _renamed(sli["raw"], _RAW_KEYS)
        if "events" in sli:
            sli["events"] = _renamed(sli["events"], _EVENTS_KEYS)
        slo["sli"] = sli
    alerting = _renamed(slo.get("alerting"), _ALERTING_KEYS)
    if isinstance(alerting, dict):
        for key in ("page_alert", "ticket_alert"):
            if key in alerting:
                alerting[key] = _renamed(alerting[key], {})
        slo["alerting"] = alerting
    return slo
