"""The pulumi-policy wrappers of the baseline rules (``policy.baseline``)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
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


def as_resource(resource: PolicyResource) -> Resource:
    """A resource of a stack under analysis as the baseline's stack rules see it."""
    return Resource(
        type=resource.resource_type,
        name=resource.name,
        parent=resource.parent.name if resource.parent is not None else None,
        inputs=resource.props,
        dependencies={
            key: tuple(sorted(d.name for d in found))
            for key, found in resource.property_dependencies.items()
            if found
        },
    )


def _stack_policy(name: str, rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [as_resource(r) for r in args.resources]
        urns = {id(resource): r.urn for resource, r in zip(resources, args.resources, strict=True)}
        for resource, message in rule(resources):
            report_violation(f"{resource.name}: {message}", urns.get(id(resource)))

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
