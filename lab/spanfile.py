"""Finished spans as OTLP/JSON lines in a size-capped rotating file.

Each export writes one ``ExportTraceServiceRequest`` on one line (``{"resourceSpans": [...]}``):
the OpenTelemetry Collector file exporter's format, which the Collector's ``otlpjsonfile``
receiver reads back and any OTLP/HTTP endpoint takes line by line (``POST /v1/traces``,
``Content-Type: application/json``). The message is built by the OTLP exporters' own encoder and
printed by protobuf's JSON mapping (lowerCamelCase keys, 64-bit integers as strings, enums as
integers); OTLP/JSON differs from that mapping only in its trace and span ids, which are hex
instead of base64.

The file rotates like the logs (``logging.handlers.RotatingFileHandler``): ``path``, ``path.1``,
... ``path.N``. A line longer than ``max_bytes`` (a batch of hundreds of spans against a tiny
cap) is still written whole, into a file of its own.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

HEX_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})  # spans' and links' ids


def otlp_json(spans: Sequence[ReadableSpan]) -> str:
    """``spans`` as one OTLP/JSON ``ExportTraceServiceRequest``, on one line."""
    message = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    return json.dumps(_hex_ids(message), separators=(",", ":"))


def _hex_ids(value: Any) -> Any:
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in HEX_ID_FIELDS else _hex_ids(item)
            for key, item in value.items()
        }
    return value


class OtlpJsonFileSpanExporter(SpanExporter):
    """Append each batch of finished spans to ``path`` as one OTLP/JSON line, rotating it."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._file.setFormatter(logging.Formatter("%(message)s"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if spans:
            self._file.handle(logging.makeLogRecord({"msg": otlp_json(spans)}))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()
