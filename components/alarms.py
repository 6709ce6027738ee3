"""Alarms: CloudWatch alarms on the fleet, its load balancer and the AMP workspace's limits.

Alarm names are fixed strings (see :func:`alarm_names`) so the fleet's instance refresh can name
the alarms that roll it back before the alarms themselves exist. Every alarm's description
links its runbook (``runbooks/<kind>.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Alarm kind -> one line of what it means. The kind is also the runbook's file name.
ALARM_KINDS: dict[str, str] = {
    "alb-5xx-ratio": "More than the allowed share of requests failed with a 5xx",
    "alb-p99-latency": "p99 target response time is above the order-execution target",
    "unhealthy-hosts": "The load balancer reports unhealthy targets",
    "fleet-capacity": "Fewer instances are in service than the group wants",
    "amp-ingestion-rate": "AMP ingestion rate is close to the workspace quota",
    "amp-active-series": "AMP active series are close to the workspace quota",
}


@dataclass(frozen=True)
class AlarmNames:
    """The CloudWatch names of the platform's alarms for one environment."""

    prefix: str

    def name(self, kind: str) -> str:
        """Return the alarm name of ``kind`` (one of :data:`ALARM_KINDS`)."""
        if kind not in ALARM_KINDS:
            raise KeyError(kind)
        return f"{self.prefix}-{kind}"

    @property
    def rollback(self) -> tuple[str, ...]:
        """The alarms that stop and roll back an instance refresh when they fire."""
        return (self.name("alb-5xx-ratio"), self.name("alb-p99-latency"))


def runbook_link(base_url: str, kind: str) -> str:
    """Return the link to the runbook of alarm ``kind`` under ``base_url``."""
    return f"{base_url.rstrip('/')}/{kind}.md"


def description(base_url: str, kind: str) -> str:
    """Return an alarm description: what it means and where its runbook is."""
    return f"{ALARM_KINDS[kind]}. Runbook: {runbook_link(base_url, kind)}"


@dataclass(frozen=True)
class AlarmsArgs:
    """Arguments of :class:`Alarms`.

    ``amp_workspace_id`` adds the AMP usage alarms; leave it out where AMP is not deployed.
    They alarm at ``amp_usage_percent`` of the workspace's quota: the one configured in
    ``amp_ingestion_rate_quota`` (samples/s) and ``amp_active_series_quota``, else the applied
    quota that CloudWatch's ``SERVICE_QUOTA()`` reads from Service Quotas.
    """

    names: AlarmNames
    tags: Mapping[str, str]
    page_topic_arn: pulumi.Input[str]
    ticket_topic_arn: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    autoscaling_group_name: pulumi.Input[str]
    amp_workspace_id: pulumi.Input[str] | None = None
    runbook_base_url: str = "runbooks"
    error_ratio: float = 0.01
    latency_p99_seconds: float = 0.04
    amp_usage_percent: float = 80.0
    amp_ingestion_rate_quota: float | None = None
    amp_active_series_quota: float | None = None


def _metric(
    query_id: str,
    namespace: str,
    metric_name: str,
    stat: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    period: int = 60,
) -> dict:
    return {
        "id": query_id,
        "return_data": False,
        "metric": {
            "namespace": namespace,
            "metric_name": metric_name,
            "stat": stat,
            "period": period,
            "dimensions": dict(dimensions),
        },
    }


def _expression(query_id: str, expression: str, label: str) -> dict:
    return {"id": query_id, "expression": expression, "label": label, "return_data": True}


def usage_percent(quota: float | None) -> str:
    """The metric math of an AMP usage alarm: ``usage`` as a percentage of ``quota``, or of
    the quota Service Quotas applies (``SERVICE_QUOTA``) when none is configured."""
    return f"100 * usage / {'SERVICE_QUOTA(usage)' if quota is None else f'{quota:.15g}'}"


def amp_usage_dimensions(resource: str, workspace_id: pulumi.Input[str]) -> dict:
    """Return the ``AWS/Usage`` dimensions of one AMP workspace quota (``resource``)."""
    return {
        "Service": "Prometheus",
        "Type": "Resource",
        "Resource": resource,
        "Class": "None",
        "ResourceId": workspace_id,
    }


class Alarms(pulumi.ComponentResource):
    """The platform's CloudWatch alarms, each notifying the page or the ticket topic."""

    alarm_arns: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:alerting:Alarms", name, None, opts)
        self._args = args
        self._name = name
        lb = {"LoadBalancer": args.load_balancer_arn_suffix}
        target = {**lb, "TargetGroup": args.target_group_arn_suffix}
        asg = {"AutoScalingGroupName": args.autoscaling_group_name}
        alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}

        alarms["alb-5xx-ratio"] = self._alarm(
            "alb-5xx-ratio",
            page=True,
            threshold=args.error_ratio,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            metric_queries=[
                _metric("target5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", lb),
                _metric("elb5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", lb),
                _metric("requests", "AWS/ApplicationELB", "RequestCount", "Sum", lb),
                _expression(
                    "ratio",
                    "(FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests",
                    "5xx ratio",
                ),
            ],
        )
        alarms["alb-p99-latency"] = self._alarm(
            "alb-p99-latency",
            page=True,
            threshold=args.latency_p99_seconds,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            namespace="AWS/ApplicationELB",
            metric_name="TargetResponseTime",
            extended_statistic="p99",
            period=60,
            dimensions=lb,
        )
        alarms["unhealthy-hosts"] = self._alarm(
            "unhealthy-hosts",
            page=False,
            threshold=0,
            evaluation_periods=5,
            datapoints_to_alarm=5,
            namespace="AWS/ApplicationELB",
            metric_name="UnHealthyHostCount",
            statistic="Maximum",
            period=60,
            dimensions=target,
        )
        alarms["fleet-capacity"] = self._alarm(
            "fleet-capacity",
            page=False,
            threshold=0,
            evaluation_periods=10,
            datapoints_to_alarm=10,
            metric_queries=[
                _metric("desired", "AWS/AutoScaling", "GroupDesiredCapacity", "Minimum", asg),
                _metric("inservice", "AWS/AutoScaling", "GroupInServiceInstances", "Minimum", asg),
                _expression("missing", "desired - inservice", "instances missing"),
            ],
        )
        if args.amp_workspace_id is not None:
            for kind, resource, quota in (
                ("amp-ingestion-rate", "IngestionRate", args.amp_ingestion_rate_quota),
                ("amp-active-series", "ActiveSeries", args.amp_active_series_quota),
            ):
                alarms[kind] = self._alarm(
                    kind,
                    page=False,
                    threshold=args.amp_usage_percent,
                    evaluation_periods=15,
                    datapoints_to_alarm=10,
                    metric_queries=[
                        _metric(
                            "usage",
                            "AWS/Usage",
                            "ResourceCount",
                            "Maximum",
                            amp_usage_dimensions(resource, args.amp_workspace_id),
                        ),
                        _expression("percent", usage_percent(quota), "% of quota"),
                    ],
                )

        self.alarm_arns = pulumi.Output.all(**{kind: alarm.arn for kind, alarm in alarms.items()})
        self.register_outputs({"alarm_arns": self.alarm_arns})

    def _alarm(self, kind: str, *, page: bool, **properties: object) -> aws.cloudwatch.MetricAlarm:
        args = self._args
        topic = args.page_topic_arn if page else args.ticket_topic_arn
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{kind}",
            name=args.names.name(kind),
            alarm_description=description(args.runbook_base_url, kind),
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[topic],
            ok_actions=[topic],
            tags={**args.tags, "severity": "page" if page else "ticket", "runbook": kind},
            opts=pulumi.ResourceOptions(parent=self),
            **properties,  # type: ignore[arg-type]
        )
