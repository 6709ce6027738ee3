"""JSON-lines logging for the lab's own processes, with the active span's trace and span ids.

python-json-logger writes one object per record: ``ts``, ``level``, ``logger``, ``msg``, the
record's ``extra`` fields and ``exc`` for an exception. A record written while an OpenTelemetry
span is active also carries ``trace_id`` and ``span_id`` (lowercase hex, as in the spans file)
and ``trace_sampled`` (whether that trace is in the spans file at all).

Records go to stderr, or to a size-capped rotating file: ``path``, ``path.1``, ... ``path.N``
(``logging.handlers.RotatingFileHandler``), so a replica running for days keeps at most
``max_bytes * (backups + 1)`` of logs, the newest ones.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

ROTATE_MAX_BYTES = 10 * 1024 * 1024  # per file
ROTATE_BACKUPS = 3  # rotated files kept beside the current one
FIELDS = {"asctime": "ts", "levelname": "level", "name": "logger", "message": "msg"}


class TraceContextFilter(logging.Filter):
    """Add the current span's ids to every record written while a span is active."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
            record.trace_sampled = context.trace_flags.sampled
        return True


def formatter() -> JsonFormatter:
    """One JSON object per record, UTC timestamps with milliseconds (``...T08:00:00.123Z``)."""
    fmt = JsonFormatter(
        "".join(f"{{{field}}}" for field in FIELDS),
        style="{",
        rename_fields={**FIELDS, "exc_info": "exc"},
    )
    fmt.converter = time.gmtime
    fmt.default_time_format = "%Y-%m-%dT%H:%M:%S"
    fmt.default_msec_format = "%s.%03dZ"
    return fmt


def json_handler(
    path: Path | None = None, max_bytes: int = ROTATE_MAX_BYTES, backups: int = ROTATE_BACKUPS
) -> logging.Handler:
    """A handler writing JSON lines with trace ids: to stderr, or rotated at ``path``."""
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    handler.setFormatter(formatter())
    handler.addFilter(TraceContextFilter())
    return handler


def add_rotation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--rotate-max-bytes`` and ``--rotate-backups``, refusing values that would not cap files
    (``RotatingFileHandler`` never rotates with no backup, and appends forever)."""
    parser.add_argument(
        "--rotate-max-bytes",
        type=_at_least(1024),
        default=ROTATE_MAX_BYTES,
        help="size cap of each log and traces file (bytes)",
    )
    parser.add_argument(
        "--rotate-backups",
        type=_at_least(1),
        default=ROTATE_BACKUPS,
        help="rotated files kept beside each (replica-1.log.1, ...)",
    )


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def setup(
    component: str,
    level: int = logging.INFO,
    path: Path | None = None,
    max_bytes: int = ROTATE_MAX_BYTES,
    backups: int = ROTATE_BACKUPS,
) -> logging.Logger:
    """Send every log record of this process to ``json_handler``; return ``component``'s logger."""
    root = logging.getLogger()
    root.handlers[:] = [json_handler(path, max_bytes, backups)]
    root.setLevel(level)
    return logging.getLogger(component)
