"""The `sre` console script: `sre slo ...`, `sre lab ...`, `sre stack ...`, `sre budget ...`,
`sre dashboards ...`.

Each verb group lives in its own module, imported only when its name is on the command line
(start-up stays short: `sre slo compile` does not import Pulumi or boto3); this one assembles
them and owns the one place where
errors become messages and exit codes: 0 success, 1 an error, 2 a usage error (an unknown
option or a value the command cannot use); the release gate adds 3 (frozen) and 4 (cannot
decide). See README "Exit codes".
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version

import click
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from sre_platform.errors import Problem, ProblemsError, SreError
from sre_platform.text import printable

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def package_version() -> str:
    """The installed sre-platform version."""
    try:
        return version("sre-platform")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sre {package_version()} (Python {sys.version.split()[0]})")
        raise typer.Exit()


# Verb group name -> its module under sre_platform.cli (each module has a typer `app`).
GROUPS = ("slo", "lab", "stack", "budget", "dashboards")


class LazyGroups(TyperGroup):
    """The root command: a verb group's module is imported when the group is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *GROUPS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in GROUPS:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(f"sre_platform.cli.{cmd_name}")
        module.app.rich_markup_mode = None  # plain click help, as the root's
        command = typer.main.get_group(module.app)
        command.name = cmd_name
        return command


app = typer.Typer(
    cls=LazyGroups,
    help="sre-platform: reliability engineering for AWS, as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: flags show no `<bool>` metavar, and help reads the same in a pipe.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """sre-platform: reliability engineering for AWS, as code."""


def report(error: SreError) -> int:
    """Print ``error`` for a person and return the exit code it stands for."""
    problems = error.problems if isinstance(error, ProblemsError) else [Problem(str(error))]
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        text = printable(str(problem), keep_newlines=True)
        err_console.print(Text.assemble((problem.severity, style), f": {text}"))
    return error.exit_code


def main() -> None:
    """Entry point of the `sre` console script."""
    try:
        app()
    except SreError as error:
        sys.exit(report(error))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # `sre ... | head`: the reader left; say nothing more, as coreutils do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except OSError as error:
        # Last resort: an OS error a verb did not turn into an SreError still gets a message.
        where = f"{error.filename}: " if error.filename else ""
        reason = error.strerror or errno.errorcode.get(error.errno or 0, str(error))
        message = printable(f"{where}{reason}")
        err_console.print(Text.assemble(("error", "red"), f": {message}"))
        sys.exit(1)
