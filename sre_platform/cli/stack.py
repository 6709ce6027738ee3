"""`sre stack ...`: review a Pulumi stack offline, without cloud credentials or the Pulumi CLI."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from sre_platform.cli.output import print_json, progress


class OutputFormat(StrEnum):
    """What the hidden ``--format`` takes (scripts written before ``--json``)."""

    table = "table"
    json = "json"


app = typer.Typer(
    help="Pulumi stacks: render a stack offline under Pulumi's mock runtime.",
    no_args_is_help=True,
)


@app.command()
def render(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name (a Pulumi.<stack>.yaml)."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (stack, resources with inputs, outputs)."
    ),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Where Pulumi.yaml is."),
    output_format: OutputFormat | None = typer.Option(
        None, "--format", hidden=True, help="Older spelling: --format json is --json."
    ),
) -> None:
    """Run the program for STACK's config under mocks and print every declared resource."""
    from stacks.project import check_project, stack_file

    as_json = as_json or output_format is OutputFormat.json

    check_project(project_dir)  # a wrong folder, a bad or unknown name: said before any wait
    stack_file(project_dir, stack)
    with progress(f"rendering stack {stack} under Pulumi's mock runtime"):
        from stacks.render import render_stack  # imports Pulumi: a second or more

        rendering = render_stack(project_dir, stack)
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
