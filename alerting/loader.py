"""Parse at the edge, once: spec files -> pydantic spec models -> validated, frozen SLOs."""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from alerting import crd, formats, model, openslo
from alerting.formats import Translation
from alerting.names import SPEC_VERSION
from alerting.spec import AlertSpec, ServiceSpec, SLOSpec, SpecLoader
from alerting.validation import check_service
from alerting.windows import WindowCatalog, catalog_for
from sre_platform.durations import parse_duration
from sre_platform.errors import InputFileError, Problem, SpecError, field_path
from sre_platform.yamlfile import load_documents, read_text

SPEC_SUFFIXES = (".yaml", ".yml")
# Hostile or runaway input gets a quick, short answer: a file with more SLOs than this is
# refused before any is checked, and at most this many problems are kept per file.
MAX_SLOS_PER_FILE = 1000
MAX_PROBLEMS_PER_FILE = 20


@dataclass(frozen=True)
class LoadOptions:
    """How specs are read, beyond the period and extra labels.

    ``windows``: custom alert windows by period in seconds (``alert_windows.read_windows``),
    replacing the default catalogs; ``allow_unknown_fields``: unknown fields become warnings
    and are ignored (for a team moving from Sloth, which ignores them silently).
    """

    windows: Mapping[int, WindowCatalog] | None = None
    allow_unknown_fields: bool = False

    def cache_key(self) -> dict[str, Any]:
        """These options as JSON-able data, for a cache key."""
        windows = None
        if self.windows is not None:
            windows = {str(period): repr(self.windows[period]) for period in sorted(self.windows)}
        return {"windows": windows, "allow_unknown_fields": self.allow_unknown_fields}


DEFAULT_OPTIONS = LoadOptions()


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
    options: LoadOptions = DEFAULT_OPTIONS,
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
        slos, problems = _read_file(path, default_period, dict(extra_labels or {}), options)
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
    options: LoadOptions = DEFAULT_OPTIONS,
) -> list[SpecFile]:
    """Return the validated SLOs per spec file; raise SpecError listing every problem."""
    result = read_specs(inputs, period, extra_labels, options=options)
    if not result.ok:
        raise SpecError(result.problems)
    return result.files


def _read_file(
    path: Path, default_period: int, extra_labels: dict[str, str], options: LoadOptions
) -> tuple[list[model.SLO], list[Problem]]:
    name = path.as_posix()
    try:
        text = read_text(path)
        documents = load_documents(text, name, loader_class=SpecLoader)
    except InputFileError as error:
        return [], [error.problem]
    if not documents:
        return [], [Problem("no spec documents in this file", file=name)]
    count = sum(_slo_count(d) for d in documents)
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
        doc_slos, doc_problems = _read_document(
            document, where, name, default_period, extra_labels, options
        )
        slos += doc_slos
        problems += doc_problems
    return slos, problems


def _slo_count(document: Any) -> int:
    """How many SLOs a document declares, whatever its format."""
    if not isinstance(document, dict):
        return 0
    spec = document.get("spec") if "apiVersion" in document else document
    if not isinstance(spec, dict):
        return 0
    slos = spec.get("objectives") if document.get("apiVersion") == "openslo/v1alpha" else None
    slos = slos if isinstance(slos, list) else spec.get("slos")
    return len(slos) if isinstance(slos, list) else 0


def _read_document(
    document: Any,
    where: str,
    source: str,
    default_period: int,
    extra_labels: dict[str, str],
    options: LoadOptions = DEFAULT_OPTIONS,
) -> tuple[list[model.SLO], list[Problem]]:
    if not isinstance(document, dict):
        return [], [Problem("a spec document must be a mapping", file=where)]
    kind = formats.detect(document)
    if kind is None:
        return [], [_in_file(formats.unsupported(document), where)]
    if kind == formats.PROMETHEUS_V1:
        translation = Translation(document)
    else:
        envelope: type[BaseModel] = (
            openslo.OpenSLODocument if kind == formats.OPENSLO else crd.PrometheusServiceLevel
        )
        parsed, problems, _ = _validated(envelope, document, where, options, None)
        if parsed is None:
            return [], problems
        if isinstance(parsed, openslo.OpenSLODocument):
            translation = openslo.translate(parsed)
        else:
            translation = crd.translate(parsed)
        translation.problems[:0] = problems
    problems = [_in_file(p, where) for p in translation.problems]
    if translation.document is None:
        return [], problems
    spec, found, raw = _validated(ServiceSpec, translation.document, where, options, translation)
    problems += found
    checked = check_service(raw, default_period, options.windows)
    problems += [_translated(_in_file(p, where), translation) for p in checked]
    if spec is None or any(p.severity == "error" for p in problems):
        return [], problems
    slos = [
        _to_model(spec, slo, source, default_period, extra_labels, options, translation)
        for slo in spec.slos
    ]
    return slos, problems


def _validated(
    cls: type[BaseModel],
    document: dict[str, Any],
    where: str,
    options: LoadOptions,
    translation: Translation | None,
) -> tuple[Any, list[Problem], Any]:
    """``document`` parsed as ``cls`` (None if it does not parse), its problems in the
    document's own field names, and the model or, when it does not parse, the raw mapping
    that the field-by-field checks read.

    With ``allow_unknown_fields``, each unknown field is a warning and is dropped before the
    document is parsed again.
    """
    warnings: list[Problem] = []
    for _ in range(8):  # each round drops the unknown fields pydantic reported
        try:
            parsed = cls.model_validate(document)
            return parsed, warnings, parsed
        except ValidationError as error:
            items = error.errors()
        unknown = [item for item in items if item["type"] == "extra_forbidden"]
        if not (options.allow_unknown_fields and unknown):
            break
        document = copy.deepcopy(document)
        for item in unknown:
            warnings.append(
                _from_pydantic(item, document, where, cls, translation, severity="warning")
            )
            _drop(document, item["loc"])
    problems = [_from_pydantic(item, document, where, cls, translation) for item in items]
    return None, warnings + problems, document


def _drop(document: Any, loc: tuple[Any, ...]) -> None:
    """Remove the field at ``loc`` from a nested mapping."""
    parent = document
    for part in loc[:-1]:
        parent = parent[part]
    parent.pop(loc[-1], None)


def _in_file(problem: Problem, where: str) -> Problem:
    return Problem(problem.message, where, problem.slo, problem.field, problem.severity)


def _translated(problem: Problem, translation: Translation) -> Problem:
    """A problem found in the prometheus/v1 shape, in the original document's field names."""
    if problem.field is None:
        return problem
    rename = translation.slo_field if problem.slo is not None else translation.service_field
    field_name = rename(problem.field)
    return Problem(problem.message, problem.file, problem.slo, field_name, problem.severity)


def _to_model(
    spec: ServiceSpec,
    slo: SLOSpec,
    source: str,
    default_period: int,
    extra: dict[str, str],
    options: LoadOptions = DEFAULT_OPTIONS,
    translation: Translation | None = None,
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
    period = parse_duration(slo.period) if slo.period else default_period
    translation = translation or Translation(None)
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
        period_seconds=period,
        source=source,
        windows=options.windows[period] if options.windows is not None else None,
        spec_version=translation.spec_version,
        generator_mode=translation.generator_mode,
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
    "string_type": "must be text",
    "extra_forbidden": "unknown field",
}
_UNKNOWN_IGNORED = "unknown field, ignored (--allow-unknown-fields)"


def _from_pydantic(
    item: Any,
    document: dict[str, Any],
    where: str,
    cls: type[BaseModel] = ServiceSpec,
    translation: Translation | None = None,
    *,
    severity: str = "error",
) -> Problem:
    loc = list(item["loc"])
    slo_name = None
    if cls is ServiceSpec and len(loc) >= 2 and loc[0] == "slos" and isinstance(loc[1], int):
        slos = document.get("slos")
        entry = slos[loc[1]] if isinstance(slos, list) and loc[1] < len(slos) else None
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            slo_name = entry["name"]
            loc = loc[2:]
        else:
            loc = [f"slos[{loc[1]}]", *loc[2:]]
    if cls is ServiceSpec:
        path = ".".join(str(part) for part in loc) or None
    else:
        path = field_path(loc) or None
    message = _MESSAGES.get(item["type"]) or item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        if severity == "warning":
            message = _UNKNOWN_IGNORED
        elif cls is ServiceSpec and (
            translation is None or translation.spec_version == SPEC_VERSION
        ):
            message += " (not part of prometheus/v1 or its documented extensions)"
        elif translation is not None and (why := translation.why_unknown(str(item["loc"][-1]))):
            message += f": {why}"
        vocabulary = translation.vocabulary if translation is not None else str
        guess = suggestion(cls, item["loc"], vocabulary)
        if guess:
            message += f"; did you mean {guess}?"
    problem = Problem(
        message[:1].lower() + message[1:],
        file=where,
        slo=slo_name,
        field=path,
        severity=severity,
    )
    return _translated(problem, translation) if translation is not None else problem


def suggestion(cls: type[BaseModel], loc: Iterable[Any], vocabulary: Any = str) -> str | None:
    """The known field closest to the unknown one at ``loc`` (``pageAlert`` -> page_alert).

    ``vocabulary`` names a field in the document's format (None: the format has no such field).
    """
    *parents, key = list(loc)
    model_cls: Any = cls
    for part in parents:
        if isinstance(part, int):
            continue
        info = model_cls.model_fields.get(part)
        model_cls = _model_in(info.annotation) if info is not None else None
        if model_cls is None:
            return None
    if not isinstance(key, str):
        return None
    key = key.removesuffix("\x00")
    known = {
        name: shown
        for name in model_cls.model_fields
        if (shown := vocabulary(name)) is not None and shown != key
    }
    wanted = formats.snake_case(key)
    if wanted in known:
        return known[wanted]
    matches = difflib.get_close_matches(wanted, list(known), n=1, cutoff=0.75)
    return known[matches[0]] if matches else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[SLOSpec]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
