"""Fixtures of the lab tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.settings import Binaries, LabConfig, find_tool
from tests.lab.helpers import ROOT, lab_ports


@pytest.fixture
def lab_config(tmp_path: Path) -> LabConfig:
    """A lab configuration on free ports in a temporary run directory (tools must exist)."""
    return LabConfig(
        run_dir=tmp_path / "lab",
        ports=lab_ports(),
        binaries=Binaries(
            prometheus=find_tool("prometheus"),
            alertmanager=find_tool("alertmanager"),
            node_exporter=find_tool("node_exporter"),
        ),
        specs=(ROOT / "slo_specs",),
    )
