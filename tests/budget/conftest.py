"""A real Prometheus on loopback whose TSDB holds Sloth series for services in known states.

The history is written as OpenMetrics text and turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics` before Prometheus starts. Samples run every
minute from two hours before the test session to two hours after it: an instant query at
"now" always finds a sample less than a minute old (well inside Prometheus' 5m lookback),
however long the session runs, and nothing has to pass an explicit query time. Values are
constant per series, so every expected tier is exact.
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from alerting import compile_specs, merge_rule_files
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
from sre_platform.tools import find_tool

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


@contextlib.contextmanager
def running_prometheus(root: Path, history: str, rules: str | None = None) -> Iterator[str]:
    """Backfill ``history`` (OpenMetrics) into a fresh TSDB under ``root``, start Prometheus on
    127.0.0.1 (a port it picks itself) with ``rules`` evaluated every second, and stop it after.
    """
    promtool, prometheus = find_tool("promtool"), find_tool("prometheus")
    data, history_file = root / "data", root / "history.om"
    history_file.write_text(history, encoding="utf-8")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(history_file), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = {"global": {"scrape_interval": "1m", "evaluation_interval": "1s"}}
    if rules is not None:
        (root / "rules.yaml").write_text(rules, encoding="utf-8")
        config["rule_files"] = [str(root / "rules.yaml")]
    (root / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    log = root / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={root / 'prometheus.yml'}",
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


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus holding the Sloth series of ``STATES``."""
    root = tmp_path_factory.mktemp("budget-prometheus")
    with running_prometheus(root, openmetrics(STATES, int(time.time()))) as url:
        yield url


# The demo exchange under a bad release: 5 of every 105 order requests fail (99.9% objective,
# so the budget burns ~48x); logins and order latency are perfect.
EXCHANGE_COUNTERS = {
    'job="exchange",route="/orders",method="POST",code="200"': 100.0,
    'job="exchange",route="/orders",method="POST",code="500"': 5.0,
    'job="exchange",route="/login",method="POST",code="200"': 20.0,
    # Exported from the start at zero: without any 5xx series, Sloth's error_query is an empty
    # vector, the SLI has no series at all, and the policy treats the SLO as missing data.
    'job="exchange",route="/login",method="POST",code="500"': 0.0,
}
EXCHANGE_ORDERS_PER_SECOND = 50.0


def exchange_openmetrics(now: int) -> str:
    """Return OpenMetrics text with the exchange's raw request counters and latency histogram,
    the metrics slo_specs/exchange.yaml measures, every minute from now-2h up to ``now``.

    Unlike the recorded series above these stop at ``now``: Prometheus refuses to append rule
    results older than its newest block ("out of bounds"). Its rules record fresh samples every
    second from then on; only the 5m rates need raw samples, and those last ~4 minutes, far
    longer than the test that uses them."""
    start = now - HISTORY_SECONDS
    stamps = range(start, now + 1, STEP_SECONDS)
    lines = ["# TYPE exchange_http_requests counter"]
    for labels, rate in EXCHANGE_COUNTERS.items():
        lines += [
            f"exchange_http_requests_total{{{labels}}} {rate * (t - start)} {t}" for t in stamps
        ]
    lines.append("# TYPE order_execution_seconds histogram")
    for t in stamps:
        count = EXCHANGE_ORDERS_PER_SECOND * (t - start)
        lines += [
            f'order_execution_seconds_bucket{{job="exchange",le="0.04"}} {count} {t}',
            f'order_execution_seconds_bucket{{job="exchange",le="+Inf"}} {count} {t}',
            f'order_execution_seconds_count{{job="exchange"}} {count} {t}',
            f'order_execution_seconds_sum{{job="exchange"}} {count * 0.01} {t}',
        ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _wait_for_series(url: str, query: str, count: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        result = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
        if len(result["data"]["result"]) >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{query} did not reach {count} series in {STARTUP_TIMEOUT_SECONDS}s")


@pytest.fixture(scope="session")
def exchange_prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus evaluating the rules compiled from slo_specs/ over the exchange's raw metrics."""
    specs = Path(__file__).resolve().parents[2] / "slo_specs"
    rules = merge_rule_files(compile_specs([specs], period="30d"))
    root = tmp_path_factory.mktemp("budget-exchange")
    with running_prometheus(root, exchange_openmetrics(int(time.time())), rules) as url:
        _wait_for_series(url, f"{PERIOD_BUDGET_REMAINING} >= -inf", 3)
        yield url
