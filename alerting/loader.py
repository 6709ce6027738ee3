"""Parse at the edge, once: spec files -> pydantic spec models -> validated, frozen SLOs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerting import model
from alerting.spec import AlertSpec, ServiceSpec, SLOSpec
from alerting.validation import check_service
from alerting.windows import catalog_for
from sre_platform.durations import parse_duration
from sre_platform.errors import InputFileError, Problem, SpecError
from sre_platform.yamlfile import load_documents, read_text

SPEC_SUFFIXES = (".yaml", ".yml")
# Hostile or runaway input gets a quick, short answer: a file with more SLOs than this is
# refused before any is checked, and at most this many problems are kept per file.
MAX_SLOS_PER_FILE = 1000
MAX_PROBLEMS_PER_FILE = 20


@dataclass(frozen=True)
class SpecFile:
    """The SLOs read from one spec file."""

    path: str
    slos: tuple[model.SLO, ...]


@dataclass
class LoadResult:
    """Everything read from the inputs: the SLOs per file and every problem found."""

    files: list[SpecFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    omitted: dict[str, int] = field(default_factory=dict)  # file -> problems left out

    @property
    def slos(self) -> list[model.SLO]:
        return [slo for spec_file in self.files for slo in spec_file.slos]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Return the spec files named by ``inputs`` (files, or folders searched recursively)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())
            if not found:
                problems.append(
                    Problem("no .yaml or .yml spec files in this folder", file=str(path))
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem("no such file or folder", file=str(path)))
    return files, problems


def check_period(period: str) -> Problem | None:
    """The problem with a default period given on the command line, if any."""
    try:
        catalog_for(parse_duration(period))
    except ValueError as error:
        return Problem(str(error), field="--period")
    return None


def read_specs(
    inputs: Iterable[str | Path],
    period: str = "30d",
    extra_labels: Mapping[str, str] | None = None,
    *,
    check_ids: bool = True,
) -> LoadResult:
    """Read and validate every spec named by ``inputs``; never raises for bad input.

    ``check_ids=False`` leaves the check that SLO ids are unique to a caller that reads its
    inputs in batches.
    """
    result = LoadResult()
    period_problem = check_period(period)
    if period_problem:
        result.problems.append(period_problem)
        return result
    default_period = parse_duration(period)
    paths, result.problems = expand_inputs(inputs)
    for path in paths:
        slos, problems = _read_file(path, default_period, dict(extra_labels or {}))
        result.files.append(SpecFile(path.as_posix(), tuple(slos)))
        result.problems += problems
    if check_ids:
        ids = [(f.path, slo.name, slo.id) for f in result.files for slo in f.slos]
        result.problems += duplicate_ids(ids)
        result.problems, result.omitted = cap_problems(result.problems)
    return result


def base_file(problem: Problem) -> str:
    """The file a problem is in, without its ``(document N)`` suffix."""
    return (problem.file or "").split(" (document ")[0]


def cap_problems(
    problems: list[Problem], limit: int = MAX_PROBLEMS_PER_FILE
) -> tuple[list[Problem], dict[str, int]]:
    """At most ``limit`` problems per file, and how many were left out of each file."""
    kept: list[Problem] = []
    seen: dict[str, int] = {}
    omitted: dict[str, int] = {}
    for problem in problems:
        name = base_file(problem)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > limit:
            omitted[name] = omitted.get(name, 0) + 1
        else:
            kept.append(problem)
    return kept, omitted


def load_specs(
    inputs: Iterable[str | Path],
    period: str = "30d",
    extra_labels: Mapping[str, str] | None = None,
) -> list[SpecFile]:
    """Return the validated SLOs per spec file; raise SpecError listing every problem."""
    result = read_specs(inputs, period, extra_labels)
    if not result.ok:
        raise SpecError(result.problems)
    return result.files


def _read_file(
    path: Path, default_period: int, extra_labels: dict[str, str]
) -> tuple[list[model.SLO], list[Problem]]:
    name = path.as_posix()
    try:
        text = read_text(path)
        documents = load_documents(text, name)
    except InputFileError as error:
        return [], [error.problem]
    if not documents:
        return [], [Problem("no spec documents in this file", file=name)]
    count = sum(len(d["slos"]) for d in documents if isinstance(d, dict) and _is_list(d, "slos"))
    if count > MAX_SLOS_PER_FILE:
        return [], [
            Problem(
                f"{count:,} SLOs in one file, more than the {MAX_SLOS_PER_FILE:,} allowed: "
                "split them into several files",
                file=name,
            )
        ]
    slos: list[model.SLO] = []
    problems: list[Problem] = []
    for index, document in enumerate(documents, start=1):
        where = name if len(documents) == 1 else f"{name} (document {index})"
        doc_slos, doc_problems = _read_document(document, where, name, default_period, extra_labels)
        slos += doc_slos
        problems += doc_problems
    return slos, problems


def _is_list(document: dict[str, Any], key: str) -> bool:
    return isinstance(document.get(key), list)


def _read_document(
    document: Any, where: str, source: str, default_period: int, extra_labels: dict[str, str]
) -> tuple[list[model.SLO], list[Problem]]:
    if not isinstance(document, dict):
        return [], [Problem("a spec document must be a mapping", file=where)]
    try:
        spec = ServiceSpec.model_validate(document)
    except ValidationError as error:
        # Every part that parses is still checked, so one pass reports every problem.
        problems = [_from_pydantic(item, document, where) for item in error.errors()]
        problems += [_in_file(p, where) for p in check_service(document, default_period)]
        return [], problems
    problems = [_in_file(p, where) for p in check_service(spec, default_period)]
    if any(p.severity == "error" for p in problems):
        return [], problems
    slos = [_to_model(spec, slo, source, default_period, extra_labels) for slo in spec.slos]
    return slos, problems


def _in_file(problem: Problem, where: str) -> Problem:
    return Problem(problem.message, where, problem.slo, problem.field, problem.severity)


def _to_model(
    spec: ServiceSpec, slo: SLOSpec, source: str, default_period: int, extra: dict[str, str]
) -> model.SLO:
    sli = slo.sli
    domain_sli: model.SLI
    if sli.events is not None:
        domain_sli = model.EventsSLI(sli.events.error_query, sli.events.total_query)
    elif sli.raw is not None:
        domain_sli = model.RawSLI(sli.raw.error_ratio_query)
    else:
        assert sli.latency is not None
        domain_sli = model.LatencySLI(
            sli.latency.histogram, sli.latency.selector, sli.latency.threshold
        )
    alerting = slo.alerting
    return model.SLO(
        service=spec.service,
        name=slo.name,
        objective=slo.objective,
        description=slo.description,
        labels=model.frozen_map({**extra, **spec.labels, **slo.labels}),
        sli=domain_sli,
        alerting=model.Alerting(
            name=alerting.name,
            labels=model.frozen_map(alerting.labels),
            annotations=model.frozen_map(alerting.annotations),
            page=_alert(alerting.page_alert),
            ticket=_alert(alerting.ticket_alert),
        ),
        period_seconds=parse_duration(slo.period) if slo.period else default_period,
        source=source,
    )


def _alert(spec: AlertSpec) -> model.Alert:
    return model.Alert(
        disabled=spec.disable,
        labels=model.frozen_map(spec.labels),
        annotations=model.frozen_map(spec.annotations),
    )


def duplicate_ids(entries: Iterable[tuple[str, str, str]]) -> list[Problem]:
    """Problems for SLO ids defined twice; ``entries`` are (file, SLO name, SLO id) in order."""
    first_seen: dict[str, str] = {}
    problems = []
    for path, name, slo_id in entries:
        if slo_id in first_seen:
            problems.append(
                Problem(
                    f"SLO id {slo_id!r} is already defined in {first_seen[slo_id]}",
                    file=path,
                    slo=name,
                    field="name",
                )
            )
        first_seen.setdefault(slo_id, path)
    return problems


_MESSAGES = {
    "missing": "field required",
    "float_type": "must be a number such as 99.9 (not text, and not true/false)",
    "bool_type": "must be true or false",
    "extra_forbidden": "unknown field (not part of prometheus/v1 or its documented extensions)",
}


def _from_pydantic(item: Any, document: dict[str, Any], where: str) -> Problem:
    loc = list(item["loc"])
    slo_name = None
    if len(loc) >= 2 and loc[0] == "slos" and isinstance(loc[1], int):
        slos = document.get("slos")
        entry = slos[loc[1]] if isinstance(slos, list) and loc[1] < len(slos) else None
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            slo_name = entry["name"]
            loc = loc[2:]
        else:
            loc = [f"slos[{loc[1]}]", *loc[2:]]
    field_path = ".".join(str(part) for part in loc) or None
    message = _MESSAGES.get(item["type"]) or item["msg"].removeprefix("Value error, ")
    return Problem(message[:1].lower() + message[1:], file=where, slo=slo_name, field=field_path)
