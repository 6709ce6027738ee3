"""A hostile Prometheus on 127.0.0.1: answers that drip, never end, are huge, lie or escape.

Each behaviour gets its own base URL (``server.url(behaviour)``) on one threaded server. Every
loop is bounded in count and time and stops when the client leaves or the server shuts down.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alerting.names import (
    CURRENT_BURN_RATE,
    LABEL_ID,
    LABEL_SERVICE,
    LABEL_SLO,
    LABEL_WINDOW,
    OBJECTIVE,
    PERIOD_BUDGET_REMAINING,
    TIME_PERIOD_DAYS,
    sli_error_record,
)

Behaviour = Callable[["_Handler"], None]
# No behaviour outlives this, whatever the client does: a test whose deadline failed ends with a
# wrong answer after a minute instead of hanging.
MAX_BEHAVIOUR_SECONDS = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stopping: threading.Event
    routes: dict[str, Behaviour]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        token = self.path.strip("/").split("/", 1)[0]
        behaviour = self.server.routes.get(token)
        if behaviour is None:
            self.send_error(404)
            return
        # The client giving up half way is what the gate should do.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            behaviour(self)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        return

    def start(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"content-type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()

    def stopped_within(self, seconds: float) -> bool:
        return self.server.stopping.wait(seconds)


class HostileServer:
    """Serves each registered behaviour under a base URL of its own."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    def url(self, behaviour: Behaviour) -> str:
        """Return a base URL (as for --prometheus) whose every request runs ``behaviour``."""
        token = uuid.uuid4().hex
        self._server.routes[token] = behaviour
        return f"http://127.0.0.1:{self._server.server_address[1]}/{token}/"


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """Start the server on a free loopback port; stop it (and every behaviour) after."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stopping = threading.Event()
    server.routes = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HostileServer(server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- answers -------------------------------------------------------------------------------------


def slo_series(service: str = "svc", slo: str = "availability", **values: str) -> list[dict]:
    """The vector items of one healthy SLO (99.9%, 90% budget left), with ``values`` replacing
    series values by key: objective, budget, burn, period, or an error window like ``error_1d``.
    """
    labels = {LABEL_ID: f"{service}-{slo}", LABEL_SERVICE: service, LABEL_SLO: slo}
    series = {
        "objective": (OBJECTIVE, {}, "0.999"),
        "budget": (PERIOD_BUDGET_REMAINING, {}, "0.9"),
        "burn": (CURRENT_BURN_RATE, {}, "0.5"),
        "period": (TIME_PERIOD_DAYS, {}, "30"),
    }
    for window in ("5m", "30m", "1h", "1d"):
        series[f"error_{window}"] = (sli_error_record(window), {LABEL_WINDOW: window}, "0.0005")
    unknown = set(values) - set(series)
    if unknown:
        raise KeyError(f"no series {sorted(unknown)}")
    return [
        {
            "metric": {"__name__": name, **labels, **extra},
            "value": [1700000000.0, values.get(key, default)],
        }
        for key, (name, extra, default) in series.items()
    ]


def vector(result: list[dict]) -> dict:
    """A successful instant-query answer holding ``result``."""
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def send_json(document: object, status: int = 200) -> Behaviour:
    """Answer with ``document`` as JSON."""
    return send_bytes(json.dumps(document).encode(), status)


def send_bytes(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """Answer with ``body`` as it is, with a correct content-length."""

    def behaviour(handler: _Handler) -> None:
        handler.start(status, {"content-length": str(len(body)), **(headers or {})})
        handler.wfile.write(body)

    return behaviour


def drip(every_seconds: float) -> Behaviour:
    """Send the headers, then a valid answer one byte every ``every_seconds``, for at most
    MAX_BEHAVIOUR_SECONDS (then the connection closes with the answer unfinished)."""

    def behaviour(handler: _Handler) -> None:
        handler.start()
        handler.wfile.flush()
        body = json.dumps(vector(slo_series())).encode()
        give_up = time.monotonic() + MAX_BEHAVIOUR_SECONDS
        for byte in body:
            if handler.stopped_within(every_seconds) or time.monotonic() > give_up:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    return behaviour


def stall_before_headers() -> Behaviour:
    """Accept the request and answer nothing (until the client leaves or the server stops)."""

    def behaviour(handler: _Handler) -> None:
        handler.stopped_within(MAX_BEHAVIOUR_SECONDS)

    return behaviour


def endless(chunk: bytes = b" " * 65536) -> Behaviour:
    """A body without a length that never ends (bounded at 1 GiB, or the client leaving)."""

    def behaviour(handler: _Handler) -> None:
        handler.start()
        for _ in range((1 << 30) // len(chunk)):
            if handler.server.stopping.is_set():
                return
            handler.wfile.write(chunk)

    return behaviour


def declared_huge(length: int = 50 * 1024 * 1024) -> Behaviour:
    """Headers announcing a body of ``length`` bytes, then a start of it."""

    def behaviour(handler: _Handler) -> None:
        handler.start(headers={"content-length": str(length)})
        handler.wfile.write(b'{"status": "success", ')
        handler.stopped_within(MAX_BEHAVIOUR_SECONDS)

    return behaviour


def gzip_bomb(expanded: int = 64 * 1024 * 1024) -> Behaviour:
    """A small gzip body that expands to ``expanded`` bytes of spaces."""
    body = gzip.compress(b" " * expanded, compresslevel=9)
    return send_bytes(body, headers={"content-encoding": "gzip"})
