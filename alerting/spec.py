"""Versioned spec models: Sloth's ``prometheus/v1`` format field for field, plus extensions.

These pydantic models only describe the shape of a file (``extra="forbid"``: a typo is an
error, never a silently ignored field). Semantic checks live in ``alerting.validation`` and the
frozen domain model in ``alerting.model``.

Extensions over Sloth, each documented in docs/slo-specs.md:
- ``sli.latency``: a latency SLI from a histogram and a threshold in seconds;
- ``period``: a per-SLO period such as ``7d`` (Sloth only has a CLI-wide period).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

# YAML 1.2 (Sloth's and Prometheus's YAML) reads 1e-3 as a number; PyYAML, a YAML 1.1 reader,
# leaves a number without a dot as text.
_EXPONENT_NUMBER = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def yaml12_number(value: object) -> object:
    """``value`` as a float when it is text a YAML 1.2 reader takes as a number (1e-3)."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value):
        return float(value)
    return value


# As Sloth's Go structs read them: a number must be a YAML number (``true`` or ``"99.9"`` is
# refused, never read as 1 or 99.9), a flag a YAML boolean.
Number = Annotated[float, Strict(), BeforeValidator(yaml12_number)]
Flag = Annotated[bool, Strict()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class AlertSpec(_Strict):
    """One of the two alerts of an SLO (``page_alert`` or ``ticket_alert``)."""

    disable: Flag = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class AlertingSpec(_Strict):
    """The ``alerting`` block: shared name, labels and annotations, and the two alerts."""

    name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: AlertSpec = Field(default_factory=AlertSpec)
    ticket_alert: AlertSpec = Field(default_factory=AlertSpec)


class EventsSLISpec(_Strict):
    """Error and total event queries, each holding the ``{{.window}}`` placeholder."""

    error_query: str
    total_query: str


class RawSLISpec(_Strict):
    """A query that already returns the error ratio over ``{{.window}}``."""

    error_ratio_query: str


class LatencySLISpec(_Strict):
    """Extension: bad events are requests slower than ``threshold`` seconds in a histogram."""

    histogram: str
    selector: str = ""
    threshold: Number


class SLISpec(_Strict):
    """Exactly one SLI kind must be set; ``plugin`` is Sloth's and refused here."""

    events: EventsSLISpec | None = None
    raw: RawSLISpec | None = None
    latency: LatencySLISpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_plugins(cls, data: object) -> object:
        if isinstance(data, dict) and "plugin" in data:
            raise ValueError(
                "Sloth SLI plugins are not supported: declare the SLI as events, raw or latency"
            )
        return data


class SLOSpec(_Strict):
    """One SLO of a service."""

    name: str
    objective: Number
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    sli: SLISpec
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    period: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_plugins(cls, data: object) -> object:
        return _refuse_slo_plugins(data)


class ServiceSpec(_Strict):
    """A ``prometheus/v1`` document: one service and its SLOs."""

    version: Literal["prometheus/v1"]
    service: str
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SLOSpec]

    @model_validator(mode="before")
    @classmethod
    def _refuse_plugins(cls, data: object) -> object:
        return _refuse_slo_plugins(data)


def _refuse_slo_plugins(data: object) -> object:
    if isinstance(data, dict) and "slo_plugins" in data:
        raise ValueError("Sloth slo_plugins are not supported: remove the slo_plugins block")
    return data
