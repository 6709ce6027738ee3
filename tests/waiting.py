"""Waiting on a condition in tests: poll with a generous cap, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    what: str,
    check: Callable[[], T | None],
    cap: float,
    every: float = 0.5,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """``check()``'s first truthy result, polled every ``every`` seconds; an AssertionError
    naming ``what`` once ``cap`` seconds have passed. Exceptions of the ``tolerate`` types
    count as "not yet"."""
    deadline = time.monotonic() + cap
    while True:
        try:
            value = check()
        except tolerate:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not seen within {cap:g} s"
        time.sleep(every)
