"""Shared helpers of the alerting tests."""

from __future__ import annotations

import subprocess
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
