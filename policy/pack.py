"""The pulumi-policy wrappers of the baseline rules (``policy.baseline``)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.baseline import RESOURCE_RULES, STACK_RULES, Resource, ResourceRule, StackRule

PACK_NAME = "sre-platform-baseline"


def _resource_policy(name: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=(rule.__doc__ or name).strip(),
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _stack_policy(name: str, rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            Resource(
                type=r.resource_type,
                name=r.name,
                parent=r.parent.name if r.parent is not None else None,
                inputs=r.props,
            )
            for r in args.resources
        ]
        for message in rule(resources):
            report_violation(message, None)

    return StackValidationPolicy(
        name=name,
        description=(rule.__doc__ or name).strip(),
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """Every baseline rule as a mandatory pulumi-policy policy."""
    return [_resource_policy(n, r) for n, r in RESOURCE_RULES.items()] + [
        _stack_policy(n, r) for n, r in STACK_RULES.items()
    ]
