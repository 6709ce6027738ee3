"""The load generator: outcome classes, the summary figures, and orders against the service."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from lab.loadgen import LoadGenerator, outcome_of, percentile, summarize
from lab.procs import free_port
from lab.service import Exchange, ExchangeMetrics, Fault


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        pytest.param(201, "ok", id="a placed order is ok"),
        pytest.param(400, "rejected", id="an invalid order is rejected"),
        pytest.param(401, "rejected", id="an unauthenticated order is rejected"),
        pytest.param(500, "failed", id="a server error is a failure"),
        pytest.param(503, "failed", id="an unavailable service is a failure"),
    ],
)
def test_outcome_of(status: int, outcome: str) -> None:
    assert outcome_of(status) == outcome


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        pytest.param([], 0.99, 0.0, id="no values give zero"),
        pytest.param([5.0], 0.5, 5.0, id="one value is every percentile"),
        pytest.param([float(v) for v in range(1, 101)], 0.5, 50.0, id="the median of 1..100"),
        pytest.param([float(v) for v in range(1, 101)], 0.99, 99.0, id="the p99 of 1..100"),
    ],
)
def test_percentile(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


def test_summary_counts_skipped_orders_out_of_the_achieved_rate() -> None:
    outcomes = {"ok": 90, "failed": 5, "skipped": 5}
    summary = summarize(outcomes, [0.001, 0.002, 0.010], seconds=2.0)
    assert (summary.orders, summary.ok, summary.failed, summary.skipped) == (100, 90, 5, 5)
    assert summary.orders_per_second == 47.5
    assert (summary.p50_ms, summary.max_ms) == (2.0, 10.0)


def _orders_during(fault: Fault | None) -> dict[str, int]:
    """Outcomes of a short run against a real service, the fault set halfway."""
    exchange = Exchange(
        ExchangeMetrics(CollectorRegistry()),
        TracerProvider().get_tracer("test"),
        execution_delay=lambda rng: 0.0,
    )

    async def main() -> dict[str, int]:
        async with TestServer(exchange.app(), host="127.0.0.1") as server:
            target = str(server.make_url("")).rstrip("/")
            generator = LoadGenerator(
                [target], rate=200, registry=CollectorRegistry(), rng=random.Random(3)
            )
            await generator.run(asyncio.Event(), duration=0.5)
            if fault is not None:
                exchange.fault = fault
            await generator.run(asyncio.Event(), duration=0.5)
            return generator.outcomes

    return asyncio.run(main())


def test_orders_flow_and_an_invalid_share_is_rejected() -> None:
    outcomes = _orders_during(None)
    assert outcomes.get("ok", 0) > 0
    assert set(outcomes) <= {"ok", "rejected"}


def test_orders_keep_flowing_and_fail_while_the_service_fails() -> None:
    outcomes = _orders_during(Fault(error_rate=1.0))
    assert outcomes.get("failed", 0) > 0, "orders reach the failing service and count as failed"
    assert outcomes.get("error", 0) == 0, "a failed login renewal does not stop the orders"


@pytest.mark.parametrize(
    "outcome",
    [
        pytest.param("ok", id="the ok series exists before the first order"),
        pytest.param("rejected", id="the rejected series exists before the first rejection"),
        pytest.param("failed", id="the failed series exists before the first 5xx"),
        pytest.param("error", id="the unanswered series exists before the first refusal"),
        pytest.param("skipped", id="the skipped series exists before the first overload"),
    ],
)
def test_every_outcome_series_starts_at_zero(outcome: str) -> None:
    """A counter born at its first increment loses that increment to rate(): the lab's
    ExchangeClientErrors alert would see a dead replica one scrape late."""
    generator = LoadGenerator(["http://127.0.0.1:9"], rate=1, registry=CollectorRegistry())
    value = generator.registry.get_sample_value("lab_loadgen_orders_total", {"outcome": outcome})
    assert value == 0


def test_orders_nobody_answers_count_as_errors() -> None:
    """A dead replica refuses connections: the client sees an error no server counts."""
    generator = LoadGenerator(
        [f"http://127.0.0.1:{free_port()}"], rate=50, registry=CollectorRegistry()
    )
    asyncio.run(generator.run(asyncio.Event(), duration=0.3))
    errors = generator.registry.get_sample_value("lab_loadgen_orders_total", {"outcome": "error"})
    assert errors is not None and errors > 0
    assert set(generator.outcomes) == {"error"}
