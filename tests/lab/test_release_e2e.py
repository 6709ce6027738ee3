"""Safe releases for real: `sre lab deploy` on a running lab (real replicas, supervisor, load
generator, Prometheus, Alertmanager, remediator), canary and blue/green, promoted and rolled
back.

One lab serves the whole module (a 30-day period, as `make up`); each test leaves it on one
version. Caps are generous bounds for a busy machine, not timings under test. The bad canary
runs once the lab is five minutes old: in a younger lab every SLO window covers only the lab's
own minutes, so a handful of errors reads as a fast burn (docs/releases.md says why).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab import control, release
from lab.release import EXIT_ROLLED_BACK
from lab.settings import Ports
from tests import waiting
from tests.lab.helpers import lab_ports, port_options, sre

pytestmark = pytest.mark.e2e

UP_CAP = 240.0
DEPLOY_CAP = 900.0
TRAFFIC_CAP = 180.0
AGE_CAP = 420.0
MATURE_SECONDS = 300.0

# `sre lab status` costs a process start: poll every 2 s.
poll_until = functools.partial(waiting.poll_until, every=2.0)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Ports]]:
    run_dir = tmp_path_factory.mktemp("release") / "lab"
    ports = lab_ports()
    up = sre("lab", "up", "--run-dir", str(run_dir), *port_options(ports), timeout=UP_CAP)
    assert up.returncode == 0, up.stderr
    try:
        poll_until("orders in Prometheus", lambda: _orders_seen(ports), TRAFFIC_CAP)
        yield run_dir, ports
    finally:
        sre("lab", "down", "--run-dir", str(run_dir), timeout=UP_CAP)


def _query(ports: Ports, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"http://127.0.0.1:{ports.prometheus}/api/v1/query", params={"query": expr}, timeout=10
    )
    return list(answer.json()["data"]["result"])


def _orders_seen(ports: Ports) -> bool:
    try:
        found = _query(ports, 'sum(increase(order_execution_seconds_count{job="exchange"}[1m]))')
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return bool(found) and float(found[0]["value"][1]) > 0


def _deploy(run_dir: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = sre("lab", "deploy", "--run-dir", str(run_dir), "--json", *args, timeout=DEPLOY_CAP)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _versions(run_dir: Path) -> dict[str, str | None]:
    status = sre("lab", "status", "--run-dir", str(run_dir), "--json")
    processes = json.loads(status.stdout)["processes"]
    return {p["name"]: p["version"] for p in processes if p["name"].startswith("replica-")}


def _page_firing(ports: Ports, alertname: str) -> bool:
    expr = f'ALERTS{{alertname="{alertname}",alertstate="firing",sloth_severity="page"}}'
    return bool(_query(ports, expr))


def test_a_good_canary_is_promoted_to_every_replica(lab: tuple[Path, Ports]) -> None:
    run_dir, ports = lab
    assert set(_versions(run_dir).values()) == {"v1"}
    code, result, stderr = _deploy(run_dir, "--version", "v2")
    assert code == 0, (result["reason"], stderr)
    assert result["outcome"] == "promoted"
    versions = _versions(run_dir)
    assert len(versions) >= 3 and set(versions.values()) == {"v2"}, versions
    last = result["looks"][-1]
    assert min(last["errors"]["canary"]["total"], last["errors"]["baseline"]["total"]) >= 50
    assert result["analysis_seconds"] >= 30  # the bake time
    assert {b["slo"] for b in result["budget"]} == {
        "order-api-availability",
        "order-execution-latency",
    }
    # the release is an event Prometheus shows
    poll_until(
        "the promoted event in Prometheus",
        lambda: _query(ports, 'lab_release_events_total{version="v2",outcome="promoted"}'),
        60,
    )


def test_blue_green_switches_and_switches_back(lab: tuple[Path, Ports]) -> None:
    run_dir, _ = lab
    before = sre("lab", "status", "--run-dir", str(run_dir), "--json")
    blue_urls = {
        p["url"] for p in json.loads(before.stdout)["processes"] if p["name"].startswith("replica-")
    }
    # a green build 60 ms slower on every order: switched to, measured, switched back
    code, result, stderr = _deploy(
        run_dir, "--version", "v3", "--strategy", "blue-green", "--inject", "latency-ms=60"
    )
    assert code == EXIT_ROLLED_BACK, (result["reason"], stderr)
    assert result["looks"][-1]["latency"]["regressed"]
    status = json.loads(sre("lab", "status", "--run-dir", str(run_dir), "--json").stdout)
    replicas = [p for p in status["processes"] if p["name"].startswith("replica-")]
    assert {p["version"] for p in replicas} == {"v2"}
    # blue kept its replicas (the autoscaler may have added one since, on the fleet's build)
    assert blue_urls <= {p["url"] for p in replicas}
    # a good green: switched to, promoted, blue stopped
    code, result, stderr = _deploy(run_dir, "--version", "v4", "--strategy", "blue-green")
    assert code == 0, (result["reason"], stderr)
    status = json.loads(sre("lab", "status", "--run-dir", str(run_dir), "--json").stdout)
    replicas = [p for p in status["processes"] if p["name"].startswith("replica-")]
    assert len(replicas) >= 3 and {p["version"] for p in replicas} == {"v4"}
    assert not {p["url"] for p in replicas} & blue_urls  # green's own replicas took over
    assert all(p["alive"] and p["healthy"] for p in replicas)


def test_a_bad_canary_is_rolled_back_before_the_page(lab: tuple[Path, Ports]) -> None:
    run_dir, ports = lab
    poll_until(
        "a lab five minutes old",
        lambda: (control.status(run_dir).age_seconds or 0) >= MATURE_SECONDS,
        AGE_CAP,
        every=5,
    )
    before = set(_versions(run_dir).values())
    assert len(before) == 1
    code, result, stderr = _deploy(run_dir, "--version", "v5", "--inject", "error-rate=0.2")
    assert code == EXIT_ROLLED_BACK, (result["reason"], stderr)
    assert result["outcome"] == "rolled_back"
    assert result["looks"][-1]["errors"]["regressed"]
    assert result["pages_fired"] == []
    assert set(_versions(run_dir).values()) == before
    assert not _page_firing(ports, "ExchangeOrderAPIAvailability")


def test_rollback_entry_point_reverts_a_promoted_release(lab: tuple[Path, Ports]) -> None:
    run_dir, _ = lab
    state = release.read_state(run_dir)
    assert state["state"] == "rolled_back" and state["current"] == "v4"
    code, result, stderr = _deploy(run_dir, "--version", "v6")
    assert code == 0, (result["reason"], stderr)
    done = release.rollback(run_dir)
    assert (done.changed, done.before, done.after) == (True, "v6", "v4")
    assert set(_versions(run_dir).values()) == {"v4"}
    again = release.rollback(run_dir)
    assert not again.changed
