"""`sre budget status` and `sre budget gate`: error budgets from Prometheus or AMP, by policy."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from budget.gate import run_gate
from budget.policy import DEFAULT_POLICY_FILE, load_policy
from budget.prometheus import open_client
from budget.report import gate_lines, status_json, status_table
from budget.status import evaluate, read_slos
from sre_platform.errors import BudgetError

app = typer.Typer(
    help="Error budgets: status per SLO, and the release gate CI runs before deploying.",
    no_args_is_help=True,
)

_PROMETHEUS = typer.Option(
    ...,
    "--prometheus",
    metavar="URL",
    help="Prometheus base URL (e.g. the lab's http://127.0.0.1:9090) or an AMP workspace URL "
    "(https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-.../, signed with SigV4 from "
    "the standard AWS credential chain).",
)
_POLICY = typer.Option(DEFAULT_POLICY_FILE, "--policy", metavar="FILE", help="Policy file.")
_SERVICE = typer.Option(None, "--service", metavar="S", help="Only this service (sloth_service).")


@app.command()
def status(
    prometheus: str = _PROMETHEUS,
    service: str | None = _SERVICE,
    policy: Path = _POLICY,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show each SLO's budget remaining, burn rate, short-window errors and policy tier."""
    rules = load_policy(policy)
    with open_client(prometheus) as client:
        readings = read_slos(client, service)
    if not readings:
        where = f' for service "{service}"' if service else ""
        raise BudgetError(f"no SLO series found{where} in {prometheus}")
    statuses = [evaluate(rules.for_service(r.service), r) for r in readings]
    if as_json:
        typer.echo(status_json(statuses, rules.source))
    else:
        Console(width=None if sys.stdout.isatty() else 200).print(status_table(statuses))


@app.command()
def gate(
    prometheus: str = _PROMETHEUS,
    policy: Path = _POLICY,
    service: str | None = _SERVICE,
    override_reason: str | None = typer.Option(
        None,
        "--override-reason",
        metavar="TEXT",
        help="Let a P0 or security fix through a frozen gate; the output records the reason.",
    ),
) -> None:
    """Exit 0 when the policy allows a release, 3 when it freezes releases, 2 on errors."""
    if override_reason is not None and not override_reason.strip():
        raise BudgetError("--override-reason needs a reason (the P0 incident or security fix)")
    rules = load_policy(policy)
    with open_client(prometheus) as client:
        decision = run_gate(rules, lambda s: read_slos(client, s), service, override_reason)
    for line in gate_lines(decision):
        typer.echo(line)
    raise typer.Exit(decision.outcome.exit_code)
