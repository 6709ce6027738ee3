"""DeliveryDeadLetters: where SNS puts the notifications it could not deliver, and its alarm.

Every subscription of the page and ticket topics names this queue in its redrive policy. SNS
can only write to an encrypted queue whose customer managed key lets ``sns.amazonaws.com`` use
it (SSE-SQS and ``alias/aws/sqs`` are refused for SNS dead-letter queues), so the queue is
encrypted with the topics' own key. An alarm fires as soon as one message waits in the queue:
a notification that reached nobody.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.alarms import runbook_link
from components.policy_documents import document, statement

RUNBOOK = "sns-delivery-failures"
RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum: two weeks to read what failed


@dataclass(frozen=True)
class DeliveryDeadLettersArgs:
    """Arguments of :class:`DeliveryDeadLetters`.

    ``source_topic_arns`` may send to the queue; ``alarm_topic_arns`` hear of its depth.
    """

    prefix: str
    kms_key_arn: pulumi.Input[str]
    source_topic_arns: Sequence[pulumi.Input[str]]
    alarm_topic_arns: Sequence[pulumi.Input[str]]
    tags: Mapping[str, str]
    runbook_base_url: str = "runbooks"


def queue_policy(queue_arn: str, topic_arns: Sequence[str]) -> str:
    """The queue policy: SNS may send, from these topics only; nobody without TLS."""
    return document(
        statement(
            ["sqs:SendMessage"],
            [queue_arn],
            principal={"Service": "sns.amazonaws.com"},
            condition={"ArnEquals": {"aws:SourceArn": list(topic_arns)}},
            sid="UndeliveredAlertsFromTheTopics",
        ),
        statement(
            ["sqs:*"],
            [queue_arn],
            effect="Deny",
            principal="*",
            condition={"Bool": {"aws:SecureTransport": "false"}},
            sid="DenyInsecureTransport",
        ),
    )


def redrive_policy(queue_arn: str) -> str:
    """A subscription's redrive policy sending what it cannot deliver to ``queue_arn``."""
    return json.dumps({"deadLetterTargetArn": queue_arn})


class DeliveryDeadLetters(pulumi.ComponentResource):
    """An encrypted SQS dead-letter queue for the topics' subscriptions, alarmed on its depth."""

    queue_arn: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    alarm_name: str

    def __init__(
        self,
        name: str,
        args: DeliveryDeadLettersArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sre-platform:alerting:DeliveryDeadLetters", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=f"{args.prefix}-undelivered-alerts",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *args.source_topic_arns).apply(
                lambda arns: queue_policy(arns[0], arns[1:])
            ),
            opts=child,
        )
        self.alarm_name = f"{args.prefix}-{RUNBOOK}"
        queue_not_empty_alarm(
            f"{name}-depth",
            self.alarm_name,
            "SNS could not deliver a page or ticket notification: it waits in the "
            f"dead-letter queue. Runbook: {runbook_link(args.runbook_base_url, RUNBOOK)}",
            queue.name,
            list(args.alarm_topic_arns),
            {**tags, "severity": "page", "runbook": RUNBOOK},
            child,
        )
        self.queue_arn = queue.arn
        self.queue_url = queue.url
        self.register_outputs({"queue_arn": self.queue_arn, "queue_url": self.queue_url})


def queue_not_empty_alarm(
    resource_name: str,
    alarm_name: str,
    description: str,
    queue_name: pulumi.Input[str],
    topic_arns: Sequence[pulumi.Input[str]],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """An alarm that fires (and clears) on ``topic_arns`` as soon as a dead-letter queue holds a
    message: the maximum of visible messages over one minute above 0."""
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        name=alarm_name,
        alarm_description=description,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        period=60,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=list(topic_arns),
        ok_actions=list(topic_arns),
        tags=dict(tags),
        opts=opts,
    )
