"""The demo exchange order service: an asyncio HTTP API instrumented for the platform's SLOs.

Routes: ``POST /login``, ``POST /orders``, ``GET /orders/{order_id}``,
``DELETE /orders/{order_id}``; operations: ``GET /healthz``, ``GET /metrics``; loopback-only
admin: ``GET|POST|DELETE /admin/fault`` (error rate, extra latency, optional expiry) and
``POST /admin/crash``; ``GET /load`` (saturation: orders in flight and queued, workers).

Capacity (lab.service.OrderPool): a replica executes at most ``--workers`` orders at a time and
each order holds its worker for ``--service-time-ms``: its execution (the matching time, a few
milliseconds, before the answer) then its settlement (after the answer). More orders than that
queue for a worker, and ``order_execution_seconds`` (measured from arrival) grows with the
queue, as at TradeX.

Metrics are exactly the names the SLO specs in slo_specs/ read:
``exchange_http_requests_total{route,method,code}`` and the ``order_execution_seconds``
histogram (with a 0.04 s bucket), plus business counters.

Every API request is a server span (``POST /orders``, with ``execute_order`` inside it). Spans go
to a file as OTLP/JSON lines (lab.spanfile), or over OTLP/HTTP when an endpoint is given. Logs are
JSON lines carrying the active span's ``trace_id`` and ``span_id`` (lab.jsonlog), on stderr or in
a file of their own; log and spans files rotate at a size cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar

from aiohttp import web
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab import jsonlog
from lab.spanfile import OtlpJsonFileSpanExporter

SERVICE_NAME = "exchange"
# Buckets around the 40 ms objective, so the latency SLI reads an exact bucket.
EXECUTION_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12)
MEASURED_PREFIXES = ("/login", "/orders")
# Series created at start, so error ratios read 0 (not "no data") before the first failure.
KNOWN_SERIES = (
    ("/login", "POST", ("200", "500")),
    ("/orders", "POST", ("201", "500")),
    ("/orders/{order_id}", "GET", ("200", "500")),
    ("/orders/{order_id}", "DELETE", ("200", "500")),
)
CRASH_EXIT_CODE = 70

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("exchange")
M = TypeVar("M", bound=BaseModel)


class ExchangeMetrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "exchange_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "code"],
            registry=registry,
        )
        self.execution = Histogram(
            "order_execution_seconds",
            "Time from receiving an order to its execution result (filled or failed).",
            buckets=EXECUTION_BUCKETS,
            registry=registry,
        )
        self.placed = Counter("exchange_orders_placed", "Orders executed.", registry=registry)
        self.rejected = Counter(
            "exchange_orders_rejected",
            "Orders refused before execution (invalid or unauthenticated).",
            ["reason"],
            registry=registry,
        )
        self.failed = Counter("exchange_orders_failed", "Orders that failed.", registry=registry)
        self.cancelled = Counter(
            "exchange_orders_cancelled", "Orders cancelled.", registry=registry
        )
        self.fault_error_rate = Gauge(
            "exchange_fault_error_rate", "Injected error rate (0 to 1).", registry=registry
        )
        self.fault_latency = Gauge(
            "exchange_fault_latency_seconds", "Injected extra latency.", registry=registry
        )
        for route, method, codes in KNOWN_SERIES:
            for code in codes:
                self.requests.labels(route, method, code)
        self.failed.inc(0)
        self.in_flight = Gauge(
            "exchange_orders_in_flight",
            "Orders holding or waiting for a worker (saturation).",
            registry=registry,
        )
        self.queued = Gauge(
            "exchange_orders_queued",
            "Orders waiting for a worker (queue depth).",
            registry=registry,
        )
        self.workers = Gauge(
            "exchange_order_workers", "Orders a replica executes at a time.", registry=registry
        )

    def watch(self, pool: OrderPool) -> None:
        """Read the saturation gauges from ``pool`` at every scrape."""
        self.in_flight.set_function(lambda: pool.in_flight)
        self.queued.set_function(lambda: pool.queued)
        self.workers.set(pool.workers)


class Credentials(BaseModel):
    """Body of ``POST /login``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class OrderRequest(BaseModel):
    """Body of ``POST /orders``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(pattern=r"^[A-Z]{1,8}$")
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=1_000_000)
    price: float = Field(gt=0, le=1_000_000)


class FaultRequest(BaseModel):
    """Body of ``POST /admin/fault``: the fields given replace the current ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: float | None = Field(None, ge=0, le=1)
    latency_ms: float | None = Field(None, ge=0, le=600_000)
    for_seconds: float | None = Field(None, gt=0)


@dataclass(frozen=True)
class Fault:
    """The injected fault: an error rate, extra latency, and when it ends (monotonic clock)."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    until: float | None = None

    def current(self, now: float) -> Fault:
        """This fault, or no fault once its time is up."""
        return Fault() if self.until is not None and now >= self.until else self

    def updated(self, request: FaultRequest, now: float) -> Fault:
        """The fault after applying ``request`` at time ``now``."""
        fault = replace(
            self.current(now),
            until=now + request.for_seconds if request.for_seconds else None,
        )
        if request.error_rate is not None:
            fault = replace(fault, error_rate=request.error_rate)
        if request.latency_ms is not None:
            fault = replace(fault, latency_ms=request.latency_ms)
        return fault

    def as_json(self, now: float) -> dict[str, float | None]:
        """A JSON view with the seconds left instead of a clock value."""
        left = None if self.until is None else max(0.0, self.until - now)
        return {"error_rate": self.error_rate, "latency_ms": self.latency_ms, "seconds_left": left}


# --- releases (lab.release) -------------------------------------------------------------------
DEFAULT_VERSION = "v1"


@dataclass(frozen=True)
class Build:
    """The build a replica runs: its version and, for a game day, the defect built into it.

    Unlike a fault (``/admin/fault``, cleared by `sre lab heal`), a defect lasts as long as the
    process runs that version: only a rollback removes it.
    """

    version: str = DEFAULT_VERSION
    error_rate: float = 0.0
    latency_ms: float = 0.0


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """``--version``, ``--defect-error-rate`` and ``--defect-latency-ms``: the replica's build."""
    parser.add_argument("--version", default=DEFAULT_VERSION, help="the build's version label")
    parser.add_argument("--defect-error-rate", type=float, default=0.0, help="0 to 1")
    parser.add_argument("--defect-latency-ms", type=float, default=0.0)


def build_of(args: argparse.Namespace) -> Build:
    """The build a replica's command line names."""
    if not 0 <= args.defect_error_rate <= 1 or args.defect_latency_ms < 0:
        raise SystemExit("--defect-error-rate must lie in 0..1 and --defect-latency-ms be >= 0")
    return Build(args.version, args.defect_error_rate, args.defect_latency_ms)


def export_build(registry: CollectorRegistry, build: Build) -> None:
    """``exchange_build_info{version="..."} 1``: join it on ``instance`` to split any series of
    the replica by version (canary analysis, release dashboards)."""
    Info("exchange_build", "The build this replica runs.", registry=registry).info(
        {"version": build.version}
    )


@dataclass
class Order:
    """An order in the book."""

    id: str
    user: str
    request: OrderRequest
    status: str

    def as_json(self) -> dict[str, object]:
        """The order as the API returns it."""
        body = {"id": self.id, "user": self.user, "status": self.status}
        return {**body, **self.request.model_dump()}


def is_loopback(remote: str | None) -> bool:
    """True when a peer address is a loopback address (the admin API's only callers)."""
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def route_of(request: web.Request) -> str:
    """The route template a request matched (``/orders/{order_id}``), or ``other``."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "other"


@dataclass
class OrderPool:
    """A replica's order capacity: ``workers`` orders at a time, each holding its worker for
    ``service_seconds`` (its execution, then its settlement after the answer); the rest queue.

    Capacity is ``workers / service_seconds`` orders/s (default 8 / 0.4 s = 20/s per replica:
    the default lab's 20 orders/s load 3 replicas to a third, the story's +300% overloads them).
    """

    workers: int
    service_seconds: float
    queued: int = 0
    busy: int = 0

    def __post_init__(self) -> None:
        if self.workers < 1 or self.service_seconds < 0:
            raise ValueError("an order pool needs at least one worker and a service time >= 0")
        self._free = asyncio.Semaphore(self.workers)

    @property
    def in_flight(self) -> int:
        """Orders holding a worker or waiting for one."""
        return self.busy + self.queued

    def capacity(self) -> float:
        """Orders per second the pool sustains (infinite with a zero service time)."""
        return self.workers / self.service_seconds if self.service_seconds else float("inf")

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a worker (in line), hold it for the order's execution, and keep it for the
        rest of the service time (settlement) once the order has its answer."""
        self.queued += 1
        try:
            await self._free.acquire()
        finally:
            self.queued -= 1
        self.busy += 1
        started = time.monotonic()
        try:
            yield
        finally:
            settle = max(0.0, self.service_seconds - (time.monotonic() - started))
            asyncio.get_running_loop().call_later(settle, self._release)

    def _release(self) -> None:
        self.busy -= 1
        self._free.release()

    def as_json(self) -> dict[str, float]:
        """Saturation as ``GET /load`` gives it."""
        return {
            "in_flight": self.in_flight,
            "queued": self.queued,
            "busy": self.busy,
            "workers": self.workers,
            "service_seconds": self.service_seconds,
        }


class Exchange:
    """The service's state and handlers."""

    build: Build = Build()  # the version it runs (lab.release); main() sets it from the argv

    def __init__(
        self,
        metrics: ExchangeMetrics,
        tracer: Tracer,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        execution_delay: Callable[[random.Random], float] | None = None,
        pool: OrderPool | None = None,
    ) -> None:
        self.metrics = metrics
        self.pool = pool  # None: unbounded capacity (orders never queue)
        if pool is not None:
            metrics.watch(pool)
        self.tracer = tracer
        self.rng = rng or random.Random()
        self.clock = clock
        self.execution_delay = execution_delay or matching_delay
        self.fault = Fault()
        self.tokens: dict[str, str] = {}
        self.orders: dict[str, Order] = {}
        self._ids = itertools.count(1)

    # --- middleware -------------------------------------------------------------------------
    @web.middleware
    async def trace(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Handle every API request inside a server span named after its route template."""
        route = route_of(request)
        if not route.startswith(MEASURED_PREFIXES):
            return await handler(request)
        with self.tracer.start_as_current_span(
            f"{request.method} {route}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": route},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                _answered(span, exc.status)
                raise
            except Exception:
                _answered(span, 500)
                raise
            _answered(span, response.status)
            return response

    @web.middleware
    async def instrument(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count every API request by route template, method and status code."""
        route = route_of(request)
        if not (route == "other" or route.startswith(MEASURED_PREFIXES)):
            return await handler(request)
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        finally:
            self.metrics.requests.labels(route, request.method, str(code)).inc()

    # --- faults -----------------------------------------------------------------------------
    async def _injected(self) -> bool:
        """Apply the injected latency; return True when this request must fail."""
        fault = self.fault.current(self.clock())
        latency_ms = fault.latency_ms + self.build.latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        # The fault and the build's defect fail a request independently.
        error_rate = 1 - (1 - fault.error_rate) * (1 - self.build.error_rate)
        return error_rate > 0 and self.rng.random() < error_rate

    def _user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        return self.tokens.get(token)

    # --- API --------------------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        """Exchange credentials for a bearer token."""
        credentials = await _parse(request, Credentials)
        if await self._injected():
            log.warning("login failed (injected fault)", extra={"user": credentials.user})
            raise web.HTTPInternalServerError(text='{"error": "injected fault"}')
        token = secrets.token_hex(16)
        self.tokens[token] = credentials.user
        return web.json_response({"token": token})

    async def place_order(self, request: web.Request) -> web.Response:
        """Validate, execute and record an order; time its execution."""
        started = time.perf_counter()
        user = self._user(request)
        if user is None:
            self.metrics.rejected.labels("unauthenticated").inc()
            raise web.HTTPUnauthorized(text='{"error": "log in first"}')
        try:
            order_request = await _parse(request, OrderRequest)
        except web.HTTPBadRequest:
            self.metrics.rejected.labels("invalid").inc()
            raise
        with self.tracer.start_as_current_span("execute_order") as span:
            span.set_attribute("order.symbol", order_request.symbol)
            span.set_attribute("order.side", order_request.side)
            failed = await self._injected()
            if not failed:
                await self._execute()
            self.metrics.execution.observe(time.perf_counter() - started)
            if failed:
                span.set_attribute("error", True)
                self.metrics.failed.inc()
                log.warning("order failed (injected fault)", extra={"user": user})
                raise web.HTTPInternalServerError(text='{"error": "execution failed"}')
            order = Order(f"o-{next(self._ids)}", user, order_request, "filled")
            span.set_attribute("order.id", order.id)
        self.orders[order.id] = order
        self.metrics.placed.inc()
        return web.json_response(order.as_json(), status=201)

    async def _execute(self) -> None:
        """Execute an order: in line for a worker of the pool (when there is one), then the
        matching time."""
        if self.pool is None:
            await asyncio.sleep(self.execution_delay(self.rng))
            return
        async with self.pool.slot():
            await asyncio.sleep(self.execution_delay(self.rng))

    async def get_order(self, request: web.Request) -> web.Response:
        """Return one of the caller's orders."""
        order = await self._own_order(request)
        return web.json_response(order.as_json())

    async def cancel_order(self, request: web.Request) -> web.Response:
        """Cancel one of the caller's orders."""
        order = await self._own_order(request)
        if order.status != "cancelled":
            order.status = "cancelled"
            self.metrics.cancelled.inc()
        return web.json_response(order.as_json())

    async def _own_order(self, request: web.Request) -> Order:
        user = self._user(request)
        if user is None:
            raise web.HTTPUnauthorized(text='{"error": "log in first"}')
        if await self._injected():
            raise web.HTTPInternalServerError(text='{"error": "injected fault"}')
        order = self.orders.get(request.match_info["order_id"])
        if order is None or order.user != user:
            raise web.HTTPNotFound(text='{"error": "no such order"}')
        return order

    # --- operations -------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness: the event loop answers."""
        return web.json_response(
            {"status": "ok", "pid": os.getpid(), "version": self.build.version}
        )

    async def load(self, request: web.Request) -> web.Response:
        """Saturation: orders in flight and queued, and the pool's size (the autoscaler's)."""
        if self.pool is None:
            return web.json_response({"in_flight": 0, "queued": 0, "busy": 0, "workers": None})
        return web.json_response(self.pool.as_json())

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        """Prometheus text exposition of the service's registry."""
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # --- admin (loopback only) --------------------------------------------------------------
    @web.middleware
    async def loopback_admin(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse ``/admin/*`` to any peer that is not on loopback."""
        if request.path.startswith("/admin") and not is_loopback(request.remote):
            raise web.HTTPForbidden(text='{"error": "the admin API answers loopback only"}')
        return await handler(request)

    async def get_fault(self, request: web.Request) -> web.Response:
        """The current fault."""
        now = self.clock()
        return web.json_response(self.fault.current(now).as_json(now))

    async def set_fault(self, request: web.Request) -> web.Response:
        """Merge a fault request into the current fault."""
        fault_request = await _parse(request, FaultRequest)
        now = self.clock()
        self._set(self.fault.updated(fault_request, now))
        log.info("fault injected", extra=self.fault.as_json(now))
        return web.json_response(self.fault.as_json(now))

    async def clear_fault(self, request: web.Request) -> web.Response:
        """Clear every fault."""
        self._set(Fault())
        log.info("faults cleared")
        return web.json_response(self.fault.as_json(self.clock()))

    def _set(self, fault: Fault) -> None:
        self.fault = fault
        self.metrics.fault_error_rate.set(fault.error_rate)
        self.metrics.fault_latency.set(fault.latency_ms / 1000)

    async def crash(self, request: web.Request) -> web.Response:
        """Exit the process abruptly right after answering (a crash the supervisor sees)."""
        log.warning("crash requested")
        asyncio.get_running_loop().call_later(0.05, os._exit, CRASH_EXIT_CODE)
        return web.json_response({"status": "crashing"}, status=202)

    def app(self) -> web.Application:
        """The aiohttp application serving every route."""
        app = web.Application(middlewares=[self.loopback_admin, self.trace, self.instrument])
        app.router.add_post("/login", self.login)
        app.router.add_post("/orders", self.place_order)
        app.router.add_get("/orders/{order_id}", self.get_order)
        app.router.add_delete("/orders/{order_id}", self.cancel_order)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_endpoint)
        app.router.add_get("/load", self.load)
        app.router.add_get("/admin/fault", self.get_fault)
        app.router.add_post("/admin/fault", self.set_fault)
        app.router.add_delete("/admin/fault", self.clear_fault)
        app.router.add_post("/admin/crash", self.crash)
        return app


def _answered(span: Span, code: int) -> None:
    """Record a server span's status code; a 5xx (not a client's 4xx) makes it an error."""
    span.set_attribute("http.response.status_code", code)
    if code >= 500:
        span.set_status(Status(StatusCode.ERROR))


def matching_delay(rng: random.Random) -> float:
    """Simulated matching-engine time: about 3 ms on average, never above 25 ms."""
    return min(rng.expovariate(1 / 0.003), 0.025)


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise web.HTTPBadRequest(text=f'{{"error": "{field}: {first["msg"]}"}}') from exc


def tracer_provider(
    replica: int,
    traces_file: Path,
    otlp_endpoint: str | None,
    ratio: float,
    max_bytes: int = jsonlog.ROTATE_MAX_BYTES,
    backups: int = jsonlog.ROTATE_BACKUPS,
) -> TracerProvider:
    """Traces to ``otlp_endpoint`` (OTLP/HTTP) when given, else to ``traces_file`` (OTLP/JSON
    lines, rotated at ``max_bytes`` with ``backups`` older files kept)."""
    resource = Resource.create(
        {"service.name": SERVICE_NAME, "service.instance.id": f"replica-{replica}"}
    )
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(ratio)))
    exporter: SpanExporter
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint)
    else:
        exporter = OtlpJsonFileSpanExporter(traces_file, max_bytes, backups)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


DEFAULT_WORKERS = 8
DEFAULT_SERVICE_TIME_MS = 400.0


def add_capacity_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--service-time-ms``: a replica's order capacity."""
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="orders executed at a time"
    )
    parser.add_argument(
        "--service-time-ms",
        type=float,
        default=DEFAULT_SERVICE_TIME_MS,
        help="how long an order holds its worker (execution, then settlement)",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The replica's command line (exits 2 with a message on a bad one, as argparse does)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (the fleet's bundle: 0.0.0.0)"
    )
    parser.add_argument("--replica", type=int, default=1)
    parser.add_argument("--traces-file", type=Path, default=Path("traces.jsonl"))
    parser.add_argument("--otlp-endpoint", default=None)
    parser.add_argument("--trace-ratio", type=float, default=1.0)
    parser.add_argument("--log-file", type=Path, default=None, help="JSON logs here, not stderr")
    add_capacity_arguments(parser)
    add_build_arguments(parser)
    jsonlog.add_rotation_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run one replica: ``python -m lab.service --port 8081 --replica 1``."""
    args = parse_args(argv)
    disable_created_metrics()
    rotation = {"max_bytes": args.rotate_max_bytes, "backups": args.rotate_backups}
    jsonlog.setup("exchange", path=args.log_file, **rotation).info(
        "starting", extra={"port": args.port, "replica": args.replica}
    )
    provider = tracer_provider(
        args.replica, args.traces_file, args.otlp_endpoint, args.trace_ratio, **rotation
    )
    pool = OrderPool(args.workers, args.service_time_ms / 1000)
    metrics = ExchangeMetrics(CollectorRegistry())
    exchange = Exchange(metrics, provider.get_tracer("lab.service"), pool=pool)
    exchange.build = build_of(args)
    export_build(metrics.registry, exchange.build)
    app = exchange.app()

    async def _flush_traces(_: web.Application) -> None:
        provider.shutdown()

    app.on_cleanup.append(_flush_traces)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
