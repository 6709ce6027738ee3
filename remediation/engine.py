"""The remediation engine: alerts -> decisions (guardrails applied) -> actions -> audit.

One engine for the lab and AWS; they differ only in the :class:`Actuator` (the lab's
supervisor, or the Auto Scaling and SSM APIs), the :class:`~remediation.guardrails.StateStore`
(a file, or a DynamoDB table) and the :class:`AuditSink`. Entry point: :func:`remediate`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from remediation.alerts import RESOLVED, Alert, ordered
from remediation.guardrails import Request, StateStore, idempotency_key
from remediation.model import (
    RESTART_REPLICA,
    ROLLBACK_RELEASE,
    SCALE_IN,
    SCALE_OUT,
    SHED_LOAD,
    Action,
    Policy,
)

REPLICA_LABELS = ("replica", "instance_id")  # the label naming one replica to restart


class Outcome(enum.StrEnum):
    """What became of an alert. ``act`` is a decision not yet executed."""

    ACT = "act"
    ACTED = "acted"
    DRY_RUN = "dry-run"
    SKIPPED = "skipped"
    FAILED = "failed"


class Reason(enum.StrEnum):
    """Why: a stable code for every outcome (the audit's ``reason``)."""

    ACTED = "acted"
    DRY_RUN = "dry-run"
    RESOLVED = "resolved"
    ENDED = "ended"
    STALE = "stale"
    TOO_OLD = "too-old"
    NO_RULE = "no-rule"
    NO_SERVICE = "no-service"
    UNKNOWN_SERVICE = "unknown-service"
    UNSUPPORTED = "unsupported"
    AT_BOUND = "at-bound"
    DUPLICATE = "duplicate"
    COOLDOWN = "cooldown"
    BUDGET = "budget"
    ERROR = "error"


@dataclass(frozen=True)
class Capacity:
    """A service's replicas now, and the bounds its platform itself enforces."""

    desired: int
    minimum: int
    maximum: int


@dataclass(frozen=True)
class ActionResult:
    """What an actuator did: on what (``target``) and what changed."""

    target: str
    detail: str
    changed: bool = True
    before: Any = None
    after: Any = None


class Actuator(Protocol):
    """What acts on a service: the lab's supervisor, or the Auto Scaling and SSM APIs."""

    def supports(self, action: str) -> bool:
        """Whether this actuator can take actions of type ``action``."""
        ...

    def capacity(self, service: str) -> Capacity:
        """The service's replicas now and its platform's bounds."""
        ...

    def scale_to(self, service: str, desired: int) -> ActionResult:
        """Set the service's replicas to ``desired`` (already within every bound)."""
        ...

    def restart_one(self, service: str, replica: str | None) -> ActionResult:
        """Restart one replica: ``replica`` if the alert names one, else the actuator's pick."""
        ...

    def rollback(self, service: str) -> ActionResult:
        """Roll back (or stop) the service's release in progress."""
        ...

    def shed_load(self, service: str, fraction: float, duration_seconds: int) -> ActionResult:
        """Refuse ``fraction`` of the service's orders for ``duration_seconds``."""
        ...


@dataclass(frozen=True)
class Decision:
    """One alert's fate: the audit record of the engine.

    ``desired`` is the replica count a scaling decision sets; ``result`` what the actuator did.
    """

    time: datetime
    outcome: Outcome
    reason: Reason
    detail: str
    alert: Alert
    rule: str | None = None
    action: Action | None = None
    service: str | None = None
    desired: int | None = None
    replica: str | None = None
    result: ActionResult | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def as_record(self) -> dict[str, Any]:
        """The decision as one JSON audit record."""
        result = self.result
        return {
            "time": self.time.isoformat(),
            "outcome": str(self.outcome),
            "reason": str(self.reason),
            "detail": self.detail,
            "rule": self.rule,
            "action": self.action.as_json() if self.action else None,
            "service": self.service,
            "target": result.target if result else None,
            "desired": self.desired,
            "replica": self.replica,
            "result": (
                {
                    "detail": result.detail,
                    "changed": result.changed,
                    "before": result.before,
                    "after": result.after,
                }
                if result
                else None
            ),
            "alert": self.alert.as_json(),
        }


class AuditSink(Protocol):
    """Where every decision is recorded (a JSON-lines file in the lab, DynamoDB on AWS)."""

    def record(self, decision: Decision) -> None:
        """Keep ``decision`` (acted, dry-run, skipped or failed, and why)."""
        ...


def _age(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()


def _screen(alert: Alert, policy: Policy, now: datetime) -> tuple[Reason, str] | None:
    """Why an alert must not be acted upon whatever the rules say, or None."""
    g = policy.guardrails
    if alert.status == RESOLVED:
        return Reason.RESOLVED, "the alert is resolved"
    if alert.ends_at is not None and alert.ends_at <= now:
        return Reason.ENDED, f"the alert ended at {alert.ends_at.isoformat()}"
    if alert.sent_at is not None and _age(now, alert.sent_at) > g.max_delivery_age_seconds:
        return Reason.STALE, (
            f"the notification was sent at {alert.sent_at.isoformat()}, more than "
            f"{g.max_delivery_age_seconds}s ago (max_delivery_age)"
        )
    if _age(now, alert.starts_at) > g.max_alert_age_seconds:
        return Reason.TOO_OLD, (
            f"firing since {alert.starts_at.isoformat()}, longer than "
            f"{g.max_alert_age_seconds}s (max_alert_age): left to a human"
        )
    return None


def _replica(alert: Alert) -> str | None:
    return next((alert.labels[n] for n in REPLICA_LABELS if alert.labels.get(n)), None)


def _decide_one(
    alert: Alert, policy: Policy, store: StateStore, actuator: Actuator, now: datetime
) -> Decision:
    skip = _screen(alert, policy, now)
    if skip:
        return Decision(now, Outcome.SKIPPED, skip[0], skip[1], alert)
    rule = policy.rule_for(alert.labels)
    if rule is None:
        return Decision(now, Outcome.SKIPPED, Reason.NO_RULE, "no rule matches the alert", alert)
    base = Decision(
        now, Outcome.SKIPPED, Reason.NO_SERVICE, "", alert, rule=rule.name, action=rule.action
    )
    service = policy.service_of(rule, alert.labels)
    if service is None:
        labels = ", ".join(policy.service_labels)
        return replace(base, detail=f"the alert has none of the service labels ({labels})")
    base = replace(base, service=service)
    bounds = policy.services.get(service)
    if bounds is None:
        return replace(
            base,
            reason=Reason.UNKNOWN_SERVICE,
            detail=f'service "{service}" is not under the policy\'s services',
        )
    kind = rule.action.type
    if not actuator.supports(kind):
        return replace(base, reason=Reason.UNSUPPORTED, detail=f"this actuator cannot {kind} here")
    desired = None
    if kind in (SCALE_OUT, SCALE_IN):
        current = actuator.capacity(service)
        low = max(bounds.min_replicas, current.minimum)
        high = min(bounds.max_replicas, current.maximum)
        step = rule.action.step if kind == SCALE_OUT else -rule.action.step
        desired = max(low, min(high, current.desired + step))
        if desired == current.desired:
            return replace(
                base,
                reason=Reason.AT_BOUND,
                detail=f"{current.desired} replicas already, bounds {low}..{high}",
            )
    g = policy.guardrails
    dry_run = policy.dry_run or rule.dry_run
    refused = store.reserve(
        Request(
            scope=f"{'dry-run' if dry_run else 'live'}/{service}",
            action=kind,
            key=idempotency_key(alert.fingerprint, alert.starts_at.isoformat(), rule.name),
            now=now.timestamp(),
            max_actions=g.max_actions,
            window_seconds=g.window_seconds,
            cooldown_seconds=g.cooldown_seconds,
            keep_seconds=g.max_alert_age_seconds + g.max_delivery_age_seconds + g.window_seconds,
        )
    )
    replica = _replica(alert) if kind == RESTART_REPLICA else None
    base = replace(base, desired=desired, replica=replica)
    if refused:
        details = {
            "duplicate": "this alert occurrence was already handled by this rule",
            "cooldown": f"{kind} acted on {service} less than {g.cooldown_seconds}s ago",
            "budget": f"{g.max_actions} actions on {service} within {g.window_seconds}s already",
        }
        return replace(base, reason=Reason(refused), detail=details[refused])
    if dry_run:
        return replace(
            base, outcome=Outcome.DRY_RUN, reason=Reason.DRY_RUN, detail="dry run: not acted"
        )
    return replace(base, outcome=Outcome.ACT, reason=Reason.ACTED, detail="")


def decide(
    alerts: Sequence[Alert],
    policy: Policy,
    store: StateStore,
    actuator: Actuator,
    now: datetime,
) -> list[Decision]:
    """Decide what to do about each alert (oldest first), reserving guardrail budget in
    ``store`` for each action to take. The actuator is only read (capacity, support)."""
    return [_decide_one(alert, policy, store, actuator, now) for alert in ordered(alerts)]


def execute(decision: Decision, actuator: Actuator) -> Decision:
    """Carry out a decision to act; any other decision is returned as it is."""
    if decision.outcome != Outcome.ACT or decision.action is None or decision.service is None:
        return decision
    action, service = decision.action, decision.service
    try:
        if action.type in (SCALE_OUT, SCALE_IN) and decision.desired is not None:
            result = actuator.scale_to(service, decision.desired)
        elif action.type == RESTART_REPLICA:
            result = actuator.restart_one(service, decision.replica)
        elif action.type == ROLLBACK_RELEASE:
            result = actuator.rollback(service)
        elif action.type == SHED_LOAD:
            result = actuator.shed_load(service, action.fraction, action.duration_seconds)
        else:
            raise ValueError(f"cannot execute {action.describe()}")
    except Exception as error:  # an actuator's failure is audited, never lost
        return replace(
            decision,
            outcome=Outcome.FAILED,
            reason=Reason.ERROR,
            detail=f"{type(error).__name__}: {error}"[:1000],
        )
    return replace(decision, outcome=Outcome.ACTED, detail=result.detail, result=result)


def remediate(
    alerts: Sequence[Alert],
    policy: Policy,
    store: StateStore,
    actuator: Actuator,
    audit: AuditSink,
    now: datetime,
) -> list[Decision]:
    """Decide, act and audit: every alert gets exactly one audit record, in order."""
    done = []
    for alert in ordered(alerts):
        # One at a time: a scaling decision reads the capacity the previous action left.
        final = execute(_decide_one(alert, policy, store, actuator, now), actuator)
        audit.record(final)
        done.append(final)
    return done
