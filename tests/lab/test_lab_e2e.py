"""The whole lab for real: up, rules loaded, break, the page arrives, heal, it resolves, down.

Real Prometheus, Alertmanager, node_exporter, service replicas, supervisor, receiver and load
generator, on free loopback ports in a temporary run directory. The rules use a 1-day period
so that the page also resolves within minutes (its windows are 1m/2m and 1m/12m); the time
caps below are generous bounds, not timings under test, and the tests pass with four CPU-bound
processes sharing the machine's two cores. No fault is shorter than a cold `sre` needs under
such load (FAULT_SECONDS).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from alerting.names import GROUP_ALERTS, LABEL_SEVERITY, LABEL_SLO, SEVERITY_PAGE
from lab import control, procs, settings
from lab.notifications import Notification
from lab.settings import Ports
from tests import waiting
from tests.lab.helpers import ROOT, lab_ports, port_options, sre

SLO = "order-api-availability"
SPEC = yaml.safe_load((ROOT / "slo_specs" / "exchange.yaml").read_text())
ALERTNAME = next(s for s in SPEC["slos"] if s["name"] == SLO)["alerting"]["name"]
SLO_ID = f"{SPEC['service']}-{SLO}"

PAGE_CAP = 240.0
RESOLVE_CAP = 300.0
DATA_CAP = 120.0
STATE_CAP = 120.0
FAULT_SECONDS = 20  # a cold `sre` takes a few seconds on a loaded machine; this leaves room

pytestmark = pytest.mark.e2e

# `sre lab status` costs a process start: poll every 2 s.
poll_until = functools.partial(waiting.poll_until, every=2.0)


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
    records = procs.read_records(run_dir).records
    pids = {record.pid for record in records}
    for record in records:
        pids.update(procs.group_members(record.pid))
    return pids


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10, trust_env=False, follow_redirects=True)


@pytest.fixture
def running_lab(tmp_path: Path) -> Iterator[tuple[Path, Ports]]:
    run_dir, ports = tmp_path / "lab", lab_ports()
    try:
        result = sre(
            "lab", "up", "--run-dir", str(run_dir), "--period", "1d", "--order-rate", "20",
            *port_options(ports),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "starting receiver" in result.stderr, "up shows its progress"
        yield run_dir, ports
    finally:
        control.down(run_dir)


def test_a_total_outage_pages_and_healing_resolves_it(running_lab: tuple[Path, Ports]) -> None:
    run_dir, ports = running_lab
    prometheus = f"http://127.0.0.1:{ports.prometheus}"

    again = sre("lab", "up", "--run-dir", str(run_dir), "--json")
    assert again.returncode == 0, again.stderr
    up = json.loads(again.stdout)
    assert up["already_running"] and up["period"] == "1d" and up["differences"] == []
    for name, url in up["links"].items():
        assert _get(url).status_code == 200, f"the {name} link {url} does not work"
    assert "/classic/" in up["links"]["alerts"] or _get(f"{prometheus}/alerts").is_success

    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10, trust_env=False).json()
    groups = rules["data"]["groups"]
    alert_group = next(g for g in groups if g["name"] == f"{GROUP_ALERTS}{SLO_ID}")
    paging = [r for r in alert_group["rules"] if r["labels"].get(LABEL_SEVERITY) == SEVERITY_PAGE]
    assert [r["name"] for r in paging] == [ALERTNAME]

    status = _status(run_dir)
    assert status["prometheus_url"] == prometheus
    assert status["alertmanager_url"] == f"http://127.0.0.1:{ports.alertmanager}"
    assert status["period"] == "1d" and 0 <= status["age_seconds"] < 3600
    assert all(p["alive"] and p["healthy"] for p in status["processes"]), status["processes"]
    poll_until("traffic in the SLI", lambda: _has_traffic(run_dir), DATA_CAP)

    broken = sre("lab", "break", "--error-rate", "1", "--run-dir", str(run_dir))
    assert broken.returncode == 0, broken.stderr
    assert "replica 1: error rate 100%, extra latency 0 ms, until healed" in broken.stdout
    page = poll_until("the page", lambda: _page(_notified(run_dir), "firing"), PAGE_CAP)
    assert page.labels["sloth_slo"] == SLO
    row = _slo_row(run_dir)
    assert row is not None
    assert {"alertname": ALERTNAME, "severity": SEVERITY_PAGE} in row["alerts_firing"]
    assert row["burn_rate"] > 14.4
    table = sre("lab", "status", "--run-dir", str(run_dir))
    assert "SLOs of exchange" in table.stdout and SLO in table.stdout, table.stdout
    assert "page" in table.stdout, table.stdout
    assert "period 1d, up" in table.stdout, table.stdout

    # The notification as recorded, whole, with links that open from this machine.
    whole = sre("lab", "notifications", "--json", "--run-dir", str(run_dir))
    records = [json.loads(line) for line in whole.stdout.splitlines()]
    record = next(r for r in records if r["commonLabels"].get("alertname") == ALERTNAME)
    assert record["externalURL"].startswith(f"http://127.0.0.1:{ports.alertmanager}")
    (alert,) = record["alerts"]
    assert alert["annotations"]["runbook_url"]
    assert alert["generatorURL"].startswith(f"{prometheus}/graph?g0.expr=")
    assert _get(alert["generatorURL"]).status_code == 200, "the alert's link does not open"

    healed = sre("lab", "heal", "--run-dir", str(run_dir))
    assert healed.returncode == 0, healed.stderr
    assert "replica 1: fault cleared (was error rate 100%" in healed.stdout
    poll_until("the page resolved", lambda: _page(_notified(run_dir), "resolved"), RESOLVE_CAP)

    shown = sre("lab", "notifications", "--run-dir", str(run_dir))
    assert "resolved" in shown.stdout and ALERTNAME in shown.stdout, shown.stdout

    # An unclean stop of one part: the next `down` cleans it up and leaves nothing behind.
    pids = _all_pids(run_dir)
    assert len(pids) >= 6 + len(ports.service)
    prom = next(r for r in procs.read_records(run_dir).records if r.name == "prometheus")
    os.kill(prom.pid, signal.SIGKILL)
    down = sre("lab", "down", "--run-dir", str(run_dir))
    assert down.returncode == 0, down.stderr
    assert "cleaned up prometheus, left over" in down.stdout, down.stdout
    assert [pid for pid in pids if _running(pid)] == []
    assert (run_dir / "data" / "prometheus").is_dir(), "a stopped lab keeps its data"

    nothing = sre("lab", "down", "--run-dir", str(run_dir))
    assert nothing.returncode == 0 and "no lab is running" in nothing.stdout


def _lab_alert(run_dir: Path, alertname: str, status: str, **labels: str) -> Notification | None:
    """The first notification of the lab's own alert ``alertname`` in ``status``."""
    for item in _notified(run_dir):
        if (
            item.status == status
            and item.alertname == alertname
            and all(item.labels.get(key) == value for key, value in labels.items())
        ):
            return item
    return None


def _notified(run_dir: Path) -> list[Notification]:
    return list(control.notifications(run_dir).notifications)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


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
    assert "replica 2: crashed; held down for 1h" in killed.stdout, killed.stdout
    poll_until("replica 2 down", lambda: not _replica(run_dir, 2)["running"], STATE_CAP, every=0.5)
    status = sre("lab", "status", "--json", "--run-dir", str(run_dir))
    assert status.returncode == 0, "a replica held down by a game-day fault is as expected"
    down = next(p for p in json.loads(status.stdout)["processes"] if p["name"] == "replica-2")
    assert (down["alive"], down["healthy"]) == (False, False)
    assert 0 < down["held_seconds_left"] <= 3600

    # The replica's own metrics cannot count what it never answered: the lab's alerts see it
    # from the supervisor (a ticket for the cause) and from the clients (a page for the symptom).
    ticket = poll_until(
        "the replica-down ticket",
        lambda: _lab_alert(run_dir, "ExchangeReplicaDown", "firing", replica="2"),
        PAGE_CAP,
    )
    assert ticket.receiver == "ticket" and ticket.labels["source"] == "lab"
    page = poll_until(
        "the client-errors page",
        lambda: _lab_alert(run_dir, "ExchangeClientErrors", "firing"),
        PAGE_CAP,
    )
    assert page.receiver == "page"
    shown = sre("lab", "status", "--run-dir", str(run_dir))
    assert "firing: ExchangeReplicaDown (ticket, replica=2)" in shown.stdout, shown.stdout
    others = _status(run_dir)["other_alerts"]
    assert {"alertname": "ExchangeClientErrors", "severity": "page", "labels": []} in others

    healed = sre("lab", "heal", "--run-dir", str(run_dir))
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "replica 2: restarted" in healed.stdout, healed.stdout
    back = _replica(run_dir, 2)
    assert back["running"] and back["pid"] != before and back["restarts"] == 1
    shown = next(p for p in _status(run_dir)["processes"] if p["name"] == "replica-2")
    assert (shown["alive"], shown["healthy"], shown["restarts"]) == (True, True, 1)

    # A process down that no fault holds down is not as expected: status exits 1.
    loadgen = next(r for r in procs.read_records(run_dir).records if r.name == "loadgen")
    os.kill(loadgen.pid, signal.SIGKILL)
    poll_until("the load generator gone", lambda: not _running(loadgen.pid), STATE_CAP, every=0.5)
    unexpected = sre("lab", "status", "--json", "--run-dir", str(run_dir))
    assert unexpected.returncode == 1, unexpected.stdout
    shown = next(p for p in json.loads(unexpected.stdout)["processes"] if p["name"] == "loadgen")
    assert shown["alive"] is False


def test_a_timed_latency_fault_ends_by_itself(running_lab: tuple[Path, Ports]) -> None:
    run_dir, _ = running_lab
    slow = sre(
        "lab", "break", "--latency-ms", "80", "--for", f"{FAULT_SECONDS}s", "--json",
        "--run-dir", str(run_dir),
    )  # fmt: skip
    assert slow.returncode == 0, slow.stderr
    replicas = json.loads(slow.stdout)["replicas"]
    assert len(replicas) == 3, "every replica has the fault"
    for replica in replicas:
        fault = replica["fault"]
        assert fault["latency_ms"] == 80 and 0 < fault["seconds_left"] <= FAULT_SECONDS
    poll_until("the fault's end", lambda: _status(run_dir)["faults"] == [], STATE_CAP, every=1)


def test_down_stops_a_lab_whose_state_files_are_damaged_and_nothing_else(
    running_lab: tuple[Path, Ports], tmp_path: Path
) -> None:
    """Every pid file damaged or lost, lab.json garbage: `down` still stops the whole lab, frees
    its ports, and leaves alone processes that only look related (a reused pid, the run
    directory in a command line, the run directory as working directory or in the environment).
    """
    run_dir, ports = running_lab
    lab_pids = _all_pids(run_dir)
    assert len(lab_pids) >= 6 + len(ports.service)
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    bystanders = [
        subprocess.Popen(sleep, start_new_session=True),
        subprocess.Popen([*sleep, str(run_dir / "logs" / "x")], start_new_session=True),
        subprocess.Popen(sleep, start_new_session=True, cwd=run_dir),
        subprocess.Popen(
            sleep, start_new_session=True, env={**os.environ, procs.RUN_DIR_MARKER: str(run_dir)}
        ),
    ]
    try:
        reused = bystanders[0].pid
        node = next(r for r in procs.read_records(run_dir).records if r.name == "node_exporter")
        damage = {
            "receiver": b"{not json",
            "supervisor": b"\xff\xfe\x00 not UTF-8",
            "prometheus": json.dumps({**json.loads(node.model_dump_json()), "pid": 0}).encode(),
            "alertmanager": b"",
            "node_exporter": json.dumps(
                {**json.loads(node.model_dump_json()), "pid": reused}
            ).encode(),
        }
        for name, content in damage.items():
            procs.pid_file(run_dir, name).write_bytes(content)
        procs.pid_file(run_dir, "loadgen").unlink()
        (run_dir / settings.STATE_FILE).write_bytes(b"garbage")

        down = sre("lab", "down", "--run-dir", str(run_dir))

        assert down.returncode == 0, down.stdout + down.stderr
        for name in ("receiver", "supervisor", "prometheus", "alertmanager"):
            assert str(procs.pid_file(run_dir, name)) in down.stderr, down.stderr
        assert str(run_dir / settings.STATE_FILE) in down.stderr, down.stderr
        poll_until("every lab process gone", lambda: not any(map(_running, lab_pids)), STATE_CAP)
        assert [p for p in ports.all().values() if not procs.port_is_free(p)] == []
        assert [b.pid for b in bystanders if b.poll() is not None] == [], "a bystander was hit"
    finally:
        for bystander in bystanders:
            bystander.kill()
            bystander.wait()
