"""Rendering of status and gate decisions for people (rich table, plain lines) and machines."""

from __future__ import annotations

import json

from rich.table import Table

from budget.gate import GateDecision, Outcome
from budget.policy import Release
from budget.status import SHORT_WINDOWS, Kind, SloStatus, percent


def _ratio(value: float | None) -> str:
    return "-" if value is None else percent(value)


def _error(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _notes(status: SloStatus) -> str:
    return "\n".join(
        f"{'DENY ' if f.release is Release.DENY else ''}{f.clause}: {f.message}"
        for f in status.findings
        if f.kind is not Kind.TIER
    )


def status_table(statuses: list[SloStatus]) -> Table:
    """Return a table with one row per SLO: budget, burn, short-window errors, tier, notes."""
    table = Table(title="Error budget status", show_lines=True)
    for column in ("Service", "SLO", "Objective", "Budget left", "Burn rate"):
        table.add_column(column, no_wrap=True)
    for window in SHORT_WINDOWS:
        table.add_column(f"Error {window}", justify="right", no_wrap=True)
    table.add_column("Tier", no_wrap=True)
    table.add_column("Release", no_wrap=True)
    table.add_column("What it allows / notes")
    for status in statuses:
        reading = status.reading
        allows = status.tier.allows if status.tier else ""
        notes = _notes(status)
        table.add_row(
            reading.service,
            reading.slo,
            _ratio(reading.objective),
            _ratio(reading.budget_remaining),
            _burn(reading.burn_rate),
            *(_error(reading.sli_errors.get(window)) for window in SHORT_WINDOWS),
            status.tier.name if status.tier else "no data",
            status.release.value,
            "\n".join(part for part in (allows, notes) if part),
        )
    return table


def status_document(statuses: list[SloStatus], policy_source: str) -> dict[str, object]:
    """Return the status as a JSON-ready document (what `--json` prints)."""
    return {
        "policy": policy_source,
        "slos": [
            {
                "service": s.reading.service,
                "slo": s.reading.slo,
                "slo_id": s.reading.slo_id,
                "objective": s.reading.objective,
                "budget_remaining": s.reading.budget_remaining,
                "burn_rate": s.reading.burn_rate,
                "sli_error": dict(s.reading.sli_errors),
                "outage_budget_spent": s.outage_budget_spent,
                "tier": s.tier.name if s.tier else None,
                "allows": s.tier.allows if s.tier else None,
                "release": s.release.value,
                "findings": [
                    {
                        "kind": f.kind.value,
                        "clause": f.clause,
                        "release": f.release.value,
                        "message": f.message,
                    }
                    for f in s.findings
                ],
            }
            for s in statuses
        ],
    }


def status_json(statuses: list[SloStatus], policy_source: str) -> str:
    """Return ``status_document`` as indented JSON."""
    return json.dumps(status_document(statuses, policy_source), indent=2, sort_keys=False)


def _headline(decision: GateDecision) -> str:
    outcome = decision.outcome
    head = (
        f"release gate: {outcome.value.upper()} (exit {outcome.exit_code}), "
        f"policy {decision.policy_source}"
    )
    if outcome is Outcome.OVERRIDDEN:
        head += f'\noverride reason (recorded): "{decision.override_reason}"'
    return head


def gate_lines(decision: GateDecision) -> list[str]:
    """Return the gate's answer as plain lines (CI logs): outcome, each clause, what next."""
    lines = [_headline(decision)]
    overridden = decision.outcome is Outcome.OVERRIDDEN
    for finding in decision.findings:
        if finding.release is Release.DENY:
            verdict = "overridden" if overridden else "DENY"
        else:
            verdict = "allow" if finding.kind is Kind.TIER else "note"
        lines.append(f"  {verdict:<10} {finding.subject}: {finding.clause}: {finding.message}")
    if decision.override_refused_for:
        lines.append(
            "override refused: the policy lists no exceptions for "
            + ", ".join(decision.override_refused_for)
        )
    if decision.outcome in (Outcome.FROZEN, Outcome.NO_DATA) and decision.exceptions:
        lines.append("exceptions that may pass with --override-reason TEXT:")
        lines += [f"  {e.name}: {e.description}" for e in decision.exceptions]
    if decision.outcome is not Outcome.ALLOWED and decision.escalation:
        lines.append(
            "escalate to: " + "; ".join(f"{c.role} {c.contact}" for c in decision.escalation)
        )
    return lines
