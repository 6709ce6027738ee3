"""Shared helpers of the lab tests: free ports, the `sre` command, required tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from lab.procs import free_port
from lab.settings import Ports

ROOT = Path(__file__).resolve().parents[2]
SRE = str(Path(sys.executable).parent / "sre")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def lab_ports(replicas: int = 3) -> Ports:
    """A full set of free lab ports."""
    p = free_ports(8 + replicas)
    return Ports(
        prometheus=p[0],
        alertmanager=p[1],
        node_exporter=p[2],
        supervisor=p[3],
        receiver=p[4],
        loadgen=p[5],
        dashboard=p[6],
        remediator=p[7],
        service=tuple(p[8:]),
    )


def port_options(ports: Ports) -> list[str]:
    """The `sre lab up` options that select ``ports``."""
    return [
        "--prometheus-port", str(ports.prometheus),
        "--alertmanager-port", str(ports.alertmanager),
        "--node-exporter-port", str(ports.node_exporter),
        "--supervisor-port", str(ports.supervisor),
        "--receiver-port", str(ports.receiver),
        "--loadgen-port", str(ports.loadgen),
        "--dashboard-port", str(ports.dashboard),
        "--remediator-port", str(ports.remediator),
        "--replicas", str(len(ports.service)),
        "--service-ports", ",".join(str(port) for port in ports.service),
    ]  # fmt: skip


def sre(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the `sre` console script from the project root."""
    return subprocess.run(
        [SRE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def require(tool: str) -> str:
    """The path of ``tool``; the test fails (not skips) when it is missing."""
    found = shutil.which(tool)
    assert found, f"{tool} is needed by this test: run `make install`"
    return found
