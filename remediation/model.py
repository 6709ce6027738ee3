"""The remediation policy as a frozen domain model, and its compiled JSON form.

Plain Python on purpose: the AWS Lambda that acts on alerts imports this module with nothing
but the standard library and boto3 (no pydantic, no YAML). ``remediation.policy`` validates the
YAML file a person writes and builds this model; :func:`policy_to_json` compiles it into the
document the Lambda is packaged with, and :func:`policy_from_json` reads it back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SCALE_OUT = "scale_out"
SCALE_IN = "scale_in"
RESTART_REPLICA = "restart_replica"
ROLLBACK_RELEASE = "rollback_release"
SHED_LOAD = "shed_load"
ACTION_TYPES = (SCALE_OUT, SCALE_IN, RESTART_REPLICA, ROLLBACK_RELEASE, SHED_LOAD)
MATCH_OPERATORS = ("=", "!=", "=~", "!~")
COMPILED_FORMAT = "sre-platform/remediation-policy/v1"


@dataclass(frozen=True)
class Matcher:
    """One label matcher as Alertmanager writes it: ``name op value`` (regexes anchored)."""

    name: str
    operator: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.name, "")
        if self.operator == "=":
            return actual == self.value
        if self.operator == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.operator == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.operator}{json.dumps(self.value)}"


@dataclass(frozen=True)
class Action:
    """What a rule does: ``type`` is one of :data:`ACTION_TYPES`.

    ``step``: replicas added or removed (scale_out, scale_in); ``fraction`` and
    ``duration_seconds``: the share of orders refused and for how long (shed_load).
    """

    type: str
    step: int = 1
    fraction: float = 0.0
    duration_seconds: int = 0

    def describe(self) -> str:
        """The action in a few words, for audit records and messages."""
        if self.type in (SCALE_OUT, SCALE_IN):
            return f"{self.type} by {self.step}"
        if self.type == SHED_LOAD:
            return f"shed_load {self.fraction:g} for {self.duration_seconds}s"
        return self.type

    def as_json(self) -> dict[str, Any]:
        """The action as JSON (only the fields its type uses)."""
        body: dict[str, Any] = {"type": self.type}
        if self.type in (SCALE_OUT, SCALE_IN):
            body["step"] = self.step
        if self.type == SHED_LOAD:
            body.update(fraction=self.fraction, duration_seconds=self.duration_seconds)
        return body


@dataclass(frozen=True)
class Rule:
    """Alerts matching every matcher get ``action``; ``clause`` is where it is written."""

    name: str
    matchers: tuple[Matcher, ...]
    action: Action
    clause: str
    service: str | None = None  # a fixed target; otherwise the alert's service label
    dry_run: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` is this rule's."""
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class Guardrails:
    """Limits on acting: per service, per action, and on the alerts acted upon."""

    max_actions: int  # per service within window_seconds, every action type counted
    window_seconds: int
    cooldown_seconds: int  # between two actions of the same type on the same service
    max_delivery_age_seconds: int  # a notification older than this is stale
    max_alert_age_seconds: int  # an alert firing for longer than this is left to a human


@dataclass(frozen=True)
class ServiceBounds:
    """How far scaling may take a service's replicas (or instances)."""

    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class Policy:
    """The whole remediation policy: rules are tried in order, the first match acts."""

    source: str
    dry_run: bool
    service_labels: tuple[str, ...]
    guardrails: Guardrails
    services: Mapping[str, ServiceBounds] = field(default_factory=lambda: MappingProxyType({}))
    rules: tuple[Rule, ...] = ()

    def rule_for(self, labels: Mapping[str, str]) -> Rule | None:
        """The first rule matching ``labels``, or None."""
        return next((rule for rule in self.rules if rule.matches(labels)), None)

    def service_of(self, rule: Rule, labels: Mapping[str, str]) -> str | None:
        """The service a rule acts on: its fixed one, or the first service label set."""
        if rule.service:
            return rule.service
        return next((labels[name] for name in self.service_labels if labels.get(name)), None)


def policy_to_json(policy: Policy) -> str:
    """Compile ``policy`` into the JSON document the AWS Lambda is packaged with."""
    g = policy.guardrails
    document = {
        "format": COMPILED_FORMAT,
        "source": policy.source,
        "dry_run": policy.dry_run,
        "service_labels": list(policy.service_labels),
        "guardrails": {
            "max_actions": g.max_actions,
            "window_seconds": g.window_seconds,
            "cooldown_seconds": g.cooldown_seconds,
            "max_delivery_age_seconds": g.max_delivery_age_seconds,
            "max_alert_age_seconds": g.max_alert_age_seconds,
        },
        "services": {
            name: {"min_replicas": b.min_replicas, "max_replicas": b.max_replicas}
            for name, b in sorted(policy.services.items())
        },
        "rules": [
            {
                "name": rule.name,
                "clause": rule.clause,
                "matchers": [[m.name, m.operator, m.value] for m in rule.matchers],
                "action": rule.action.as_json(),
                "service": rule.service,
                "dry_run": rule.dry_run,
            }
            for rule in policy.rules
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def policy_from_json(text: str) -> Policy:
    """Read a policy compiled by :func:`policy_to_json`; ValueError if it is not one."""
    try:
        data = json.loads(text)
        if data.get("format") != COMPILED_FORMAT:
            raise ValueError(f"not a compiled remediation policy ({COMPILED_FORMAT})")
        rules = tuple(
            Rule(
                name=r["name"],
                clause=r["clause"],
                matchers=tuple(Matcher(*m) for m in r["matchers"]),
                action=Action(**r["action"]),
                service=r["service"],
                dry_run=bool(r["dry_run"]),
            )
            for r in data["rules"]
        )
        return Policy(
            source=data["source"],
            dry_run=bool(data["dry_run"]),
            service_labels=tuple(data["service_labels"]),
            guardrails=Guardrails(**data["guardrails"]),
            services=MappingProxyType(
                {name: ServiceBounds(**b) for name, b in data["services"].items()}
            ),
            rules=rules,
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a compiled remediation policy: {error!r}") from None
