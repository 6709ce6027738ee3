"""Input formats: which one a YAML document is written in, and how names map to prometheus/v1.

Every document is detected on its own, as Sloth does (a file may mix formats):
- ``version: prometheus/v1``: Sloth's spec, the project's own format;
- ``apiVersion: openslo/v1alpha``, ``kind: SLO``: OpenSLO (``alerting.openslo``);
- ``apiVersion: sloth.slok.dev/v1``, ``kind: PrometheusServiceLevel``: Sloth's Kubernetes CRD
  (``alerting.crd``).
The other formats are translated into the prometheus/v1 shape and checked by the same code;
a ``Translation`` maps the field names of any problem back to the document's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerting import names
from sre_platform.errors import Problem

PROMETHEUS_V1 = "prometheus/v1"
OPENSLO = "openslo/v1alpha SLO"
KUBERNETES = "sloth.slok.dev/v1 PrometheusServiceLevel"
SUPPORTED = (
    "version: prometheus/v1, apiVersion: openslo/v1alpha with kind: SLO, "
    "apiVersion: sloth.slok.dev/v1 with kind: PrometheusServiceLevel"
)
ALERT_WINDOWS_KIND = "AlertWindows"

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``pageAlert`` -> ``page_alert`` (names already in snake case stay as they are)."""
    return _CAMEL.sub(r"_\1", name).lower()


@dataclass(frozen=True)
class Translation:
    """A document in the prometheus/v1 shape, and how to name its fields in the original."""

    document: dict[str, Any] | None  # None: the document cannot be read as an SLO spec
    problems: list[Problem] = field(default_factory=list)  # found while translating
    spec_version: str = names.SPEC_VERSION
    generator_mode: str = names.GENERATOR_MODE
    # A prometheus/v1 field path (no SLO, or relative to the SLO) -> the document's own path.
    service_field: Callable[[str], str] = str
    slo_field: Callable[[str], str] = str
    # A prometheus/v1 field name -> its name in this format (None: the format has no such field).
    vocabulary: Callable[[str], str | None] = str
    # An unknown field's name -> why this format has no such field (None: nothing to add).
    why_unknown: Callable[[str], str | None] = lambda name: None


def detect(document: Mapping[str, Any]) -> str | None:
    """The format of a spec document (PROMETHEUS_V1, OPENSLO, KUBERNETES), None if unknown.

    A document without ``version`` nor ``apiVersion`` that holds ``service`` or ``slos`` is
    read as prometheus/v1, so a forgotten ``version:`` is named as a missing field.
    """
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if "version" in document or (
        api_version is None and kind is None and ("service" in document or "slos" in document)
    ):
        return PROMETHEUS_V1 if document.get("version") == PROMETHEUS_V1 else None
    if api_version == names.SPEC_OPENSLO and kind == "SLO":
        return OPENSLO
    if api_version == names.SPEC_KUBERNETES and kind == "PrometheusServiceLevel":
        return KUBERNETES
    return None


def unsupported(document: Mapping[str, Any]) -> Problem:
    """The problem of a document in no supported format, naming what it is."""
    if "version" in document:
        found = f"version {_shown(document.get('version'))}"
        field_name = "version"
    elif "apiVersion" in document or "kind" in document:
        found = f"{_shown(document.get('apiVersion'))}/{_shown(document.get('kind'))}"
        field_name = "apiVersion"
        if document.get("kind") == ALERT_WINDOWS_KIND:
            return Problem(
                f"unsupported spec format: {found} is a file of alert windows, not SLOs: "
                "give its folder with --windows-path",
                field=field_name,
            )
    else:
        found = "no version, apiVersion or kind"
        field_name = None
    return Problem(f"unsupported spec format: {found}; supported: {SUPPORTED}", field=field_name)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
