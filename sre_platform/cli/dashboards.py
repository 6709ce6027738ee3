"""`sre dashboards build` and `sre dashboards check`: Grafana dashboards from the SLO specs.

Exit codes: 0 success (check: no empty or NaN panel); 1 an error (a bad spec, each problem
naming file, SLO and field; an output that cannot be written) or, for check, a panel with no
series or NaN; 2 a usage error (a bad --period, --prometheus or --timeout); 4 check only:
Prometheus cannot answer (unreachable, too slow, an unusable answer).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from dashboards.build import dashboards_from_specs
from dashboards.check import CheckReport, as_json, check_dashboards
from sre_platform.cli.output import print_json, progress
from sre_platform.cli.prometheus_options import check_timeout, check_url
from sre_platform.cli.slo import (
    WindowsPathOption,
    checked_period,
    load_options,
)
from sre_platform.errors import OutputError
from sre_platform.files import check_not_an_input, write_atomic
from sre_platform.prometheus import Limits, open_client
from sre_platform.text import printable

DEFAULT_TIMEOUT_SECONDS = 120.0

app = typer.Typer(
    help="Grafana dashboards built from the SLO specs: write them, check them against data.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_INPUTS = typer.Option(
    ..., "--input", "-i", metavar="PATH", help="A spec file or a folder of specs (repeatable)."
)
_PERIOD = typer.Option("30d", "--period", help="Default SLO period, 1d to 90d.")


@app.command("build")
def build_command(
    inputs: list[Path] = _INPUTS,
    output: Path = typer.Option(
        ..., "--output", "-o", help="The folder to write one <name>.json per dashboard into."
    ),
    period: str = _PERIOD,
    windows_path: Path | None = WindowsPathOption,
) -> None:
    """Write one Grafana dashboard JSON file per dashboard (stable uids, deterministic)."""
    options = load_options(windows_path, allow_unknown_fields=False)
    built = dashboards_from_specs(inputs, checked_period(period), options=options)
    if output.exists() and not output.is_dir():
        raise OutputError(f"--output {output}: not a folder (one file per dashboard goes there)")
    targets = [output / f"{item.name}.json" for item in built]
    check_not_an_input([output, *targets], inputs, "--output")
    for item, target in zip(built, targets, strict=True):
        write_atomic(target, item.json_text())
    names = ", ".join(item.name for item in built)
    err_console.print(f"wrote {len(built)} dashboard(s) to {output}: {names}", markup=False)


@app.command("check")
def check_command(
    inputs: list[Path] = _INPUTS,
    prometheus: str = typer.Option(
        ...,
        "--prometheus",
        metavar="URL",
        callback=check_url,
        help="Prometheus base URL (the lab's http://127.0.0.1:9090) or an AMP workspace URL "
        "(signed with SigV4 from the standard AWS credential chain).",
    ),
    period: str = _PERIOD,
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT_SECONDS,
        "--timeout",
        metavar="SECONDS",
        callback=check_timeout,
        help="Deadline for all the queries together; past it the check cannot decide (exit 4).",
    ),
    windows_path: Path | None = WindowsPathOption,
    as_json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Run every panel query, each variable resolved to each of its values, and list every
    panel that returns no series or NaN (exit 1 when any, 4 when Prometheus cannot answer)."""
    options = load_options(windows_path, allow_unknown_fields=False)
    built = dashboards_from_specs(inputs, checked_period(period), options=options)
    client = open_client(prometheus, limits=Limits(timeout_seconds=timeout))
    with progress(f"checking {len(built)} dashboard(s) against {printable(prometheus)}") as update:
        report = check_dashboards(built, client, lambda text: update(f"checking {text}"))
    if as_json_output:
        print_json(as_json(report))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: CheckReport) -> None:
    for finding in report.findings:
        console.print(printable(finding.describe()), markup=False)
        for query in finding.queries:
            console.print("    " + printable(" ".join(query.split())), markup=False)
    summary = (
        f"{report.dashboards} dashboard(s), {report.panels_checked} panel(s) checked "
        f"({report.queries_run} queries): "
    )
    if report.ok:
        console.print(summary + "no empty or NaN panel", markup=False)
    else:
        console.print(summary + f"{len(report.findings)} empty or NaN", markup=False)
