"""Prometheus-style durations ("5m", "1h30m", "30d") as whole seconds."""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated

from pydantic import AfterValidator

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> int:
    """Return the number of whole seconds in a duration such as ``"30d"`` or ``"1h30m"``.

    Raises ValueError with a readable message on anything else.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 5m, 1h, 30d")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or total <= 0:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 5m, 1h, 30d")
    if total != int(total):
        raise ValueError(f"invalid duration {text!r}: must be a whole number of seconds")
    return int(total)


@cache
def format_duration(seconds: int) -> str:
    """Return ``seconds`` as Prometheus formats durations: ``30d``, ``1w``, ``1h30m``.

    Years and weeks are used only when they divide the duration exactly (``7d`` is ``1w``,
    ``30d`` stays ``30d``), as Prometheus and Sloth do.
    """
    if seconds <= 0:
        raise ValueError("duration must be positive")
    out = []
    for unit, size, exact in (
        ("y", 31536000, True),
        ("w", 604800, True),
        ("d", 86400, False),
        ("h", 3600, False),
        ("m", 60, False),
        ("s", 1, False),
    ):
        if exact and seconds % size:
            continue
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def humanize(seconds: float) -> str:
    """Return a readable approximation such as ``"43m 12s"`` or ``"2d 4h"``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2])


def _checked(text: str) -> str:
    parse_duration(text)
    return text


DurationText = Annotated[str, AfterValidator(_checked)]
"""A pydantic field type: a duration kept as written, refused unless ``parse_duration`` reads it."""
