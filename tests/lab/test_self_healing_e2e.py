"""Self-healing end to end on real labs: Alertmanager's webhook reaches the remediator, which
scales out through the supervisor; the autoscaler scales out under `break --load-factor 4` and
back in after `heal`; a killed replica comes back; every decision is in `sre lab remediations`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lab.settings import Ports
from tests.lab.helpers import lab_ports, port_options, sre
from tests.waiting import poll_until

CAP = 240.0  # generous: a busy 2-core machine


def _until(condition: Callable[[], object], what: str, cap: float = CAP) -> object:
    return poll_until(what, condition, cap, tolerate=(httpx.HTTPError, ValueError, KeyError))


def _lab(tmp_path: Path, *options: str) -> Iterator[tuple[list[str], Ports]]:
    ports = lab_ports()
    run = ["--run-dir", str(tmp_path / "lab")]
    up = sre("lab", "up", *run, *port_options(ports), "--period", "1d", *options, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield run, ports
    finally:
        sre("lab", "down", *run, timeout=300)


@pytest.fixture
def manual_lab(tmp_path: Path) -> Iterator[tuple[list[str], Ports]]:
    """A lab whose autoscaler is off: only alerts make the remediator act."""
    yield from _lab(tmp_path, "--no-autoscale")


@pytest.fixture
def autoscaled_lab(tmp_path: Path) -> Iterator[tuple[list[str], Ports]]:
    """A lab whose autoscaler scales in soon after the load falls."""
    yield from _lab(tmp_path, "--scale-in-after", "5", "--scale-in-cooldown", "5")


def _client() -> httpx.Client:
    return httpx.Client(timeout=10, trust_env=False)


def _records(run: list[str]) -> list[dict[str, object]]:
    done = sre("lab", "remediations", *run, "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _desired(client: httpx.Client, ports: Ports) -> int:
    return int(client.get(f"http://127.0.0.1:{ports.supervisor}/capacity").json()["desired"])


def test_a_page_from_alertmanager_scales_out_through_the_supervisor(manual_lab) -> None:
    run, ports = manual_lab
    alert = {
        "labels": {
            "alertname": "ExchangeOrderExecutionLatency",
            "sloth_severity": "page",
            "sloth_service": "exchange",
            "sloth_slo": "order-execution-latency",
        },
        "startsAt": datetime.now(UTC).isoformat(),
    }
    with _client() as client:
        assert _desired(client, ports) == 3
        alertmanager = f"http://127.0.0.1:{ports.alertmanager}/api/v2/alerts"
        client.post(alertmanager, json=[alert]).raise_for_status()
        _until(lambda: _desired(client, ports) == 4, "the remediator to add a replica")
        records = _until(lambda: [r for r in _records(run) if r["outcome"] == "acted"], "audit")
        acted = records[0]
        assert acted["rule"] == "latency-page-scale-out"
        assert acted["result"]["before"] == 3 and acted["result"]["after"] == 4
        # The fourth replica serves: Prometheus discovers it, the load generator sends to it.
        query = f"http://127.0.0.1:{ports.prometheus}/api/v1/query"

        def scraped() -> bool:
            answer = client.get(query, params={"query": 'count(up{job="exchange"} == 1)'})
            result = answer.json()["data"]["result"]
            return bool(result) and result[0]["value"][1] == "4"

        _until(scraped, "Prometheus to scrape 4 exchange replicas")
        loadgen = f"http://127.0.0.1:{ports.loadgen}/metrics"
        _until(lambda: "lab_loadgen_targets 4.0" in client.get(loadgen).text, "4 targets")
        # A crashed replica is back in service (the supervisor), found by its port.
        port = client.get(f"http://127.0.0.1:{ports.supervisor}/replicas").json()[0]["port"]
        assert sre("lab", "break", *run, "--kill-replica", "1").returncode == 0

        def back() -> bool:
            answer = client.get(f"http://127.0.0.1:{ports.supervisor}/replicas").json()[0]
            healthy = client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            return answer["restarts"] >= 1 and healthy

        _until(back, "replica 1 to be restarted and answer")
    assert _desired(httpx.Client(trust_env=False), ports) == 4  # nothing else acted
    shown = sre("lab", "remediations", *run)
    assert shown.returncode == 0 and "latency-page-scale-out" in shown.stdout


def test_the_autoscaler_follows_a_load_spike_out_and_back_in(autoscaled_lab) -> None:
    run, ports = autoscaled_lab
    with _client() as client:
        broke = sre("lab", "break", *run, "--load-factor", "4")
        assert broke.returncode == 0 and "80 orders/s" in broke.stdout, broke.stderr
        _until(lambda: _desired(client, ports) > 3, "the autoscaler to scale out")
        healed = sre("lab", "heal", *run)
        assert healed.returncode == 0 and "back to 20 orders/s" in healed.stdout, healed.stderr
        _until(lambda: _desired(client, ports) == 3, "the autoscaler to scale back in", cap=400)
    records = [r for r in _records(run) if r["rule"] == "autoscaler:target-tracking"]
    kinds = [r["action"]["type"] for r in records]
    assert kinds[0] == "scale_out" and "scale_in" in kinds, kinds
    assert all(r["outcome"] == "acted" for r in records)
    # Scale-in is conservative: one replica at a time.
    steps = [
        r["result"]["before"] - r["result"]["after"]
        for r in records
        if r["action"]["type"] == "scale_in"
    ]
    assert set(steps) == {1}
