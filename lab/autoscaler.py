"""The lab's autoscaler: target tracking on saturation, like an EC2 Auto Scaling group's
target-tracking policy on a custom metric.

The metric is the mean number of orders in flight per replica (holding a worker or waiting for
one; each replica's ``GET /load``). Above the target (beyond a tolerance) it scales out at once
to ``ceil(replicas * metric / target)``; it scales in only when the metric has stayed below the
target for a whole ``scale_in_after`` window, one replica at a time, and only when the peak of
that window (its last ``scale_in_after`` seconds) would still be under the target with one
replica less (scale-in is conservative, as AWS's is). Cooldowns follow each direction.
:func:`decide` is pure; :func:`observe` keeps the state between samples, and the remediator
(lab.remediator) samples, acts and writes an audit record (:class:`ScaleActivity`) per change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCALE_OUT = "scale_out"
SCALE_IN = "scale_in"
RULE = "autoscaler:target-tracking"


@dataclass(frozen=True)
class TargetTracking:
    """The policy: target in-flight orders per replica, bounds and cooldowns (seconds)."""

    target: float = 6.0
    minimum: int = 3
    maximum: int = 6
    scale_out_cooldown: float = 15.0
    scale_in_cooldown: float = 30.0
    scale_in_after: float = 30.0
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        if self.target <= 0 or not 1 <= self.minimum <= self.maximum:
            raise ValueError("target tracking needs target > 0 and 1 <= minimum <= maximum")


@dataclass(frozen=True)
class Sample:
    """The metric at ``time`` (seconds, any monotonic clock) with ``replicas`` replicas."""

    time: float
    replicas: int
    metric: float  # mean orders in flight per replica


@dataclass(frozen=True)
class ScaleDecision:
    """What to do now: ``desired`` replicas (== current: nothing), and why."""

    desired: int
    direction: str | None  # SCALE_OUT, SCALE_IN or None
    reason: str


@dataclass
class ScalerState:
    """What the autoscaler remembers between samples."""

    last_scale_out: float | None = None
    last_scale_in: float | None = None
    samples: list[Sample] = field(default_factory=list)  # since the last change of replicas


def _clamp(value: int, policy: TargetTracking) -> int:
    return max(policy.minimum, min(policy.maximum, value))


def _since(then: float | None, now: float) -> float:
    return math.inf if then is None else now - then


def decide(policy: TargetTracking, state: ScalerState, sample: Sample) -> ScaleDecision:
    """The decision for ``sample`` given what ``state`` remembers (pure: nothing is changed)."""
    current = sample.replicas
    if current < policy.minimum or current > policy.maximum:
        wanted = _clamp(current, policy)
        direction = SCALE_OUT if wanted > current else SCALE_IN
        return ScaleDecision(wanted, direction, f"{current} replicas outside the bounds")
    ratio = sample.metric / policy.target
    if ratio > 1 + policy.tolerance:
        wanted = _clamp(math.ceil(current * ratio - 1e-9), policy)
        if wanted <= current:
            return ScaleDecision(current, None, f"at the maximum ({policy.maximum})")
        if _since(state.last_scale_out, sample.time) < policy.scale_out_cooldown:
            return ScaleDecision(current, None, "scale-out cooldown")
        return ScaleDecision(
            wanted,
            SCALE_OUT,
            f"{sample.metric:.1f} orders in flight per replica > target {policy.target:g}",
        )
    if ratio >= 1 - policy.tolerance or current <= policy.minimum:
        return ScaleDecision(current, None, "at the target")
    seen = [s for s in state.samples if s.replicas == current] + [sample]
    if sample.time - seen[0].time < policy.scale_in_after:
        return ScaleDecision(current, None, "below the target, not for long enough yet")
    # The last scale_in_after seconds only: an older peak (the spike before a heal) would
    # otherwise hold the replicas until it left the ten-minute memory.
    window = [s for s in seen if s.time >= sample.time - policy.scale_in_after]
    last_change = max(
        (t for t in (state.last_scale_in, state.last_scale_out) if t is not None),
        default=None,
    )
    if _since(last_change, sample.time) < policy.scale_in_cooldown:
        return ScaleDecision(current, None, "scale-in cooldown")
    peak = max(s.metric for s in window)
    if peak * current / (current - 1) > policy.target:
        return ScaleDecision(current, None, "one replica less would exceed the target")
    return ScaleDecision(
        current - 1,
        SCALE_IN,
        f"at most {peak:.1f} orders in flight per replica for {policy.scale_in_after:g}s "
        f"< target {policy.target:g}",
    )


def observe(state: ScalerState, sample: Sample, decision: ScaleDecision) -> None:
    """Remember ``sample`` and what was done about it."""
    if decision.direction == SCALE_OUT:
        state.last_scale_out = sample.time
    elif decision.direction == SCALE_IN:
        state.last_scale_in = sample.time
    if decision.direction or (state.samples and state.samples[-1].replicas != sample.replicas):
        state.samples = []
    if not decision.direction:
        state.samples.append(sample)
    horizon = sample.time - 600  # a window never needs more than ten minutes
    state.samples = [s for s in state.samples if s.time >= horizon]


@dataclass(frozen=True)
class ScaleActivity:
    """One scaling activity of the autoscaler, as an audit record like the engine's."""

    time: datetime
    service: str
    before: int
    decision: ScaleDecision
    metric: float
    target: float
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The same keys as remediation.engine.Decision.as_record (alert: None)."""
        failed = self.error is not None
        return {
            "time": self.time.isoformat(),
            "outcome": "failed" if failed else "acted",
            "reason": "error" if failed else "acted",
            "detail": self.error or self.decision.reason,
            "rule": RULE,
            "action": {"type": self.decision.direction, "target": self.target},
            "service": self.service,
            "target": f"supervisor: {self.service} replicas",
            "desired": self.decision.desired,
            "replica": None,
            "result": None
            if failed
            else {
                "detail": f"{self.before} -> {self.decision.desired} replicas",
                "changed": True,
                "before": self.before,
                "after": self.decision.desired,
            },
            "alert": None,
            "metric": round(self.metric, 3),
        }


def now_utc() -> datetime:
    """The time stamped on audit records."""
    return datetime.now(UTC)
