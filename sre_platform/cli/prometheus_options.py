"""Checks of the options every command reading Prometheus takes: --prometheus and --timeout."""

from __future__ import annotations

import math

import typer

MAX_TIMEOUT_SECONDS = 3600.0


def check_url(url: str) -> str:
    """A --prometheus value that is an http(s) base URL; a usage error (exit 2) otherwise."""
    from sre_platform.prometheus import parse_base_url  # imports boto3: only when asked

    try:
        parse_base_url(url)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return url


def check_timeout(seconds: float) -> float:
    """A --timeout above 0 and at most MAX_TIMEOUT_SECONDS; a usage error otherwise."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT_SECONDS):
        raise typer.BadParameter(
            f"{seconds!r} is not a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS:g}"
        )
    return seconds
