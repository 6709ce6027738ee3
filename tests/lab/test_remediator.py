"""The remediator's webhook over real HTTP, acting through a real supervisor (sleeper
replicas): a bad payload answers 400 naming the field and nothing acts nor is audited; a good
one scales out (so the bad cases could fail)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from lab.remediator import AUDIT_FILE, STATE_FILE, Remediator, SupervisorActuator
from lab.supervisor import Supervisor
from remediation.policy import load_policy

POLICY = Path(__file__).resolve().parents[2] / "ops" / "remediation.yaml"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def _alert(**changes: object) -> dict[str, object]:
    alert: dict[str, object] = {
        "status": "firing",
        "labels": {
            "alertname": "ExchangeOrderExecutionLatency",
            "sloth_severity": "page",
            "sloth_service": "exchange",
        },
        "annotations": {},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "a1b2c3",
    }
    alert.update(changes)
    return alert


def _payload(*alerts: dict[str, object], **changes: object) -> dict[str, object]:
    payload: dict[str, object] = {"version": "4", "status": "firing", "alerts": list(alerts)}
    payload.update(changes)
    return payload


def _run(tmp_path: Path, body: Callable[[TestClient, Supervisor], Awaitable[None]]) -> None:
    """A supervisor of 3 sleeper replicas and a remediator (no autoscaler) acting on it."""
    ports = iter(range(20001, 20100))
    supervisor = Supervisor(
        lambda index, port: SLEEPER,
        [10001, 10002, 10003],
        tmp_path / "logs",
        CollectorRegistry(),
        max_replicas=6,
        new_port=lambda: next(ports),
    )

    async def main() -> None:
        async with TestServer(supervisor.app()) as server:
            actuator = SupervisorActuator(
                str(server.make_url("")).rstrip("/"), "http://127.0.0.1:9", tmp_path
            )
            remediator = Remediator(
                load_policy(POLICY), actuator, tmp_path, None, CollectorRegistry()
            )
            async with TestClient(TestServer(remediator.app())) as client:
                await body(client, supervisor)

    asyncio.run(main())


# (sentence id, request body, the field the error must name)
BAD = [
    ("not JSON", b"{alerts", "not JSON"),
    ("not UTF-8", b"\xff\xfe", "not JSON"),
    ("a list, not an object", b"[]", "payload"),
    ("another webhook version", json.dumps(_payload(_alert(), version="3")), "version"),
    ("alerts missing", json.dumps({"version": "4"}), "alerts"),
    (
        "an alert without its fingerprint",
        json.dumps(_payload(_alert(fingerprint=""))),
        "alerts[0].fingerprint",
    ),
    (
        "an alert neither firing nor resolved",
        json.dumps(_payload(_alert(status="on"))),
        "alerts[0].status",
    ),
    (
        "a start that is not a time",
        json.dumps(_payload(_alert(startsAt="9:15"))),
        "alerts[0].startsAt",
    ),
    (
        "labels that are not text",
        json.dumps(_payload(_alert(labels={"alertname": 1}))),
        "alerts[0].labels",
    ),
    (
        "one bad alert among good ones acts on none",
        json.dumps(_payload(_alert(), _alert(fingerprint="x", status=None))),
        "alerts[1].status",
    ),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_webhook_is_refused_naming_the_field_and_nothing_acts(
    tmp_path: Path, body: str | bytes, field: str
) -> None:
    async def check(client: TestClient, supervisor: Supervisor) -> None:
        answer = await client.post(
            "/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status == 400
        message = json.loads(await answer.text())["error"]
        assert field in message, message
        assert len(supervisor.replicas) == 3

    _run(tmp_path, check)
    assert not (tmp_path / AUDIT_FILE).exists() or (tmp_path / AUDIT_FILE).read_text() == ""
    assert not (tmp_path / STATE_FILE).exists()  # no budget reserved either


def test_a_good_webhook_scales_out_and_is_audited(tmp_path: Path) -> None:
    async def check(client: TestClient, supervisor: Supervisor) -> None:
        answer = await client.post("/webhook", json=_payload(_alert()))
        assert answer.status == 200, await answer.text()
        [record] = await answer.json()
        assert (record["outcome"], record["rule"]) == ("acted", "latency-page-scale-out")
        assert len(supervisor.replicas) == 4

    _run(tmp_path, check)
    [line] = (tmp_path / AUDIT_FILE).read_text().splitlines()
    assert json.loads(line)["result"]["after"] == 4
