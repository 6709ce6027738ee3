"""A real Prometheus scraping a small exporter of the exchange's metrics, with the rules compiled
from slo_specs/: orders have traffic (and a few errors), broker logins have none.

The exporter (prometheus-client, on 127.0.0.1, in the test process) computes each counter from
the time since it started, so rates are exact and nothing runs in the background. The login
counters exist at zero and never grow: the login SLO's ratios are 0/0 = NaN, the case Sloth's
dashboards show as NaN (its issue #196).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from alerting import compile_specs, merge_rule_files
from sre_platform.tools import find_tool
from tests.waiting import poll_until as wait_for

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "slo_specs"
STARTUP_CAP = 60.0
DATA_CAP = 120.0
T = TypeVar("T")

ORDERS_OK_PER_SECOND = 100.0
ORDERS_5XX_PER_SECOND = 0.05
EXECUTIONS_PER_SECOND = 100.0
BUCKETS = (("0.01", 0.6), ("0.04", 0.995), ("0.16", 1.0), ("+Inf", 1.0))


class ExchangeCollector(Collector):
    """The exchange's metrics as a function of time: orders flow, logins never happen."""

    def __init__(self) -> None:
        self.started = time.time()

    def collect(self):  # type: ignore[no-untyped-def]
        elapsed = time.time() - self.started
        requests = CounterMetricFamily(
            "exchange_http_requests", "Requests.", labels=["route", "method", "code"]
        )
        requests.add_metric(["/orders", "POST", "201"], ORDERS_OK_PER_SECOND * elapsed)
        requests.add_metric(["/orders", "POST", "500"], ORDERS_5XX_PER_SECOND * elapsed)
        requests.add_metric(["/login", "POST", "200"], 0.0)
        requests.add_metric(["/login", "POST", "500"], 0.0)
        yield requests
        count = EXECUTIONS_PER_SECOND * elapsed
        yield HistogramMetricFamily(
            "order_execution_seconds",
            "Execution.",
            buckets=[(le, share * count) for le, share in BUCKETS],
            sum_value=0.01 * count,
        )
        yield CounterMetricFamily("exchange_orders_placed", "Placed.", value=count)
        yield CounterMetricFamily("exchange_orders_failed", "Failed.", value=0.0)
        restarts = CounterMetricFamily("lab_supervisor_restarts", "Restarts.", labels=["replica"])
        restarts.add_metric(["1"], 0.0)
        yield restarts


def instant(url: str, query: str) -> list[dict[str, object]]:
    """The result of an instant query (a list of samples)."""
    answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=10, trust_env=False)
    answer.raise_for_status()
    result: list[dict[str, object]] = answer.json()["data"]["result"]
    return result


def _listening(log: Path, process: subprocess.Popen[bytes]) -> str | None:
    if process.poll() is not None:
        raise AssertionError(f"prometheus exited:\n{log.read_text()[-2000:]}")
    match = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)', log.read_text())
    return f"http://{match.group(1)}" if match else None


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def exchange_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus (1 s scrapes and rule evaluations) over the exporter, once the SLO series of
    both kinds are there: the orders' burn rate is a number, the logins' SLI is NaN."""
    root = tmp_path_factory.mktemp("dashboards-prometheus")
    registry = CollectorRegistry()
    registry.register(ExchangeCollector())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    target = f"127.0.0.1:{server.server_port}"
    rules = root / "rules.yaml"
    rules.write_text(merge_rule_files(compile_specs([SPECS], period="30d")), encoding="utf-8")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "exchange", "static_configs": [{"targets": [target]}]},
            {"job_name": "lab-supervisor", "static_configs": [{"targets": [target]}]},
        ],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    log = root / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                find_tool("prometheus"),
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                "--web.listen-address=127.0.0.1:0",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        url = wait_for("prometheus to listen", lambda: _listening(log, process), STARTUP_CAP)
        wait_for("prometheus to be ready", lambda: _ready(url), STARTUP_CAP)
        wait_for(
            "the orders' burn rate",
            lambda: instant(
                url, 'slo:current_burn_rate:ratio{sloth_slo="order-api-availability"} > 0'
            ),
            DATA_CAP,
        )
        wait_for(
            "the logins' NaN SLI",
            lambda: instant(
                url,
                'slo:period_burn_rate:ratio{sloth_slo="broker-login-availability"}'
                ' != slo:period_burn_rate:ratio{sloth_slo="broker-login-availability"}',
            ),
            DATA_CAP,
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        server.shutdown()
        thread.join(timeout=5)
