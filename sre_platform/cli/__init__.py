"""The `sre` console script: `sre slo ...`, `sre lab ...`, `sre stack ...`, `sre budget ...`.

Each verb group lives in its own module; this one assembles them and owns the one place where
errors become messages and exit codes.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.text import Text

from sre_platform.errors import Problem, ProblemsError, SreError

app = typer.Typer(
    help="sre-platform: reliability engineering for AWS, as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _register() -> None:
    from sre_platform.cli import budget, lab, slo, stack

    app.add_typer(slo.app, name="slo")
    app.add_typer(lab.app, name="lab")
    app.add_typer(stack.app, name="stack")
    app.add_typer(budget.app, name="budget")


_register()


def report(error: SreError) -> int:
    """Print ``error`` for a person and return the exit code it stands for."""
    problems = error.problems if isinstance(error, ProblemsError) else [Problem(str(error))]
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        err_console.print(Text.assemble((problem.severity, style), f": {problem}"))
    return error.exit_code


def main() -> None:
    """Entry point of the `sre` console script."""
    try:
        app()
    except SreError as error:
        sys.exit(report(error))
    except KeyboardInterrupt:
        sys.exit(130)
