"""The whole lab for real: up, rules loaded, break, the page arrives, heal, it resolves, down.

Real Prometheus, Alertmanager, node_exporter, service replicas, supervisor, receiver and load
generator, on free loopback ports in a temporary run directory. The rules use a 1-day period
so that the page also resolves within minutes (its windows are 1m/2m and 1m/12m); the time
caps below are generous bounds, not timings under test.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerting.names import GROUP_ALERTS, LABEL_SEVERITY, LABEL_SLO, SEVERITY_PAGE
from lab import control, procs, settings
from lab.notifications import Notification
from lab.settings import Ports
from tests.lab.helpers import ROOT, lab_ports, port_options, sre

SLO = "order-api-availability"
SPEC = yaml.safe_load((ROOT / "slo_specs" / "exchange.yaml").read_text())
ALERTNAME = next(s for s in SPEC["slos"] if s["name"] == SLO)["alerting"]["name"]
SLO_ID = f"{SPEC['service']}-{SLO}"

PAGE_CAP = 240.0
RESOLVE_CAP = 300.0
DATA_CAP = 90.0

pytestmark = pytest.mark.e2e


def _wait_for(what: str, check: Callable[[], Any], cap: float, every: float = 2.0) -> Any:
    deadline = time.monotonic() + cap
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not seen within {cap:.0f}s"
        time.sleep(every)


def _page(notifications: list[Notification], status: str) -> Notification | None:
    for item in notifications:
        labels = item.labels
        if (
            item.receiver == "page"
            and item.status == status
            and labels.get("alertname") == ALERTNAME
            and labels.get(LABEL_SEVERITY) == SEVERITY_PAGE
            and labels.get(LABEL_SLO) == SLO
        ):
            return item
    return None


def _status(run_dir: Path) -> dict[str, Any]:
    result = sre("lab", "status", "--json", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def _slo_row(run_dir: Path) -> dict[str, Any] | None:
    """The order API SLO's status row; None until Prometheus has recorded its first series."""
    return next((row for row in _status(run_dir)["slos"] if row["slo"] == SLO), None)


def _has_traffic(run_dir: Path) -> bool:
    row = _slo_row(run_dir)
    return row is not None and row["sli_5m"] is not None


def _all_pids(run_dir: Path) -> set[int]:
    pids = {record.pid for record in procs.read_records(run_dir)}
    for record in procs.read_records(run_dir):
        pids.update(procs.group_members(record.pid))
    return pids


@pytest.fixture
def running_lab(tmp_path: Path) -> Iterator[tuple[Path, Ports]]:
    run_dir, ports = tmp_path / "lab", lab_ports()
    try:
        result = sre(
            "lab", "up", "--run-dir", str(run_dir), "--period", "1d", "--order-rate", "20",
            *port_options(ports),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        yield run_dir, ports
    finally:
        control.down(run_dir)


def test_a_total_outage_pages_and_healing_resolves_it(running_lab: tuple[Path, Ports]) -> None:
    run_dir, ports = running_lab
    prometheus = f"http://127.0.0.1:{ports.prometheus}"

    again = sre("lab", "up", "--run-dir", str(run_dir), *port_options(ports))
    assert again.returncode == 0 and "already running" in again.stdout

    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10, trust_env=False).json()
    groups = rules["data"]["groups"]
    alert_group = next(g for g in groups if g["name"] == f"{GROUP_ALERTS}{SLO_ID}")
    paging = [r for r in alert_group["rules"] if r["labels"].get(LABEL_SEVERITY) == SEVERITY_PAGE]
    assert [r["name"] for r in paging] == [ALERTNAME]

    status = _status(run_dir)
    assert status["prometheus_url"] == prometheus
    assert status["alertmanager_url"] == f"http://127.0.0.1:{ports.alertmanager}"
    assert all(p["alive"] and p["healthy"] for p in status["processes"]), status["processes"]
    _wait_for("traffic in the SLI", lambda: _has_traffic(run_dir), DATA_CAP)

    broken = sre("lab", "break", "--error-rate", "1", "--run-dir", str(run_dir))
    assert broken.returncode == 0, broken.stderr
    page = _wait_for("the page", lambda: _page(control.notifications(run_dir), "firing"), PAGE_CAP)
    assert page.labels["sloth_slo"] == SLO
    row = _slo_row(run_dir)
    assert row is not None
    assert {"alertname": ALERTNAME, "severity": SEVERITY_PAGE} in row["alerts_firing"]
    assert row["burn_rate"] > 14.4
    table = sre("lab", "status", "--run-dir", str(run_dir))
    assert "SLOs of exchange" in table.stdout and SLO in table.stdout, table.stdout
    assert "page" in table.stdout, table.stdout

    healed = sre("lab", "heal", "--run-dir", str(run_dir))
    assert healed.returncode == 0, healed.stderr
    _wait_for(
        "the page resolved",
        lambda: _page(control.notifications(run_dir), "resolved"),
        RESOLVE_CAP,
    )

    shown = sre("lab", "notifications", "--run-dir", str(run_dir))
    assert "resolved" in shown.stdout and ALERTNAME in shown.stdout, shown.stdout

    # An unclean stop of one part: the next `down` cleans it up and leaves nothing behind.
    pids = _all_pids(run_dir)
    assert len(pids) >= 6 + len(ports.service)
    prom = next(r for r in procs.read_records(run_dir) if r.name == "prometheus")
    os.kill(prom.pid, signal.SIGKILL)
    down = sre("lab", "down", "--run-dir", str(run_dir))
    assert down.returncode == 0, down.stderr
    assert "uncleanly: prometheus" in down.stdout, down.stdout
    assert [pid for pid in pids if _running(pid)] == []
    assert (run_dir / "data" / "prometheus").is_dir(), "a stopped lab keeps its data"

    nothing = sre("lab", "down", "--run-dir", str(run_dir))
    assert nothing.returncode == 0 and "no lab is running" in nothing.stdout


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _replica(run_dir: Path, index: int) -> dict[str, Any]:
    config = settings.load(run_dir)
    assert config is not None
    replicas = httpx.get(f"{config.url('supervisor')}/replicas", timeout=5, trust_env=False).json()
    replica: dict[str, Any] = replicas[index - 1]
    return replica


def test_a_killed_replica_stays_down_for_its_hold_and_heal_brings_it_back(
    running_lab: tuple[Path, Ports],
) -> None:
    run_dir, _ = running_lab
    before = _replica(run_dir, 2)["pid"]

    killed = sre("lab", "break", "--kill-replica", "2", "--for", "1h", "--run-dir", str(run_dir))
    assert killed.returncode == 0, killed.stderr
    _wait_for("replica 2 down", lambda: not _replica(run_dir, 2)["running"], 30, every=0.5)
    status = sre("lab", "status", "--json", "--run-dir", str(run_dir))
    assert status.returncode == 1, "a lab with a replica down is not fully running"
    down = next(p for p in json.loads(status.stdout)["processes"] if p["name"] == "replica-2")
    assert (down["alive"], down["healthy"]) == (False, False)

    healed = sre("lab", "heal", "--run-dir", str(run_dir))
    assert healed.returncode == 0, healed.stdout + healed.stderr
    back = _replica(run_dir, 2)
    assert back["running"] and back["pid"] != before and back["restarts"] == 1
    shown = next(p for p in _status(run_dir)["processes"] if p["name"] == "replica-2")
    assert (shown["alive"], shown["healthy"], shown["restarts"]) == (True, True, 1)


def test_a_timed_latency_fault_ends_by_itself(running_lab: tuple[Path, Ports]) -> None:
    run_dir, _ = running_lab
    slow = sre("lab", "break", "--latency-ms", "80", "--for", "3s", "--run-dir", str(run_dir))
    assert slow.returncode == 0, slow.stderr
    assert len(_status(run_dir)["faults"]) == 3, "every replica has the fault"
    _wait_for("the fault's end", lambda: _status(run_dir)["faults"] == [], 30, every=1)
