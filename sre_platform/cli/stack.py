"""`sre stack ...`: review a Pulumi stack offline, without cloud credentials or the Pulumi CLI."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Pulumi stacks: render a stack offline under Pulumi's mock runtime.",
    no_args_is_help=True,
)


class Format(StrEnum):
    """Output formats of `sre stack render`."""

    table = "table"
    json = "json"


@app.command()
def render(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name (a Pulumi.<stack>.yaml)."),
    output_format: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Where Pulumi.yaml is."),
) -> None:
    """Run the program for STACK's config under mocks and print every declared resource."""
    from stacks.render import render_stack

    rendering = render_stack(project_dir, stack)
    if output_format is Format.json:
        typer.echo(json.dumps([r.as_json() for r in rendering.resources], indent=2))
        return
    table = Table(title=f"stack {stack}: {len(rendering.resources)} resources")
    for column in ("type", "name", "parent", "protect"):
        table.add_column(column)
    for r in rendering.resources:
        table.add_row(r.type, r.name, r.parent or "", "yes" if r.protect else "")
    console = Console(width=200)
    console.print(table)
    for key, value in rendering.outputs.items():
        console.print(f"{key}: {value}", highlight=False)
