"""The AWS Lambda entry point: SNS notifications from AMP's alert manager -> remediation.

Configuration (set by components/remediation.py): the compiled policy in ``policy.json``
beside this module (or ``REMEDIATION_POLICY_FILE``), ``REMEDIATION_TABLE`` (the DynamoDB
table), ``REMEDIATION_GROUPS`` (JSON: service -> Auto Scaling group name). Every decision is
audited in the table and logged as one JSON line. An event that is not an alert notification,
or an action that failed, ends the invocation in error: Lambda retries it (the retry finds the
alerts already handled and skips them) and then leaves it in the dead-letter queue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediation.alerts import parse_sns_event
from remediation.aws import AwsActuator
from remediation.dynamo import DynamoAuditLog, DynamoStateStore
from remediation.engine import Actuator, AuditSink, Outcome, remediate
from remediation.guardrails import StateStore
from remediation.model import Policy, policy_from_json

POLICY_FILE = Path(__file__).with_name("policy.json")


class RemediationFailed(RuntimeError):
    """An action the policy asked for failed (its audit record says why)."""


@dataclass(frozen=True)
class Runtime:
    """What one Lambda container uses for every invocation."""

    policy: Policy
    store: StateStore
    actuator: Actuator
    audit: AuditSink


def build_runtime(env: Mapping[str, str], session_factory: Callable[[], Any]) -> Runtime:
    """The runtime from the function's environment and a boto3 session factory."""
    policy_file = Path(env.get("REMEDIATION_POLICY_FILE") or POLICY_FILE)
    policy = policy_from_json(policy_file.read_text(encoding="utf-8"))
    table = env["REMEDIATION_TABLE"]
    groups = json.loads(env["REMEDIATION_GROUPS"])
    session = session_factory()
    dynamodb = session.client("dynamodb")
    return Runtime(
        policy=policy,
        store=DynamoStateStore(dynamodb, table),
        actuator=AwsActuator(session.client("autoscaling"), session.client("ssm"), groups),
        audit=DynamoAuditLog(dynamodb, table),
    )


_runtime: Runtime | None = None


def _default_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        import boto3

        _runtime = build_runtime(os.environ, boto3.Session)
    return _runtime


def handle(event: Any, runtime: Runtime, now: datetime | None = None) -> dict[str, Any]:
    """Remediate the alerts of one SNS event; return the audit records."""
    alerts = parse_sns_event(event)
    decisions = remediate(
        alerts,
        runtime.policy,
        runtime.store,
        runtime.actuator,
        runtime.audit,
        now or datetime.now(UTC),
    )
    records = [d.as_record() for d in decisions]
    for record in records:
        print(json.dumps({"remediation": record}, sort_keys=True))
    failed = [d for d in decisions if d.outcome == Outcome.FAILED]
    if failed:
        raise RemediationFailed("; ".join(f"{d.rule}: {d.detail}" for d in failed))
    return {"decisions": records}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda handler (``remediation.handler.handler``)."""
    return handle(event, _default_runtime())
