"""Custom alert windows: Sloth's ``AlertWindows`` files (``--windows-path``).

The format and its meaning are Sloth's (github.com/slok/sloth v0.16.0,
pkg/prometheus/alertwindows/v1/v1.go and internal/alert/window.go):

```yaml
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  sloPeriod: 7d
  page:   {quick: {errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h}, slow: {...}}
  ticket: {quick: {...}, slow: {...}}
```
A folder is searched recursively for ``.yaml``/``.yml`` files, each one AlertWindows document;
two files for the same period must be identical. The catalog of an SLO is the file whose
``sloPeriod`` equals the SLO's period; as in Sloth, custom windows replace the default ones,
so a period without a file is an error. The burn factor is Sloth's, computed with its float
operations in its order: ``errorBudgetPercent * period_hours / 100 / long_window_hours``.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from alerting.loader import suggestion
from alerting.names import SEVERITY_PAGE, SEVERITY_TICKET
from alerting.spec import Number, SpecLoader
from alerting.windows import MAX_PERIOD, MIN_PERIOD, BurnTier, WindowCatalog
from sre_platform.durations import format_duration, parse_duration
from sre_platform.errors import InputFileError, Problem, SpecError, field_path
from sre_platform.yamlfile import load_documents, read_text

SUFFIXES = (".yaml", ".yml")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowSpec(_Model):
    """One tier: the budget share it lets burn, and its two windows."""

    errorBudgetPercent: Number
    shortWindow: str
    longWindow: str


class QuickSlow(_Model):
    quick: WindowSpec
    slow: WindowSpec


class AlertWindowsSpec(_Model):
    sloPeriod: str
    page: QuickSlow
    ticket: QuickSlow


class AlertWindowsDocument(_Model):
    """A whole ``AlertWindows`` file."""

    apiVersion: Literal["sloth.slok.dev/v1"]
    kind: Literal["AlertWindows"]
    spec: AlertWindowsSpec


def _hours(seconds: int) -> float:
    """Go's ``time.Duration.Hours()`` of a whole number of seconds."""
    nanoseconds = seconds * 1_000_000_000
    hour = 3_600_000_000_000
    return float(nanoseconds // hour) + float(nanoseconds % hour) / (60 * 60 * 1e9)


def sloth_factor(percent: float, period: int, long_window: int) -> float:
    """Sloth's burn-rate factor (internal/alert/window.go, getBurnRateFactor), float for float."""
    return percent * _hours(period) / 100 / _hours(long_window)


def _duration(text: str, field: str, problems: list[Problem]) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        problems.append(Problem(str(error), field=field))
        return 0


def catalog_from(document: AlertWindowsDocument) -> tuple[WindowCatalog | None, list[Problem]]:
    """The WindowCatalog of a parsed AlertWindows document, or the problems that prevent it."""
    spec = document.spec
    problems: list[Problem] = []
    period = _duration(spec.sloPeriod, "spec.sloPeriod", problems)
    if period and not MIN_PERIOD <= period <= MAX_PERIOD:
        problems.append(
            Problem("the SLO period must be between 1d and 90d", field="spec.sloPeriod")
        )
    tiers = []
    for severity, pair in ((SEVERITY_PAGE, spec.page), (SEVERITY_TICKET, spec.ticket)):
        for name, window in (("quick", pair.quick), ("slow", pair.slow)):
            where = f"spec.{severity}.{name}"
            short = _duration(window.shortWindow, f"{where}.shortWindow", problems)
            long = _duration(window.longWindow, f"{where}.longWindow", problems)
            if not 0 < window.errorBudgetPercent <= 100:
                problems.append(
                    Problem(
                        "must be greater than 0 and at most 100",
                        field=f"{where}.errorBudgetPercent",
                    )
                )
            if short and long and short > long:
                problems.append(
                    Problem("must not be longer than longWindow", field=f"{where}.shortWindow")
                )
            if period and long and long > period:
                problems.append(
                    Problem("must not be longer than sloPeriod", field=f"{where}.longWindow")
                )
            if problems:
                continue
            tiers.append(
                BurnTier(
                    name,
                    severity,
                    long,
                    short,
                    Fraction(window.errorBudgetPercent) / 100,
                    sloth_factor(window.errorBudgetPercent, period, long),
                )
            )
    if problems:
        return None, problems
    return WindowCatalog(period, *tiers), []


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def read_windows(folder: str | Path) -> dict[int, WindowCatalog]:
    """Every AlertWindows file under ``folder``, by SLO period in seconds.

    Raises SpecError listing every problem, each naming its file and field.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SpecError([Problem("no such folder", file=root.as_posix(), field="--windows-path")])
    catalogs: dict[int, WindowCatalog] = {}
    origin: dict[int, str] = {}
    problems: list[Problem] = []
    files = _files(root)
    if not files:
        problems.append(
            Problem("no .yaml or .yml AlertWindows files in this folder", file=root.as_posix())
        )
    for path in files:
        name = path.as_posix()
        catalog, found = _read_file(path)
        problems += [Problem(p.message, name, None, p.field) for p in found]
        if catalog is None:
            continue
        if catalog.period in catalogs and catalogs[catalog.period] != catalog:
            problems.append(
                Problem(
                    f"sloPeriod {format_duration(catalog.period)} is already defined, "
                    f"differently, in {origin[catalog.period]}",
                    file=name,
                    field="spec.sloPeriod",
                )
            )
            continue
        catalogs.setdefault(catalog.period, catalog)
        origin.setdefault(catalog.period, name)
    if problems:
        raise SpecError(problems)
    return catalogs


def _read_file(path: Path) -> tuple[WindowCatalog | None, list[Problem]]:
    name = path.as_posix()
    try:
        documents = load_documents(read_text(path), name, loader_class=SpecLoader)
    except InputFileError as error:
        return None, [Problem(error.message)]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        return None, [Problem("an AlertWindows file holds one mapping (one YAML document)")]
    try:
        parsed = AlertWindowsDocument.model_validate(documents[0])
    except ValidationError as error:
        return None, [_problem(item) for item in error.errors()]
    return catalog_from(parsed)


def _problem(item: dict) -> Problem:
    message = {"missing": "field required", "extra_forbidden": "unknown field"}.get(
        item["type"], item["msg"]
    )
    if item["type"] == "extra_forbidden" and (
        guess := suggestion(AlertWindowsDocument, item["loc"])
    ):
        message += f"; did you mean {guess}?"
    return Problem(message[:1].lower() + message[1:], field=field_path(item["loc"]) or None)


def periods(catalogs: Iterable[int]) -> str:
    """The periods of some catalogs, as text (``7d, 30d``)."""
    return ", ".join(format_duration(p) for p in sorted(catalogs))
