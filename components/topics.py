"""AlertTopics: the encrypted SNS topics that pages and tickets are published to.

The topics are encrypted with a customer managed KMS key rather than ``alias/aws/sns``: the
AWS managed key's policy cannot be changed, and neither CloudWatch alarms nor AMP's alert
manager may use it, so notifications to topics under that key would be dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policy_documents import document, statement

PUBLISHERS = ("cloudwatch.amazonaws.com", "aps.amazonaws.com")


@dataclass(frozen=True)
class AlertTopicsArgs:
    """Arguments of :class:`AlertTopics`; ``prefix`` names the topics and the key alias."""

    prefix: str
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]


def key_policy(account_id: str) -> str:
    """Return the KMS key policy: the account administers it, the publishers may use it."""
    return document(
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
    )


class AlertTopics(pulumi.ComponentResource):
    """Two SNS topics, ``page`` and ``ticket``, encrypted with a rotating KMS key."""

    page_topic_arn: pulumi.Output[str]
    ticket_topic_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: AlertTopicsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:alerting:AlertTopics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {args.prefix} page and ticket topics",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(key_policy),
            tags=tags,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{args.prefix}-alerts",
            target_key_id=key.key_id,
            opts=child,
        )
        page = aws.sns.Topic(
            f"{name}-page",
            name=f"{args.prefix}-page",
            kms_master_key_id=key.arn,
            tags={**tags, "severity": "page"},
            opts=child,
        )
        ticket = aws.sns.Topic(
            f"{name}-ticket",
            name=f"{args.prefix}-ticket",
            kms_master_key_id=key.arn,
            tags={**tags, "severity": "ticket"},
            opts=child,
        )
        self.page_topic_arn = page.arn
        self.ticket_topic_arn = ticket.arn
        self.key_arn = key.arn
        self.register_outputs(
            {
                "page_topic_arn": self.page_topic_arn,
                "ticket_topic_arn": self.ticket_topic_arn,
                "key_arn": self.key_arn,
            }
        )
