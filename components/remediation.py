"""Remediation: the AWS side of remediation as code (remediation/, docs/remediation.md).

- an SNS topic, encrypted with the alert topics' key, that AMP's alert manager publishes each
  alert to as one JSON document (the ``remediation`` receiver of alerting/routing.py), with a
  topic policy letting this workspace publish;
- a Python Lambda subscribed to it, packaged from the project's own modules (those the handler
  imports: standard library and boto3 only) with the policy compiled to ``policy.json``, with
  reserved concurrency, an SQS dead-letter queue for events it failed on, and a log group with
  a retention;
- a least-privilege role: the fleet's Auto Scaling group (desired capacity, instance refresh
  rollback/cancel), SSM Run Command with AWS-RunShellScript on that group's instances only,
  the state table, the dead-letter queue and its own log group;
- a DynamoDB table for the action history and the audit (on demand, point-in-time recovery,
  TTL on ``expires_at``);
- a CloudWatch alarm on the dead-letter queue (one message visible is an alert the function
  failed on), notifying the ticket topic like the platform's other dead-letter alarm.

The topic's name is fixed (:func:`topic_name`), so the stack can give its ARN to AMP's alert
manager before this component, which needs the fleet, is declared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import runbook_link
from components.dead_letter import queue_not_empty_alarm
from components.policy_documents import amp_publishes, assume_role, document, statement
from remediation.dynamo import TTL_ATTRIBUTE
from remediation.model import Policy, policy_to_json

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "remediation"
# What the handler imports: nothing else of the project, nothing outside the standard library
# and boto3 (which the Lambda runtime provides).
LAMBDA_MODULES = (
    "__init__.py",
    "alerts.py",
    "aws.py",
    "dynamo.py",
    "engine.py",
    "guardrails.py",
    "handler.py",
    "model.py",
)
HANDLER = "remediation.handler.handler"
RUNTIME = "python3.12"
SHELL_DOCUMENT = "AWS-RunShellScript"
RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum: two weeks to look at what failed
# Lambda retries a failed asynchronous invocation twice; an event older than this is dropped
# to the dead-letter queue instead (the engine would call it stale anyway).
MAX_EVENT_AGE_SECONDS = 900
RUNBOOK = "remediation-failures"


def topic_name(prefix: str) -> str:
    """The remediation topic's name: fixed, so its ARN is known before the topic exists."""
    return f"{prefix}-remediation"


@dataclass(frozen=True)
class RemediationArgs:
    """Arguments of :class:`Remediation`.

    ``policy`` is the validated policy (remediation.policy.load_policy); ``service`` the
    service whose fleet ``autoscaling_group_name`` is; ``kms_key_arn`` the alert topics' key
    (which AMP may use); ``workspace_arn`` the AMP workspace that publishes;
    ``ticket_topic_arn`` hears of the dead-letter queue's alarm.
    """

    prefix: str
    region: str
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]
    policy: Policy
    service: str
    autoscaling_group_name: pulumi.Input[str]
    workspace_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    ticket_topic_arn: pulumi.Input[str]
    runbook_base_url: str = "runbooks"
    reserved_concurrency: int = 2
    log_retention_days: int = 30
    timeout_seconds: int = 60
    protect: bool = False


def lambda_code(policy: Policy) -> pulumi.AssetArchive:
    """The function's package: the handler's modules and the compiled policy."""
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        f"remediation/{module}": pulumi.FileAsset(str(PACKAGE_DIR / module))
        for module in LAMBDA_MODULES
    }
    assets["remediation/policy.json"] = pulumi.StringAsset(policy_to_json(policy))
    return pulumi.AssetArchive(assets)


def group_arn(region: str, account_id: str, group: str) -> str:
    """The ARN pattern of Auto Scaling group ``group`` (its id part is a generated UUID)."""
    return (
        f"arn:aws:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/{group}"
    )


def function_policy(
    region: str,
    account_id: str,
    group: str,
    table_arn: str,
    queue_arn: str,
    log_group_arn: str,
) -> str:
    """The function role's inline policy: this group, its instances, the table, the queue."""
    return document(
        statement(
            ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeInstanceRefreshes"],
            ["*"],  # these Describe calls take no resource-level permissions
            sid="ReadTheFleet",
        ),
        statement(
            [
                "autoscaling:SetDesiredCapacity",
                "autoscaling:RollbackInstanceRefresh",
                "autoscaling:CancelInstanceRefresh",
            ],
            [group_arn(region, account_id, group)],
            sid="ActOnTheFleet",
        ),
        statement(
            ["ssm:SendCommand"],
            [f"arn:aws:ssm:{region}::document/{SHELL_DOCUMENT}"],
            sid="RunShellDocument",
        ),
        statement(
            ["ssm:SendCommand"],
            [f"arn:aws:ec2:{region}:{account_id}:instance/*"],
            condition={"StringEquals": {"ssm:resourceTag/aws:autoscaling:groupName": group}},
            sid="OnTheFleetsInstancesOnly",
        ),
        statement(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            [table_arn],
            sid="StateAndAudit",
        ),
        statement(["sqs:SendMessage"], [queue_arn], sid="DeadLetters"),
        statement(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{log_group_arn}:*"],
            sid="OwnLogs",
        ),
    )


def topic_policy(topic_arn: str, workspace_arn: str, account_id: str) -> str:
    """The topic policy: this AMP workspace publishes, nobody else."""
    return document(amp_publishes(topic_arn, workspace_arn, account_id, sid="AmpPublishes"))


class Remediation(pulumi.ComponentResource):
    """The remediation topic, Lambda, role, dead-letter queue, log group and state table."""

    topic_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    table_name: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    dead_letter_alarm_name: str

    def __init__(
        self, name: str, args: RemediationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:remediation:Remediation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        function_name = f"{args.prefix}-remediation"

        topic = aws.sns.Topic(
            f"{name}-topic",
            name=topic_name(args.prefix),
            kms_master_key_id=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, args.workspace_arn, args.account_id).apply(
                lambda values: topic_policy(*values)
            ),
            opts=child,
        )
        table = aws.dynamodb.Table(
            f"{name}-table",
            name=f"{args.prefix}-remediation",
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            range_key="sk",
            attributes=[{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            deletion_protection_enabled=args.protect,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{args.prefix}-remediation-failed",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description="The remediation Lambda: scales, restarts and rolls back the fleet",
            assume_role_policy=assume_role("lambda.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(
                args.account_id, args.autoscaling_group_name, table.arn, queue.arn, log_group.arn
            ).apply(lambda v: function_policy(args.region, *v)),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description="Acts on alerts as ops/remediation.yaml says (sre-platform)",
            runtime=RUNTIME,
            architectures=["arm64"],
            handler=HANDLER,
            code=lambda_code(args.policy),
            role=role.arn,
            timeout=args.timeout_seconds,
            memory_size=256,
            reserved_concurrent_executions=args.reserved_concurrency,
            dead_letter_config={"target_arn": queue.arn},
            environment={
                "variables": {
                    "REMEDIATION_TABLE": table.name,
                    "REMEDIATION_GROUPS": pulumi.Output.from_input(
                        args.autoscaling_group_name
                    ).apply(lambda group: json.dumps({args.service: group})),
                }
            },
            logging_config={"log_format": "Text", "log_group": log_group.name},
            tags=tags,
            # The role's permissions and the log group exist before the first invocation.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, log_group]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=function.name,
            maximum_retry_attempts=2,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{name}-from-sns",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="sns.amazonaws.com",
            source_arn=topic.arn,
            opts=child,
        )
        aws.sns.TopicSubscription(
            f"{name}-subscription",
            topic=topic.arn,
            protocol="lambda",
            endpoint=function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

        self.dead_letter_alarm_name = f"{args.prefix}-{RUNBOOK}"
        queue_not_empty_alarm(
            f"{name}-dlq-depth",
            self.dead_letter_alarm_name,
            "The remediation function failed on an alert after its retries: the event "
            f"waits in its dead-letter queue. Runbook: "
            f"{runbook_link(args.runbook_base_url, RUNBOOK)}",
            queue.name,
            [args.ticket_topic_arn],
            {**tags, "severity": "ticket", "runbook": RUNBOOK},
            child,
        )

        self.topic_arn = topic.arn
        self.function_name = function.name
        self.table_name = table.name
        self.dead_letter_queue_url = queue.url
        self.register_outputs(
            {
                "topic_arn": self.topic_arn,
                "function_name": self.function_name,
                "table_name": self.table_name,
                "dead_letter_queue_url": self.dead_letter_queue_url,
            }
        )
