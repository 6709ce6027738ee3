"""Spec files written on the fly for the dashboard tests, and walks over dashboard models."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from alerting.loader import load_specs
from alerting.model import SLO

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "slo_specs"
GOLDEN = Path(__file__).with_name("golden")


def spec_document(service: str, slos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A prometheus/v1 document: each item gives name, and optionally objective, period,
    description, runbook."""
    return {
        "version": "prometheus/v1",
        "service": service,
        "slos": [
            {
                "name": item["name"],
                "objective": item.get("objective", 99.9),
                "description": item.get("description", f"{item['name']} of {service}."),
                **({"period": item["period"]} if "period" in item else {}),
                "sli": {
                    "events": {
                        "error_query": f'sum(rate(http_total{{svc="{service}",code=~"5.."}}'
                        "[{{.window}}]))",
                        "total_query": f'sum(rate(http_total{{svc="{service}"}}[{{{{.window}}}}]))',
                    }
                },
                "alerting": {
                    "name": "Burn",
                    "annotations": {"runbook_url": item.get("runbook", "runbooks/x.md")},
                },
            }
            for item in slos
        ],
    }


def write_spec(path: Path, *documents: dict[str, Any]) -> Path:
    """Write ``documents`` as one YAML file."""
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return path


def slos_of(path: Path, period: str = "30d") -> list[SLO]:
    """The SLOs of a spec file or folder."""
    return [slo for spec_file in load_specs([path], period) for slo in spec_file.slos]


def all_panels(model: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel of a dashboard, rows and their nested panels included."""
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def all_targets(model: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Every (panel, target) of a dashboard."""
    for panel in all_panels(model):
        for target in panel.get("targets", []):
            yield panel, target
