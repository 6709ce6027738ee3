"""The load generator: places orders at a steady rate, spread over the service replicas.

Every order is a ``POST /orders`` (after a ``POST /login``, renewed now and then); some are
read back or cancelled, and about one in a hundred is invalid on purpose (rejected). It
serves ``/healthz`` and ``/metrics`` while it runs; with ``--duration`` it stops after that
long and can write a summary (orders/s, p50/p99 latency) for the benchmark.

Game days and remediation change its load while it runs (loopback admin API):
``GET|POST|DELETE /admin/load`` multiplies the order rate by a factor (``{"factor": 4,
"for_seconds": 120}``: the TradeX +300%), ``GET|POST|DELETE /admin/shed`` drops a fraction of
the orders for a while (load shedding, outcome ``shed``). With ``--supervisor`` it sends to the
supervisor's current replica set (``GET /replicas``, polled every second), so replicas added or
removed by scaling get or lose their share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from lab import jsonlog

SYMBOLS = ("ACME", "GLOBX", "INITE", "UMBRL", "WAYNE")
INVALID_SHARE = 0.01
READ_SHARE = 0.2
CANCEL_SHARE = 0.1
RELOGIN_SHARE = 0.05  # traders log in again now and then, so logins have an SLI too
REQUEST_TIMEOUT = 5.0
# Every outcome an order can have; "error" is an order that got no HTTP answer at all.
OUTCOMES = ("ok", "rejected", "failed", "error", "skipped", "shed")
DISCOVERY_INTERVAL = 1.0  # seconds between two reads of the supervisor's replica set
log = logging.getLogger("loadgen")


@dataclass(frozen=True)
class LoadSummary:
    """What a timed run did: orders sent and their outcomes, rate achieved, client latency."""

    orders: int
    ok: int
    rejected: int
    failed: int
    errors: int
    skipped: int
    seconds: float
    orders_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values`` by the nearest-rank method; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(round(share * len(ordered), 9))))
    return ordered[rank - 1]


def summarize(outcomes: dict[str, int], latencies: Sequence[float], seconds: float) -> LoadSummary:
    """Summarize a run from outcome counts and per-order latencies in seconds."""
    orders = sum(outcomes.values())
    done = orders - outcomes.get("skipped", 0)
    return LoadSummary(
        orders=orders,
        ok=outcomes.get("ok", 0),
        rejected=outcomes.get("rejected", 0),
        failed=outcomes.get("failed", 0),
        errors=outcomes.get("error", 0),
        skipped=outcomes.get("skipped", 0),
        seconds=round(seconds, 3),
        orders_per_second=round(done / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(max(latencies, default=0.0) * 1000, 2),
    )


def outcome_of(status: int) -> str:
    """Classify an order response: ok (2xx), rejected (4xx) or failed (5xx)."""
    if status < 300:
        return "ok"
    return "rejected" if status < 500 else "failed"


@dataclass
class LoadGenerator:
    """Sends orders to ``targets`` (replica base URLs) at ``rate`` orders per second."""

    targets: Sequence[str]
    rate: float
    registry: CollectorRegistry
    max_in_flight: int = 512
    record_latencies: bool = False
    rng: random.Random = field(default_factory=random.Random)
    supervisor: str | None = None  # base URL: follow its replica set
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.orders = Counter(
            "lab_loadgen_orders", "Orders sent, by outcome.", ["outcome"], registry=self.registry
        )
        for outcome in OUTCOMES:  # at zero from the start, so rate() sees the first one
            self.orders.labels(outcome)
        self.latency = Histogram(
            "lab_loadgen_order_seconds",
            "Order round trip seen by the client.",
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 5.0),
            registry=self.registry,
        )
        self.outcomes: dict[str, int] = {}
        self.latencies: list[float] = []
        self._tokens: dict[str, str] = {}
        self._next_target = itertools.cycle(self.targets)
        self._in_flight: set[asyncio.Task[None]] = set()
        self.load = Adjustment(1.0)
        self.shed = Adjustment(0.0)
        Gauge(
            "lab_loadgen_load_factor", "Order rate multiplier.", registry=self.registry
        ).set_function(lambda: self.load.value(self.clock()))
        Gauge(
            "lab_loadgen_shed_fraction",
            "Share of orders dropped on purpose.",
            registry=self.registry,
        ).set_function(lambda: self.shed.value(self.clock()))
        Gauge(
            "lab_loadgen_targets", "Replicas orders are spread over.", registry=self.registry
        ).set_function(lambda: len(self.targets))

    def current_rate(self) -> float:
        """Orders per second now: the base rate times the load factor in force."""
        return self.rate * self.load.value(self.clock())

    def set_targets(self, targets: Sequence[str]) -> None:
        """Spread the next orders over ``targets`` (no change when they are the same)."""
        if list(targets) != list(self.targets) and targets:
            self.targets = list(targets)
            self._next_target = itertools.cycle(self.targets)
            log.info("targets changed", extra={"targets": ",".join(self.targets)})

    async def follow_supervisor(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Keep the targets equal to the supervisor's replica set until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                async with session.get(f"{self.supervisor}/replicas") as response:
                    replicas = await response.json()
                self.set_targets(
                    # a replica a release drained (lab.builds) keeps running but gets no orders
                    [f"http://127.0.0.1:{r['port']}" for r in replicas if r.get("in_service", True)]
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=DISCOVERY_INTERVAL)

    def _count(self, outcome: str, seconds: float | None = None) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.orders.labels(outcome).inc()
        if seconds is not None:
            self.latency.observe(seconds)
            if self.record_latencies:
                self.latencies.append(seconds)

    async def _token(self, session: aiohttp.ClientSession, target: str) -> str:
        """A session token for ``target``: logs in when there is none, and now and then again.

        A failed renewal keeps the old session, so orders keep flowing (and failing or not)
        whatever happens to logins.
        """
        token = self._tokens.get(target)
        if token is not None and self.rng.random() >= RELOGIN_SHARE:
            return token
        body = {"user": f"trader-{self.rng.randrange(100)}", "password": "lab"}
        try:
            async with session.post(f"{target}/login", json=body) as response:
                response.raise_for_status()
                fresh = str((await response.json())["token"])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            if token is None:
                raise
            return token
        self._tokens[target] = fresh
        return fresh

    def _order_body(self) -> dict[str, object]:
        invalid = self.rng.random() < INVALID_SHARE
        return {
            "symbol": self.rng.choice(SYMBOLS),
            "side": self.rng.choice(("buy", "sell")),
            "quantity": 0 if invalid else self.rng.randint(1, 500),
            "price": round(self.rng.uniform(10, 200), 2),
        }

    async def _one_order(self, session: aiohttp.ClientSession) -> None:
        target = next(self._next_target)
        try:
            token = await self._token(session, target)
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            async with session.post(
                f"{target}/orders", json=self._order_body(), headers=headers
            ) as response:
                status = response.status
                order = await response.json(content_type=None) if status == 201 else None
            seconds = time.perf_counter() - started
            if status == 401:
                self._tokens.pop(target, None)  # the replica restarted and forgot the token
            self._count(outcome_of(status), seconds)
            if order is not None:
                await self._follow_up(session, target, headers, str(order["id"]))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            self._tokens.pop(target, None)
            self._count("error")

    async def _follow_up(
        self, session: aiohttp.ClientSession, target: str, headers: dict[str, str], order_id: str
    ) -> None:
        draw = self.rng.random()
        if draw < READ_SHARE:
            async with session.get(f"{target}/orders/{order_id}", headers=headers) as response:
                await response.read()
        elif draw < READ_SHARE + CANCEL_SHARE:
            async with session.delete(f"{target}/orders/{order_id}", headers=headers) as response:
                await response.read()

    async def run(self, stop: asyncio.Event, duration: float | None = None) -> float:
        """Send orders until ``stop`` is set or ``duration`` passes; return the seconds it ran."""
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        connector = aiohttp.TCPConnector(limit=self.max_in_flight, limit_per_host=0)
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            follower = None
            if self.supervisor:
                follower = asyncio.create_task(self.follow_supervisor(session, stop))
            started = last = loop.time()
            due = 0.0  # orders owed so far: the rate in force integrated over time
            while not stop.is_set():
                now = loop.time()
                if duration is not None and now - started >= duration:
                    break
                rate = self.current_rate()
                due += (now - last) * rate
                last = now
                while due >= 1:
                    due -= 1
                    self._dispatch(session)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.002 if rate else 0.5)
            elapsed = loop.time() - started
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=REQUEST_TIMEOUT + 1)
        return elapsed

    def _dispatch(self, session: aiohttp.ClientSession) -> None:
        """Send one order now, unless it is shed or too many are already in flight."""
        shed = self.shed.value(self.clock())
        if shed and self.rng.random() < shed:
            self._count("shed")
        elif len(self._in_flight) >= self.max_in_flight:
            self._count("skipped")
        else:
            task = asyncio.create_task(self._one_order(session))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    def app(self) -> web.Application:
        """``/healthz``, ``/metrics`` and the admin API for the lab."""

        async def healthz(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok", "rate": self.rate})

        async def metrics(request: web.Request) -> web.Response:
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        application = web.Application()
        application.router.add_get("/healthz", healthz)
        application.router.add_get("/metrics", metrics)
        adjust = {
            "/admin/load": (self.load, "factor", 1.0),
            "/admin/shed": (self.shed, "fraction", 0.0),
        }
        for path, (adjustment, name, normal) in adjust.items():
            handler = _adjustment_handler(adjustment, name, normal, self.clock)
            for method in ("GET", "POST", "DELETE"):
                application.router.add_route(method, path, handler)
        return application


@dataclass
class Adjustment:
    """A value that departs from its normal one for a while (or until reset)."""

    normal: float
    current: float | None = None
    until: float | None = None  # clock value when it ends; None: until reset

    def value(self, now: float) -> float:
        """The value in force at ``now``."""
        if self.current is None or (self.until is not None and now >= self.until):
            return self.normal
        return self.current

    def set(self, value: float, seconds: float | None, now: float) -> None:
        """Use ``value`` for ``seconds`` (None: until reset)."""
        self.current, self.until = value, None if seconds is None else now + seconds

    def reset(self) -> None:
        """Back to normal."""
        self.current = self.until = None

    def as_json(self, name: str, now: float) -> dict[str, float | None]:
        """``{name: value, "seconds_left": s}`` (seconds_left None: until reset or normal)."""
        value = self.value(now)
        left = None if self.until is None or value == self.normal else max(0.0, self.until - now)
        return {name: value, "seconds_left": left}


LIMITS = {"factor": (0.0, 100.0), "fraction": (0.0, 1.0)}


def _adjustment_handler(
    adjustment: Adjustment, name: str, normal: float, clock: Callable[[], float]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET shows, POST ``{name: v, "for_seconds": s}`` sets, DELETE resets ``adjustment``."""
    low, high = LIMITS[name]

    async def handle(request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                body = await request.json()
                value = float(body[name])
                seconds = body.get("for_seconds")
                seconds = None if seconds is None else float(seconds)
            except (ValueError, KeyError, TypeError) as exc:
                message = json.dumps({"error": f'expected {{"{name}": N, "for_seconds": S}}'})
                raise web.HTTPBadRequest(text=message) from exc
            if not low <= value <= high or (seconds is not None and seconds <= 0):
                message = f"{name} must be within {low:g}..{high:g}, for_seconds > 0"
                raise web.HTTPBadRequest(text=json.dumps({"error": message}))
            adjustment.set(value, seconds, clock())
            log.info("load adjusted", extra={name: value, "for_seconds": seconds})
        elif request.method == "DELETE":
            adjustment.reset()
            log.info("load back to normal", extra={name: normal})
        return web.json_response(adjustment.as_json(name, clock()))

    return handle


async def _serve(args: argparse.Namespace) -> LoadSummary:
    generator = LoadGenerator(
        targets=args.targets.split(","),
        rate=args.rate,
        registry=CollectorRegistry(),
        record_latencies=args.summary is not None,
        supervisor=args.supervisor,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = None
    if args.port:
        runner = web.AppRunner(generator.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
    log.info("sending orders", extra={"rate": args.rate, "targets": args.targets})
    try:
        seconds = await generator.run(stop, args.duration)
    finally:
        if runner is not None:
            await runner.cleanup()
    return summarize(generator.outcomes, generator.latencies, seconds)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lab.loadgen --targets http://127.0.0.1:8081,... --rate 20 [--port 8092]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", required=True, help="comma-separated replica base URLs")
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second")
    parser.add_argument("--port", type=int, default=0, help="serve /healthz and /metrics here")
    parser.add_argument("--duration", type=float, default=None, help="seconds, then stop")
    parser.add_argument("--summary", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument(
        "--supervisor", default=None, help="supervisor base URL: follow its replica set"
    )
    args = parser.parse_args(argv)
    disable_created_metrics()
    jsonlog.setup("loadgen")
    summary = asyncio.run(_serve(args))
    log.info("stopped", extra=asdict(summary))
    if args.summary is not None:
        args.summary.write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
