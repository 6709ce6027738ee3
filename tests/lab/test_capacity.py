"""A replica's finite capacity (lab.service.OrderPool) and the load generator's load factor and
shedding (lab.loadgen): overload queues, and the queue is in the latency."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from lab.loadgen import Adjustment, LoadGenerator
from lab.service import Exchange, ExchangeMetrics, OrderPool

ORDER = {"symbol": "ACME", "side": "buy", "quantity": 10, "price": 101.5}
WAIT_CAP = 60.0


@pytest.mark.parametrize(
    ("workers", "service_seconds", "capacity"),
    [
        pytest.param(8, 0.4, 20.0, id="the default replica serves 20 orders/s"),
        pytest.param(1, 0.05, 20.0, id="one worker at 50 ms serves 20 orders/s"),
        pytest.param(4, 0.0, float("inf"), id="no service time is unbounded"),
    ],
)
def test_capacity(workers: int, service_seconds: float, capacity: float) -> None:
    async def main() -> float:
        return OrderPool(workers, service_seconds).capacity()

    assert asyncio.run(main()) == capacity


@pytest.mark.parametrize(("workers", "service"), [(0, 0.1), (1, -1.0)], ids=["no worker", "<0"])
def test_bad_pool_is_refused(workers: int, service: float) -> None:
    with pytest.raises(ValueError, match="worker"):
        OrderPool(workers, service)


def test_default_lab_is_healthy_at_20_and_overloaded_at_80_orders_per_second() -> None:
    per_replica = OrderPool(8, 0.4).capacity()
    assert 20 / 3 < per_replica < 80 / 3  # 20/s on 3 replicas fits; the +300% does not
    assert per_replica > 80 / 6  # six replicas (the scaling bound) carry the spike


def _exchange(pool: OrderPool, registry: CollectorRegistry) -> Exchange:
    return Exchange(
        ExchangeMetrics(registry),
        TracerProvider().get_tracer("test"),
        rng=random.Random(7),
        execution_delay=lambda rng: 0.001,
        pool=pool,
    )


async def _until(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_CAP
    while not condition():
        assert loop.time() < deadline, f"waited {WAIT_CAP}s for {what}"
        await asyncio.sleep(0.01)


def test_orders_beyond_the_workers_queue_and_saturation_is_exported() -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        pool = OrderPool(2, 3600.0)  # settlement holds each worker far longer than the test
        exchange = _exchange(pool, registry)
        async with TestClient(TestServer(exchange.app())) as client:
            login = await client.post("/login", json={"user": "ada", "password": "pw"})
            headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
            for _ in range(2):  # answered at once: execution is quick, settlement follows
                assert (await client.post("/orders", json=ORDER, headers=headers)).status == 201
            third = asyncio.create_task(client.post("/orders", json=ORDER, headers=headers))
            await _until(lambda: pool.queued == 1, "the third order to queue")
            load = await (await client.get("/load")).json()
            assert load == {
                "in_flight": 3,
                "queued": 1,
                "busy": 2,
                "workers": 2,
                "service_seconds": 3600.0,
            }
            text = generate_latest(registry).decode()
            assert "exchange_orders_queued 1.0" in text
            assert "exchange_orders_in_flight 3.0" in text
            assert "exchange_order_workers 2.0" in text
            assert not third.done()
            third.cancel()

    asyncio.run(main())


def test_order_execution_seconds_includes_the_wait_for_a_worker() -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        exchange = _exchange(OrderPool(1, 0.2), registry)
        async with TestClient(TestServer(exchange.app())) as client:
            login = await client.post("/login", json={"user": "ada", "password": "pw"})
            headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
            sent = [client.post("/orders", json=ORDER, headers=headers) for _ in range(3)]
            assert [r.status for r in await asyncio.gather(*sent)] == [201, 201, 201]

    asyncio.run(main())
    # One worker held 0.2 s per order: the third order waited for two others' service time.
    under = registry.get_sample_value("order_execution_seconds_bucket", {"le": "0.32"})
    count = registry.get_sample_value("order_execution_seconds_count")
    assert count == 3 and under is not None and under <= 2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("value", "seconds", "at", "expected"),
    [
        pytest.param(4.0, None, 1e9, 4.0, id="until reset it stays"),
        pytest.param(4.0, 60.0, 159.0, 4.0, id="within its time it holds"),
        pytest.param(4.0, 60.0, 160.0, 1.0, id="after its time it is back to normal"),
    ],
)
def test_adjustment(value: float, seconds: float | None, at: float, expected: float) -> None:
    adjustment = Adjustment(1.0)
    adjustment.set(value, seconds, 100.0)
    assert adjustment.value(at) == expected
    adjustment.reset()
    assert adjustment.value(at) == 1.0


def _generator(clock: Clock) -> LoadGenerator:
    return LoadGenerator(["http://127.0.0.1:9"], 20.0, CollectorRegistry(), clock=clock)


def test_load_factor_multiplies_the_rate_and_shedding_drops_orders() -> None:
    clock = Clock()
    generator = _generator(clock)
    generator.load.set(4.0, 30.0, clock())
    assert generator.current_rate() == 80.0
    clock.now += 30
    assert generator.current_rate() == 20.0
    generator.shed.set(1.0, None, clock())
    generator._dispatch(None)  # type: ignore[arg-type]  # shed: never sent
    assert generator.outcomes == {"shed": 1}


def test_targets_follow_a_new_replica_set() -> None:
    generator = _generator(Clock())
    generator.set_targets(["http://127.0.0.1:1", "http://127.0.0.1:2"])
    picked = {next(generator._next_target) for _ in range(4)}
    assert picked == {"http://127.0.0.1:1", "http://127.0.0.1:2"}
    generator.set_targets([])  # an empty answer keeps the last known set
    assert generator.targets == ["http://127.0.0.1:1", "http://127.0.0.1:2"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        pytest.param("/admin/load", {"factor": 4, "for_seconds": 60}, 200, id="load factor"),
        pytest.param("/admin/shed", {"fraction": 0.2}, 200, id="shed until reset"),
        pytest.param("/admin/shed", {"fraction": 2}, 400, id="a fraction above 1 is refused"),
        pytest.param("/admin/load", {"factor": -1}, 400, id="a negative factor is refused"),
        pytest.param("/admin/load", {"factor": 4, "for_seconds": 0}, 400, id="zero seconds"),
        pytest.param("/admin/load", {"rate": 4}, 400, id="the field is named"),
    ],
)
def test_admin_api(path: str, body: dict[str, float], status: int) -> None:
    clock = Clock()
    generator = _generator(clock)

    async def main() -> None:
        async with TestClient(TestServer(generator.app())) as client:
            response = await client.post(path, json=body)
            assert response.status == status, await response.text()
            if status == 200:
                shown = await (await client.get(path)).json()
                name = "factor" if path.endswith("load") else "fraction"
                assert shown[name] == body[name]
                reset = await (await client.delete(path)).json()
                assert reset[name] == (1.0 if name == "factor" else 0.0)

    asyncio.run(main())
