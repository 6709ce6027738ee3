"""A real Prometheus on loopback whose TSDB holds Sloth series for services in known states.

The history is written as OpenMetrics text and turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics` before Prometheus starts. Samples run every
minute from two hours before the test session to two hours after it: an instant query at
"now" always finds a sample less than a minute old (well inside Prometheus' 5m lookback),
however long the session runs, and nothing has to pass an explicit query time. Values are
constant per series, so every expected tier is exact.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alerting.names import (
    CURRENT_BURN_RATE,
    LABEL_ID,
    LABEL_SERVICE,
    LABEL_SLO,
    LABEL_WINDOW,
    OBJECTIVE,
    PERIOD_BUDGET_REMAINING,
    TIME_PERIOD_DAYS,
    sli_error_record,
)

STARTUP_TIMEOUT_SECONDS = 60
HISTORY_SECONDS = 2 * 3600
STEP_SECONDS = 60
NAN = float("nan")


@dataclass(frozen=True)
class SloState:
    """The values one SLO's Sloth series hold throughout the history (objective 99.9%)."""

    service: str
    slo: str
    budget_remaining: float
    burn_rate: float
    error_1d: float
    objective: float = 0.999

    @property
    def series(self) -> dict[str, tuple[dict[str, str], float]]:
        labels = {
            LABEL_ID: f"{self.service}-{self.slo}",
            LABEL_SERVICE: self.service,
            LABEL_SLO: self.slo,
        }
        error_5m = self.burn_rate * (1 - self.objective)
        errors = {"5m": error_5m, "30m": error_5m, "1h": error_5m, "1d": self.error_1d}
        out = {
            OBJECTIVE: (labels, self.objective),
            TIME_PERIOD_DAYS: (labels, 30.0),
            PERIOD_BUDGET_REMAINING: (labels, self.budget_remaining),
            CURRENT_BURN_RATE: (labels, self.burn_rate),
        }
        for window, value in errors.items():
            out[sli_error_record(window)] = ({**labels, LABEL_WINDOW: window}, value)
        return out


# Four services in the states the gate must tell apart, and one SLO without traffic (its
# ratios are 0/0 = NaN, as Prometheus records them).
STATES = (
    SloState("healthy", "availability", budget_remaining=0.9, burn_rate=0.5, error_1d=0.0003),
    SloState("caution", "availability", budget_remaining=0.35, burn_rate=1.2, error_1d=0.001),
    SloState("fast-burning", "availability", budget_remaining=0.8, burn_rate=20, error_1d=0.003),
    SloState("exhausted", "latency", budget_remaining=0.7, burn_rate=0.8, error_1d=0.0008),
    SloState("exhausted", "availability", budget_remaining=-0.2, burn_rate=3, error_1d=0.008),
    SloState("silent", "availability", budget_remaining=NAN, burn_rate=NAN, error_1d=NAN),
)


def openmetrics(states: tuple[SloState, ...], now: int) -> str:
    """Return OpenMetrics text with every series of ``states`` from now-2h to now+2h."""
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    for state in states:
        for name, series in state.series.items():
            families.setdefault(name, []).append(series)
    stamps = range(now - HISTORY_SECONDS, now + HISTORY_SECONDS, STEP_SECONDS)
    lines = []
    for name, members in families.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, value in members:
            selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
            text = "NaN" if math.isnan(value) else repr(value)
            lines += [f"{name}{{{selector}}} {text} {stamp}" for stamp in stamps]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make install` (Debian package prometheus)")
    return path


def _wait_for_address(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    pattern = re.compile(r'msg="Listening on" address=(127\.0\.0\.1:\d+)')
    while time.monotonic() < deadline:
        match = pattern.search(log.read_text(encoding="utf-8", errors="replace"))
        if match:
            return f"http://{match.group(1)}"
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"prometheus did not start listening:\n{log.read_text()[-2000:]}")


def _wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"prometheus at {url} did not become ready")


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Prometheus on 127.0.0.1 (a port it picks) over the backfilled TSDB; stop it after."""
    promtool, prometheus = _tool("promtool"), _tool("prometheus")
    root = tmp_path_factory.mktemp("budget-prometheus")
    data, history = root / "data", root / "history.om"
    history.write_text(openmetrics(STATES, int(time.time())), encoding="utf-8")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(history), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
    log = root / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--web.listen-address=127.0.0.1:0",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_for_address(log, process)
        _wait_until_ready(url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
