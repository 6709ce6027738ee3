"""Typed stack configuration: the ``sre-platform:*`` and ``aws:*`` keys of one Pulumi stack.

Parsed once at the edge (pydantic, ``extra="forbid"``) into frozen models. Every problem names
the config key the way ``pulumi config set --path`` spells it, for example
``sre-platform:fleet.min_size: must be at least 1``, and is raised as one
:class:`~sre_platform.errors.StackConfigError` listing all of them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sre_platform.durations import DurationText
from sre_platform.errors import Problem, StackConfigError, field_path

PROJECT = "sre-platform"
AWS = "aws"
AL2023_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
# The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class TagSettings(_Model):
    """Tags every taggable resource carries (``environment`` is the stack name)."""

    service: str = Field(min_length=1)
    owner: str = Field(min_length=1)


class ExistingVpcSettings(_Model):
    """An existing VPC to deploy into instead of creating one."""

    vpc_id: str = Field(min_length=1)
    cidr_block: str
    public_subnet_ids: tuple[str, ...] = Field(min_length=1)
    private_subnet_ids: tuple[str, ...] = Field(min_length=1)
    private_route_table_ids: tuple[str, ...] = Field(min_length=1)

    @field_validator("cidr_block")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.ip_network(value))


class NetworkSettings(_Model):
    """The VPC: created across ``availability_zones``, or ``existing_vpc``."""

    cidr_block: str = "10.0.0.0/16"
    availability_zones: tuple[str, ...] = ()
    nat_gateway: bool = False
    vpc_endpoints: bool = True
    existing_vpc: ExistingVpcSettings | None = None

    @field_validator("cidr_block")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.ip_network(value)
        if network.prefixlen > 20:
            raise ValueError("must be a /20 or larger network (subnets are carved as /24 or more)")
        return str(network)


class InstanceRefreshSettings(_Model):
    """Rolling replacement on every launch template change, with automatic rollback."""

    checkpoint_percentages: tuple[int, ...] = (50, 100)
    checkpoint_delay: DurationText = "5m"
    min_healthy_percentage: int = Field(default=90, ge=0, le=100)
    instance_warmup: DurationText = "2m"

    @field_validator("checkpoint_percentages")
    @classmethod
    def _percentages(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or list(value) != sorted(set(value)) or value[-1] != 100 or value[0] < 1:
            raise ValueError("must be increasing percentages between 1 and 100 ending with 100")
        return value


class FleetSettings(_Model):
    """The EC2 service fleet behind the load balancer."""

    instance_type: str = "t3.small"
    image_id: str = AL2023_AMI
    min_size: int = Field(default=1, ge=1)
    max_size: int = Field(default=2, ge=1)
    desired_capacity: int = Field(default=1, ge=1)
    volume_size_gb: int = Field(default=20, ge=8, le=16384)
    service_port: int = Field(default=8080, ge=1024, le=65535)
    health_check_path: str = "/healthz"
    service_version: str = Field(default="0.1.0", pattern=r"^[A-Za-z0-9._-]+$")
    prometheus_version: str = Field(default="3.5.0", pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    node_exporter_version: str = Field(default="1.9.1", pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    cpu_target_percent: float = Field(default=50.0, gt=0, le=100)
    requests_per_target: int = Field(default=1000, ge=1)
    certificate_arn: str | None = None
    ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    instance_refresh: InstanceRefreshSettings = InstanceRefreshSettings()

    @field_validator("prometheus_version")
    @classmethod
    def _agent_flag(cls, value: str) -> str:
        if int(value.split(".")[0]) < 3:
            raise ValueError("must be 3.0.0 or newer (the agent is started with --agent)")
        return value

    @field_validator("health_check_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(cidr)) for cidr in value)


class BucketSettings(_Model):
    """The artifacts bucket and the logs/backups bucket."""

    kms_key_arn: str | None = None
    noncurrent_transition_days: int = Field(default=30, ge=30)
    noncurrent_expiration_days: int = Field(default=90, ge=1)
    archive_after_days: int = Field(default=180, ge=1)
    access_logging: bool = True


class AlarmSettings(_Model):
    """CloudWatch alarm thresholds and where their runbooks live."""

    runbook_base_url: str = "runbooks"
    error_ratio: float = Field(default=0.01, gt=0, lt=1)
    latency_p99_seconds: float = Field(default=0.04, gt=0)
    amp_usage_percent: float = Field(default=80.0, gt=0, le=100)


class ObservabilitySettings(_Model):
    """Amazon Managed Service for Prometheus: workspace, logging, rules, alert manager."""

    amp_logging: bool = True
    alert_manager: bool = True
    log_retention_days: int = 30
    rule_namespace_max_bytes: int = Field(default=512 * 1024, ge=1024, le=1024 * 1024)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            periods = ", ".join(map(str, LOG_RETENTION_DAYS))
            raise ValueError(f"must be one of CloudWatch Logs' periods: {periods}")
        return value


class GrafanaSettings(_Model):
    """Amazon Managed Grafana and the Grafana objects declared in it."""

    enabled: bool = True
    authentication_providers: tuple[Literal["AWS_SSO", "SAML"], ...] = ("AWS_SSO",)
    token_ttl_seconds: int = Field(default=2_592_000, ge=60, le=2_592_000)

    @field_validator("authentication_providers")
    @classmethod
    def _providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one of AWS_SSO, SAML")
        return value


class SloSettings(_Model):
    """Where the SLO specs are and the SLO period the compiler uses at deploy time."""

    specs_dir: str = "slo_specs"
    period: DurationText = "30d"


class PlatformSettings(_Model):
    """Everything under the ``sre-platform:`` namespace."""

    tags: TagSettings
    network: NetworkSettings = NetworkSettings()
    fleet: FleetSettings = FleetSettings()
    buckets: BucketSettings = BucketSettings()
    alarms: AlarmSettings = AlarmSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    grafana: GrafanaSettings = GrafanaSettings()
    slo: SloSettings = SloSettings()
    protect_data: bool = False


class AwsSettings(_Model):
    """The ``aws:`` keys the platform reads to build its AWS provider."""

    region: str = Field(min_length=1)
    profile: str | None = None
    accessKey: str | None = None  # camelCase: the aws provider spells its keys so
    secretKey: str | None = None
    endpoints: tuple[dict[str, str], ...] = ()
    skipCredentialsValidation: bool = False
    skipRequestingAccountId: bool = False
    skipMetadataApiCheck: bool = True
    s3UsePathStyle: bool = False

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[dict[str, str], ...]) -> tuple[dict[str, str], ...]:
        import inspect

        import pulumi_aws

        known = set(inspect.signature(pulumi_aws.ProviderEndpointArgs.__init__).parameters)
        unknown = sorted({k for entry in value for k in entry} - known)
        if unknown:
            raise ValueError(f"unknown AWS service endpoint: {', '.join(unknown)}")
        return value


class StackSettings(_Model):
    """One stack's validated configuration."""

    stack: str
    platform: PlatformSettings
    aws: AwsSettings

    @property
    def tags(self) -> dict[str, str]:
        """The required tags: service, environment, owner."""
        return {
            "service": self.platform.tags.service,
            "environment": self.stack,
            "owner": self.platform.tags.owner,
        }

    @property
    def prefix(self) -> str:
        """The prefix of names that must be fixed in AWS (alarms, workspaces)."""
        return f"{self.platform.tags.service}-{self.stack}"


def _key(namespace: str, loc: Iterable[Any]) -> str:
    return f"{namespace}:{field_path(loc)}"


def _message(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:]


def _problems(namespace: str, exc: ValidationError, source: str | None) -> list[Problem]:
    return [
        Problem(message=_message(err), file=source, field=_key(namespace, err["loc"]))
        for err in exc.errors()
    ]


def _cross_checks(platform: PlatformSettings, source: str | None) -> list[Problem]:
    fleet, network = platform.fleet, platform.network
    found: list[Problem] = []

    def add(key: str, message: str) -> None:
        found.append(Problem(message=message, file=source, field=f"{PROJECT}:{key}"))

    if fleet.max_size < fleet.min_size:
        add("fleet.max_size", f"must be at least fleet.min_size ({fleet.min_size})")
    if not fleet.min_size <= fleet.desired_capacity <= fleet.max_size:
        add(
            "fleet.desired_capacity",
            f"must be between fleet.min_size ({fleet.min_size}) and fleet.max_size "
            f"({fleet.max_size})",
        )
    buckets = platform.buckets
    if buckets.noncurrent_expiration_days <= buckets.noncurrent_transition_days:
        add(
            "buckets.noncurrent_expiration_days",
            f"must be more than buckets.noncurrent_transition_days "
            f"({buckets.noncurrent_transition_days})",
        )
    if network.existing_vpc is None:
        zones = network.availability_zones
        if not zones:
            add("network.availability_zones", "must list at least one zone (or set existing_vpc)")
        elif len(set(zones)) != len(zones):
            add("network.availability_zones", "must not repeat a zone")
        elif len(zones) > 8:
            add("network.availability_zones", "must be at most 8 zones")
    elif network.availability_zones:
        add("network.availability_zones", "must be empty when network.existing_vpc is set")
    if network.nat_gateway and network.existing_vpc is not None:
        add("network.nat_gateway", "cannot be turned on for an existing VPC")
    return found


def parse_settings(
    stack: str, values: Mapping[str, Any], source: str | None = None
) -> StackSettings:
    """Validate the config ``values`` (full keys such as ``sre-platform:fleet``) of ``stack``.

    Keys of other namespaces than ``sre-platform`` and ``aws`` are ignored. Raises
    :class:`StackConfigError` listing every problem, each naming its key.
    """
    spaces: dict[str, dict[str, Any]] = {PROJECT: {}, AWS: {}}
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace in spaces and key:
            spaces[namespace][key] = value
    problems: list[Problem] = []
    platform = aws = None
    try:
        platform = PlatformSettings.model_validate(spaces[PROJECT])
    except ValidationError as exc:
        problems += _problems(PROJECT, exc, source)
    try:
        aws = AwsSettings.model_validate(spaces[AWS])
    except ValidationError as exc:
        problems += _problems(AWS, exc, source)
    if platform is not None:
        problems += _cross_checks(platform, source)
    if problems or platform is None or aws is None:
        raise StackConfigError(problems)
    return StackSettings(stack=stack, platform=platform, aws=aws)


def stack_file(project_dir: Path, stack: str) -> Path:
    """Return the path of ``Pulumi.<stack>.yaml`` in ``project_dir``."""
    return project_dir / f"Pulumi.{stack}.yaml"


def list_stacks(project_dir: Path) -> list[str]:
    """Return the names of the stacks that have a ``Pulumi.<stack>.yaml`` in ``project_dir``."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def read_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """Return the raw ``config:`` mapping of ``Pulumi.<stack>.yaml`` (full keys -> values)."""
    path = stack_file(project_dir, stack)
    if not path.is_file():
        known = ", ".join(list_stacks(project_dir)) or "none"
        raise StackConfigError(
            [Problem(message=f"unknown stack {stack!r}; the stacks are: {known}", file=str(path))]
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise StackConfigError([Problem(message=f"not valid YAML: {exc}", file=str(path))]) from exc
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError([Problem(message="config must be a mapping", file=str(path))])
    return {str(k): _plain(v) for k, v in config.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"value"}:  # project-level `value:` form
        return value["value"]
    return value


def load_stack_file(project_dir: Path, stack: str) -> StackSettings:
    """Read and validate ``Pulumi.<stack>.yaml`` (the offline path: render and tests)."""
    path = stack_file(project_dir, stack)
    return parse_settings(stack, read_stack_file(project_dir, stack), source=path.name)


def decode_config_value(raw: Any) -> Any:
    """Decode one value as the Pulumi runtime hands it over (objects arrive as JSON text)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def encode_config_value(value: Any) -> str:
    """Encode one value the way the Pulumi engine passes config to a program."""
    return value if isinstance(value, str) else json.dumps(value)
