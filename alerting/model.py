"""The frozen domain model the generators work on. Nothing after the loader sees raw dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from alerting import names
from alerting.windows import WindowCatalog, catalog_for


def frozen_map(items: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Return a read-only, key-sorted copy of ``items``."""
    return MappingProxyType(dict(sorted((items or {}).items())))


@dataclass(frozen=True)
class EventsSLI:
    """Error and total event queries with the ``{{.window}}`` placeholder."""

    error_query: str
    total_query: str


@dataclass(frozen=True)
class RawSLI:
    """An error-ratio query with the ``{{.window}}`` placeholder."""

    error_ratio_query: str


@dataclass(frozen=True)
class LatencySLI:
    """Requests slower than ``threshold`` seconds, read from histogram ``histogram``."""

    histogram: str
    selector: str
    threshold: float


SLI = EventsSLI | RawSLI | LatencySLI


@dataclass(frozen=True)
class Alert:
    """One alert tier's settings (page or ticket)."""

    disabled: bool = False
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    annotations: Mapping[str, str] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class Alerting:
    """The SLO's alerting block, resolved."""

    name: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    page: Alert
    ticket: Alert


@dataclass(frozen=True)
class SLO:
    """One validated SLO, ready for generation.

    ``labels`` already merges the service labels, the SLO labels and any extra labels.
    """

    service: str
    name: str
    objective: float  # percent, e.g. 99.9
    description: str
    labels: Mapping[str, str]
    sli: SLI
    alerting: Alerting
    period_seconds: int
    source: str
    # Alert windows read from an AlertWindows file (--windows-path); None: the default catalog.
    windows: WindowCatalog | None = None
    # The format the SLO was read from, as the info series' sloth_spec and sloth_mode labels.
    spec_version: str = names.SPEC_VERSION
    generator_mode: str = names.GENERATOR_MODE

    @property
    def catalog(self) -> WindowCatalog:
        """The alert windows of this SLO: the custom ones when given, else its period's."""
        return self.windows if self.windows is not None else catalog_for(self.period_seconds)

    @property
    def id(self) -> str:
        """Sloth's SLO id: ``<service>-<name>``."""
        return f"{self.service}-{self.name}"

    @property
    def objective_ratio(self) -> float:
        """The objective as a ratio, computed as Sloth does (``99.9 / 100``)."""
        return self.objective / 100

    @property
    def error_budget_ratio(self) -> float:
        """The error budget as a ratio, computed as Sloth does (``(100 - 99.9) / 100``)."""
        return (100 - self.objective) / 100
