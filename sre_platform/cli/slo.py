"""`sre slo ...`: compile, validate, test and explain SLO specs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from alerting.compiler import compile_files, merge_rule_files, write_outputs
from alerting.loader import read_specs
from alerting.promql import LABEL_NAME
from sre_platform.errors import Problem, SpecError

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
    result = read_specs(inputs, period, parse_labels(extra_label))
    if not result.ok:
        raise SpecError(result.problems)
    _print_warnings(result.problems)
    files = compile_files(result.files)
    if output is None:
        sys.stdout.write(files[0].text if len(files) == 1 else merge_rule_files(files))
        return
    for target in write_outputs(files, output, _is_directory_target(output)):
        err_console.print(f"wrote {target}")


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
