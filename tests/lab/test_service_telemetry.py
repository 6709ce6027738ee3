"""The demo service's telemetry: spans as OTLP/JSON lines, trace ids in its logs, both rotated.

The spans file is checked three ways: against the OTLP/JSON encoding rules, by the OpenTelemetry
project's own OTLP/JSON codec (opentelemetry-proto-json) reading and re-writing it unchanged,
and by protobuf parsing it into an ``ExportTraceServiceRequest`` with the ids read as hex, the
way the Collector's ``otlpjsonfile`` receiver reads the Collector file exporter's output.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.proto_json.collector.trace.v1 import trace_service as otlp_json_codec
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from prometheus_client import CollectorRegistry

from lab import jsonlog
from lab.procs import free_port
from lab.service import Exchange, ExchangeMetrics, tracer_provider
from lab.service import main as service_main
from tests.lab.helpers import ROOT

ORDER = {"symbol": "ACME", "side": "buy", "quantity": 10, "price": 101.5}
ID_LENGTHS = {"traceId": 32, "spanId": 16, "parentSpanId": 16}
INT64_FIELDS = {"startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue"}
START_CAP = 120.0  # a cold replica on a busy machine


# --- reading the spans file the way trace tools do ------------------------------------------
def _rule_violations(value: Any, where: str = "$") -> list[str]:
    """Where ``value`` breaks the OTLP/JSON encoding rules (empty when it follows them)."""
    found: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += _rule_violations(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}"
            if not re.fullmatch(r"[a-z][A-Za-z0-9]*", key):
                found.append(f"{here}: keys are lowerCamelCase")
            if key in ID_LENGTHS and not re.fullmatch(f"[0-9a-f]{{{ID_LENGTHS[key]}}}", item):
                found.append(f"{here}: ids are {ID_LENGTHS[key]} lowercase hex digits")
            elif key in INT64_FIELDS and not (isinstance(item, str) and item.isdigit()):
                found.append(f"{here}: 64-bit integers are decimal strings")
            elif key in ("kind", "code") and not isinstance(item, int):
                found.append(f"{here}: enums are integers")
            else:
                found += _rule_violations(item, here)
    return found


def _as_protobuf(data: dict[str, Any]) -> ExportTraceServiceRequest:
    """Parse one line into protobuf: OTLP/JSON ids are hex where protobuf's JSON has base64."""

    def b64_ids(value: Any) -> Any:
        if isinstance(value, list):
            return [b64_ids(item) for item in value]
        if isinstance(value, dict):
            return {
                key: base64.b64encode(bytes.fromhex(item)).decode()
                if key in ID_LENGTHS
                else b64_ids(item)
                for key, item in value.items()
            }
        return value

    return json_format.ParseDict(b64_ids(data), ExportTraceServiceRequest())


def _spans_in(path: Path) -> list[tuple[dict[str, Any], Span]]:
    """Every span in an OTLP/JSON lines file, with its resource's attributes."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        assert list(data) == ["resourceSpans"], line[:200]
        assert _rule_violations(data) == [], line[:200]
        assert otlp_json_codec.ExportTraceServiceRequest.from_dict(data).to_dict() == data
        for resource_spans in _as_protobuf(data).resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                out += [(resource, span) for span in scope_spans.spans]
    return out


def _attributes(span: Span) -> dict[str, Any]:
    return {a.key: json_format.MessageToDict(a.value).popitem()[1] for a in span.attributes}


# --- spans as OTLP/JSON ----------------------------------------------------------------------
def _run(exchange: Exchange, *orders: dict[str, Any], error_rate: float = 0.0) -> None:
    async def main() -> None:
        async with TestClient(TestServer(exchange.app())) as client:
            login = await client.post("/login", json={"user": "ada", "password": "pw"})
            headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
            if error_rate:
                await client.post("/admin/fault", json={"error_rate": error_rate})
            for order in orders:
                await client.post("/orders", json=order, headers=headers)

    asyncio.run(main())


def test_spans_are_written_as_otlp_json_export_requests(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "replica-1.jsonl"
    provider = tracer_provider(1, path, otlp_endpoint=None, ratio=1.0)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    _run(Exchange(ExchangeMetrics(CollectorRegistry()), tracer, execution_delay=lambda r: 0), ORDER)
    provider.shutdown()

    written = _spans_in(path)
    expected = {s.name: s for s in memory.get_finished_spans()}
    assert sorted(span.name for _, span in written) == [
        "POST /login",
        "POST /orders",
        "execute_order",
    ]
    for resource, span in written:
        sdk = expected[span.name]
        assert span.trace_id == sdk.context.trace_id.to_bytes(16, "big")
        assert span.span_id == sdk.context.span_id.to_bytes(8, "big")
        assert span.end_time_unix_nano == sdk.end_time
        assert resource == {"service.name": "exchange", "service.instance.id": "replica-1"} | {
            key: resource[key] for key in resource if key.startswith("telemetry.")
        }
    by_name = {span.name: span for _, span in written}
    execute, server = by_name["execute_order"], by_name["POST /orders"]
    assert execute.parent_span_id == server.span_id and execute.trace_id == server.trace_id
    assert _attributes(execute) == {"order.symbol": "ACME", "order.side": "buy", "order.id": "o-1"}
    assert server.kind == Span.SPAN_KIND_SERVER
    assert _attributes(server)["http.response.status_code"] == "201"  # int64: a string in JSON
    assert _attributes(server)["http.route"] == "/orders"


def test_a_failed_request_is_an_error_span(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = tracer_provider(1, path, otlp_endpoint=None, ratio=1.0)
    tracer = provider.get_tracer("test")
    exchange = Exchange(ExchangeMetrics(CollectorRegistry()), tracer, execution_delay=lambda r: 0)
    _run(exchange, ORDER, {**ORDER, "quantity": 0}, error_rate=1.0)
    provider.shutdown()
    statuses = {
        (span.name, _attributes(span).get("http.response.status_code")): span.status.code
        for _, span in _spans_in(path)
        if span.name.startswith("POST /orders")
    }
    assert statuses == {
        ("POST /orders", "500"): 2,  # STATUS_CODE_ERROR
        ("POST /orders", "400"): 0,  # a client's mistake is not the server's error
    }


# --- trace ids in the logs --------------------------------------------------------------------
def _log_lines(emit: Any) -> list[dict[str, Any]]:
    stream = io.StringIO()
    handler = jsonlog.json_handler()
    handler.setStream(stream)
    logger = logging.getLogger(f"test-{id(stream)}")
    logger.propagate, logger.handlers = False, [handler]
    logger.setLevel(logging.INFO)
    emit(logger)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def test_a_log_line_written_inside_a_span_carries_its_ids_and_one_outside_none() -> None:
    tracer = TracerProvider(sampler=ALWAYS_ON).get_tracer("test")
    seen: dict[str, tuple[str, str]] = {}

    def emit(logger: logging.Logger) -> None:
        logger.info("before")
        with tracer.start_as_current_span("outer") as outer:
            seen["outer"] = _ids(outer)
            logger.info("in outer", extra={"order": "o-1"})
            with tracer.start_as_current_span("inner") as inner:
                seen["inner"] = _ids(inner)
                logger.warning("in inner")
        logger.info("after")

    lines = {line["msg"]: line for line in _log_lines(emit)}
    for msg, span in (("in outer", "outer"), ("in inner", "inner")):
        assert (lines[msg]["trace_id"], lines[msg]["span_id"]) == seen[span], msg
        assert lines[msg]["trace_sampled"] is True
    assert seen["outer"][0] == seen["inner"][0]
    for msg in ("before", "after"):
        assert not {"trace_id", "span_id"} & set(lines[msg]), lines[msg]
    assert lines["in outer"]["order"] == "o-1"
    assert {"ts", "level", "logger"} <= set(lines["before"])


def test_a_span_left_out_by_sampling_still_names_its_trace_in_the_logs() -> None:
    tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")

    def emit(logger: logging.Logger) -> None:
        with tracer.start_as_current_span("dropped"):
            logger.info("unsampled")

    (line,) = _log_lines(emit)
    assert re.fullmatch("[0-9a-f]{32}", line["trace_id"]) and line["trace_sampled"] is False


# --- the replica process: its log file, its spans file, rotation ------------------------------
@contextmanager
def _replica(tmp_path: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``python -m lab.service`` on a free port; stop it (SIGTERM) on the way out."""
    port = free_port()
    argv = [sys.executable, "-m", "lab.service", "--port", str(port), "--replica", "1"]
    argv += ["--traces-file", str(tmp_path / "traces" / "replica-1.jsonl")]
    argv += ["--log-file", str(tmp_path / "logs" / "replica-1.log"), *options]
    out = open(tmp_path / "replica-1.out", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_CAP
        while True:
            assert process.poll() is None, (tmp_path / "replica-1.out").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the replica did not answer in {START_CAP}s"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, trust_env=False)


def _login(client: httpx.Client, user: str) -> dict[str, str]:
    response = client.post("/login", json={"user": user, "password": "pw"})
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_replicas_log_lines_name_the_trace_in_its_spans_file(tmp_path: Path) -> None:
    with _replica(tmp_path) as url, _client(url) as client:
        headers = _login(client, "ada")
        assert client.post("/admin/fault", json={"error_rate": 1}).status_code == 200
        assert client.post("/orders", json=ORDER, headers=headers).status_code == 500

    logs = [json.loads(line) for line in (tmp_path / "logs" / "replica-1.log").open()]
    (failed,) = [line for line in logs if line["msg"] == "order failed (injected fault)"]
    spans = {span.name: span for _, span in _spans_in(tmp_path / "traces" / "replica-1.jsonl")}
    execute = spans["execute_order"]
    assert failed["trace_id"] == execute.trace_id.hex() == spans["POST /orders"].trace_id.hex()
    assert failed["span_id"] == execute.span_id.hex()
    assert failed["user"] == "ada"
    starting = next(line for line in logs if line["msg"] == "starting")
    assert "trace_id" not in starting, "no span is active at start-up"
    assert (tmp_path / "replica-1.out").read_text() == "", "logs go to the log file only"


CAP, BACKUPS = 4096, 2


def test_a_replicas_logs_and_spans_rotate_within_their_size_cap(tmp_path: Path) -> None:
    options = ("--rotate-max-bytes", str(CAP), "--rotate-backups", str(BACKUPS))
    # Small span batches written often, so the spans file rotates as it would over hours.
    env = {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2", "OTEL_BSP_SCHEDULE_DELAY": "20"}
    with _replica(tmp_path, *options, env=env) as url, _client(url) as client:
        first, last = _login(client, "first-trader"), _login(client, "last-trader")
        assert client.post("/admin/fault", json={"error_rate": 1}).status_code == 200
        client.post("/orders", json={**ORDER, "symbol": "FIRST"}, headers=first)
        for _ in range(120):
            client.post("/orders", json=ORDER, headers=first)
        client.post("/orders", json={**ORDER, "symbol": "LAST"}, headers=last)

    for folder, name in (("logs", "replica-1.log"), ("traces", "replica-1.jsonl")):
        files = sorted((tmp_path / folder).iterdir())
        assert [f.name for f in files] == [name] + [f"{name}.{n}" for n in range(1, BACKUPS + 1)]
        sizes = {f.name: f.stat().st_size for f in files}
        assert all(0 < size <= CAP for size in sizes.values()), sizes
        assert sum(sizes.values()) <= CAP * (BACKUPS + 1)
    logs = (tmp_path / "logs" / "replica-1.log").read_text().splitlines()
    assert json.loads(logs[-1])["user"] == "last-trader", "the newest record is kept"
    kept = [json.loads(line) for f in (tmp_path / "logs").iterdir() for line in f.open()]
    assert "starting" not in {line["msg"] for line in kept}, "the oldest records are gone"
    symbols = [
        _attributes(span).get("order.symbol")
        for file in (tmp_path / "traces").iterdir()
        for _, span in _spans_in(file)
    ]
    assert "LAST" in symbols and "FIRST" not in symbols, "the newest spans kept, the oldest gone"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param(
            ["--rotate-backups", "0"],
            "--rotate-backups: must be at least 1, got 0",
            id="no backup would let the file grow forever",
        ),
        pytest.param(
            ["--rotate-max-bytes", "100"],
            "--rotate-max-bytes: must be at least 1024, got 100",
            id="a cap under 1 KiB is refused",
        ),
        pytest.param(
            ["--rotate-max-bytes", "ten"],
            "--rotate-max-bytes: expected a whole number, got 'ten'",
            id="a cap that is not a number is refused",
        ),
    ],
)
def test_a_rotation_that_would_not_cap_the_files_is_refused(
    option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        service_main(["--port", "1", *option])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
