"""The remediation policy file: YAML -> validated spec (pydantic) -> frozen domain model.

``ops/remediation.yaml`` maps alerts (by alertname, severity, labels and Alertmanager-style
matchers) to actions, with guardrails. Every problem names the file and the field, as the other
config files do (see budget/policy.py); format and semantics: docs/remediation.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from remediation.model import (
    MATCH_OPERATORS,
    Action,
    Guardrails,
    Matcher,
    Policy,
    Rule,
    ServiceBounds,
)
from sre_platform.durations import DurationText, parse_duration
from sre_platform.errors import (
    InputFileError,
    Problem,
    ProblemsError,
    field_path,
    validation_problems,
)
from sre_platform.text import printable
from sre_platform.yamlfile import read_mapping

DEFAULT_POLICY_FILE = Path("ops/remediation.yaml")
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
RULE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class RemediationPolicyError(ProblemsError):
    """A remediation policy file with mistakes; each problem names the file and the field."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


LabelName = Annotated[str, Field(pattern=LABEL_NAME)]
ServiceName = Annotated[str, Field(min_length=1, max_length=128)]


def _parse_matcher(text: str) -> Matcher:
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(
            f'{text!r} is not a matcher such as sloth_slo="orders" or replica=~"[0-9]+" '
            f"(operators: {', '.join(MATCH_OPERATORS)})"
        )
    name, operator, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if operator in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"{text!r}: invalid regular expression: {error}") from None
    return Matcher(name, operator, value)


class MatchSpec(_Spec):
    alertname: Annotated[str, Field(min_length=1)] | None = None
    severity: Annotated[str, Field(min_length=1)] | None = None
    labels: dict[LabelName, str] = {}
    matchers: list[str] = []

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            _parse_matcher(text)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> MatchSpec:
        if not (self.alertname or self.severity or self.labels or self.matchers):
            raise ValueError(
                "must name at least one of alertname, severity, labels, matchers: an empty "
                "match would act on every alert"
            )
        return self


class ScaleSpec(_Spec):
    type: Literal["scale_out", "scale_in"]
    step: Annotated[int, Field(ge=1, le=100)] = 1


class RestartSpec(_Spec):
    type: Literal["restart_replica"]


class RollbackSpec(_Spec):
    type: Literal["rollback_release"]


class ShedLoadSpec(_Spec):
    type: Literal["shed_load"]
    fraction: Annotated[float, Field(gt=0, le=0.9)]
    duration: DurationText = "5m"


ActionSpec = Annotated[
    ScaleSpec | RestartSpec | RollbackSpec | ShedLoadSpec, Field(discriminator="type")
]


class RuleSpec(_Spec):
    name: Annotated[str, Field(pattern=RULE_NAME)]
    match: MatchSpec
    action: ActionSpec
    service: ServiceName | None = None
    dry_run: bool = False


class GuardrailsSpec(_Spec):
    max_actions: Annotated[int, Field(ge=1, le=1000)] = 3
    window: DurationText = "30m"
    cooldown: DurationText = "5m"
    max_delivery_age: DurationText = "5m"
    max_alert_age: DurationText = "2h"


class ServiceSpec(_Spec):
    min_replicas: Annotated[int, Field(ge=0, le=10_000)]
    max_replicas: Annotated[int, Field(ge=1, le=10_000)]

    @model_validator(mode="after")
    def _ordered(self) -> ServiceSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas must be at least min_replicas ({self.min_replicas})")
        return self


class PolicySpec(_Spec):
    version: Literal[1]
    dry_run: bool = False
    service_labels: Annotated[list[LabelName], Field(min_length=1)] = [
        "sloth_service",
        "service",
    ]
    severity_label: LabelName = "sloth_severity"
    guardrails: GuardrailsSpec = GuardrailsSpec()
    services: dict[ServiceName, ServiceSpec] = {}
    rules: list[RuleSpec] = []

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        names = [rule.name for rule in self.rules]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f'rule name "{name}" is used more than once')
        return self


def _rule_problems(spec: PolicySpec, source: str) -> list[Problem]:
    """Rules that name a service the policy does not list."""
    return [
        Problem(
            f'names service "{rule.service}", which is not under services '
            f"({', '.join(sorted(spec.services)) or 'none listed'})",
            file=source,
            field=f"rules[{index}].service",
        )
        for index, rule in enumerate(spec.rules)
        if rule.service is not None and rule.service not in spec.services
    ]


def _matchers(spec: MatchSpec, severity_label: str) -> tuple[Matcher, ...]:
    found = []
    if spec.alertname:
        found.append(Matcher("alertname", "=", spec.alertname))
    if spec.severity:
        found.append(Matcher(severity_label, "=", spec.severity))
    found += [Matcher(name, "=", value) for name, value in sorted(spec.labels.items())]
    found += [_parse_matcher(text) for text in spec.matchers]
    return tuple(found)


def _action(spec: ScaleSpec | RestartSpec | RollbackSpec | ShedLoadSpec) -> Action:
    if isinstance(spec, ScaleSpec):
        return Action(spec.type, step=spec.step)
    if isinstance(spec, ShedLoadSpec):
        return Action(
            spec.type, fraction=spec.fraction, duration_seconds=parse_duration(spec.duration)
        )
    return Action(spec.type)


def build_policy(spec: PolicySpec, source: str) -> Policy:
    """Turn a validated spec into the domain model."""
    g = spec.guardrails
    return Policy(
        source=source,
        dry_run=spec.dry_run,
        service_labels=tuple(spec.service_labels),
        guardrails=Guardrails(
            max_actions=g.max_actions,
            window_seconds=parse_duration(g.window),
            cooldown_seconds=parse_duration(g.cooldown),
            max_delivery_age_seconds=parse_duration(g.max_delivery_age),
            max_alert_age_seconds=parse_duration(g.max_alert_age),
        ),
        services=MappingProxyType(
            {
                name: ServiceBounds(s.min_replicas, s.max_replicas)
                for name, s in spec.services.items()
            }
        ),
        rules=tuple(
            Rule(
                name=rule.name,
                matchers=_matchers(rule.match, spec.severity_label),
                action=_action(rule.action),
                clause=f"rules[{index}]",
                service=rule.service,
                dry_run=rule.dry_run,
            )
            for index, rule in enumerate(spec.rules)
        ),
    )


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see docs/remediation.md)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return (
            "unknown action type "
            f"{error.get('ctx', {}).get('tag')!r}: one of scale_out, scale_in, "
            "restart_replica, rollback_release, shed_load"
        )
    if kind == "union_tag_not_found":
        return (
            "needs a type: one of scale_out, scale_in, restart_replica, rollback_release, shed_load"
        )
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return str(error["msg"])


def _location(loc: tuple[Any, ...]) -> str:
    # A discriminated union adds the tag to the location (action.scale_out.step): drop it.
    parts = [p for i, p in enumerate(loc) if not (i and loc[i - 1] == "action" and p != "type")]
    return field_path(parts)


def parse_policy(data: object, source: str) -> Policy:
    """Validate already-loaded YAML ``data`` and build the policy; errors name the field."""
    source = printable(source)
    if data is None:
        raise RemediationPolicyError([Problem("the file is empty", file=source)])
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise RemediationPolicyError(
            validation_problems(exc, source, _message, _location)
        ) from None
    problems = _rule_problems(spec, source)
    if problems:
        raise RemediationPolicyError(problems)
    return build_policy(spec, source)


def load_policy(path: str | Path = DEFAULT_POLICY_FILE) -> Policy:
    """Read (within sre_platform.yamlfile's limits), validate and build the policy in ``path``.

    Every problem is a RemediationPolicyError naming the file: unreadable, not UTF-8, too big,
    invalid YAML (one problem), or every field problem at once.
    """
    source = str(path)
    try:
        data = read_mapping(path)
    except InputFileError as error:
        raise RemediationPolicyError([Problem(error.message, file=printable(source))]) from None
    return parse_policy(data or None, source)
