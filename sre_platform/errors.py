"""The one exception hierarchy of sre-platform.

Library code raises these; only the CLI turns them into messages and exit codes. Every error
carries where it happened (file, SLO, field path) so a user can fix it without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sre_platform.text import printable

if TYPE_CHECKING:
    from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One finding about an input: where it is and what is wrong."""

    message: str
    file: str | None = None
    slo: str | None = None
    field: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.slo:
            parts.append(f'slo "{self.slo}"')
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


def field_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a field path: ``("tiers", 2, "name")`` -> ``tiers[2].name``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_problems(
    exc: ValidationError,
    source: str,
    message: Callable[[Any], str],
    location: Callable[[tuple[Any, ...]], str] = field_path,
) -> list[Problem]:
    """One Problem per error of a pydantic validation of file ``source``: ``message(error)``
    at the field ``location(error["loc"])``, both shown printable."""
    return [
        Problem(
            printable(message(error)),
            file=source,
            field=printable(location(error["loc"])) or None,
        )
        for error in exc.errors()
    ]


class SreError(Exception):
    """Base of every error sre-platform raises on purpose.

    Exit codes of every verb: 0 success, 1 an error (bad input, a failed check, a process or
    service that did not do what was asked), 2 a usage error (as typer/click give for an unknown
    option); the release gate adds 3 (frozen) and 4 (cannot decide).
    """

    exit_code = 1


class UsageError(SreError):
    """A command-line option with a value the command cannot use (exit 2, like click's)."""

    exit_code = 2


class OutputError(SreError):
    """An output file that cannot or must not be written (names the path and the reason)."""


class InputFileError(SreError):
    """An input file that cannot be read or parsed safely (names the file and the reason)."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message

    @property
    def problem(self) -> Problem:
        """The error as a Problem, for callers that report every problem of their inputs."""
        return Problem(self.message, file=self.file)


@dataclass
class ProblemsError(SreError):
    """An input with one or more problems; `problems` lists every one found."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class SpecError(ProblemsError):
    """SLO spec files that cannot be compiled (bad YAML, unknown fields, failed validation)."""

    exit_code = 1


class CompileError(SreError):
    """Generated output failed its own checks (a bug or an unsupported input)."""


class ToolMissingError(SreError):
    """An external program (promtool, prometheus, amtool, ...) is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        super().__init__(f"{tool} not found on PATH: {hint}")
        self.tool = tool


class StackConfigError(ProblemsError):
    """A Pulumi stack configuration that fails validation; each problem names the config key."""


class LabError(SreError):
    """The local lab cannot do what was asked (port in use, not running, ...)."""


class PrometheusError(SreError):
    """Prometheus or AMP gave no usable answer (unreachable, too slow, refused, too big, not
    what was asked): exit 4, "cannot decide"."""

    exit_code = 4


class BudgetError(PrometheusError):
    """Error-budget status or gate could not be decided (no SLO series): exit 4."""


class CredentialsError(SreError):
    """No AWS credentials where a call needs them (a setup error, not missing data)."""


class PolicyFileError(ProblemsError):
    """An error-budget policy file with mistakes; each problem names the field."""
