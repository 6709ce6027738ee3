"""Shared helpers of the alerting tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sre_platform.tools import find_tool

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"

SPEC_HEAD = """\
version: prometheus/v1
service: exchange
slos:
"""


def write_spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> Path:
    """Write a spec file whose SLO list is ``body`` (already indented under ``slos:``)."""
    path = tmp_path / name
    path.write_text(SPEC_HEAD + body, encoding="utf-8")
    return path


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args`` and return the finished process."""
    return subprocess.run(
        [find_tool("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_sre(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the `sre` console script's entry point with ``args`` from ``cwd``, as a user does."""
    return subprocess.run(
        [sys.executable, "-c", "from sre_platform.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
