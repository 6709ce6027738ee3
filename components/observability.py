"""Observability: Amazon Managed Service for Prometheus and Amazon Managed Grafana.

- an AMP workspace logging to CloudWatch Logs;
- rule group namespaces holding the compiled SLO rules, packed so that each namespace's rules
  file stays under :data:`DEFAULT_NAMESPACE_MAX_BYTES` (half of AMP's 1 MB quota on a rule
  groups namespace definition file, leaving room for growth; the name keeps to AMP's 64
  characters of ``[0-9A-Za-z][-.0-9A-Z_a-z]*``);
- the alert manager definition: the platform's routing tree (alerting.routing) with the page
  and ticket SNS topics as receivers, and the topic policies that let AMP publish to them;
- an AMG workspace with its IAM role, a service account and token, a Grafana provider bound to
  that workspace, and an AMP data source signed with SigV4. Dashboards (``dashboards``) are
  declared in that Grafana when given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumiverse_grafana as grafana

from alerting.generate import RuleGroup
from alerting.render import render_rules
from alerting.routing import alertmanager_config, render_amp_definition, sns_receiver
from components.policy_documents import assume_role, document, statement

DEFAULT_NAMESPACE_MAX_BYTES = 512 * 1024
NAMESPACE_NAME_MAX = 64
_NAME_CHARS = re.compile(r"[^-.0-9A-Z_a-z]+")


@dataclass(frozen=True)
class RuleSource:
    """Compiled rule groups of one SLO spec file (``name`` is the spec's stem)."""

    name: str
    groups: Sequence[RuleGroup]


@dataclass(frozen=True)
class RuleNamespace:
    """One AMP rule groups namespace: its name and its rule groups."""

    name: str
    groups: tuple[RuleGroup, ...]

    @property
    def data(self) -> str:
        """The namespace's rules file, rendered and checked by the compiler's own renderer."""
        header = [f"SLO rules compiled by sre-platform: AMP rule groups namespace {self.name}."]
        text, _ = render_rules(self.groups, header)
        return text


def namespace_name(source: str, index: int, total: int) -> str:
    """Return a valid AMP namespace name for part ``index`` of ``total`` of ``source``."""
    base = _NAME_CHARS.sub("-", source).strip("-.") or "rules"
    if not base[0].isalnum():
        base = f"r{base}"
    suffix = f"-{index + 1}" if total > 1 else ""
    return base[: NAMESPACE_NAME_MAX - len(suffix)] + suffix


def _size(name: str, groups: Sequence[RuleGroup]) -> int:
    return len(RuleNamespace(name, tuple(groups)).data.encode())


def pack_rule_namespaces(
    sources: Sequence[RuleSource], max_bytes: int = DEFAULT_NAMESPACE_MAX_BYTES
) -> list[RuleNamespace]:
    """Pack each source's groups, in order, into namespaces of at most ``max_bytes`` each.

    A group is never split (Prometheus evaluates a group as a unit); one group larger than
    ``max_bytes`` is a ``ValueError``.
    """
    namespaces: list[RuleNamespace] = []
    for source in sources:
        chunks: list[list[RuleGroup]] = []
        for group in source.groups:
            if _size(source.name, [group]) > max_bytes:
                raise ValueError(
                    f"rule group {group.name!r} of {source.name} is larger than {max_bytes} bytes"
                )
            if (
                chunks
                and len(RuleNamespace(source.name, (*chunks[-1], group)).data.encode()) <= max_bytes
            ):
                chunks[-1].append(group)
            else:
                chunks.append([group])
        namespaces += [
            RuleNamespace(namespace_name(source.name, i, len(chunks)), tuple(chunk))
            for i, chunk in enumerate(chunks)
        ]
    names = [ns.name for ns in namespaces]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"rule sources collide on namespace names: {', '.join(duplicates)}")
    return namespaces


def alert_manager_definition(page_topic_arn: str, ticket_topic_arn: str, region: str) -> str:
    """Return the AMP alert manager definition routing pages and tickets to their topics."""
    return render_amp_definition(
        alertmanager_config(
            sns_receiver(page_topic_arn, region), sns_receiver(ticket_topic_arn, region)
        )
    )


def topic_policy(topic_arn: str, workspace_arn: str, account_id: str) -> str:
    """Return an SNS topic policy: AMP (this workspace) and CloudWatch (this account) publish."""
    return document(
        statement(
            ["sns:Publish", "sns:GetTopicAttributes"],
            [topic_arn],
            principal={"Service": "aps.amazonaws.com"},
            condition={
                "ArnEquals": {"aws:SourceArn": workspace_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
            sid="AmpAlertManagerPublishes",
        ),
        statement(
            ["sns:Publish"],
            [topic_arn],
            principal={"Service": "cloudwatch.amazonaws.com"},
            condition={"StringEquals": {"aws:SourceAccount": account_id}},
            sid="CloudWatchAlarmsPublish",
        ),
    )


def grafana_query_policy(workspace_arn: str) -> str:
    """Return the Grafana role's policy: query this AMP workspace, list workspaces."""
    return document(
        statement(
            [
                "aps:QueryMetrics",
                "aps:GetSeries",
                "aps:GetLabels",
                "aps:GetMetricMetadata",
                "aps:DescribeWorkspace",
            ],
            [workspace_arn],
            sid="QueryWorkspace",
        ),
        statement(["aps:ListWorkspaces"], ["*"], sid="ListWorkspaces"),
    )


def amp_data_source_json(region: str) -> str:
    """Return the Grafana data source settings for AMP with SigV4 and the workspace role."""
    return json.dumps(
        {
            "httpMethod": "POST",
            "sigV4Auth": True,
            "sigV4AuthType": "ec2_iam_role",
            "sigV4Region": region,
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class Dashboard:
    """A Grafana dashboard to declare: a short name and its JSON model."""

    name: str
    config_json: str


@dataclass(frozen=True)
class GrafanaArgs:
    """Amazon Managed Grafana settings."""

    authentication_providers: Sequence[str] = ("AWS_SSO",)
    token_ttl_seconds: int = 2_592_000


@dataclass(frozen=True)
class ObservabilityArgs:
    """Arguments of :class:`Observability`.

    ``rule_sources`` are the compiler's output (the component compiles nothing).
    ``grafana`` None leaves out AMG; ``dashboards`` are declared in AMG when given (a later
    issue supplies them). ``alert_manager`` and ``logging`` switch off what an emulator lacks.
    """

    prefix: str
    region: str
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]
    page_topic_arn: pulumi.Input[str]
    ticket_topic_arn: pulumi.Input[str]
    rule_sources: Sequence[RuleSource] = ()
    rule_namespace_max_bytes: int = DEFAULT_NAMESPACE_MAX_BYTES
    logging: bool = True
    log_retention_days: int = 30
    alert_manager: bool = True
    grafana: GrafanaArgs | None = field(default_factory=GrafanaArgs)
    dashboards: Sequence[Dashboard] = ()


class Observability(pulumi.ComponentResource):
    """AMP workspace with the SLO rules and alert routing; AMG with an AMP data source."""

    workspace_id: pulumi.Output[str]
    workspace_arn: pulumi.Output[str]
    prometheus_endpoint: pulumi.Output[str]
    remote_write_url: pulumi.Output[str]
    query_url: pulumi.Output[str]  # Prometheus API base: clients append /api/v1/query
    grafana_url: pulumi.Output[str] | None
    namespaces: list[RuleNamespace]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        if args.dashboards and args.grafana is None:
            raise ValueError("dashboards need Grafana: pass grafana settings too")

        logging_configuration = None
        if args.logging:
            log_group = aws.cloudwatch.LogGroup(
                f"{name}-amp-logs",
                name=f"/aws/vendedlogs/prometheus/{args.prefix}",
                retention_in_days=args.log_retention_days,
                tags=tags,
                opts=child,
            )
            logging_configuration = {"log_group_arn": pulumi.Output.concat(log_group.arn, ":*")}
        workspace = aws.amp.Workspace(
            f"{name}-amp",
            alias=args.prefix,
            logging_configuration=logging_configuration,
            tags=tags,
            opts=child,
        )

        self.namespaces = pack_rule_namespaces(args.rule_sources, args.rule_namespace_max_bytes)
        for namespace in self.namespaces:
            aws.amp.RuleGroupNamespace(
                f"{name}-rules-{namespace.name}",
                name=namespace.name,
                workspace_id=workspace.id,
                data=namespace.data,
                tags=tags,
                opts=child,
            )

        if args.alert_manager:
            aws.amp.AlertManagerDefinition(
                f"{name}-alert-manager",
                workspace_id=workspace.id,
                definition=pulumi.Output.all(args.page_topic_arn, args.ticket_topic_arn).apply(
                    lambda arns: alert_manager_definition(arns[0], arns[1], args.region)
                ),
                opts=child,
            )
        for kind, topic_arn in (("page", args.page_topic_arn), ("ticket", args.ticket_topic_arn)):
            aws.sns.TopicPolicy(
                f"{name}-{kind}-topic-policy",
                arn=topic_arn,
                policy=pulumi.Output.all(topic_arn, workspace.arn, args.account_id).apply(
                    lambda values: topic_policy(values[0], values[1], values[2])
                ),
                opts=child,
            )

        self.workspace_id = workspace.id
        self.workspace_arn = workspace.arn
        self.prometheus_endpoint = workspace.prometheus_endpoint
        self.remote_write_url = workspace.prometheus_endpoint.apply(
            lambda endpoint: f"{endpoint.rstrip('/')}/api/v1/remote_write"
        )
        self.query_url = workspace.prometheus_endpoint.apply(lambda e: e.rstrip("/"))
        self.grafana_url = None
        if args.grafana is not None:
            self.grafana_url = self._grafana(name, args, args.grafana, workspace, tags)

        outputs: dict[str, Any] = {
            "workspace_id": self.workspace_id,
            "workspace_arn": self.workspace_arn,
            "prometheus_endpoint": self.prometheus_endpoint,
            "remote_write_url": self.remote_write_url,
            "query_url": self.query_url,
        }
        if self.grafana_url is not None:
            outputs["grafana_url"] = self.grafana_url
        self.register_outputs(outputs)

    def _grafana(
        self,
        name: str,
        args: ObservabilityArgs,
        settings: GrafanaArgs,
        workspace: aws.amp.Workspace,
        tags: dict[str, str],
    ) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-grafana-role",
            description=f"{args.prefix} Grafana: query the AMP workspace",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: assume_role(
                    "grafana.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account}}
                )
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-grafana-policy",
            role=role.id,
            policy=workspace.arn.apply(grafana_query_policy),
            opts=child,
        )
        grafana_workspace = aws.grafana.Workspace(
            f"{name}-grafana",
            name=args.prefix,
            account_access_type="CURRENT_ACCOUNT",
            authentication_providers=list(settings.authentication_providers),
            permission_type="CUSTOMER_MANAGED",
            role_arn=role.arn,
            data_sources=["PROMETHEUS"],
            tags=tags,
            opts=child,
        )
        account = aws.grafana.WorkspaceServiceAccount(
            f"{name}-grafana-sa",
            name="pulumi",
            grafana_role="ADMIN",
            workspace_id=grafana_workspace.id,
            opts=child,
        )
        token = aws.grafana.WorkspaceServiceAccountToken(
            f"{name}-grafana-token",
            name="pulumi",
            seconds_to_live=settings.token_ttl_seconds,
            service_account_id=account.service_account_id,
            workspace_id=grafana_workspace.id,
            opts=child,
        )
        url = pulumi.Output.concat("https://", grafana_workspace.endpoint)
        provider = grafana.Provider(
            f"{name}-grafana-provider",
            url=url,
            auth=pulumi.Output.secret(token.key),
            opts=child,
        )
        in_grafana = pulumi.ResourceOptions(parent=self, provider=provider)
        grafana.oss.DataSource(
            f"{name}-amp-datasource",
            name="Amazon Managed Prometheus",
            uid="amp",
            type="prometheus",
            url=workspace.prometheus_endpoint,
            is_default=True,
            json_data_encoded=amp_data_source_json(args.region),
            opts=in_grafana,
        )
        for dashboard in args.dashboards:
            grafana.oss.Dashboard(
                f"{name}-dashboard-{dashboard.name}",
                config_json=dashboard.config_json,
                overwrite=True,
                opts=in_grafana,
            )
        return url
