"""OpenSLO ``openslo/v1alpha`` ``kind: SLO`` documents, read as Sloth v0.16 reads them.

The mapping follows Sloth's own loader (github.com/slok/sloth, v0.16.0,
internal/storage/io/openslo.go, ``OpenSLOYAMLSpecLoader``):
- each entry of ``spec.objectives`` is one SLO named ``<metadata.name>-<index>`` (id
  ``<service>-<metadata.name>-<index>``), objective ``target x 100``;
- only ``ratioMetrics`` objectives, with ``source`` prometheus or sloth and ``queryType``
  promql; good/total become the raw error ratio ``1 - (good / total)``, in Sloth's layout;
- at most one ``timeWindows`` entry, rolling, in days (its count is the SLO's period); a
  calendar-aligned window is refused (every window here is rolling);
- no alerts: Sloth maps no alerting from OpenSLO (both alerts are disabled), so neither do we;
- the info series says ``sloth_spec: openslo/v1alpha``, ``sloth_mode: cli-gen-openslo``.
The fields are those of OpenSLO's v1alpha Go structs (github.com/OpenSLO/oslo v0.12.0,
pkg/manifest/v1alpha/objects.go), which Sloth reads; an unknown field is an error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting import names
from alerting.formats import Translation
from alerting.spec import Flag, Number, Text
from alerting.validation import check_query
from sre_platform.errors import Problem

# Sloth's template, character for character: good and total become an error ratio.
_ERROR_RATIO = """
  1 - (
    (
      {good}
    )
    /
    (
      {total}
    )
  )
"""


class _Model(BaseModel):
    """OpenSLO's own field names (camelCase), unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Metadata(_Model):
    name: str
    displayName: Text = ""


class Calendar(_Model):
    startTime: Text
    timeZone: Text


class TimeWindow(_Model):
    unit: str
    count: int = Field(strict=True)
    isRolling: Flag | None = None
    calendar: Calendar | None = None


class MetricSource(_Model):
    source: str
    queryType: str
    query: str


class RatioMetrics(_Model):
    good: MetricSource
    total: MetricSource
    counter: Flag = False


class Indicator(_Model):
    thresholdMetric: MetricSource


class Objective(_Model):
    displayName: Text = ""
    value: Number = 0
    ratioMetrics: RatioMetrics | None = None
    target: Number | None = None
    timeSliceTarget: Number | None = None
    op: str | None = None


class SLOSpecV1Alpha(_Model):
    timeWindows: list[TimeWindow] = Field(default_factory=list)
    budgetingMethod: str = ""
    description: Text = ""
    indicator: Indicator | None = None
    service: str
    objectives: list[Objective]


class OpenSLODocument(_Model):
    """A whole ``openslo/v1alpha`` SLO document."""

    apiVersion: Literal["openslo/v1alpha"]
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SLOSpecV1Alpha


# prometheus/v1 field -> where it comes from in an OpenSLO document (per objective: {index}).
_SLO_FIELDS = {
    "name": "metadata.name",
    "objective": "spec.objectives[{index}].target",
    "description": "spec.description",
    "period": "spec.timeWindows[0]",
    "sli.raw.error_ratio_query": "spec.objectives[{index}].ratioMetrics",
}


def translate(parsed: OpenSLODocument) -> Translation:
    """The prometheus/v1 shape of a parsed OpenSLO document, with Sloth's own checks."""
    spec = parsed.spec
    problems: list[Problem] = []
    if not spec.objectives:
        problems.append(Problem("at least one objective is required", field="spec.objectives"))
    period = None
    if len(spec.timeWindows) > 1:
        problems.append(Problem("only one time window is supported", field="spec.timeWindows"))
    elif spec.timeWindows:
        window = spec.timeWindows[0]
        if window.unit.lower() != "day":
            problems.append(
                Problem(
                    "only time windows in days are supported (unit: Day)",
                    field="spec.timeWindows[0].unit",
                )
            )
        elif window.count <= 0:
            problems.append(Problem("must be at least 1", field="spec.timeWindows[0].count"))
        elif window.calendar is not None or window.isRolling is False:
            # Every SLI window here is rolling: a calendar month would be read as 30 rolling
            # days without a word, so it is refused.
            problems.append(
                Problem(
                    "calendar-aligned time windows are not supported: the period is rolling "
                    "(isRolling: true, no calendar)",
                    field="spec.timeWindows[0].calendar"
                    if window.calendar is not None
                    else "spec.timeWindows[0].isRolling",
                )
            )
        else:
            period = f"{window.count}d"
    slos = []
    index_of: dict[str, int] = {}
    for index, objective in enumerate(spec.objectives):
        name = f"{parsed.metadata.name}-{index}"
        index_of[name] = index
        here = f"spec.objectives[{index}]"
        problems += _check_objective(objective, here, name)
        if objective.ratioMetrics is None or objective.target is None:
            continue
        good, total = objective.ratioMetrics.good.query, objective.ratioMetrics.total.query
        slo: dict[str, Any] = {
            "name": name,
            "objective": objective.target * 100,  # OpenSLO's ratio as Sloth's percent
            "description": spec.description,
            "sli": {"raw": {"error_ratio_query": _ERROR_RATIO.format(good=good, total=total)}},
            "alerting": {"page_alert": {"disable": True}, "ticket_alert": {"disable": True}},
        }
        if period is not None:
            slo["period"] = period
        slos.append(slo)
    if any(p.severity == "error" for p in problems):
        return Translation(None, problems)

    return Translation(
        {"version": names.SPEC_VERSION, "service": spec.service, "slos": slos},
        problems,
        spec_version=names.SPEC_OPENSLO,
        generator_mode=names.GENERATOR_MODE_OPENSLO,
        service_field=lambda path: {"service": "spec.service"}.get(path, path),
        slo_field=lambda path: _SLO_FIELDS.get(path, path),
        vocabulary=lambda name: None,
    )


def _check_objective(objective: Objective, here: str, slo: str) -> list[Problem]:
    problems = []
    if objective.target is None:
        problems.append(Problem("field required", slo=slo, field=f"{here}.target"))
    ratio = objective.ratioMetrics
    if ratio is None:
        problems.append(
            Problem(
                "field required: only ratioMetrics objectives are supported (as in Sloth)",
                slo=slo,
                field=f"{here}.ratioMetrics",
            )
        )
        return problems
    for part, source in (("good", ratio.good), ("total", ratio.total)):
        where = f"{here}.ratioMetrics.{part}"
        if source.source not in ("prometheus", "sloth"):
            problems.append(
                Problem("must be prometheus or sloth", slo=slo, field=f"{where}.source")
            )
        if source.queryType != "promql":
            problems.append(Problem("must be promql", slo=slo, field=f"{where}.queryType"))
        problems += list(check_query(source.query, slo, f"{where}.query"))
    return problems
