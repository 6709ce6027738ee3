"""`sre stack ...`: review a Pulumi stack offline, without cloud credentials or the Pulumi CLI.

`render` prints what a stack declares; `check` runs the security baseline over it and exits 1
on any violation.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from sre_platform.cli.output import print_json, progress
from sre_platform.text import printable

if TYPE_CHECKING:
    from stacks.render import Rendering


class OutputFormat(StrEnum):
    """What the hidden ``--format`` takes (scripts written before ``--json``)."""

    table = "table"
    json = "json"


app = typer.Typer(
    help="Pulumi stacks: render a stack offline under Pulumi's mock runtime, check it against "
    "the security baseline.",
    no_args_is_help=True,
)
STACK_HELP = "Stack name (a Pulumi.<stack>.yaml)."
PROJECT_HELP = "Where Pulumi.yaml is."


def _render(stack: str, project_dir: Path) -> Rendering:
    """Check the project and the stack's name (said before any wait), then render the stack
    under Pulumi's mock runtime, with progress on stderr."""
    from stacks.project import check_project, stack_file

    check_project(project_dir)
    stack_file(project_dir, stack)
    with progress(f"rendering stack {stack} under Pulumi's mock runtime"):
        from stacks.render import render_stack  # imports Pulumi: a second or more

        return render_stack(project_dir, stack)


@app.command()
def render(
    stack: str = typer.Option(..., "--stack", "-s", help=STACK_HELP),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (stack, resources with inputs, outputs)."
    ),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help=PROJECT_HELP),
    output_format: OutputFormat | None = typer.Option(
        None, "--format", hidden=True, help="Older spelling: --format json is --json."
    ),
) -> None:
    """Run the program for STACK's config under mocks and print every declared resource."""
    as_json = as_json or output_format is OutputFormat.json
    rendering = _render(stack, project_dir)
    if as_json:
        print_json(rendering.as_json())
        return
    table = Table(title=f"stack {stack}: {len(rendering.resources)} resources")
    for column in ("type", "name", "parent", "protect"):
        table.add_column(column)
    for r in rendering.resources:
        table.add_row(r.type, r.name, r.parent or "", "yes" if r.protect else "")
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: as wide as the table, so no line is wrapped or cut
        unbounded = console.options.update_width(1_000_000)
        console.width = max(console.width, Measurement.get(console, unbounded, table).maximum)
    console.print(table)
    for key, value in rendering.outputs.items():
        console.print(f"{key}: {value}", markup=False)


@app.command()
def check(
    stack: str = typer.Option(..., "--stack", "-s", help=STACK_HELP),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (stack, resources, rules, violations)."
    ),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help=PROJECT_HELP),
) -> None:
    """Render STACK offline and run the security baseline over it (the rules of
    `pulumi preview --policy-pack policy`); exit 1 on any violation."""
    rendering = _render(stack, project_dir)
    with progress(f"checking {len(rendering.resources)} resources against the security baseline"):
        from stacks.check import check_rendering

        result = check_rendering(rendering)
    if as_json:
        print_json(result.as_json())
    else:
        for violation in result.violations:
            typer.echo(printable(str(violation)))
        counted = (
            f"{len(result.violations)} violation{'s' if len(result.violations) != 1 else ''}"
            if result.violations
            else "no violations"
        )
        typer.echo(
            f"stack {stack}: {counted} of the security baseline "
            f"({result.resources} resources, {len(result.rules)} rules)"
        )
    if result.violations:
        raise typer.Exit(1)
