"""Observability: Amazon Managed Service for Prometheus and Amazon Managed Grafana.

- an AMP workspace logging to CloudWatch Logs;
- rule group namespaces holding the compiled SLO rules, packed so that each namespace's rules
  file stays under :data:`DEFAULT_NAMESPACE_MAX_BYTES` (half of AMP's 1 MB quota on a rule
  groups namespace definition file, leaving room for growth; the name keeps to AMP's 64
  characters of ``[0-9A-Za-z][-.0-9A-Z_a-z]*``);
- the alert manager definition: the platform's routing tree (alerting.routing) with the page
  and ticket SNS topics as receivers (and, given its topic, the remediation receiver that
  publishes every alert as one JSON document for the remediation Lambda), and the topic
  policies that let AMP publish to the page and ticket topics;
- an AMG workspace on a pinned Grafana version with its IAM role, a service account and a
  token that is replaced every ``token_rotation_days`` (its name carries the rotation period,
  taken from the deployment's date), a Grafana provider bound to that workspace, and an AMP
  data source of the Amazon Managed Service for Prometheus plugin's type, signing with the
  workspace's IAM role. Dashboards (``dashboards``, built by the dashboards package) are declared
  in that Grafana when given, in one folder of their own, after the data source they query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumiverse_grafana as grafana

from alerting.generate import RuleGroup
from alerting.render import render_rules
from alerting.routing import (
    alertmanager_config,
    remediation_sns_receiver,
    render_amp_definition,
    sns_receiver,
)
from components.policy_documents import amp_publishes, assume_role, document, statement

DEFAULT_NAMESPACE_MAX_BYTES = 512 * 1024
# Amazon Managed Service for Prometheus's own Grafana plugin: AMG 12 removed SigV4 from the
# core `prometheus` type, so this is the type that can sign requests to AMP.
AMP_DATA_SOURCE_TYPE = "grafana-amazonprometheus-datasource"
# The data source's fixed uid: dashboards name it (with its type) in their panels' queries.
AMP_DATA_SOURCE_UID = "amp"
# The Grafana folder that holds the platform's dashboards.
DASHBOARD_FOLDER_UID = "sre-platform"
DASHBOARD_FOLDER_TITLE = "sre-platform: SLOs, service and hosts"
# AMG versions (pulumi-aws: 9.4, 10.4, 12.4, 13.2) offered for the workspace; 12.4 is the one
# the platform targets: the first where AWS's guide makes that plugin the way to sign for AMP.
GRAFANA_VERSIONS = ("10.4", "12.4", "13.2")
DEFAULT_GRAFANA_VERSION = "12.4"
TOKEN_MAX_SECONDS = 30 * 86_400  # AMG: a service account token lives at most 30 days
# A token is replaced at the start of each rotation period; it must outlive its period by this
# much (clock differences, an `up` that starts just before midnight UTC and runs long).
TOKEN_MARGIN_DAYS = 2
_EPOCH = date(1970, 1, 1)
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


def alert_manager_definition(
    page_topic_arn: str,
    ticket_topic_arn: str,
    region: str,
    remediation_topic_arn: str | None = None,
) -> str:
    """Return the AMP alert manager definition routing pages and tickets to their topics, and
    every alert to the remediation topic when one is given."""
    return render_amp_definition(
        alertmanager_config(
            sns_receiver(page_topic_arn, region),
            sns_receiver(ticket_topic_arn, region),
            remediation_receiver=(
                remediation_sns_receiver(remediation_topic_arn, region)
                if remediation_topic_arn is not None
                else None
            ),
        )
    )


def topic_policy(topic_arn: str, workspace_arn: str, account_id: str) -> str:
    """Return an SNS topic policy: AMP (this workspace) and CloudWatch (this account) publish."""
    return document(
        amp_publishes(topic_arn, workspace_arn, account_id, sid="AmpAlertManagerPublishes"),
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
    """Return the AMP plugin's settings: sign with the workspace's IAM role in ``region``.

    The keys are the AWS SDK settings of Grafana's AWS plugins, as the pulumiverse-grafana
    docstring's AMP example spells them (``authType``, ``defaultRegion``). ``ec2_iam_role`` is
    the AWS SDK's "instance role" provider, which AMG shows as "Workspace IAM Role"; not
    verified against a live AMG workspace.
    """
    return json.dumps(
        {"authType": "ec2_iam_role", "defaultRegion": region, "httpMethod": "POST"},
        sort_keys=True,
    )


def token_period_start(today: date, rotation_days: int) -> date:
    """The first day of the rotation period ``today`` falls in (periods count from 1970-01-01)."""
    if rotation_days < 1:
        raise ValueError("the token rotation period must be at least one day")
    return _EPOCH + timedelta(days=(today - _EPOCH).days // rotation_days * rotation_days)


def token_name(today: date, rotation_days: int) -> str:
    """The name of the service account token for ``today``: it changes with each rotation
    period, and a token cannot be updated, so a new name replaces the token."""
    return f"pulumi-{token_period_start(today, rotation_days):%Y%m%d}"


@dataclass(frozen=True)
class Dashboard:
    """A Grafana dashboard to declare: a short name (it names the resource) and its JSON model."""

    name: str
    config_json: str

    @property
    def uid(self) -> str | None:
        """The dashboard's ``uid`` in its model (None: Grafana makes one up)."""
        model = json.loads(self.config_json)
        if not isinstance(model, dict):
            raise ValueError(f"dashboard {self.name!r}: its JSON model must be an object")
        uid = model.get("uid")
        return str(uid) if uid else None


def check_dashboards(dashboards: Sequence[Dashboard]) -> None:
    """Refuse dashboards that would collide: the same name (resource) or the same uid (Grafana).

    A model that is not a JSON object is a ``ValueError`` naming the dashboard.
    """
    for what, values in (
        ("names", [d.name for d in dashboards]),
        ("uids", [uid for d in dashboards if (uid := d.uid)]),
    ):
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"dashboards share {what}: {', '.join(duplicates)}")


@dataclass(frozen=True)
class GrafanaArgs:
    """Amazon Managed Grafana settings.

    ``today`` is the deployment's date (UTC), given by the program's edge (a component reads no
    clock): it picks the token's rotation period. The token is replaced on the first `up` of
    each period of ``token_rotation_days``, and lives ``token_ttl_seconds``, which must cover the
    period plus :data:`TOKEN_MARGIN_DAYS`.
    """

    today: date
    version: str = DEFAULT_GRAFANA_VERSION
    authentication_providers: Sequence[str] = ("AWS_SSO",)
    token_ttl_seconds: int = TOKEN_MAX_SECONDS
    token_rotation_days: int = 14

    def __post_init__(self) -> None:
        if self.version not in GRAFANA_VERSIONS:
            raise ValueError(f"Grafana version must be one of {', '.join(GRAFANA_VERSIONS)}")
        if not 0 < self.token_ttl_seconds <= TOKEN_MAX_SECONDS:
            raise ValueError(f"a token lives at most {TOKEN_MAX_SECONDS} seconds (30 days)")
        covered = (self.token_rotation_days + TOKEN_MARGIN_DAYS) * 86_400
        if self.token_rotation_days < 1 or covered > self.token_ttl_seconds:
            raise ValueError(
                f"the token must outlive its rotation period ({self.token_rotation_days} days) "
                f"by {TOKEN_MARGIN_DAYS} days, but lives {self.token_ttl_seconds} seconds"
            )


@dataclass(frozen=True)
class ObservabilityArgs:
    """Arguments of :class:`Observability`.

    ``rule_sources`` are the compiler's output (the component compiles nothing).
    ``grafana`` None (the default) leaves out AMG; ``dashboards`` (the dashboards package's
    output) are declared in AMG when given, in a folder with ``DASHBOARD_FOLDER_UID``.
    ``alert_manager`` and ``logging`` switch off what an emulator lacks.
    ``remediation_topic_arn`` (the Remediation component's topic, components/remediation.py)
    adds the remediation receiver to the alert manager definition.
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
    grafana: GrafanaArgs | None = None
    dashboards: Sequence[Dashboard] = ()
    remediation_topic_arn: pulumi.Input[str] | None = None


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
        check_dashboards(args.dashboards)

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
                definition=pulumi.Output.all(
                    args.page_topic_arn, args.ticket_topic_arn, args.remediation_topic_arn
                ).apply(lambda arns: alert_manager_definition(*arns[:2], args.region, arns[2])),
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
            grafana_version=settings.version,
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
        # A new name each rotation period: tokens cannot be updated, so the provider creates
        # the new token, the Grafana provider switches to it, then the old one is deleted.
        token = aws.grafana.WorkspaceServiceAccountToken(
            f"{name}-grafana-token",
            name=token_name(settings.today, settings.token_rotation_days),
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
        data_source = grafana.oss.DataSource(
            f"{name}-amp-datasource",
            name="Amazon Managed Prometheus",
            uid=AMP_DATA_SOURCE_UID,
            type=AMP_DATA_SOURCE_TYPE,
            url=workspace.prometheus_endpoint,
            is_default=True,
            json_data_encoded=amp_data_source_json(args.region),
            # Its uid and name are fixed: if a change (its type) replaces it, the old one must
            # go first or the new one collides with it.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, delete_before_replace=True),
        )
        if args.dashboards:
            self._dashboards(name, args.dashboards, in_grafana, data_source)
        return url

    def _dashboards(
        self,
        name: str,
        dashboards: Sequence[Dashboard],
        in_grafana: pulumi.ResourceOptions,
        data_source: grafana.oss.DataSource,
    ) -> None:
        # A fixed uid (stable links); Grafana refuses to delete it while it holds a dashboard
        # this program does not manage (one saved into it by hand), instead of deleting that too.
        folder = grafana.oss.Folder(
            f"{name}-dashboard-folder",
            uid=DASHBOARD_FOLDER_UID,
            title=DASHBOARD_FOLDER_TITLE,
            prevent_destroy_if_not_empty=True,
            opts=in_grafana,
        )
        # The panels query the data source by uid: it exists before any dashboard does.
        after_data_source = pulumi.ResourceOptions.merge(
            in_grafana, pulumi.ResourceOptions(depends_on=[data_source])
        )
        for dashboard in dashboards:
            grafana.oss.Dashboard(
                f"{name}-dashboard-{dashboard.name}",
                config_json=dashboard.config_json,
                folder=folder.uid,
                overwrite=True,
                opts=after_data_source,
            )
