"""Rendering of status and gate decisions for people (rich table, plain lines) and machines.

Text from outside (label values from Prometheus, its error messages, the policy's descriptions,
override reasons) is shown through ``printable``: an ANSI escape in it cannot recolour, hide or
rewrite the lines of a CI log, and table cells are never read as rich markup. JSON documents
keep that text as it was given (JSON escapes control characters itself).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from alerting.names import CURRENT_BURN_RATE, OBJECTIVE, PERIOD_BUDGET_REMAINING, sli_error_record
from budget.gate import GateDecision, Outcome
from budget.policy import Release
from budget.status import (
    SHORT_WINDOWS,
    Finding,
    ImpossibleValue,
    Kind,
    SloStatus,
    number,
    percent,
)
from sre_platform.text import printable


def _ratio(value: float | None) -> str:
    return "-" if value is None else percent(value)


def _error(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else (f"{value:.2f}x" if value < 1e6 else f"{value:.3g}x")


def _notes(status: SloStatus) -> str:
    return "\n".join(
        f"{'DENY ' if f.release is Release.DENY else ''}{f.clause}: {f.message}"
        for f in status.findings
        if f.kind is not Kind.TIER
    )


def _cell(text: str) -> Text:
    return Text(printable(text, keep_newlines=True))


def _shown(
    impossible: tuple[ImpossibleValue, ...],
) -> Callable[[str, float | None, Callable[[float | None], str]], str]:
    names = {bad.series for bad in impossible}

    def shown(series: str, value: float | None, text: Callable[[float | None], str]) -> str:
        return "impossible" if series in names else text(value)

    return shown


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
        shown = _shown(reading.impossible)
        cells = (
            reading.service,
            reading.slo,
            shown(OBJECTIVE, reading.objective, _ratio),
            shown(PERIOD_BUDGET_REMAINING, reading.budget_remaining, _ratio),
            shown(CURRENT_BURN_RATE, reading.burn_rate, _burn),
            *(
                shown(sli_error_record(window), reading.sli_errors.get(window), _error)
                for window in SHORT_WINDOWS
            ),
            status.tier.name if status.tier else "no data",
            status.release.value,
            "\n".join(part for part in (allows, notes) if part),
        )
        table.add_row(*(_cell(cell) for cell in cells))
    return table


# --- JSON documents: what `--json` prints --------------------------------------------------------


def _finding(finding: Finding) -> dict[str, object]:
    return {
        "kind": finding.kind.value,
        "subject": finding.subject,
        "service": finding.service,
        "clause": finding.clause,
        "release": finding.release.value,
        "message": finding.message,
    }


def _problems(findings: list[Finding]) -> list[dict[str, object]]:
    return [
        {"subject": f.subject, "clause": f.clause, "release": f.release.value, "message": f.message}
        for f in findings
        if f.kind is Kind.MISSING_DATA
    ]


def _slo(status: SloStatus) -> dict[str, object]:
    reading = status.reading
    return {
        "service": reading.service,
        "slo": reading.slo,
        "slo_id": reading.slo_id,
        "objective": reading.objective,
        "budget_remaining": reading.budget_remaining,
        "burn_rate": reading.burn_rate,
        "sli_error": dict(reading.sli_errors),
        "outage_budget_spent": status.outage_budget_spent,
        "tier": status.tier.name if status.tier else None,
        "allows": status.tier.allows if status.tier else None,
        "release": status.release.value,
        "impossible": [
            {"series": bad.series, "value": number(bad.value), "reason": bad.reason}
            for bad in reading.impossible
        ],
        "findings": [_finding(f) for f in status.findings],
    }


def status_document(
    statuses: list[SloStatus],
    policy_source: str,
    service: str | None = None,
    unreadable: str | None = None,
) -> dict[str, object]:
    """Return the status as a JSON-ready document (what `status --json` prints).

    ``unreadable`` is why Prometheus could not be read; the document then has no SLOs, that
    problem, and exit code 4.
    """
    problems = _problems([f for s in statuses for f in s.findings])
    if unreadable is not None:
        subject = service or "all services"
        problems.append(
            {"subject": subject, "clause": None, "release": None, "message": unreadable}
        )
    return {
        "policy": policy_source,
        "service": service,
        "exit_code": 4 if unreadable is not None else 0,
        "problems": problems,
        "slos": [_slo(s) for s in statuses],
    }


def gate_document(decision: GateDecision) -> dict[str, object]:
    """Return the gate's decision as a JSON-ready document (what `gate --json` prints).

    The override reason is recorded as given; ``findings`` lists every clause that applied.
    """
    return {
        "outcome": decision.outcome.value,
        "decision": decision.outcome.release.value,
        "exit_code": decision.outcome.exit_code,
        "policy": decision.policy_source,
        "service": decision.service,
        "override_reason": decision.override_reason,
        "override_refused_for": list(decision.override_refused_for),
        "findings": [_finding(f) for f in decision.findings],
        "problems": _problems(list(decision.findings)),
        "exceptions": [{"name": e.name, "description": e.description} for e in decision.exceptions],
        "escalation": [{"role": c.role, "contact": c.contact} for c in decision.escalation],
        "slos": [_slo(s) for s in decision.statuses],
    }


# --- the gate for people ---------------------------------------------------------------------


def gate_lines(decision: GateDecision) -> list[str]:
    """Return the gate's answer as plain lines (CI logs): outcome, each clause, what next."""
    outcome = decision.outcome
    lines = [
        f"release gate: {outcome.value.upper()} (exit {outcome.exit_code}), "
        f"policy {decision.policy_source}"
    ]
    if outcome is Outcome.OVERRIDDEN:
        lines.append(f'override reason (recorded): "{decision.override_reason}"')
    for finding in decision.findings:
        if finding.release is Release.DENY:
            verdict = "overridden" if outcome is Outcome.OVERRIDDEN else "DENY"
        else:
            verdict = "allow" if finding.kind is Kind.TIER else "note"
        lines.append(f"  {verdict:<10} {finding.subject}: {finding.clause}: {finding.message}")
    if decision.override_refused_for:
        lines.append(
            "override refused: the policy lists no exceptions for "
            + ", ".join(decision.override_refused_for)
        )
    if outcome in (Outcome.FROZEN, Outcome.CANNOT_DECIDE) and decision.exceptions:
        lines.append("exceptions that may pass with --override-reason TEXT:")
        lines += [f"  {e.name}: {e.description}" for e in decision.exceptions]
    if outcome is not Outcome.ALLOWED and decision.escalation:
        lines.append(
            "escalate to: " + "; ".join(f"{c.role} {c.contact}" for c in decision.escalation)
        )
    return [printable(line) for line in lines]
