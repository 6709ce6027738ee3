"""The routing tree shared by AMP and the lab, checked by amtool and a real Alertmanager."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import yaml

from alerting.routing import (
    LAB_TIMING,
    alertmanager_config,
    render_alertmanager_config,
    render_amp_definition,
    sns_receiver,
    webhook_receiver,
)
from lab.configs import LAB_RULES_SOURCE
from lab.procs import free_port
from sre_platform.tools import find_tool
from tests.waiting import poll_until


def _lab_config(url: str) -> str:
    config = alertmanager_config(
        webhook_receiver(f"{url}/page"), webhook_receiver(f"{url}/ticket"), LAB_TIMING
    )
    return render_alertmanager_config(config)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(_lab_config("http://127.0.0.1:9"))
    return path


def test_amtool_accepts_the_lab_configuration(config_file: Path) -> None:
    result = subprocess.run(
        [find_tool("amtool"), "check-config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_amp_configuration(tmp_path: Path) -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:"
    definition = render_amp_definition(
        alertmanager_config(
            sns_receiver(arn + "page", "eu-west-1"), sns_receiver(arn + "ticket", "eu-west-1")
        )
    )
    inner = yaml.safe_load(definition)["alertmanager_config"]
    path = tmp_path / "amp.yml"
    path.write_text(inner)
    result = subprocess.run(
        [find_tool("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        pytest.param(
            ["sloth_severity=page", "sloth_slo=orders"],
            "page",
            id="a page goes to the page receiver",
        ),
        pytest.param(
            ["sloth_severity=ticket", "sloth_slo=orders"],
            "ticket",
            id="a ticket goes to the ticket receiver",
        ),
        pytest.param(
            ["alertname=Other"], "ticket", id="an alert without a severity becomes a ticket"
        ),
        pytest.param(
            ["alertname=ExchangeClientErrors", "sloth_severity=page", "source=lab"],
            "page",
            id="a lab page without an SLO goes to the page receiver",
        ),
        pytest.param(
            ["alertname=ExchangeReplicaDown", "sloth_severity=ticket", "source=lab"],
            "ticket",
            id="a lab ticket without an SLO goes to the ticket receiver",
        ),
    ],
)
def test_routes(config_file: Path, labels: list[str], receiver: str) -> None:
    result = subprocess.run(
        [find_tool("amtool"), "config", "routes", "test", f"--config.file={config_file}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == receiver, result.stderr


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    binary = find_tool("alertmanager")
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received = []
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    (tmp_path / "am.yml").write_text(_lab_config(f"http://127.0.0.1:{recorder.server_port}"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("alertmanager did not become ready in 30 s")
        yield url, _Recorder.received
    finally:
        process.terminate()
        process.wait(timeout=10)
        recorder.shutdown()


def _key(labels: dict[str, str]) -> str:
    return "/".join(labels.get(name, "") for name in ("alertname", "sloth_slo", "sloth_severity"))


def _states(url: str) -> dict[str, str]:
    """Alertmanager's own view of each alert: active, or suppressed (inhibited)."""
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {_key(alert["labels"]): alert["status"]["state"] for alert in alerts}


def _delivered(received: list[tuple[str, dict]]) -> list[tuple[str, str]]:
    return sorted((path, _key(a["labels"])) for path, body in received for a in body["alerts"])


def _slo_alert(slo: str, severity: str) -> dict:
    labels = {"alertname": f"Exchange-{slo}", "sloth_service": "exchange", "sloth_slo": slo}
    return {"labels": {**labels, "sloth_id": f"exchange-{slo}", "sloth_severity": severity}}


def _lab_alert(alertname: str, **extra: str) -> dict:
    """An alert as Prometheus sends it for ``alertname`` of the lab's rules file."""
    groups = yaml.safe_load(LAB_RULES_SOURCE.read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == alertname)
    return {"labels": {"alertname": alertname, **rule["labels"], **extra}}


def test_a_ticket_is_inhibited_while_the_same_slo_pages(alertmanager: tuple[str, list]) -> None:
    url, received = alertmanager
    alerts = [
        _slo_alert("orders", "page"),
        _slo_alert("orders", "ticket"),
        _slo_alert("login", "ticket"),
    ]
    assert httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5).status_code == 200
    expected = [
        ("/page", "Exchange-orders/orders/page"),
        ("/ticket", "Exchange-login/login/ticket"),
    ]
    poll_until(
        "the orders page and the login ticket", lambda: _delivered(received) == expected, 60.0
    )
    assert _states(url) == {
        "Exchange-orders/orders/page": "active",
        "Exchange-orders/orders/ticket": "suppressed",
        "Exchange-login/login/ticket": "active",
    }


def test_a_lab_page_inhibits_no_ticket(alertmanager: tuple[str, list]) -> None:
    """Lab alerts have no sloth_id: Alertmanager takes two missing labels as equal."""
    url, received = alertmanager
    alerts = [
        _lab_alert("ExchangeClientErrors", job="lab-loadgen"),
        _lab_alert("ExchangeReplicaDown", job="lab-supervisor", replica="2"),
        _slo_alert("login", "ticket"),
    ]
    assert httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5).status_code == 200
    expected = [
        ("/page", "ExchangeClientErrors//page"),
        ("/ticket", "Exchange-login/login/ticket"),
        ("/ticket", "ExchangeReplicaDown//ticket"),
    ]
    poll_until("the lab page and both tickets", lambda: _delivered(received) == expected, 60.0)
    assert set(_states(url).values()) == {"active"}, _states(url)
