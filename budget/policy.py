"""The error-budget policy: YAML file -> validated spec (pydantic) -> frozen domain model.

Modelled on the SRE workbook's example error budget policy: tiers by the error budget remaining
over the SLO period, a fast-burn rule, an outage rule, exceptions, escalation contacts, what to
do without data, and per-service overrides. See docs/error-budget-policy.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sre_platform.durations import DurationText, parse_duration
from sre_platform.errors import (
    InputFileError,
    PolicyFileError,
    Problem,
    validation_problems,
)
from sre_platform.text import printable
from sre_platform.yamlfile import read_mapping

DEFAULT_POLICY_FILE = Path("ops/error-budget-policy.yaml")


class Release(enum.StrEnum):
    """What a clause of the policy does to a release."""

    ALLOW = "allow"
    DENY = "deny"


# --- spec: the file as written, validated field by field -------------------------------------

Ratio = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1)]


class _Spec(BaseModel):
    # allow_inf_nan=False: `.inf` or `.nan` is never a threshold (`max_burn_rate: .inf` would
    # silently switch the fast-burn rule off).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TierSpec(_Spec):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    budget_remaining_above: Ratio | None = None
    release: Release
    allows: Text


class FastBurnSpec(_Spec):
    max_burn_rate: Annotated[float, Field(gt=0)]
    release: Release = Release.DENY


class OutageSpec(_Spec):
    max_budget_spent: Annotated[float, Field(gt=0, le=1)]
    window: DurationText
    requires: Text = "a postmortem with at least one P0 action item"
    release: Release = Release.ALLOW


class ExceptionSpec(_Spec):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: Text


class ContactSpec(_Spec):
    role: Text
    contact: Text


def _check_tiers(tiers: list[TierSpec]) -> None:
    names = [tier.name for tier in tiers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'tier name "{name}" is used more than once')
    *bounded, last = tiers
    for index, tier in enumerate(bounded):
        if tier.budget_remaining_above is None:
            raise ValueError(
                f'tier "{tier.name}" needs budget_remaining_above: only the last tier '
                "catches every budget"
            )
        if index and tier.budget_remaining_above >= bounded[index - 1].budget_remaining_above:
            raise ValueError(
                f'tier "{tier.name}": budget_remaining_above must be lower than the tier before'
            )
    if last.budget_remaining_above is not None:
        raise ValueError(
            f'the last tier "{last.name}" must not set budget_remaining_above: '
            "it applies to whatever budget is left below the tiers before it"
        )


class _Rules(_Spec):
    tiers: Annotated[list[TierSpec], Field(min_length=1)]
    fast_burn: FastBurnSpec
    outage: OutageSpec
    exceptions: list[ExceptionSpec]
    escalation: Annotated[list[ContactSpec], Field(min_length=1)]
    on_missing_data: Release = Release.DENY

    @field_validator("tiers")
    @classmethod
    def _tiers_in_order(cls, tiers: list[TierSpec]) -> list[TierSpec]:
        _check_tiers(tiers)
        return tiers


class ServiceOverrideSpec(_Spec):
    """A service's replacements for top-level fields; a field given here replaces it whole."""

    tiers: Annotated[list[TierSpec], Field(min_length=1)] | None = None
    fast_burn: FastBurnSpec | None = None
    outage: OutageSpec | None = None
    exceptions: list[ExceptionSpec] | None = None
    escalation: Annotated[list[ContactSpec], Field(min_length=1)] | None = None
    on_missing_data: Release | None = None

    @field_validator("tiers")
    @classmethod
    def _tiers_in_order(cls, tiers: list[TierSpec] | None) -> list[TierSpec] | None:
        if tiers is not None:
            _check_tiers(tiers)
        return tiers

    @model_validator(mode="after")
    def _not_empty(self) -> ServiceOverrideSpec:
        if not self.model_fields_set:
            raise ValueError("a service override must replace at least one field")
        return self


class PolicySpec(_Rules):
    version: Literal[1]
    services: dict[Annotated[str, Field(min_length=1)], ServiceOverrideSpec] = {}


# --- domain model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """A band of budget remaining; applies when the budget left is above ``above`` (or always)."""

    name: str
    above: float | None
    release: Release
    allows: str
    clause: str  # where it is written, e.g. "tiers[3]" or "services.exchange.tiers[0]"

    def holds(self, budget_remaining: float) -> bool:
        """Return whether this tier applies to ``budget_remaining`` (a ratio of the budget)."""
        return self.above is None or budget_remaining > self.above


@dataclass(frozen=True)
class FastBurnRule:
    """Hold releases while the current burn rate is above ``max_burn_rate``."""

    max_burn_rate: float
    release: Release
    clause: str


@dataclass(frozen=True)
class OutageRule:
    """More than ``max_budget_spent`` of the budget spent within ``window`` means an outage."""

    max_budget_spent: float
    window: str
    window_seconds: int
    requires: str
    release: Release
    clause: str


@dataclass(frozen=True)
class ReleaseException:
    """A kind of change that may pass a frozen gate with --override-reason."""

    name: str
    description: str


@dataclass(frozen=True)
class Contact:
    """Whom to escalate to when the policy and the team disagree."""

    role: str
    contact: str


@dataclass(frozen=True)
class ServicePolicy:
    """The policy as it applies to one service (defaults with its overrides applied)."""

    tiers: tuple[Tier, ...]
    fast_burn: FastBurnRule
    outage: OutageRule
    exceptions: tuple[ReleaseException, ...]
    escalation: tuple[Contact, ...]
    on_missing_data: Release
    on_missing_data_clause: str

    def tier_for(self, budget_remaining: float) -> Tier:
        """Return the first tier (most budget first) that holds ``budget_remaining``."""
        return next(tier for tier in self.tiers if tier.holds(budget_remaining))


@dataclass(frozen=True)
class Policy:
    """The whole policy file: the default policy and per-service overrides."""

    source: str
    default: ServicePolicy
    services: Mapping[str, ServicePolicy] = field(default_factory=lambda: MappingProxyType({}))

    def for_service(self, service: str) -> ServicePolicy:
        """Return the policy that applies to ``service``."""
        return self.services.get(service, self.default)


def _one_line(text: str) -> str:
    # Descriptions are printed as one line each (CI logs, table cells), however they were folded.
    return " ".join(text.split())


def _tiers(specs: list[TierSpec], prefix: str) -> tuple[Tier, ...]:
    return tuple(
        Tier(
            name=spec.name,
            above=spec.budget_remaining_above,
            release=spec.release,
            allows=_one_line(spec.allows),
            clause=f"{prefix}tiers[{index}]",
        )
        for index, spec in enumerate(specs)
    )


def _fast_burn(spec: FastBurnSpec, prefix: str) -> FastBurnRule:
    return FastBurnRule(spec.max_burn_rate, spec.release, f"{prefix}fast_burn")


def _outage(spec: OutageSpec, prefix: str) -> OutageRule:
    return OutageRule(
        max_budget_spent=spec.max_budget_spent,
        window=spec.window,
        window_seconds=parse_duration(spec.window),
        requires=_one_line(spec.requires),
        release=spec.release,
        clause=f"{prefix}outage",
    )


def _exceptions(specs: list[ExceptionSpec]) -> tuple[ReleaseException, ...]:
    return tuple(ReleaseException(s.name, _one_line(s.description)) for s in specs)


def _contacts(specs: list[ContactSpec]) -> tuple[Contact, ...]:
    return tuple(Contact(s.role, s.contact) for s in specs)


def _default(spec: PolicySpec) -> ServicePolicy:
    return ServicePolicy(
        tiers=_tiers(spec.tiers, ""),
        fast_burn=_fast_burn(spec.fast_burn, ""),
        outage=_outage(spec.outage, ""),
        exceptions=_exceptions(spec.exceptions),
        escalation=_contacts(spec.escalation),
        on_missing_data=spec.on_missing_data,
        on_missing_data_clause="on_missing_data",
    )


def _override(default: ServicePolicy, name: str, spec: ServiceOverrideSpec) -> ServicePolicy:
    prefix = f"services.{name}."
    return ServicePolicy(
        tiers=default.tiers if spec.tiers is None else _tiers(spec.tiers, prefix),
        fast_burn=default.fast_burn
        if spec.fast_burn is None
        else _fast_burn(spec.fast_burn, prefix),
        outage=default.outage if spec.outage is None else _outage(spec.outage, prefix),
        exceptions=default.exceptions if spec.exceptions is None else _exceptions(spec.exceptions),
        escalation=default.escalation if spec.escalation is None else _contacts(spec.escalation),
        on_missing_data=default.on_missing_data
        if spec.on_missing_data is None
        else spec.on_missing_data,
        on_missing_data_clause=default.on_missing_data_clause
        if spec.on_missing_data is None
        else f"{prefix}on_missing_data",
    )


def build_policy(spec: PolicySpec, source: str) -> Policy:
    """Turn a validated spec into the domain model, resolving per-service overrides."""
    default = _default(spec)
    services = {name: _override(default, name, o) for name, o in spec.services.items()}
    return Policy(source=source, default=default, services=MappingProxyType(services))


_RATIO_MESSAGES = {
    "budget_remaining_above": "must be between 0 and 1",
    "max_budget_spent": "must be above 0 and at most 1",
}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _message(error: Any) -> str:
    kind, loc = error["type"], error["loc"]
    if kind in _BOUNDS and loc and loc[-1] in _RATIO_MESSAGES:
        return _RATIO_MESSAGES[loc[-1]]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see docs/error-budget-policy.md)"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return str(error["msg"])


def parse_policy(data: object, source: str) -> Policy:
    """Validate already-loaded YAML ``data`` and build the policy; errors name the field."""
    source = printable(source)
    if data is None:
        raise PolicyFileError([Problem("the file is empty", file=source)])
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyFileError(validation_problems(exc, source, _message)) from None
    return build_policy(spec, source)


def load_policy(path: str | Path = DEFAULT_POLICY_FILE) -> Policy:
    """Read (within sre_platform.yamlfile's limits), validate and build the policy in ``path``.

    Every problem is a PolicyFileError naming the file: unreadable, not UTF-8, too big, invalid
    YAML or an alias bomb (one problem), or every field problem at once.
    """
    source = str(path)
    try:
        data = read_mapping(path)
    except InputFileError as error:
        raise PolicyFileError([Problem(error.message, file=printable(source))]) from None
    return parse_policy(data or None, source)
