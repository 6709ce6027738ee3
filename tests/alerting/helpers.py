"""Shared helpers of the alerting tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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


def promtool() -> str:
    """Path of promtool; skip the test where it is not installed."""
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is not installed: run `make install`")
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args`` and return the finished process."""
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
