"""The release gate: may this service ship now, according to its error-budget policy?"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from budget.policy import Contact, Policy, Release, ReleaseException, ServicePolicy
from budget.status import Finding, Kind, SloReading, SloStatus, evaluate
from sre_platform.errors import PrometheusError


class Outcome(enum.StrEnum):
    """What the gate says; each outcome has one exit code."""

    ALLOWED = "allowed"
    OVERRIDDEN = "allowed by override"
    FROZEN = "frozen"
    CANNOT_DECIDE = "cannot decide"

    @property
    def exit_code(self) -> int:
        """0 ship, 3 frozen, 4 cannot decide (2 stays every verb's usage error)."""
        return {"allowed": 0, "allowed by override": 0, "frozen": 3, "cannot decide": 4}[self.value]

    @property
    def release(self) -> Release:
        """Whether the release may go ahead."""
        return Release.ALLOW if self.exit_code == 0 else Release.DENY


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer, with every finding behind it."""

    outcome: Outcome
    policy_source: str
    service: str | None
    statuses: tuple[SloStatus, ...]
    findings: tuple[Finding, ...]
    override_reason: str | None
    override_refused_for: tuple[str, ...]
    exceptions: tuple[ReleaseException, ...]
    escalation: tuple[Contact, ...]


def _policy_of(policy: Policy, finding: Finding) -> ServicePolicy:
    return policy.default if finding.service is None else policy.for_service(finding.service)


_T = TypeVar("_T")


def _unique(items: list[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


def decide(
    policy: Policy,
    statuses: list[SloStatus],
    gate_findings: list[Finding],
    override_reason: str | None,
    service: str | None = None,
) -> GateDecision:
    """Combine SLO statuses and gate-level findings into the gate's outcome.

    Any denial blocks; a denial that is not about missing data makes it a freeze (exit 3),
    otherwise the gate cannot decide (exit 4). An override reason lets every denial through
    when each denying service's policy lists exceptions.
    """
    findings = [f for s in statuses for f in s.findings] + gate_findings
    denials = [f for f in findings if f.release is Release.DENY]
    policies = [_policy_of(policy, f) for f in denials]
    refused = _unique(
        [
            f.service or "all services"
            for f, p in zip(denials, policies, strict=True)
            if not p.exceptions
        ]
    )
    if not denials:
        outcome = Outcome.ALLOWED
    elif override_reason is not None and not refused:
        outcome = Outcome.OVERRIDDEN
    elif any(f.kind is not Kind.MISSING_DATA for f in denials):
        outcome = Outcome.FROZEN
    else:
        outcome = Outcome.CANNOT_DECIDE
    return GateDecision(
        outcome=outcome,
        policy_source=policy.source,
        service=service,
        statuses=tuple(statuses),
        findings=tuple(findings),
        override_reason=override_reason,
        override_refused_for=refused if override_reason is not None else (),
        exceptions=_unique([e for p in policies for e in p.exceptions]),
        escalation=_unique([c for p in policies for c in p.escalation]),
    )


def _missing(policy: ServicePolicy, service: str | None, message: str) -> Finding:
    return Finding(
        kind=Kind.MISSING_DATA,
        subject=service or "all services",
        service=service,
        clause=policy.on_missing_data_clause,
        release=policy.on_missing_data,
        message=message,
    )


def run_gate(
    policy: Policy,
    read: Callable[[str | None], list[SloReading]],
    service: str | None = None,
    override_reason: str | None = None,
) -> GateDecision:
    """Read the SLOs (of ``service``, or all) with ``read`` and decide the gate.

    A Prometheus that cannot be read (unreachable, too slow, too big or a wrong answer) or no
    SLO series at all is missing data, handled by the ``on_missing_data`` clause of the
    service's policy (the default policy without --service), and so are impossible values.
    """
    rules = policy.default if service is None else policy.for_service(service)
    try:
        readings = read(service)
    except PrometheusError as error:
        missing = _missing(rules, service, str(error))
        return decide(policy, [], [missing], override_reason, service)
    if not readings:
        where = f' for service "{service}"' if service else ""
        message = f"no SLO series (slo:*, sloth_service labels) found{where}"
        return decide(policy, [], [_missing(rules, service, message)], override_reason, service)
    statuses = [evaluate(policy.for_service(r.service), r) for r in readings]
    return decide(policy, statuses, [], override_reason, service)
