"""The security baseline's verdict on one stack, offline: ``sre stack check``.

The stack is rendered under Pulumi's mock runtime (as ``sre stack render`` does) and every rule
of ``policy.baseline`` runs over what it declares: the same pure functions the policy pack
calls in ``pulumi preview --policy-pack policy``, fed the same inputs and the same links
between resources (which resources each input came from), so CI and a newcomer without
credentials get the verdict a preview would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policy.baseline import RESOURCE_RULES, STACK_RULES, Resource, Violation, check_stack
from stacks.render import Rendering


@dataclass(frozen=True)
class CheckResult:
    """The baseline's verdict on one rendered stack."""

    stack: str
    resources: int
    violations: tuple[Violation, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        """The names of the rules that ran."""
        return (*RESOURCE_RULES, *STACK_RULES)

    def as_json(self) -> dict[str, Any]:
        """The verdict as ``sre stack check --json`` prints it."""
        return {
            "stack": self.stack,
            "resources": self.resources,
            "rules": list(self.rules),
            "violations": [
                {"rule": v.rule, "type": v.type, "name": v.name, "message": v.message}
                for v in self.violations
            ],
        }


def baseline_resources(rendering: Rendering) -> list[Resource]:
    """The rendered resources as the baseline's rules see them."""
    return [
        Resource(r.type, r.name, r.parent, r.inputs, r.dependencies) for r in rendering.resources
    ]


def check_rendering(rendering: Rendering) -> CheckResult:
    """Run every baseline rule over ``rendering``."""
    return CheckResult(
        stack=rendering.stack,
        resources=len(rendering.resources),
        violations=tuple(check_stack(baseline_resources(rendering))),
    )
