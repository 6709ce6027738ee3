"""AlertTopics: the encrypted SNS topics pages and tickets are published to, and their readers.

The topics are encrypted with a customer managed KMS key rather than ``alias/aws/sns``: the
AWS managed key's policy cannot be changed, and neither CloudWatch alarms nor AMP's alert
manager may use it, so notifications to topics under that key would be dropped.

Each receiver of the stack config becomes a subscriber: ``email`` and ``https`` ones an
``aws.sns.TopicSubscription`` whose redrive policy sends what SNS could not deliver to the
dead-letter queue (:mod:`components.dead_letter`); ``chatbot`` ones an AWS Chatbot Slack
channel configuration listing the topics, through which Chatbot subscribes itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.dead_letter import DeliveryDeadLetters, DeliveryDeadLettersArgs, redrive_policy
from components.policy_documents import assume_role, document, statement

PUBLISHERS = ("cloudwatch.amazonaws.com", "aps.amazonaws.com")
SEVERITIES = ("page", "ticket")
# What Chatbot may read to draw an alarm's graph in Slack (AWS's "notification permissions").
CHATBOT_READ = ("cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*")
# What channel members may do through Chatbot, at most (the default would be AdministratorAccess).
CHATBOT_GUARDRAIL = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
CONFIRMATION_MINUTES = 5  # how long `pulumi up` waits for an auto-confirming https endpoint


@dataclass(frozen=True)
class Receiver:
    """One subscriber of a topic; ``endpoint`` may be a secret Output (a URL with a key)."""

    name: str
    protocol: Literal["email", "https", "chatbot"]
    endpoint: pulumi.Input[str] | None = None
    auto_confirms: bool = True
    raw_message_delivery: bool = False
    slack_team_id: str | None = None
    slack_channel_id: str | None = None


@dataclass(frozen=True)
class AlertTopicsArgs:
    """Arguments of :class:`AlertTopics`; ``prefix`` names the topics, queue and key alias."""

    prefix: str
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]
    region: str = "us-east-1"
    page_receivers: Sequence[Receiver] = ()
    ticket_receivers: Sequence[Receiver] = ()
    runbook_base_url: str = "runbooks"


def topic_arn(region: str, account_id: str, name: str) -> str:
    """The ARN SNS gives topic ``name`` (known before the topic exists)."""
    return f"arn:aws:sns:{region}:{account_id}:{name}"


def key_policy(account_id: str, topic_arns: Sequence[str] = ()) -> str:
    """Return the KMS key policy: the account administers it, the publishers may use it, and
    SNS may use it to write undelivered notifications of ``topic_arns`` to the queue."""
    statements = [
        statement(
            ["kms:*"],
            ["*"],
            principal={"AWS": f"arn:aws:iam::{account_id}:root"},
            sid="AccountAdministers",
        ),
        statement(
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            ["*"],
            principal={"Service": list(PUBLISHERS)},
            condition={"StringEquals": {"aws:SourceAccount": account_id}},
            sid="AlertPublishersEncrypt",
        ),
    ]
    if topic_arns:
        statements.append(
            statement(
                ["kms:Decrypt", "kms:GenerateDataKey*"],
                ["*"],
                principal={"Service": "sns.amazonaws.com"},
                condition={"ArnEquals": {"aws:SourceArn": list(topic_arns)}},
                sid="TopicsWriteUndeliveredAlerts",
            )
        )
    return document(*statements)


def chatbot_channels(
    receivers: Mapping[str, Sequence[Receiver]],
) -> dict[tuple[str, str], list[str]]:
    """Each Slack channel (team id, channel id) and the severities it receives, in order."""
    channels: dict[tuple[str, str], list[str]] = {}
    for severity, listed in receivers.items():
        for receiver in listed:
            if receiver.protocol == "chatbot":
                key = (str(receiver.slack_team_id), str(receiver.slack_channel_id))
                channels.setdefault(key, []).append(severity)
    return channels


class AlertTopics(pulumi.ComponentResource):
    """Two SNS topics, ``page`` and ``ticket``, encrypted with a rotating KMS key; their
    subscribers; and the dead-letter queue of what could not be delivered."""

    page_topic_arn: pulumi.Output[str]
    ticket_topic_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: AlertTopicsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:alerting:AlertTopics", name, None, opts)
        self._name = name
        self._tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        names = {severity: f"{args.prefix}-{severity}" for severity in SEVERITIES}

        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {args.prefix} page and ticket topics and their dead letters",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: key_policy(
                    account, [topic_arn(args.region, account, n) for n in names.values()]
                )
            ),
            tags=self._tags,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{args.prefix}-alerts",
            target_key_id=key.key_id,
            opts=child,
        )
        topics = {
            severity: aws.sns.Topic(
                f"{name}-{severity}",
                name=names[severity],
                kms_master_key_id=key.arn,
                tags={**self._tags, "severity": severity},
                opts=child,
            )
            for severity in SEVERITIES
        }
        arns = [topics[severity].arn for severity in SEVERITIES]
        # A failed delivery of either topic is told through both: the page topic because a lost
        # notification is urgent, the ticket topic because the failing path may be the page
        # topic's only receiver.
        dead_letters = DeliveryDeadLetters(
            f"{name}-undelivered",
            DeliveryDeadLettersArgs(
                prefix=args.prefix,
                kms_key_arn=key.arn,
                source_topic_arns=arns,
                alarm_topic_arns=arns,
                tags=self._tags,
                runbook_base_url=args.runbook_base_url,
            ),
            child,
        )
        receivers = {"page": args.page_receivers, "ticket": args.ticket_receivers}
        redrive = dead_letters.queue_arn.apply(redrive_policy)
        for severity, listed in receivers.items():
            for receiver in listed:
                if receiver.protocol != "chatbot":
                    self._subscribe(severity, topics[severity], receiver, redrive)
        channels = chatbot_channels(receivers)
        if channels:
            self._chatbot(args.prefix, channels, topics)

        self.page_topic_arn = topics["page"].arn
        self.ticket_topic_arn = topics["ticket"].arn
        self.key_arn = key.arn
        self.dead_letter_queue_arn = dead_letters.queue_arn
        self.dead_letter_queue_url = dead_letters.queue_url
        self.register_outputs(
            {
                "page_topic_arn": self.page_topic_arn,
                "ticket_topic_arn": self.ticket_topic_arn,
                "key_arn": self.key_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
                "dead_letter_queue_url": self.dead_letter_queue_url,
            }
        )

    def _subscribe(
        self,
        severity: str,
        topic: aws.sns.Topic,
        receiver: Receiver,
        redrive: pulumi.Output[str],
    ) -> None:
        https = receiver.protocol == "https"
        aws.sns.TopicSubscription(
            f"{self._name}-{severity}-{receiver.name}",
            topic=topic.arn,
            protocol=receiver.protocol,
            endpoint=receiver.endpoint,
            redrive_policy=redrive,
            endpoint_auto_confirms=receiver.auto_confirms if https else None,
            confirmation_timeout_in_minutes=(
                CONFIRMATION_MINUTES if https and receiver.auto_confirms else None
            ),
            raw_message_delivery=receiver.raw_message_delivery if https else None,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _chatbot(
        self,
        prefix: str,
        channels: Mapping[tuple[str, str], Sequence[str]],
        topics: Mapping[str, aws.sns.Topic],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-chatbot",
            description="AWS Chatbot posts the page and ticket notifications to Slack",
            assume_role_policy=assume_role("chatbot.amazonaws.com"),
            tags=self._tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{self._name}-chatbot-read",
            role=role.name,
            policy=document(statement(list(CHATBOT_READ), ["*"], sid="AlarmGraphs")),
            opts=child,
        )
        for (team, channel), severities in channels.items():
            aws.chatbot.SlackChannelConfiguration(
                f"{self._name}-slack-{channel.lower()}",
                configuration_name=f"{prefix}-{channel.lower()}",
                iam_role_arn=role.arn,
                slack_team_id=team,
                slack_channel_id=channel,
                sns_topic_arns=[topics[severity].arn for severity in severities],
                guardrail_policy_arns=[CHATBOT_GUARDRAIL],
                logging_level="ERROR",
                tags=self._tags,
                opts=child,
            )
