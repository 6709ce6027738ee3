"""The demo exchange service: its metrics, read back from its own Prometheus registry."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from lab.service import (
    EXECUTION_BUCKETS,
    Exchange,
    ExchangeMetrics,
    Fault,
    FaultRequest,
    is_loopback,
    tracer_provider,
)

ORDER = {"symbol": "ACME", "side": "buy", "quantity": 10, "price": 101.5}
Steps = Callable[[TestClient], Awaitable[None]]


def _exchange() -> Exchange:
    return Exchange(
        ExchangeMetrics(CollectorRegistry()),
        TracerProvider().get_tracer("test"),
        rng=random.Random(7),
        execution_delay=lambda rng: 0.001,
    )


async def _login(client: TestClient) -> dict[str, str]:
    response = await client.post("/login", json={"user": "ada", "password": "pw"})
    assert response.status == 200
    return {"Authorization": f"Bearer {(await response.json())['token']}"}


def _run(exchange: Exchange, steps: Steps) -> None:
    async def main() -> None:
        async with TestClient(TestServer(exchange.app())) as client:
            await steps(client)

    asyncio.run(main())


@dataclass(frozen=True)
class Expect:
    """A sample name, its labels and the value the registry must hold after the steps."""

    name: str
    labels: dict[str, str]
    value: float


def _requests(route: str, method: str, code: str, value: float) -> Expect:
    labels = {"route": route, "method": method, "code": code}
    return Expect("exchange_http_requests_total", labels, value)


async def _place_one(client: TestClient) -> None:
    headers = await _login(client)
    assert (await client.post("/orders", json=ORDER, headers=headers)).status == 201


async def _place_invalid(client: TestClient) -> None:
    headers = await _login(client)
    body = {**ORDER, "quantity": 0}
    assert (await client.post("/orders", json=body, headers=headers)).status == 400


async def _place_anonymous(client: TestClient) -> None:
    assert (await client.post("/orders", json=ORDER)).status == 401


async def _place_while_failing(client: TestClient) -> None:
    headers = await _login(client)
    assert (await client.post("/admin/fault", json={"error_rate": 1})).status == 200
    assert (await client.post("/orders", json=ORDER, headers=headers)).status == 500


async def _place_while_slow(client: TestClient) -> None:
    headers = await _login(client)
    assert (await client.post("/admin/fault", json={"latency_ms": 60})).status == 200
    assert (await client.post("/orders", json=ORDER, headers=headers)).status == 201


async def _get_and_cancel(client: TestClient) -> None:
    headers = await _login(client)
    order = await (await client.post("/orders", json=ORDER, headers=headers)).json()
    assert (await client.get(f"/orders/{order['id']}", headers=headers)).status == 200
    assert (await client.delete(f"/orders/{order['id']}", headers=headers)).status == 200
    assert (await client.get("/orders/o-999", headers=headers)).status == 404


async def _heal_after_failure(client: TestClient) -> None:
    headers = await _login(client)
    await client.post("/admin/fault", json={"error_rate": 1})
    await client.delete("/admin/fault")
    assert (await client.post("/orders", json=ORDER, headers=headers)).status == 201


async def _operations_only(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/admin/fault")).status == 200


INSTRUMENTATION = [
    pytest.param(
        _place_one,
        [
            _requests("/orders", "POST", "201", 1),
            _requests("/login", "POST", "200", 1),
            Expect("order_execution_seconds_count", {}, 1),
            Expect("order_execution_seconds_bucket", {"le": "0.04"}, 1),
            Expect("exchange_orders_placed_total", {}, 1),
        ],
        id="a placed order counts a 201, one execution under 40 ms and one placed order",
    ),
    pytest.param(
        _place_invalid,
        [
            _requests("/orders", "POST", "400", 1),
            Expect("exchange_orders_rejected_total", {"reason": "invalid"}, 1),
            Expect("order_execution_seconds_count", {}, 0),
        ],
        id="an invalid order is a 400 and a rejection, and is never executed",
    ),
    pytest.param(
        _place_anonymous,
        [
            _requests("/orders", "POST", "401", 1),
            Expect("exchange_orders_rejected_total", {"reason": "unauthenticated"}, 1),
        ],
        id="an order without a login is a 401 and a rejection",
    ),
    pytest.param(
        _place_while_failing,
        [
            _requests("/orders", "POST", "500", 1),
            _requests("/orders", "POST", "201", 0),
            Expect("exchange_orders_failed_total", {}, 1),
            Expect("order_execution_seconds_count", {}, 1),
            Expect("exchange_fault_error_rate", {}, 1),
        ],
        id="an injected error rate of 1 fails the order with a 500 the SLI counts",
    ),
    pytest.param(
        _place_while_slow,
        [
            Expect("order_execution_seconds_bucket", {"le": "0.04"}, 0),
            Expect("order_execution_seconds_bucket", {"le": "0.08"}, 1),
            Expect("exchange_fault_latency_seconds", {}, 0.06),
        ],
        id="injected latency lands above the 40 ms bucket of the execution histogram",
    ),
    pytest.param(
        _get_and_cancel,
        [
            _requests("/orders/{order_id}", "GET", "200", 1),
            _requests("/orders/{order_id}", "GET", "404", 1),
            _requests("/orders/{order_id}", "DELETE", "200", 1),
            Expect("exchange_orders_cancelled_total", {}, 1),
        ],
        id="reads and cancels are counted by route template, not by order id",
    ),
    pytest.param(
        _heal_after_failure,
        [_requests("/orders", "POST", "201", 1), _requests("/orders", "POST", "500", 0)],
        id="clearing the fault makes orders succeed again",
    ),
    pytest.param(
        _operations_only,
        [
            _requests("/login", "POST", "500", 0),
            _requests("/orders", "POST", "500", 0),
            _requests("/orders/{order_id}", "GET", "500", 0),
            Expect("exchange_orders_failed_total", {}, 0),
        ],
        id="error series exist at zero before any request so error ratios read 0, not no data",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), INSTRUMENTATION)
def test_instrumentation(steps: Steps, expected: list[Expect]) -> None:
    exchange = _exchange()
    _run(exchange, steps)
    registry = exchange.metrics.registry
    for expect in expected:
        value = registry.get_sample_value(expect.name, expect.labels)
        assert value == pytest.approx(expect.value), (expect.name, expect.labels, value)


def test_health_and_admin_routes_are_not_counted_as_api_traffic() -> None:
    exchange = _exchange()
    _run(exchange, _operations_only)
    samples = exchange.metrics.registry.collect()
    routes = {
        sample.labels["route"]
        for metric in samples
        if metric.name == "exchange_http_requests"
        for sample in metric.samples
    }
    assert routes == {"/login", "/orders", "/orders/{order_id}"}


def test_the_execution_histogram_has_the_40ms_bucket_the_latency_slo_reads() -> None:
    assert 0.04 in EXECUTION_BUCKETS


def test_metrics_endpoint_exports_the_names_the_specs_read() -> None:
    texts: list[str] = []

    async def scrape(client: TestClient) -> None:
        await _place_one(client)
        texts.append(await (await client.get("/metrics")).text())

    _run(_exchange(), scrape)
    assert 'exchange_http_requests_total{code="201",method="POST",route="/orders"} 1.0' in texts[0]
    assert 'order_execution_seconds_bucket{le="0.04"} 1.0' in texts[0]


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        pytest.param("127.0.0.1", True, id="IPv4 loopback may use the admin API"),
        pytest.param("127.3.4.5", True, id="the whole 127/8 block is loopback"),
        pytest.param("::1", True, id="IPv6 loopback may use the admin API"),
        pytest.param("10.0.0.7", False, id="a private address may not"),
        pytest.param("192.168.1.20", False, id="a LAN address may not"),
        pytest.param(None, False, id="an unknown peer may not"),
        pytest.param("not-an-ip", False, id="garbage is refused"),
    ],
)
def test_admin_api_answers_loopback_only(remote: str | None, allowed: bool) -> None:
    assert is_loopback(remote) is allowed


def test_admin_api_refuses_a_remote_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test server listens on loopback; make every peer look remote.
    monkeypatch.setattr("lab.service.is_loopback", lambda remote: False)
    statuses: list[int] = []

    async def steps(client: TestClient) -> None:
        statuses.append((await client.post("/admin/crash")).status)
        statuses.append((await client.post("/admin/fault", json={"error_rate": 1})).status)
        statuses.append((await client.get("/healthz")).status)

    _run(_exchange(), steps)
    assert statuses == [403, 403, 200]


@pytest.mark.parametrize(
    ("start", "request_", "at", "expected"),
    [
        pytest.param(
            Fault(),
            FaultRequest(error_rate=0.5),
            0.0,
            Fault(0.5, 0.0, None),
            id="an error rate without --for lasts until healed",
        ),
        pytest.param(
            Fault(0.5),
            FaultRequest(latency_ms=200),
            1.0,
            Fault(0.5, 200.0, None),
            id="a second fault adds to the first",
        ),
        pytest.param(
            Fault(),
            FaultRequest(error_rate=1, for_seconds=60),
            10.0,
            Fault(1.0, 0.0, 70.0),
            id="a fault with --for ends at a known time",
        ),
        pytest.param(
            Fault(1.0, 0.0, 5.0),
            FaultRequest(latency_ms=10),
            6.0,
            Fault(0.0, 10.0, None),
            id="an expired fault is gone before the next one applies",
        ),
    ],
)
def test_fault_updates(start: Fault, request_: FaultRequest, at: float, expected: Fault) -> None:
    assert start.updated(request_, at) == expected


def test_a_fault_ends_by_itself_when_its_time_is_up() -> None:
    fault = Fault(1.0, 50.0, until=100.0)
    assert fault.current(99.9) == fault
    assert fault.current(100.0) == Fault()


def test_unknown_paths_are_counted_under_one_route_label() -> None:
    exchange = _exchange()

    async def steps(client: TestClient) -> None:
        assert (await client.get("/nope/123")).status == 404
        assert (await client.get("/nope/456")).status == 404

    _run(exchange, steps)
    labels = {"route": "other", "method": "GET", "code": "404"}
    value = exchange.metrics.registry.get_sample_value("exchange_http_requests_total", labels)
    assert value == 2


def test_traces_go_over_otlp_http_when_an_endpoint_is_given(tmp_path: Path) -> None:
    received: list[tuple[str, str]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        provider = tracer_provider(1, tmp_path / "unused.jsonl", endpoint, ratio=1.0)
        with provider.get_tracer("test").start_as_current_span("execute_order"):
            pass
        assert provider.force_flush(timeout_millis=10_000)
        provider.shutdown()
    finally:
        server.shutdown()
    assert received == [("/v1/traces", "application/x-protobuf")]
    assert not (tmp_path / "unused.jsonl").exists()
