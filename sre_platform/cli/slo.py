"""`sre slo ...`: compile, validate, test and explain SLO specs."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from alerting.compiler import compile_inputs, merge_rule_files, write_folder
from alerting.explain import Explanation, as_json, explain
from alerting.loader import read_specs
from alerting.promql import LABEL_NAME
from alerting.proofs import promtool_path, proof_suite, run_suites
from sre_platform.durations import format_duration, humanize
from sre_platform.errors import Problem, SpecError
from sre_platform.files import write_atomic

app = typer.Typer(help="Compile, validate, prove and explain SLO specs.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

InputsOption = typer.Option(
    ..., "--input", "-i", help="A spec file or a folder of specs (repeatable)."
)
PeriodOption = typer.Option("30d", "--period", help="Default SLO period, 1d to 90d.")


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """Turn ``k=v`` pairs into a dict; raise SpecError naming the bad pair."""
    labels: dict[str, str] = {}
    problems = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            problems.append(Problem(f"expected key=value, got {pair!r}", field="--extra-label"))
            continue
        if not LABEL_NAME.match(key) or key.startswith("__"):
            problems.append(Problem(f"invalid label name {key!r}", field="--extra-label"))
            continue
        labels[key] = value
    if problems:
        raise SpecError(problems)
    return labels


def _print_warnings(problems: list[Problem]) -> None:
    for problem in problems:
        if problem.severity == "warning":
            err_console.print(f"[yellow]warning[/]: {problem}", markup=True, highlight=False)


def _is_directory_target(output: Path) -> bool:
    return output.is_dir() or str(output).endswith(("/", "\\")) or not output.suffix


@app.command("compile")
def compile_command(
    inputs: list[Path] = InputsOption,
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="A rules file (one merged file) or a folder (one file per spec). Default: stdout.",
    ),
    period: str = PeriodOption,
    extra_label: list[str] = typer.Option(
        [], "--extra-label", help="k=v added to every generated rule (repeatable)."
    ),
) -> None:
    """Compile SLO specs into Prometheus recording and alerting rules."""
    compilation = compile_inputs(
        inputs, period, parse_labels(extra_label), jobs=os.cpu_count() or 1
    )
    if not compilation.ok:
        raise SpecError(compilation.problems)
    _print_warnings(compilation.problems)
    if output is not None and _is_directory_target(output):
        for target in write_folder(compilation.files, output):
            err_console.print(f"wrote {target}")
        return
    merged = merge_rule_files(compilation.files)
    if output is None:
        sys.stdout.write(merged)
        return
    write_atomic(output, merged)
    err_console.print(f"wrote {output}")


app.command("generate", help="Alias of `compile`.")(compile_command)


@app.command("validate")
def validate_command(
    inputs: list[Path] = InputsOption,
    period: str = PeriodOption,
) -> None:
    """Check specs and report every problem of every file at once (exit 1 on any error)."""
    result = read_specs(inputs, period)
    for problem in result.problems:
        style = "red" if problem.severity == "error" else "yellow"
        err_console.print(f"[{style}]{problem.severity}[/]: ", markup=True, end="")
        err_console.print(str(problem), markup=False)
    if not result.ok:
        errors = sum(p.severity == "error" for p in result.problems)
        err_console.print(f"{errors} error(s) in {len(result.files)} file(s)")
        raise typer.Exit(1)
    console.print(f"ok: {len(result.slos)} SLO(s) in {len(result.files)} file(s)")


@app.command("test")
def test_command(
    inputs: list[Path] = InputsOption,
    period: str = PeriodOption,
    keep: Path | None = typer.Option(
        None, "--keep", help="Write the twin rules and promtool tests here and keep them."
    ),
) -> None:
    """Prove each SLO's alerts with promtool: outage pages, 0.99x burn is silent, blip resets."""
    result = read_specs(inputs, period)
    if not result.ok:
        raise SpecError(result.problems)
    promtool_path()
    suites = [proof_suite(slo) for slo in result.slos]
    if keep is not None:
        results = run_suites(suites, keep)
    else:
        with tempfile.TemporaryDirectory(prefix="sre-slo-test-") as folder:
            results = run_suites(suites, Path(folder))
    table = Table("SLO", "proof", "result", "what was proven (or why not)", box=None)
    styles = {"passed": "green", "failed": "bold red", "skipped": "yellow"}
    for item in results:
        what = item.detail if item.status == "skipped" else item.title
        table.add_row(item.slo_id, item.proof, f"[{styles[item.status]}]{item.status}[/]", what)
    console.print(table)
    failed = [item for item in results if item.status == "failed"]
    for item in failed:
        err_console.print(
            f"[bold red]FAILED[/] {item.source}: slo {item.slo_id}: proof {item.proof}: "
            f"{item.title}",
            markup=True,
        )
        err_console.print(item.detail, markup=False)
    counts = {s: sum(r.status == s for r in results) for s in styles}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    console.print(f"{len(suites)} SLO(s): {summary}")
    if failed:
        raise typer.Exit(1)


@app.command("explain")
def explain_command(
    inputs: list[Path] = InputsOption,
    period: str = PeriodOption,
    rate: float = typer.Option(
        100.0, "--rate", min=0.0, help="Events per second, for the budget in events."
    ),
    as_json_output: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Explain each SLO: error budget in time and events, alert tiers, time to detect burns."""
    result = read_specs(inputs, period)
    if not result.ok:
        raise SpecError(result.problems)
    explanations = [explain(slo, rate) for slo in result.slos]
    if as_json_output:
        sys.stdout.write(json.dumps({"slos": [as_json(e) for e in explanations]}, indent=2) + "\n")
        return
    for item in explanations:
        _print_explanation(item)


def _print_explanation(e: Explanation) -> None:
    console.print(
        f"[bold]{e.slo_id}[/] ({e.source}): objective {e.objective:g}% over "
        f"{format_duration(e.period_seconds)}; error budget {e.error_budget_ratio:.4g} = "
        f"[bold]{humanize(e.budget_seconds)}[/] of full outage = "
        f"[bold]{e.budget_events:,.0f}[/] failed events at {e.rate:g}/s",
        markup=True,
    )
    tiers = Table("tier", "long", "short", "factor", "threshold", "budget share", "state")
    for t in e.tiers:
        state = "can fire" if t.can_fire else ("disabled" if not t.enabled else "can never fire")
        tiers.add_row(
            t.label,
            format_duration(t.long_window),
            format_duration(t.short_window),
            f"{t.factor:.4g}",
            f"{t.threshold:.4%}",
            f"{t.budget_share:.0%}",
            state,
        )
    console.print(tiers)
    detections = Table("burn", "error ratio", "detected after", "by")
    for d in e.detections:
        when = humanize(d.seconds) if d.seconds is not None else f"never ({d.reason})"
        detections.add_row(d.burn_label, f"{d.error_ratio:.4%}", when, d.tier or "-")
    console.print(detections)
