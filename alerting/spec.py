"""Versioned spec models: Sloth's ``prometheus/v1`` format field for field, plus extensions.

These pydantic models only describe the shape of a file (``extra="forbid"``: a typo is an
error, never a silently ignored field). Semantic checks live in ``alerting.validation`` and the
frozen domain model in ``alerting.model``.

Extensions over Sloth, each documented in docs/slo-specs.md:
- ``sli.latency``: a latency SLI from a histogram and a threshold in seconds;
- ``period``: a per-SLO period such as ``7d`` (Sloth only has a CLI-wide period).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class AlertSpec(_Strict):
    """One of the two alerts of an SLO (``page_alert`` or ``ticket_alert``)."""

    disable: bool = False
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
    threshold: float


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
    objective: float
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
