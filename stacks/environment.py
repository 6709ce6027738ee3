"""The wiring of one environment: which components, in which order, with which settings.

Order: logs bucket -> network (its flow logs go to the logs bucket) -> artifacts bucket ->
alert topics -> observability (AMP, rules, routing, AMG and its dashboards) -> fleet -> alarms
-> remediation (the Lambda that acts on alerts through the fleet's Auto Scaling group).
Alarm names are fixed strings, so the fleet's instance refresh can name the alarms that stop it
without depending on them; the remediation topic's name is fixed too, so AMP's alert manager
routes to it before the component (which needs the fleet) is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pulumi
import pulumi_aws as aws

from artifacts import ArtifactSpec, FleetArtifacts, build_fleet_artifacts
from components.alarms import AlarmNames, Alarms, AlarmsArgs
from components.network import ExistingVpc, Network, NetworkArgs
from components.observability import (
    AMP_DATA_SOURCE_TYPE,
    AMP_DATA_SOURCE_UID,
    Dashboard,
    GrafanaArgs,
    Observability,
    ObservabilityArgs,
    RuleSource,
)
from components.remediation import Remediation, RemediationArgs, topic_name
from components.secure_bucket import LogDelivery, SecureBucket, SecureBucketArgs
from components.service_fleet import (
    AccessLogs,
    InstanceRefresh,
    ServiceFleet,
    ServiceFleetArgs,
    resolve_image_id,
)
from components.topics import AlertTopics, AlertTopicsArgs, Receiver, topic_arn
from remediation.model import Policy
from sre_platform.durations import parse_duration
from sre_platform.errors import Problem, StackConfigError
from stacks.config import AwsSettings, ReceiverSettings, SecretValue, StackSettings


@dataclass(frozen=True)
class StackOutputs:
    """What an operator needs from a deployed stack."""

    load_balancer_url: pulumi.Output[str]
    amp_workspace_id: pulumi.Output[str]
    amp_query_url: pulumi.Output[str]
    amp_remote_write_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str] | None
    page_topic_arn: pulumi.Output[str]
    ticket_topic_arn: pulumi.Output[str]
    undelivered_alerts_queue_url: pulumi.Output[str]
    remediation_function: pulumi.Output[str] | None
    artifacts_bucket: pulumi.Output[str]
    logs_bucket: pulumi.Output[str]
    vpc_id: pulumi.Output[str]

    def exports(self) -> dict[str, pulumi.Output[str]]:
        """The stack outputs by name (Grafana and remediation only where they are deployed)."""
        values = {k: v for k, v in vars(self).items() if v is not None}
        return dict(sorted(values.items()))


def compile_rules(settings: StackSettings) -> list[RuleSource]:
    """Compile the configured SLO specs with the project's compiler (deploy-time input)."""
    from alerting import compile_specs

    files = compile_specs([settings.specs_path], period=settings.platform.slo.period)
    return [RuleSource(name=Path(f.source).stem, groups=f.rule_groups) for f in files]


def stack_dashboards(settings: StackSettings) -> list[Dashboard]:
    """Build the dashboards from the configured SLO specs (deploy-time input, like the rules),
    querying the AMP data source the Observability component declares (its type and uid)."""
    from dashboards.build import DataSource, dashboards_from_specs

    built = dashboards_from_specs(
        [settings.specs_path],
        settings.platform.slo.period,
        datasource=DataSource(type=AMP_DATA_SOURCE_TYPE, default=AMP_DATA_SOURCE_UID),
    )
    return [Dashboard(name=b.name, config_json=b.json_text()) for b in built]


def remediation_policy(settings: StackSettings) -> Policy:
    """Load the remediation policy (deploy-time input); it must bound the stack's service.

    A policy file with mistakes raises its own error naming the file and field.
    """
    from remediation.policy import load_policy

    path = settings.remediation_policy_path
    policy = load_policy(path)
    service = settings.platform.tags.service
    if service not in policy.services:
        raise StackConfigError(
            [
                Problem(
                    f"{path.relative_to(settings.project_dir.resolve())} has no services.{service}"
                    f" entry (the stack's tags.service): the function could not act on this fleet",
                    file=f"Pulumi.{settings.stack}.yaml",
                    field="sre-platform:remediation.policy",
                )
            ]
        )
    return policy


# Reserved for examples (RFC 2606): nobody receives mail or requests there.
EXAMPLE_DOMAINS = ("example", "example.com", "example.net", "example.org")


def placeholder_receivers(settings: StackSettings) -> list[str]:
    """The config keys of receivers at an example domain: placeholders that reach nobody."""
    from urllib.parse import urlsplit

    found = []
    for severity in ("page", "ticket"):
        for index, listed in enumerate(getattr(settings.platform.alerting.receivers, severity)):
            endpoint = listed.endpoint
            if not isinstance(endpoint, str):
                continue
            host = endpoint.rpartition("@")[2] if listed.protocol == "email" else None
            host = (host or urlsplit(endpoint).hostname or "").lower()
            if any(host == d or host.endswith(f".{d}") for d in EXAMPLE_DOMAINS):
                found.append(f"sre-platform:alerting.receivers.{severity}[{index}].endpoint")
    return found


def receiver(settings: ReceiverSettings) -> Receiver:
    """A configured receiver for AlertTopics; an endpoint set as a secret stays a secret."""
    endpoint = settings.endpoint
    if isinstance(endpoint, SecretValue):
        endpoint = pulumi.Output.secret(endpoint.secure)
    return Receiver(
        name=settings.name,
        protocol=settings.protocol,
        endpoint=endpoint,
        auto_confirms=settings.auto_confirms,
        raw_message_delivery=settings.raw_message_delivery,
        slack_team_id=settings.slack_team_id,
        slack_channel_id=settings.slack_channel_id,
    )


def aws_provider(name: str, settings: AwsSettings, tags: dict[str, str]) -> aws.Provider:
    """The one AWS provider of the stack: region, emulator endpoints, and default tags."""
    return aws.Provider(
        name,
        region=settings.region,
        profile=settings.profile,
        access_key=settings.accessKey,
        secret_key=pulumi.Output.secret(settings.secretKey) if settings.secretKey else None,
        endpoints=[dict(e) for e in settings.endpoints] or None,
        skip_credentials_validation=settings.skipCredentialsValidation,
        skip_requesting_account_id=settings.skipRequestingAccountId,
        skip_metadata_api_check=settings.skipMetadataApiCheck,
        s3_use_path_style=settings.s3UsePathStyle,
        default_tags={"tags": tags},
    )


def fleet_artifacts(settings: StackSettings, preview: bool) -> FleetArtifacts:
    """Build what the fleet's instances fetch (deploy-time input, like the compiled rules).

    A missing or unpinned download stops a deployment, and is a warning in a preview (CI
    previews and ``sre stack render`` run without the downloads); a download that differs from
    its pin stops both. Problems name the config key to fix.
    """
    f = settings.platform.fleet
    downloads = Path(f.downloads_dir)
    built = build_fleet_artifacts(
        ArtifactSpec(
            out_dir=settings.project_dir / "build" / "artifacts",
            downloads_dir=downloads
            if downloads.is_absolute()
            else settings.project_dir / downloads,
            service=settings.platform.tags.service,
            service_version=f.service_version,
            prometheus_version=f.prometheus_version,
            node_exporter_version=f.node_exporter_version,
            prometheus_sha256=f.prometheus_sha256,
            node_exporter_sha256=f.node_exporter_sha256,
        )
    )
    source = f"Pulumi.{settings.stack}.yaml"
    problems = [
        Problem(
            problem.message,
            file=source,
            field="sre-platform:fleet."
            + ("downloads_dir" if problem.missing else f"{problem.what}_sha256"),
        )
        for problem in built.problems
    ]
    if problems and (not preview or any(problem.fatal for problem in built.problems)):
        raise StackConfigError(problems)
    for problem in problems:
        pulumi.log.warn(f"{problem}; `pulumi up` refuses to deploy until it is fixed")
    return built


def build(settings: StackSettings, today: date | None = None) -> StackOutputs:
    """Declare every resource of one environment and return its outputs.

    ``today`` (default: the current date in UTC) picks the Grafana token's rotation period.
    """
    platform = settings.platform
    tags = settings.tags
    prefix = settings.prefix
    region = settings.aws.region
    today = today or datetime.now(UTC).date()
    rule_sources = compile_rules(settings)
    gf = platform.grafana
    dashboards = stack_dashboards(settings) if gf.enabled and gf.dashboards else []
    staged = fleet_artifacts(settings, preview=pulumi.runtime.is_dry_run())
    actions = remediation_policy(settings) if settings.remediation_enabled else None

    provider = aws_provider("aws", settings.aws, tags)
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(provider=provider)
    ).account_id

    b = platform.buckets
    lifecycle = {
        "noncurrent_transition_days": b.noncurrent_transition_days,
        "noncurrent_expiration_days": b.noncurrent_expiration_days,
        "archive_after_days": b.archive_after_days,
    }
    # SSE-S3 whatever buckets.kms_key_arn says: ALB access logs are delivered into SSE-S3
    # buckets only, and S3 access logs and flow logs would need key grants nothing manages.
    logs = SecureBucket(
        "logs",
        SecureBucketArgs(
            tags=tags,
            accept_access_logs_from=account_id if b.access_logging else None,
            log_delivery=LogDelivery(account_id=account_id, region=region),
            protect=platform.protect_data,
            **lifecycle,
        ),
        opts,
    )

    net = platform.network
    existing = None
    if net.existing_vpc is not None:
        e = net.existing_vpc
        existing = ExistingVpc(
            vpc_id=e.vpc_id,
            cidr_block=e.cidr_block,
            public_subnet_ids=e.public_subnet_ids,
            private_subnet_ids=e.private_subnet_ids,
            private_route_table_ids=e.private_route_table_ids,
        )
    network = Network(
        "network",
        NetworkArgs(
            region=region,
            tags=tags,
            cidr_block=existing.cidr_block if existing else net.cidr_block,
            availability_zones=net.availability_zones,
            nat_gateway=net.nat_gateway,
            vpc_endpoints=net.vpc_endpoints,
            existing=existing,
            flow_logs_destination=logs.flow_logs_destination,
        ),
        opts,
    )

    artifacts = SecureBucket(
        "artifacts",
        SecureBucketArgs(
            tags=tags,
            kms_key_arn=b.kms_key_arn,
            log_bucket=logs.bucket_name if b.access_logging else None,
            protect=platform.protect_data,
            **lifecycle,
        ),
        opts,
    )

    listed = platform.alerting.receivers
    for key in placeholder_receivers(settings):
        pulumi.log.warn(
            f"Pulumi.{settings.stack}.yaml: {key}: an example address that reaches nobody; "
            "replace it before relying on this stack's alerts (docs/stacks.md, Subscriptions)"
        )
    topics = AlertTopics(
        "alerts",
        AlertTopicsArgs(
            prefix=prefix,
            account_id=account_id,
            tags=tags,
            region=region,
            page_receivers=[receiver(r) for r in listed.page],
            ticket_receivers=[receiver(r) for r in listed.ticket],
            runbook_base_url=platform.alarms.runbook_base_url,
        ),
        opts,
    )

    obs = platform.observability
    # Known before the topic exists: AMP routes to it, and the topic (in Remediation) needs the
    # workspace and the fleet, which come after.
    remediation_topic_arn = (
        account_id.apply(lambda account: topic_arn(region, account, topic_name(prefix)))
        if actions is not None
        else None
    )
    observability = Observability(
        "observability",
        ObservabilityArgs(
            prefix=prefix,
            region=region,
            account_id=account_id,
            tags=tags,
            page_topic_arn=topics.page_topic_arn,
            ticket_topic_arn=topics.ticket_topic_arn,
            rule_sources=rule_sources,
            rule_namespace_max_bytes=obs.rule_namespace_max_bytes,
            logging=obs.amp_logging,
            log_retention_days=obs.log_retention_days,
            alert_manager=obs.alert_manager,
            grafana=(
                GrafanaArgs(
                    today=today,
                    version=gf.version,
                    authentication_providers=gf.authentication_providers,
                    token_ttl_seconds=gf.token_ttl_seconds,
                    token_rotation_days=gf.token_rotation_days,
                )
                if gf.enabled
                else None
            ),
            dashboards=dashboards,
            remediation_topic_arn=remediation_topic_arn,
        ),
        opts,
    )

    names = AlarmNames(prefix)
    f = platform.fleet
    refresh = f.instance_refresh
    fleet = ServiceFleet(
        "fleet",
        ServiceFleetArgs(
            service=platform.tags.service,
            environment=settings.stack,
            region=region,
            tags=tags,
            vpc_id=network.vpc_id,
            vpc_cidr=network.cidr_block,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            artifacts_bucket_name=artifacts.bucket_name,
            artifacts_bucket_arn=artifacts.arn,
            amp_workspace_arn=observability.workspace_arn,
            amp_remote_write_url=observability.remote_write_url,
            min_size=f.min_size,
            max_size=f.max_size,
            desired_capacity=f.desired_capacity,
            instance_type=f.instance_type,
            image_id=resolve_image_id(f.image_id, pulumi.InvokeOutputOptions(provider=provider)),
            artifacts=staged,
            access_logs=(
                AccessLogs(bucket=elb["bucket"], prefix=elb["prefix"])
                if (elb := logs.elb_access_logs)
                else None
            ),
            boot_dependencies=network.endpoints,
            volume_size_gb=f.volume_size_gb,
            port=f.service_port,
            health_check_path=f.health_check_path,
            cpu_target_percent=f.cpu_target_percent,
            requests_per_target=f.requests_per_target,
            certificate_arn=f.certificate_arn,
            ingress_cidrs=f.ingress_cidrs,
            artifacts_kms_key_arn=b.kms_key_arn,
            refresh_alarm_names=names.rollback,
            instance_refresh=InstanceRefresh(
                checkpoint_percentages=refresh.checkpoint_percentages,
                checkpoint_delay_seconds=int(parse_duration(refresh.checkpoint_delay)),
                instance_warmup_seconds=int(parse_duration(refresh.instance_warmup)),
                min_healthy_percentage=refresh.min_healthy_percentage,
            ),
            protect=platform.protect_data,
        ),
        opts,
    )

    a = platform.alarms
    Alarms(
        "alarms",
        AlarmsArgs(
            names=names,
            tags=tags,
            page_topic_arn=topics.page_topic_arn,
            ticket_topic_arn=topics.ticket_topic_arn,
            load_balancer_arn_suffix=fleet.load_balancer_arn_suffix,
            target_group_arn_suffix=fleet.target_group_arn_suffix,
            autoscaling_group_name=fleet.autoscaling_group_name,
            amp_workspace_id=observability.workspace_id,
            runbook_base_url=a.runbook_base_url,
            error_ratio=a.error_ratio,
            latency_p99_seconds=a.latency_p99_seconds,
            amp_usage_percent=a.amp_usage_percent,
            amp_ingestion_rate_quota=a.amp_ingestion_rate_quota,
            amp_active_series_quota=a.amp_active_series_quota,
        ),
        opts,
    )

    remediation = None
    if actions is not None:
        r = platform.remediation
        remediation = Remediation(
            "remediation",
            RemediationArgs(
                prefix=prefix,
                region=region,
                account_id=account_id,
                tags=tags,
                policy=actions,
                service=platform.tags.service,
                autoscaling_group_name=fleet.autoscaling_group_name,
                workspace_arn=observability.workspace_arn,
                kms_key_arn=topics.key_arn,
                ticket_topic_arn=topics.ticket_topic_arn,
                runbook_base_url=a.runbook_base_url,
                reserved_concurrency=r.reserved_concurrency,
                log_retention_days=r.log_retention_days,
                protect=platform.protect_data,
            ),
            opts,
        )

    return StackOutputs(
        load_balancer_url=fleet.url,
        amp_workspace_id=observability.workspace_id,
        amp_query_url=observability.query_url,
        amp_remote_write_url=observability.remote_write_url,
        grafana_url=observability.grafana_url,
        page_topic_arn=topics.page_topic_arn,
        ticket_topic_arn=topics.ticket_topic_arn,
        undelivered_alerts_queue_url=topics.dead_letter_queue_url,
        remediation_function=remediation.function_name if remediation else None,
        artifacts_bucket=artifacts.bucket_name,
        logs_bucket=logs.bucket_name,
        vpc_id=network.vpc_id,
    )
