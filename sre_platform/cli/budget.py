"""`sre budget status` and `sre budget gate`: error budgets from Prometheus or AMP, by policy.

Exit codes: 0 allowed (gate) or shown (status); 3 frozen (gate); 4 cannot decide: Prometheus
unreachable, slower than --timeout, an answer too big or not an instant vector, no data or
impossible data (the gate lets the policy's on_missing_data decide first); 2 a usage error;
1 an error (a broken policy file, no AWS credentials for an AMP URL).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from budget.gate import run_gate
from budget.policy import DEFAULT_POLICY_FILE, load_policy
from budget.report import gate_document, gate_lines, status_document, status_table
from budget.status import SloReading, evaluate, read_slos
from sre_platform.cli.output import print_json, progress
from sre_platform.cli.prometheus_options import check_timeout, check_url
from sre_platform.errors import BudgetError, PrometheusError
from sre_platform.prometheus import (
    DEFAULT_TIMEOUT_SECONDS,
    Limits,
    PrometheusClient,
    open_client,
)
from sre_platform.text import printable

app = typer.Typer(
    help="Error budgets: status per SLO, and the release gate CI runs before deploying.",
    no_args_is_help=True,
)


def _check_reason(reason: str | None) -> str | None:
    if reason is not None and not reason.strip():
        raise typer.BadParameter("needs a reason (the P0 incident or the security fix)")
    return reason


_PROMETHEUS = typer.Option(
    ...,
    "--prometheus",
    metavar="URL",
    callback=check_url,
    help="Prometheus base URL (e.g. the lab's http://127.0.0.1:9090) or an AMP workspace URL "
    "(https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-.../, signed with SigV4 from "
    "the standard AWS credential chain).",
)
_POLICY = typer.Option(DEFAULT_POLICY_FILE, "--policy", metavar="FILE", help="Policy file.")
_SERVICE = typer.Option(None, "--service", metavar="S", help="Only this service (sloth_service).")
_TIMEOUT = typer.Option(
    DEFAULT_TIMEOUT_SECONDS,
    "--timeout",
    metavar="SECONDS",
    callback=check_timeout,
    help="Deadline for reading Prometheus, however slowly it answers: past it the answer is "
    "missing data (exit 4, cannot decide, unless the policy allows missing data).",
)
_JSON = typer.Option(False, "--json", help="Print one JSON document on stdout instead.")


def _client(url: str, timeout: float) -> PrometheusClient:
    return open_client(url, limits=Limits(timeout_seconds=timeout))


def _reading(url: str, timeout: float) -> str:
    return f"Reading error budgets from {printable(url)} (deadline {timeout:g} s)"


@app.command()
def status(
    prometheus: str = _PROMETHEUS,
    service: str | None = _SERVICE,
    policy: Path = _POLICY,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Show each SLO's budget remaining, burn rate, short-window errors and policy tier.

    Exits 4 when Prometheus cannot be read in time or holds no SLO series.
    """
    rules = load_policy(policy)
    client = _client(prometheus, timeout)
    try:
        with progress(_reading(prometheus, timeout)):
            readings: list[SloReading] = read_slos(client, service)
        if not readings:
            where = f' for service "{service}"' if service else ""
            raise BudgetError(printable(f"no SLO series found{where} in {prometheus}"))
    except PrometheusError as error:
        if as_json:
            print_json(status_document([], rules.source, service, unreadable=str(error)))
        raise
    statuses = [evaluate(rules.for_service(r.service), r) for r in readings]
    if as_json:
        print_json(status_document(statuses, rules.source, service))
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
        callback=_check_reason,
        help="Let a P0 or security fix through a frozen gate; the output records the reason.",
    ),
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Exit 0 when the policy allows a release, 3 when it freezes releases, 4 when it cannot
    decide (no data, Prometheus unreachable or too slow), 2 on a usage error, 1 on a broken
    policy file."""
    rules = load_policy(policy)
    client = _client(prometheus, timeout)
    with progress(_reading(prometheus, timeout)):
        decision = run_gate(rules, lambda s: read_slos(client, s), service, override_reason)
    if as_json:
        print_json(gate_document(decision))
    else:
        for line in gate_lines(decision):
            typer.echo(line)
    raise typer.Exit(decision.outcome.exit_code)
