"""The action budget and cooldown as a pure function over one service's history, and the
protocol of the stores that keep that history.

A store makes :func:`admit` atomic: it reads a scope's history and its version, admits the
request or refuses it, and writes the new history only if nobody changed it meanwhile
(compare-and-set), together with the request's idempotency key (refused if already seen). Two
remediators racing on the same scope can therefore never both take the last slot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

DUPLICATE = "duplicate"
BUDGET = "budget"
COOLDOWN = "cooldown"
MAX_CAS_ATTEMPTS = 20  # compare-and-set retries under contention before giving up


class StoreContention(RuntimeError):
    """The scope kept changing under a reservation: another remediator is very busy."""


@dataclass(frozen=True)
class Request:
    """Ask to take one action on a scope at ``now`` (seconds since the epoch).

    ``key`` identifies the alert occurrence and rule (see :func:`idempotency_key`);
    ``keep_seconds`` is how long the key must be remembered.
    """

    scope: str
    action: str
    key: str
    now: float
    max_actions: int
    window_seconds: int
    cooldown_seconds: int
    keep_seconds: int


@dataclass(frozen=True)
class History:
    """What was done on one scope: the times of the actions still inside the window, and the
    time each action type last acted (for its cooldown)."""

    version: int = 0
    actions: tuple[float, ...] = ()
    last: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def as_json(self) -> dict[str, object]:
        """The history as stored."""
        return {"version": self.version, "actions": list(self.actions), "last": dict(self.last)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> History:
        """A history as :meth:`as_json` stored it."""
        return cls(
            version=int(data.get("version", 0)),  # type: ignore[arg-type]
            actions=tuple(float(t) for t in data.get("actions", ())),  # type: ignore[union-attr]
            last=MappingProxyType(
                {str(k): float(v) for k, v in dict(data.get("last", {})).items()}  # type: ignore[arg-type]
            ),
        )


def admit(history: History, request: Request) -> tuple[History | None, str | None]:
    """The history after taking ``request``, or None and why not (cooldown, budget)."""
    last = history.last.get(request.action)
    if last is not None and request.now - last < request.cooldown_seconds:
        return None, COOLDOWN
    recent = tuple(t for t in history.actions if t > request.now - request.window_seconds)
    if len(recent) >= request.max_actions:
        return None, BUDGET
    return (
        replace(
            history,
            version=history.version + 1,
            actions=(*recent, request.now),
            last=MappingProxyType({**history.last, request.action: request.now}),
        ),
        None,
    )


def idempotency_key(fingerprint: str, starts_at: str, rule: str) -> str:
    """The key of one alert occurrence (fingerprint and start) under one rule."""
    return hashlib.sha256(f"{fingerprint}\n{starts_at}\n{rule}".encode()).hexdigest()[:40]


class StateStore(Protocol):
    """Where the remediator keeps its action history (a file in the lab, DynamoDB on AWS)."""

    def reserve(self, request: Request) -> str | None:
        """Atomically admit ``request``: None when granted (the action is recorded and the key
        remembered), otherwise why not: :data:`DUPLICATE`, :data:`COOLDOWN` or :data:`BUDGET`.
        """
        ...
