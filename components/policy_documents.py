"""IAM policy documents as JSON text, built from plain values (no AWS calls).

Used inside ``Output.apply`` only to build strings; the resources that carry them are declared
outside the ``apply``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def statement(
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    effect: str = "Allow",
    principal: Mapping[str, Any] | str | None = None,
    condition: Mapping[str, Mapping[str, Any]] | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """Return one IAM policy statement."""
    body: dict[str, Any] = {}
    if sid:
        body["Sid"] = sid
    body["Effect"] = effect
    if principal is not None:
        body["Principal"] = principal
    body["Action"] = list(actions)
    body["Resource"] = list(resources)
    if condition:
        body["Condition"] = {k: dict(v) for k, v in condition.items()}
    return body


def document(*statements: Mapping[str, Any]) -> str:
    """Return a policy document (JSON text) holding ``statements``."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def assume_role(service: str, condition: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Return a trust policy letting ``service`` (e.g. ``ec2.amazonaws.com``) assume a role."""
    body: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        body["Condition"] = {k: dict(v) for k, v in condition.items()}
    return json.dumps({"Version": "2012-10-17", "Statement": [body]}, sort_keys=True)


def amp_publishes(topic_arn: str, workspace_arn: str, account_id: str, sid: str) -> dict[str, Any]:
    """A topic policy statement: this AMP workspace (of this account) may publish to the topic."""
    return statement(
        ["sns:Publish", "sns:GetTopicAttributes"],
        [topic_arn],
        principal={"Service": "aps.amazonaws.com"},
        condition={
            "ArnEquals": {"aws:SourceArn": workspace_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
        sid=sid,
    )
