"""The AWS actuator: the service fleet's Auto Scaling group, and SSM Run Command on its
instances.

- scale: SetDesiredCapacity, within the policy's bounds and the group's own min/max;
- restart a replica: ``systemctl restart <service>.service`` on one in-service instance of the
  group (the one the alert names, if it is the group's) with the AWS-RunShellScript document;
- roll back a release: RollbackInstanceRefresh of the refresh in progress, or, when AWS
  refuses (the fleet's refreshes carry no desired configuration to return to: docs/
  remediation.md), CancelInstanceRefresh, which stops replacing instances;
- shed load: not on AWS (the fleet has no admission control); such rules are skipped.

Clients are passed in (boto3 ``autoscaling`` and ``ssm``), so tests use moto and Stubber.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from remediation.engine import ActionResult, Capacity
from remediation.model import RESTART_REPLICA, ROLLBACK_RELEASE, SCALE_IN, SCALE_OUT

SHELL_DOCUMENT = "AWS-RunShellScript"
ACTIVE_REFRESH = ("Pending", "InProgress", "Baking")
RESTART_TIMEOUT_SECONDS = 120


class AwsActuator:
    """Acts on the Auto Scaling group of each service in ``groups`` (service -> group name)."""

    def __init__(self, autoscaling: Any, ssm: Any, groups: Mapping[str, str]) -> None:
        self.autoscaling = autoscaling
        self.ssm = ssm
        self.groups = dict(groups)

    def supports(self, action: str) -> bool:
        """Scaling, restarts and rollbacks; not shedding load."""
        return action in (SCALE_OUT, SCALE_IN, RESTART_REPLICA, ROLLBACK_RELEASE)

    def _group(self, service: str) -> dict[str, Any]:
        name = self.groups.get(service)
        if name is None:
            raise LookupError(f"no Auto Scaling group is configured for service {service!r}")
        found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        groups = found.get("AutoScalingGroups", [])
        if not groups:
            raise LookupError(f"Auto Scaling group {name!r} does not exist")
        return groups[0]

    def capacity(self, service: str) -> Capacity:
        """The group's desired capacity and its min/max."""
        group = self._group(service)
        return Capacity(group["DesiredCapacity"], group["MinSize"], group["MaxSize"])

    def scale_to(self, service: str, desired: int) -> ActionResult:
        """Set the group's desired capacity (the engine keeps it within the bounds)."""
        group = self._group(service)
        before = group["DesiredCapacity"]
        self.autoscaling.set_desired_capacity(
            AutoScalingGroupName=group["AutoScalingGroupName"],
            DesiredCapacity=desired,
            HonorCooldown=False,
        )
        return ActionResult(
            target=group["AutoScalingGroupName"],
            detail=f"desired capacity {before} -> {desired}",
            before=before,
            after=desired,
        )

    def restart_one(self, service: str, replica: str | None) -> ActionResult:
        """Restart the service on one in-service, healthy instance of the group."""
        group = self._group(service)
        healthy = sorted(
            i["InstanceId"]
            for i in group.get("Instances", [])
            if i.get("LifecycleState") == "InService" and i.get("HealthStatus") == "Healthy"
        )
        if not healthy:
            raise LookupError(f"{group['AutoScalingGroupName']} has no healthy instance")
        instance = replica if replica in healthy else healthy[0]
        unit = f"{service}.service"
        sent = self.ssm.send_command(
            InstanceIds=[instance],
            DocumentName=SHELL_DOCUMENT,
            Comment=f"sre-platform remediation: restart {unit}"[:100],
            TimeoutSeconds=RESTART_TIMEOUT_SECONDS,
            Parameters={"commands": [f"systemctl restart {unit}"]},
        )
        command = sent["Command"]["CommandId"]
        return ActionResult(
            target=instance,
            detail=f"SSM command {command} restarts {unit} on {instance}",
            after=command,
        )

    def rollback(self, service: str) -> ActionResult:
        """Roll back the group's instance refresh in progress, or cancel it."""
        name = self._group(service)["AutoScalingGroupName"]
        refreshes = self.autoscaling.describe_instance_refreshes(
            AutoScalingGroupName=name, MaxRecords=10
        ).get("InstanceRefreshes", [])
        active = [r for r in refreshes if r.get("Status") in ACTIVE_REFRESH]
        if not active:
            return ActionResult(
                target=name,
                detail="no instance refresh in progress: nothing to roll back",
                changed=False,
            )
        refresh = active[0]["InstanceRefreshId"]
        try:
            self.autoscaling.rollback_instance_refresh(AutoScalingGroupName=name)
            return ActionResult(
                target=name,
                detail=f"rolling back instance refresh {refresh}",
                before=refresh,
                after="RollbackInProgress",
            )
        except ClientError as error:
            refused = error.response.get("Error", {}).get("Message", str(error))
        self.autoscaling.cancel_instance_refresh(AutoScalingGroupName=name)
        return ActionResult(
            target=name,
            detail=f"cancelled instance refresh {refresh} (rollback refused: {refused})",
            before=refresh,
            after="Cancelling",
        )

    def shed_load(self, service: str, fraction: float, duration_seconds: int) -> ActionResult:
        """Not available on AWS (see :meth:`supports`)."""
        raise NotImplementedError("the AWS fleet cannot shed load")
