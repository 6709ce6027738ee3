"""Fixtures of the lab tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
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


@pytest.fixture(autouse=True)
def no_process_left_behind(tmp_path: Path) -> Iterator[None]:
    """After each lab test, stop whatever that test started and left running.

    Lab tests start processes in sessions of their own (as `up` does), so a test that fails
    half-way would leave them running for the rest of the suite. A process is this test's only
    when its command line, working folder or environment names the test's own tmp_path.
    """
    yield
    mine = str(tmp_path)
    leftovers = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid():
                continue
            places = [*proc.cmdline(), proc.cwd(), *proc.environ().values()]
        except (psutil.Error, OSError):
            continue
        if any(f"{mine}{os.sep}" in place or place.endswith(mine) for place in places):
            leftovers.append(proc)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=30)
