"""Build every dashboard from the compiled SLOs: the one entry point of the package.

``build_dashboards`` turns validated SLOs into Grafana dashboard models (plain dicts of Grafana's
own JSON, schemaVersion from grafana-foundation-sdk); ``BuiltDashboard.json_text()`` is the
deterministic file form that `sre dashboards build` writes and the AMG stack declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from alerting.loader import DEFAULT_OPTIONS, LoadOptions, load_specs
from alerting.model import SLO
from dashboards import hosts, service, slo_detail, slo_overview
from dashboards.panels import DataSource

DEFAULT_DATASOURCE = DataSource()

__all__ = ["BuiltDashboard", "DataSource", "build_dashboards", "dashboards_from_specs"]


@dataclass(frozen=True)
class BuiltDashboard:
    """One dashboard: its file stem, stable uid, title and Grafana JSON model."""

    name: str
    uid: str
    title: str
    model: dict[str, Any]

    def json_text(self) -> str:
        """The model as deterministic JSON: sorted keys, 2-space indent, trailing newline."""
        return json.dumps(self.model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _model(builder: Dashboard) -> dict[str, Any]:
    """The SDK's dashboard as a plain dict of Grafana JSON."""
    text = JSONEncoder(sort_keys=True).encode(builder.build())
    model: dict[str, Any] = json.loads(text)
    return model


def _built(name: str, builder: Dashboard) -> BuiltDashboard:
    model = _model(builder)
    return BuiltDashboard(name=name, uid=model["uid"], title=model["title"], model=model)


def build_dashboards(
    slos: Sequence[SLO],
    period_seconds: int | None = None,
    datasource: DataSource = DEFAULT_DATASOURCE,
) -> list[BuiltDashboard]:
    """Every dashboard for ``slos``: SLO overview, SLO detail, exchange service, hosts.

    ``period_seconds`` is the time range of the period-wide panels (budget burn-down); by
    default the SLOs' own period when they share one, else the longest.
    """
    ordered = sorted(slos, key=lambda slo: (slo.service, slo.name))
    return [
        _built(slo_overview.NAME, slo_overview.build(len(ordered), datasource)),
        _built(slo_detail.NAME, slo_detail.build(ordered, period_seconds, datasource)),
        _built(service.NAME, service.build(ordered, datasource)),
        _built(hosts.NAME, hosts.build(datasource)),
    ]


def dashboards_from_specs(
    inputs: Iterable[str | Path],
    period: str = "30d",
    datasource: DataSource = DEFAULT_DATASOURCE,
    options: LoadOptions = DEFAULT_OPTIONS,
) -> list[BuiltDashboard]:
    """Load the spec files (raising SpecError naming file and field) and build the dashboards.

    ``options`` are the loader's (custom AlertWindows, unknown fields), as for `sre slo compile`.
    """
    files = load_specs(inputs, period, options=options)
    slos = [slo for spec_file in files for slo in spec_file.slos]
    return build_dashboards(slos, datasource=datasource)
