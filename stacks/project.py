"""The Pulumi project folder: its ``Pulumi.yaml``, its stack files, and folders config names.

Names are checked before they become paths: a stack name is lowercase letters, digits and
``-`` (so ``Pulumi.<stack>.yaml`` is always a file of this folder), and a folder that stack
config names (``slo.specs_dir``) must resolve, symlinks included, inside the project. Every
file is read through :mod:`sre_platform.yamlfile`, within its size and alias limits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sre_platform.errors import InputFileError, Problem, StackConfigError, UsageError
from sre_platform.text import printable
from sre_platform.yamlfile import read_mapping

PROJECT = "sre-platform"
# The service's name and the stack's name make AWS names and the instances' user data, which
# takes lowercase names of up to 63 characters (a DNS label).
STACK_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
STACK_NAME_RULE = (
    "lowercase letters, digits and '-', starting with a letter, at most 63 characters long"
)
_SHOWN = 64  # characters of a bad name quoted in a message


def cut(text: str) -> str:
    """``text`` for a message: control characters escaped, long text cut."""
    return printable(text if len(text) <= _SHOWN else f"{text[:_SHOWN]}...")


def shown(text: str) -> str:
    """``text`` quoted for a message (see :func:`cut`)."""
    return repr(cut(text))


def stack_name_problem(stack: str) -> str | None:
    """Why ``stack`` cannot be a stack name here, or None."""
    if STACK_NAME.fullmatch(stack):
        return None
    return f"invalid stack name {shown(stack)}: a stack name is {STACK_NAME_RULE}"


def list_stacks(project_dir: Path) -> list[str]:
    """The stacks of ``project_dir``: every ``Pulumi.<stack>.yaml`` with a valid name."""
    names = (p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
    return sorted(name for name in names if stack_name_problem(name) is None)


def stack_file(project_dir: Path, stack: str) -> Path:
    """The ``Pulumi.<stack>.yaml`` of ``project_dir``; UsageError (listing the stacks) unless
    ``stack`` is a valid name with a file."""
    known = ", ".join(list_stacks(project_dir)) or "none"
    problem = stack_name_problem(stack)
    if problem:
        raise UsageError(f"{problem}; the stacks are: {known}")
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise UsageError(
            f"unknown stack {stack!r} (no {path.name} in {printable(str(project_dir.resolve()))}); "
            f"the stacks are: {known}"
        )
    return _regular(path)


def _regular(path: Path) -> Path:
    """``path``, unless it is a folder, a FIFO or a device: one that would block or never end."""
    if path.is_dir():
        raise InputFileError(path.as_posix(), "is a folder, not a file")
    if not path.is_file():
        raise InputFileError(path.as_posix(), "is not a regular file")
    return path


def check_project(project_dir: Path) -> None:
    """Refuse a folder that is not this Pulumi project (no ``Pulumi.yaml``, another name)."""
    path = project_dir / "Pulumi.yaml"
    if not path.exists():
        raise UsageError(
            f"{printable(str(project_dir.resolve()))} is not a Pulumi project (no Pulumi.yaml)"
        )
    name = read_mapping(_regular(path)).get("name")
    if name != PROJECT:
        raise StackConfigError(
            [
                Problem(
                    f"must be {PROJECT!r} (this program's project), not {shown(str(name))}",
                    file=path.as_posix(),
                    field="name",
                )
            ]
        )


def read_stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml``: full keys -> values."""
    path = stack_file(project_dir, stack)
    document = read_mapping(path)
    config = document.get("config", {})
    if not isinstance(config, dict):
        raise StackConfigError([Problem("must be a mapping", file=path.name, field="config")])
    return {str(key): _plain(value) for key, value in config.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"value"}:  # `key: {value: ...}` form
        return value["value"]
    return value


def folder_inside(project_dir: Path, path: str) -> Path:
    """The folder ``path`` names (relative to ``project_dir``), resolved with its symlinks.

    Raises ValueError (a message for the config key) unless it is a folder inside the project.
    """
    root = project_dir.resolve()
    try:
        target = (root / path).resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a loop, a NUL byte
        raise ValueError(f"is not a usable path: {error}") from None
    where = printable(str(target))
    if target == root or not target.is_relative_to(root):
        raise ValueError(f"must be a folder inside the project {printable(str(root))}, not {where}")
    if not target.is_dir():
        raise ValueError(f"must be a folder inside the project; {where} is not one")
    return target
