"""Shared pieces of the remediation tests: a policy, alerts, and an actuator that records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from remediation.alerts import Alert
from remediation.engine import ActionResult, Capacity
from remediation.policy import parse_policy

T0 = datetime(2024, 5, 6, 9, 15, tzinfo=UTC)  # TradeX's Monday, 9:15


def policy_data(**guardrails: object) -> dict:
    """A policy with one rule per action type, for the demo exchange."""
    return {
        "version": 1,
        "guardrails": {
            "max_actions": 3,
            "window": "30m",
            "cooldown": "5m",
            "max_delivery_age": "5m",
            "max_alert_age": "2h",
            **guardrails,
        },
        "services": {"exchange": {"min_replicas": 2, "max_replicas": 6}},
        "rules": [
            {
                "name": "latency-scale-out",
                "match": {"alertname": "Latency", "severity": "page"},
                "action": {"type": "scale_out", "step": 1},
            },
            {
                "name": "idle-scale-in",
                "match": {"alertname": "Idle"},
                "action": {"type": "scale_in", "step": 1},
            },
            {
                "name": "errors-rollback",
                "match": {"alertname": "Errors"},
                "action": {"type": "rollback_release"},
            },
            {
                "name": "hung-restart",
                "match": {"matchers": ['alertname=~"Hung|Stuck"']},
                "action": {"type": "restart_replica"},
            },
            {
                "name": "login-shed",
                "match": {"alertname": "Login"},
                "action": {"type": "shed_load", "fraction": 0.2, "duration": "5m"},
            },
        ],
    }


def policy(**guardrails: object):
    return parse_policy(policy_data(**guardrails), "test.yaml")


def alert(
    name: str = "Latency",
    *,
    fingerprint: str = "f1",
    service: str = "exchange",
    starts: datetime = T0,
    status: str = "firing",
    ends: datetime | None = None,
    sent: datetime | None = None,
    **labels: str,
) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        status=status,
        labels={"alertname": name, "sloth_service": service, "sloth_severity": "page", **labels},
        starts_at=starts,
        ends_at=ends,
        sent_at=sent,
    )


@dataclass
class RecordingActuator:
    """An actuator over an in-memory fleet that records every call (the engine's peer)."""

    desired: int = 3
    minimum: int = 1
    maximum: int = 10
    calls: list[tuple] = field(default_factory=list)

    def supports(self, action: str) -> bool:
        return True

    def capacity(self, service: str) -> Capacity:
        return Capacity(self.desired, self.minimum, self.maximum)

    def scale_to(self, service: str, desired: int) -> ActionResult:
        before, self.desired = self.desired, desired
        self.calls.append(("scale_to", service, desired))
        return ActionResult(service, f"{before} -> {desired}", before=before, after=desired)

    def restart_one(self, service: str, replica: str | None) -> ActionResult:
        self.calls.append(("restart_one", service, replica))
        return ActionResult(replica or "1", "restarted")

    def rollback(self, service: str) -> ActionResult:
        self.calls.append(("rollback", service))
        return ActionResult(service, "rolled back")

    def shed_load(self, service: str, fraction: float, duration_seconds: int) -> ActionResult:
        self.calls.append(("shed_load", service, fraction, duration_seconds))
        return ActionResult(service, "shedding")


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
