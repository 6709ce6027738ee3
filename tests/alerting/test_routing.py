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
from lab.procs import free_port
from sre_platform.tools import find_tool


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


def test_a_ticket_is_inhibited_while_the_same_slo_pages(alertmanager: tuple[str, list]) -> None:
    url, received = alertmanager
    common = {"alertname": "OrdersAvailability", "sloth_service": "exchange"}
    alerts = [
        {
            "labels": {
                **common,
                "sloth_slo": "orders",
                "sloth_id": "exchange-orders",
                "sloth_severity": "page",
            }
        },
        {
            "labels": {
                **common,
                "sloth_slo": "orders",
                "sloth_id": "exchange-orders",
                "sloth_severity": "ticket",
            }
        },
        {
            "labels": {
                **common,
                "sloth_slo": "login",
                "sloth_id": "exchange-login",
                "sloth_severity": "ticket",
            }
        },
    ]
    assert httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5).status_code == 200
    deadline = time.monotonic() + 30  # group_wait is 5 s in the lab timing
    while time.monotonic() < deadline and len(received) < 2:
        time.sleep(0.5)
    time.sleep(2)  # room for a notification that must not come
    delivered = sorted(
        (path, alert["labels"]["sloth_slo"]) for path, body in received for alert in body["alerts"]
    )
    assert delivered == [("/page", "orders"), ("/ticket", "login")]
