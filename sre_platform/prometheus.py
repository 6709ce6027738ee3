"""A small client for the Prometheus HTTP API (instant and range queries), for the lab and AMP.

Every read is bounded, whatever the server does: one overall deadline covers everything a client
does (connecting, sending, waiting for headers, reading the body however slowly it drips), and an
answer larger than a size cap is refused. A per-read timeout would not do: a server sending one
byte every few seconds never trips it. The request runs on an event loop under
``asyncio.timeout``, which cancels whatever read is pending when the deadline passes; the
loop's blocking helpers (the DNS lookup) run on daemon threads nobody waits for, so a resolver
that hangs cannot hold the run past the deadline either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Literal, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ValidationError

from sre_platform.errors import PrometheusError, field_path
from sre_platform.sigv4 import SessionFactory, amp_region, default_session, sigv4_auth
from sre_platform.text import printable

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_DETAIL_CHARS = 200
_T = TypeVar("_T")

# How Prometheus writes a sample value (Go's strconv): digits, exponents, +Inf, -Inf, NaN.
_PROMETHEUS_FLOAT = re.compile(r"[+-]?(?:Inf|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


@dataclass(frozen=True)
class Limits:
    """How long one client may take over everything it asks, and how big one answer may be."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_response_bytes: int = MAX_RESPONSE_BYTES


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels (with ``__name__``) and value (maybe NaN)."""

    labels: Mapping[str, str]
    value: float

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")


def _sample_value(text: object) -> float:
    if not isinstance(text, str) or not _PROMETHEUS_FLOAT.fullmatch(text):
        raise ValueError("a sample value must be a number as Prometheus writes it")
    return float(text)


class _VectorItem(BaseModel):
    metric: dict[str, str]
    value: tuple[float, Annotated[float, BeforeValidator(_sample_value)]]


class _VectorData(BaseModel):
    resultType: Literal["vector"]  # the API's field name
    result: list[_VectorItem]


class _QueryResponse(BaseModel):
    status: Literal["success"]
    data: _VectorData


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its (epoch seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class _MatrixItem(BaseModel):
    metric: dict[str, str]
    values: list[tuple[float, Annotated[float, BeforeValidator(_sample_value)]]]


class _MatrixData(BaseModel):
    resultType: Literal["matrix"]  # the API's field name
    result: list[_MatrixItem]


class _RangeResponse(BaseModel):
    status: Literal["success"]
    data: _MatrixData


class _LabelValuesResponse(BaseModel):
    status: Literal["success"]
    data: list[str]


def quote(value: str) -> str:
    """Return ``value`` as a PromQL double-quoted string literal."""
    return json.dumps(value)


def parse_base_url(url: str) -> httpx.URL:
    """Return ``url`` as a Prometheus base URL; ValueError says why it cannot be one."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"{url!r} is not a URL: {printable(str(exc))}") from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise ValueError(
            f"{url!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:9090 or an AMP "
            "workspace URL"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"{url!r}: port {parsed.port} is not between 1 and 65535")
    if parsed.query or parsed.fragment:
        raise ValueError(f"{url!r}: a base URL takes no query string or fragment")
    return parsed


def _api_url(base_url: str, endpoint: str = "query") -> str:
    return base_url.rstrip("/") + "/api/v1/" + endpoint


def _error_detail(body: bytes) -> str:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and "error" in document:
        text = str(document["error"])
    else:
        text = body.decode("utf-8", errors="replace")
    return printable(text.strip()[:_DETAIL_CHARS])


def _why_not(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = field_path(error["loc"])
    return printable(f"{where}: {error['msg']}" if where else error["msg"])


def parse_vector(payload: object) -> list[Sample]:
    """Parse the JSON body of an instant query that returned a vector (ValidationError if not)."""
    parsed = _QueryResponse.model_validate(payload)
    return [
        Sample(labels=MappingProxyType(dict(item.metric)), value=item.value[1])
        for item in parsed.data.result
    ]


def parse_matrix(payload: object) -> list[Series]:
    """Parse the JSON body of a range query (ValidationError if it is not a matrix)."""
    parsed = _RangeResponse.model_validate(payload)
    return [
        Series(
            labels=MappingProxyType(dict(item.metric)),
            points=tuple((float(t), v) for t, v in item.values),
        )
        for item in parsed.data.result
    ]


class _DaemonThreads(concurrent.futures.ThreadPoolExecutor):
    """Runs each call on a daemon thread of its own that no one joins (a thread pool's workers
    are waited for when the event loop closes and again when Python exits)."""

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object):
        future: concurrent.futures.Future[object] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the waiting coroutine
                    future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return future


def _run(coroutine: Coroutine[object, object, _T]) -> _T:
    with asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(_DaemonThreads())
        return runner.run(coroutine)


class PrometheusClient:
    """Instant queries against one Prometheus-compatible endpoint, within ``limits``.

    The deadline starts when the client is made and covers every query it runs; each answer is
    capped at ``limits.max_response_bytes`` (after decompression). Each query opens and closes
    its own connection. Every failure is a PrometheusError naming the URL: the caller cannot decide
    without the data.
    """

    def __init__(
        self, base_url: str, auth: httpx.Auth | None = None, limits: Limits = Limits()
    ) -> None:
        self.base_url = base_url
        self.limits = limits
        self._auth = auth
        self._deadline = time.monotonic() + limits.timeout_seconds

    def query(self, expr: str) -> list[Sample]:
        """Run ``expr`` as an instant query at the current time."""
        payload = self._get(expr, "query", {"query": expr})
        try:
            return parse_vector(payload)
        except ValidationError as exc:
            raise PrometheusError(
                f"Prometheus at {self.base_url} sent an answer that is not an instant vector: "
                f"{_why_not(exc)}"
            ) from None

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """Run ``expr`` as a range query from ``start`` to ``end`` (epoch seconds), every
        ``step`` seconds."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        payload = self._get(expr, "query_range", params)
        try:
            return parse_matrix(payload)
        except ValidationError as exc:
            raise PrometheusError(
                f"Prometheus at {self.base_url} sent an answer that is not a range (matrix): "
                f"{_why_not(exc)}"
            ) from None

    def label_values(
        self, label: str, match: str = "", start: float | None = None, end: float | None = None
    ) -> list[str]:
        """The values of ``label`` among the series ``match`` selects (every series when it is
        empty), between ``start`` and ``end`` (epoch seconds) when given: what Grafana's
        ``label_values(match, label)`` lists."""
        params = {"match[]": match} if match else {}
        if start is not None:
            params["start"] = f"{start:.3f}"
        if end is not None:
            params["end"] = f"{end:.3f}"
        what = f"label_values({match}, {label})" if match else f"label_values({label})"
        payload = self._get(what, f"label/{label}/values", params)
        try:
            return list(_LabelValuesResponse.model_validate(payload).data)
        except ValidationError as exc:
            raise PrometheusError(
                f"Prometheus at {self.base_url} sent an answer that is not a list of label "
                f"values: {_why_not(exc)}"
            ) from None

    def _get(self, expr: str, endpoint: str, params: dict[str, str]) -> object:
        """The decoded JSON answer to ``endpoint``; a PrometheusError for anything else."""
        remaining = self._deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            status, body = _run(self._fetch(endpoint, params, remaining))
        except TimeoutError:
            raise PrometheusError(
                f"Prometheus at {self.base_url} gave no complete answer within the "
                f"{self.limits.timeout_seconds:g} s deadline (--timeout)"
            ) from None
        except httpx.DecodingError as exc:
            raise PrometheusError(
                f"Prometheus at {self.base_url} sent an answer that cannot be decoded: "
                f"{printable(str(exc))}"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusError(
                f"Prometheus at {self.base_url} is unreachable: {printable(str(exc))}"
            ) from None
        if status != 200:
            raise PrometheusError(
                f"Prometheus at {self.base_url} answered HTTP {status} "
                f"to {expr!r}: {_error_detail(body)}"
            )
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            kind = "an instant vector" if endpoint == "query" else "a range (matrix)"
            raise PrometheusError(
                f"Prometheus at {self.base_url} sent an answer that is not {kind}: not JSON"
            ) from None
        if isinstance(payload, dict) and payload.get("status") == "error":
            raise PrometheusError(
                f"Prometheus at {self.base_url} refused {expr!r}: {_error_detail(body)}"
            )
        return payload

    async def _fetch(
        self, endpoint: str, params: dict[str, str], remaining: float
    ) -> tuple[int, bytes]:
        async with (
            asyncio.timeout(remaining),
            httpx.AsyncClient(auth=self._auth, timeout=None) as http,
            http.stream("GET", _api_url(self.base_url, endpoint), params=params) as response,
        ):
            return response.status_code, await self._read(response)

    async def _read(self, response: httpx.Response) -> bytes:
        cap = self.limits.max_response_bytes
        too_big = PrometheusError(
            f"Prometheus at {self.base_url} sent an answer larger than {cap:,} bytes "
            "(the size limit); refusing to read it"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)


def open_client(
    url: str, session_factory: SessionFactory = default_session, limits: Limits = Limits()
) -> PrometheusClient:
    """Return a client for ``url``; AMP workspace URLs are signed with SigV4."""
    parse_base_url(url)
    return PrometheusClient(url, auth_for(url, session_factory), limits)


def auth_for(url: str, session_factory: SessionFactory) -> httpx.Auth | None:
    """Return SigV4 auth (region from the host) for an AMP workspace URL, else None."""
    region = amp_region(url)
    return sigv4_auth(session_factory, region) if region else None
