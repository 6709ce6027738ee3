"""Typed stack configuration: the ``sre-platform:*`` and ``aws:*`` keys of one Pulumi stack.

Parsed once at the edge (pydantic, ``extra="forbid"``) into frozen models. Every problem names
the config key the way ``pulumi config set --path`` spells it, for example
``sre-platform:fleet.min_size: must be at least 1``, and all of them are raised at once, the
rules between keys included, as one :class:`~sre_platform.errors.StackConfigError`. The same
:func:`parse_settings` runs under ``pulumi up`` (config from the engine) and in
``sre stack render`` (config from ``Pulumi.<stack>.yaml``, read within limits).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from sre_platform.durations import DurationText
from sre_platform.errors import Problem, StackConfigError
from sre_platform.yamlfile import DEFAULT_LIMITS
from stacks import tags as aws_tags
from stacks.project import (
    PROJECT,
    STACK_NAME,
    cut,
    folder_inside,
    read_stack_config,
    shown,
    stack_file,
    stack_name_problem,
)

AWS = "aws"
TOKEN_MARGIN_DAYS = 2  # the Grafana token outlives its rotation period by this much
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
# Tags the components set themselves, and how many of them one resource carries at most
# (network: Name + tier, fleet: Name + role, alarms and topics: severity + runbook). A stack's
# own tags must leave room for them under AWS's 50 per resource, and must not replace them:
# `role=load-balancer` is what lets a security group accept the internet.
COMPONENT_TAG_KEYS = ("Name", "role", "runbook", "severity", "tier")
COMPONENT_TAGS_PER_RESOURCE = 2
MAX_STACK_TAGS = aws_tags.MAX_TAGS_PER_RESOURCE - COMPONENT_TAGS_PER_RESOURCE
MAX_TEXT = 1024  # characters of any other text value (ARNs, paths, names)
MAX_PROBLEMS = 50  # per file: a runaway file gets a short answer, not thousands of lines


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        allow_inf_nan=False,
        str_max_length=MAX_TEXT,
    )


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return check


def _tag_value(value: str) -> str:
    problem = aws_tags.value_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _tag_key(key: str) -> str:
    problem = aws_tags.key_problem(key)
    if problem:
        raise ValueError(problem)
    if key == "environment":
        raise ValueError("the environment tag is the stack's name; it cannot be set")
    if key in COMPONENT_TAG_KEYS:
        raise ValueError(
            f"the components set the {key} tag themselves ({', '.join(COMPONENT_TAG_KEYS)})"
        )
    return key


def _endpoint_service(name: str) -> str:
    import inspect

    import pulumi_aws

    if name not in inspect.signature(pulumi_aws.ProviderEndpointArgs.__init__).parameters:
        raise ValueError(f"unknown AWS service endpoint: {shown(name)}")
    return name


LowercaseName = Annotated[
    str,
    AfterValidator(
        _matching(
            STACK_NAME.pattern,  # the same rule as stack names: both make AWS names
            "a lowercase name: letters, digits and '-', starting with a letter, at most 63 "
            "characters (it names AWS resources and goes into the instances' user data)",
        )
    ),
]
TagValue = Annotated[str, AfterValidator(_tag_value)]
TagKey = Annotated[str, AfterValidator(_tag_key)]
Sha256 = Annotated[
    str, AfterValidator(_matching(r"[0-9a-f]{64}", "a SHA-256: 64 lowercase hex digits"))
]


def _aws_id(prefix: str) -> Any:
    return Annotated[
        str,
        AfterValidator(
            _matching(rf"{prefix}-[0-9a-f]{{8,17}}", f"an id such as {prefix}-0abc1234")
        ),
    ]


def _arn(service: str, resource: str) -> Any:
    return Annotated[
        str,
        AfterValidator(
            _matching(
                rf"arn:aws[a-z-]*:{service}:[a-z0-9-]+:[0-9]{{12}}:{resource}/[A-Za-z0-9-]{{1,128}}",
                f"an ARN such as arn:aws:{service}:us-east-1:123456789012:{resource}/<id>",
            )
        ),
    ]


class TagSettings(_Model):
    """The tags every taggable resource carries: ``service``, ``owner`` and any others.

    ``environment`` is the stack's name. Keys and values follow AWS's tag rules.
    """

    model_config = ConfigDict(extra="allow", str_max_length=None)  # AWS's lengths, below
    __pydantic_extra__: dict[TagKey, TagValue] = Field(init=False)

    service: LowercaseName
    owner: TagValue = Field(min_length=1)

    def as_dict(self) -> dict[str, str]:
        """Every tag of this config, without ``environment``."""
        return {"service": self.service, "owner": self.owner, **(self.model_extra or {})}


class ExistingVpcSettings(_Model):
    """An existing VPC to deploy into instead of creating one."""

    vpc_id: _aws_id("vpc")
    cidr_block: str
    public_subnet_ids: tuple[_aws_id("subnet"), ...] = Field(min_length=1, max_length=16)
    private_subnet_ids: tuple[_aws_id("subnet"), ...] = Field(min_length=1, max_length=16)
    private_route_table_ids: tuple[_aws_id("rtb"), ...] = Field(min_length=1, max_length=16)

    @field_validator("cidr_block")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.ip_network(value))


ZONE_NAME = r"[a-z]{2}-[a-z0-9-]{1,60}[a-z]"  # us-east-1a
ZONE_ID = r"[a-z]{3,6}[0-9]{1,2}(-[a-z]{3,4}[0-9]{1,2})?-az[0-9]{1,2}"  # use1-az1, usw2-lax1-az1


class NetworkSettings(_Model):
    """The VPC: created across ``availability_zones`` (zone names, or zone ids, which name the
    same physical zone in every account), or ``existing_vpc``."""

    cidr_block: str = "10.0.0.0/16"
    availability_zones: tuple[
        Annotated[
            str,
            AfterValidator(
                _matching(
                    f"{ZONE_NAME}|{ZONE_ID}", "a zone id (use1-az1) or a zone name (us-east-1a)"
                )
            ),
        ],
        ...,
    ] = ()
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

    instance_type: Annotated[
        str,
        AfterValidator(
            _matching(r"[a-z][a-z0-9-]{0,30}\.[a-z0-9-]{1,30}", "an EC2 instance type (t3.small)")
        ),
    ] = "t3.small"
    image_id: Annotated[
        str,
        AfterValidator(
            _matching(
                r"ami-[0-9a-f]{8,17}|resolve:ssm:[A-Za-z0-9_./:-]{1,1000}",
                "an AMI id (ami-...) or resolve:ssm:<parameter name>",
            )
        ),
    ] = AL2023_AMI
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
    certificate_arn: _arn("acm", "certificate") | None = None
    # The upstream release tarballs (and wheels/ for the service bundle), downloaded beforehand:
    # relative to the project or absolute. The program uploads them (docs/stacks.md).
    downloads_dir: str = Field(default="artifacts/downloads", min_length=1)
    prometheus_sha256: Sha256 | None = None
    node_exporter_sha256: Sha256 | None = None
    # A security group takes 60 inbound rules; each range is one rule per listener (80, 443).
    ingress_cidrs: tuple[str, ...] = Field(default=("0.0.0.0/0",), min_length=1, max_length=30)
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
        if not re.fullmatch(r"/[\x21-\x7e]{0,1023}", value):
            raise ValueError("must start with / and hold no spaces (an HTTP path)")
        return value

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(cidr)) for cidr in value)


class BucketSettings(_Model):
    """The artifacts bucket and the logs/backups bucket."""

    kms_key_arn: _arn("kms", "key") | None = None
    noncurrent_transition_days: int = Field(default=30, ge=30)
    noncurrent_expiration_days: int = Field(default=90, ge=1)
    archive_after_days: int = Field(default=180, ge=1)
    access_logging: bool = True


class AlarmSettings(_Model):
    """CloudWatch alarm thresholds and where their runbooks live."""

    # In every alarm's description, which CloudWatch caps at 1024 characters.
    runbook_base_url: str = Field(
        default="runbooks", min_length=1, max_length=512, pattern=r"^\S+$"
    )
    error_ratio: float = Field(default=0.01, gt=0, lt=1)
    latency_p99_seconds: float = Field(default=0.04, gt=0)
    amp_usage_percent: float = Field(default=80.0, gt=0, le=100)
    # AMP quotas to take the usage percentage of, instead of SERVICE_QUOTA() (docs/stacks.md)
    amp_ingestion_rate_quota: float | None = Field(default=None, gt=0)  # samples per second
    amp_active_series_quota: float | None = Field(default=None, gt=0)  # series


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        periods = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise ValueError(f"must be one of CloudWatch Logs' periods: {periods}")
    return value


class ObservabilitySettings(_Model):
    """Amazon Managed Service for Prometheus: workspace, logging, rules, alert manager."""

    amp_logging: bool = True
    alert_manager: bool = True
    log_retention_days: int = 30
    rule_namespace_max_bytes: int = Field(default=512 * 1024, ge=1024, le=1024 * 1024)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _log_retention(value)


class GrafanaSettings(_Model):
    """Amazon Managed Grafana and the Grafana objects declared in it."""

    enabled: bool = True
    # The AMG versions the AMP plugin data source is declared for (docs/stacks.md, Grafana).
    version: Literal["10.4", "12.4", "13.2"] = "12.4"
    authentication_providers: tuple[Literal["AWS_SSO", "SAML"], ...] = ("AWS_SSO",)
    token_ttl_seconds: int = Field(default=2_592_000, ge=60, le=2_592_000)
    # The token is replaced on the first `pulumi up` of each period (30 days at most, less
    # the 2-day margin it must outlive its period by).
    token_rotation_days: int = Field(default=14, ge=1, le=28)
    # The dashboards package's dashboards, built from slo.specs_dir, in a folder of their own.
    dashboards: bool = True

    @field_validator("authentication_providers")
    @classmethod
    def _providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one of AWS_SSO, SAML")
        return value


class RemediationSettings(_Model):
    """The remediation Lambda (components/remediation.py, docs/remediation.md).

    ``enabled`` unset: on wherever AMP's alert manager is (the only thing that feeds it).
    ``policy`` is the remediation policy file, inside the project, compiled at deploy time.
    """

    enabled: bool | None = None
    policy: str = Field(default="ops/remediation.yaml", min_length=1)
    # Lambda's reserved concurrency: at most this many alerts are acted on at once. The account
    # must keep 10 unreserved (AWS's minimum), so it cannot exceed its limit less 10.
    reserved_concurrency: int = Field(default=2, ge=1, le=100)
    log_retention_days: int = 30

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _log_retention(value)


class SloSettings(_Model):
    """Where the SLO specs are and the SLO period the compiler uses at deploy time."""

    specs_dir: str = Field(default="slo_specs", min_length=1)  # a folder inside the project
    period: DurationText = "30d"


MAX_RECEIVERS = 10  # per severity
ALERTING_SECRET = "alerting"  # the context flag: the engine says this section holds a secret
_KEY_LIKE = re.compile(r"[A-Za-z0-9_-]{20,}")  # a path segment such as PagerDuty's 32-hex key


class SecretValue(_Model):
    """A value ``pulumi config set --secret --path`` wrote as ``{secure: <ciphertext>}``.

    ``secure`` is the ciphertext when the stack file is read offline (``sre stack render``),
    the plaintext when the engine hands a section holding secrets to the program; either way
    the stack wiring passes it on as a Pulumi secret only.
    """

    secure: str = Field(min_length=1, max_length=16384)


def _email_address(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"must be an email address: {error}") from None


def _https_url(value: str, *, plain: bool) -> str:
    """``value`` if it is an https URL; a ``plain`` (not secret) one must hold no credential."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme != "https" or not host or re.search(r"\s", value):
        raise ValueError(
            "must be an https:// URL (SNS delivers to https endpoints only here: an http one "
            "would carry the alerts in clear)"
        )
    if not plain:
        return value
    found = None
    if parts.username or parts.password:
        found = "a user name or password"
    elif parts.query:
        found = "a query string (where Opsgenie puts its apiKey)"
    elif any(_KEY_LIKE.fullmatch(part) for part in parts.path.split("/")):
        found = "a path segment that looks like a key (PagerDuty puts its integration key there)"
    if found:
        raise ValueError(
            f"holds {found} in plain text: store the URL as a Pulumi secret, "
            "`pulumi config set --secret --path '<this key>' '<url>'`"
        )
    return value


def _slack_id(value: str) -> str:
    if not re.fullmatch(r"[A-Z][A-Z0-9]{6,20}", value):
        raise ValueError("must be a Slack id such as T07EA123LEP or C07EZ1ABC23")
    return value


class ReceiverSettings(_Model):
    """One subscriber of the page or the ticket topic.

    ``email``: ``endpoint`` is an address (SNS mails a confirmation link first). ``https``:
    ``endpoint`` is an https URL, e.g. a PagerDuty or Opsgenie events endpoint, plain text only
    when it holds no credential, otherwise a Pulumi secret. ``chatbot``: AWS Chatbot posts to a
    Slack channel (``slack_team_id``, ``slack_channel_id``) of a workspace authorised once in
    the Chatbot console.
    """

    name: LowercaseName
    protocol: Literal["email", "https", "chatbot"]
    endpoint: Any = Field(default=None, validate_default=True)
    auto_confirms: bool = True  # https: the endpoint confirms by itself; wait for it
    raw_message_delivery: bool = False  # https: the message alone, without SNS's JSON envelope
    slack_team_id: str | None = Field(default=None, validate_default=True)
    slack_channel_id: str | None = Field(default=None, validate_default=True)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: Any, info: ValidationInfo) -> str | SecretValue | None:
        protocol = info.data.get("protocol")
        if protocol is None:
            return value  # the protocol is in error, and reported
        if protocol == "chatbot":
            if value is not None:
                raise ValueError(
                    "a chatbot receiver takes slack_team_id and slack_channel_id, not an endpoint"
                )
            return None
        if value is None:
            raise ValueError(f"is required for a {protocol} receiver")
        if isinstance(value, dict) and set(value) == {"secure"}:
            return SecretValue.model_validate(value)  # encrypted: checked when decrypted
        if not isinstance(value, str):
            raise ValueError(
                "must be text, or {secure: ...} as `pulumi config set --secret` writes"
            )
        secret = ALERTING_SECRET in ((info.context or {}).get("secret_sections") or ())
        checked = (
            _email_address(value) if protocol == "email" else _https_url(value, plain=not secret)
        )
        return SecretValue(secure=checked) if secret else checked

    @field_validator("auto_confirms", "raw_message_delivery")
    @classmethod
    def _https_only(cls, value: bool, info: ValidationInfo) -> bool:
        if info.data.get("protocol") not in (None, "https"):
            raise ValueError("applies to https receivers only")
        return value

    @field_validator("slack_team_id", "slack_channel_id")
    @classmethod
    def _slack(cls, value: str | None, info: ValidationInfo) -> str | None:
        protocol = info.data.get("protocol")
        if protocol == "chatbot":
            if value is None:
                raise ValueError("is required for a chatbot receiver")
            return _slack_id(value)
        if value is not None and protocol is not None:
            raise ValueError("applies to chatbot receivers only")
        return value

    @property
    def destination(self) -> str:
        """What identifies the subscriber: the endpoint, or the Slack channel."""
        if self.protocol == "chatbot":
            return f"slack:{self.slack_team_id}/{self.slack_channel_id}"
        return self.endpoint if isinstance(self.endpoint, str) else f"secret:{self.name}"


def _distinct(receivers: tuple[ReceiverSettings, ...]) -> tuple[ReceiverSettings, ...]:
    names: set[str] = set()
    destinations: dict[str, str] = {}
    for receiver in receivers:
        if receiver.name in names:
            raise ValueError(f"lists the name {receiver.name!r} twice (it names the subscription)")
        names.add(receiver.name)
        first = destinations.setdefault(receiver.destination, receiver.name)
        if first != receiver.name:
            raise ValueError(
                f"{first} and {receiver.name} are the same subscriber: SNS keeps one "
                "subscription per topic and endpoint"
            )
    return receivers


class ReceiversSettings(_Model):
    """The subscribers of each topic: ``page`` (wakes someone) and ``ticket``."""

    page: Annotated[
        tuple[ReceiverSettings, ...], Field(max_length=MAX_RECEIVERS), AfterValidator(_distinct)
    ] = ()
    ticket: Annotated[
        tuple[ReceiverSettings, ...], Field(max_length=MAX_RECEIVERS), AfterValidator(_distinct)
    ] = ()


class AlertingSettings(_Model):
    """Who receives the notifications published to the page and ticket topics."""

    receivers: ReceiversSettings = ReceiversSettings()


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
    alerting: AlertingSettings = AlertingSettings()
    remediation: RemediationSettings = RemediationSettings()
    protect_data: bool = False


class AwsSettings(_Model):
    """The ``aws:`` keys the platform reads to build its AWS provider."""

    region: Annotated[
        str, AfterValidator(_matching(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", "a region (us-east-1)"))
    ]
    profile: str | None = Field(default=None, max_length=128)
    accessKey: str | None = Field(default=None, max_length=128)  # the aws provider's spelling
    secretKey: str | None = Field(default=None, max_length=128)
    endpoints: tuple[
        dict[
            Annotated[str, AfterValidator(_endpoint_service)],
            Annotated[str, AfterValidator(_matching(r"https?://\S+", "an http(s) URL"))],
        ],
        ...,
    ] = ()
    skipCredentialsValidation: bool = False
    skipRequestingAccountId: bool = False
    # False: credentials from the instance metadata service (EC2, CodeBuild) keep working; the
    # emulator stack (Pulumi.local.yaml) turns the check off.
    skipMetadataApiCheck: bool = False
    s3UsePathStyle: bool = False


class StackSettings(_Model):
    """One stack's validated configuration."""

    stack: str
    platform: PlatformSettings
    aws: AwsSettings
    specs_path: Path  # slo.specs_dir, resolved inside the project
    project_dir: Path  # where Pulumi.yaml is: relative folders (fleet.downloads_dir) start there

    @property
    def tags(self) -> dict[str, str]:
        """The tags of every taggable resource: the configured ones and ``environment``."""
        return {**self.platform.tags.as_dict(), "environment": self.stack}

    @property
    def remediation_enabled(self) -> bool:
        """Whether the remediation Lambda is deployed (remediation.enabled, by default where
        AMP's alert manager is)."""
        enabled = self.platform.remediation.enabled
        return self.platform.observability.alert_manager if enabled is None else enabled

    @property
    def remediation_policy_path(self) -> Path:
        """The remediation policy file (remediation.policy), resolved inside the project."""
        return file_inside(self.project_dir, self.platform.remediation.policy)

    @property
    def prefix(self) -> str:
        """The prefix of names that must be fixed in AWS (alarms, workspaces)."""
        return f"{self.platform.tags.service}-{self.stack}"


def file_inside(project_dir: Path, path: str) -> Path:
    """The file ``path`` names (relative to ``project_dir``), resolved with its symlinks.

    Raises ValueError (a message for the config key) unless it is a file inside the project.
    """
    root = project_dir.resolve()
    try:
        target = (root / path).resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a loop, a NUL byte
        raise ValueError(f"is not a usable path: {error}") from None
    if not target.is_relative_to(root) or not target.is_file():
        raise ValueError(f"must be a file inside the project {shown(str(root))}, not {shown(path)}")
    return target


def _path_part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if re.fullmatch(r"[A-Za-z0-9_-]+", part):
        return f".{part}"
    return f"[{json.dumps(cut(part), ensure_ascii=False)}]"  # a tag key such as "app.io/name"


def config_key(namespace: str, loc: Iterable[str | int]) -> str:
    """A pydantic location as ``pulumi config set --path`` spells it: ``ns:a.b[0]["c.d"]``."""
    parts = (_path_part(part) for part in loc if part != "[key]")  # pydantic's mark of a key
    return f"{namespace}:" + "".join(parts).removeprefix(".")


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
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:]


class _View:
    """The sections of a config that validated, for the rules between keys.

    A section with a mistake is validated again without the keys in error, so the rules that
    do not involve those keys still run: a bad ``fleet.volume_size_gb`` does not hide
    ``fleet.max_size`` below ``fleet.min_size``.
    """

    def __init__(self, raw: Mapping[str, Any], errors: list[Any]) -> None:
        self.sections: dict[str, BaseModel | None] = {}
        self.bad: set[str] = set()
        for name, info in PlatformSettings.model_fields.items():
            model = info.annotation
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            locs = [e["loc"][1:] for e in errors if e["loc"][:1] == (name,)]
            value = raw.get(name, {})
            if () in locs or not isinstance(value, dict):
                self.sections[name] = None
                continue
            wrong = {loc[0] for loc in locs}
            self.bad |= {f"{name}.{key}" for key in wrong}
            try:
                kept = {k: v for k, v in value.items() if k not in wrong}
                self.sections[name] = model.model_validate(kept)
            except ValidationError:
                self.sections[name] = None

    def get(self, *paths: str) -> tuple[Any, ...] | None:
        """The values at ``paths`` (``fleet.min_size``), or None if one of them is in error."""
        values = []
        for path in paths:
            name, _, key = path.partition(".")
            section = self.sections.get(name)
            if section is None or path in self.bad:
                return None
            values.append(getattr(section, key))
        return tuple(values)


def _cross_checks(view: _View, raw: Mapping[str, Any], project_dir: Path) -> list[tuple[str, str]]:
    """The rules between keys, and those that need the project: (key, message) pairs."""
    found: list[tuple[str, str]] = []

    def add(key: str, message: str) -> None:
        found.append((key, message))

    token = view.get("grafana.token_rotation_days", "grafana.token_ttl_seconds")
    if token and (token[0] + TOKEN_MARGIN_DAYS) * 86_400 > token[1]:
        add(
            "grafana.token_rotation_days",
            f"must be at least {TOKEN_MARGIN_DAYS} days shorter than grafana.token_ttl_seconds "
            f"({token[1]} s): the token must outlive its rotation period",
        )
    if (v := view.get("fleet.min_size", "fleet.max_size")) and v[1] < v[0]:
        add("fleet.max_size", f"must be at least fleet.min_size ({v[0]})")
    if (v := view.get("fleet.min_size", "fleet.max_size", "fleet.desired_capacity")) and not (
        v[0] <= v[2] <= v[1]
    ):
        add(
            "fleet.desired_capacity",
            f"must be between fleet.min_size ({v[0]}) and fleet.max_size ({v[1]})",
        )
    days = view.get("buckets.noncurrent_transition_days", "buckets.noncurrent_expiration_days")
    if days and days[1] <= days[0]:
        add(
            "buckets.noncurrent_expiration_days",
            f"must be more than buckets.noncurrent_transition_days ({days[0]})",
        )
    network = view.get("network.existing_vpc", "network.availability_zones", "network.nat_gateway")
    if network:
        existing, zones, nat = network
        if existing is None and not zones:
            add("network.availability_zones", "must list at least one zone (or set existing_vpc)")
        if existing is None and len(set(zones)) != len(zones):
            add("network.availability_zones", "must not repeat a zone")
        if len({re.fullmatch(ZONE_ID, zone) is None for zone in zones}) > 1:
            add(
                "network.availability_zones",
                "must be all zone ids or all zone names: a name is a different zone in each "
                "account, so a list mixing both can name one zone twice",
            )
        if existing is None and len(zones) > 8:
            add("network.availability_zones", "must be at most 8 zones")
        if existing is not None and zones:
            add("network.availability_zones", "must be empty when network.existing_vpc is set")
        if existing is not None and nat:
            add("network.nat_gateway", "cannot be turned on for an existing VPC")
    tags = raw.get("tags")
    if isinstance(tags, dict) and len({**tags, "environment": ""}) > MAX_STACK_TAGS:
        add(
            "tags",
            f"must hold at most {MAX_STACK_TAGS} tags with environment, not "
            f"{len({**tags, 'environment': ''})}: AWS allows {aws_tags.MAX_TAGS_PER_RESOURCE} "
            f"per resource and the components add up to {COMPONENT_TAGS_PER_RESOURCE} of their own",
        )
    remediation = view.get("remediation.enabled", "observability.alert_manager")
    if remediation and remediation[0] and not remediation[1]:
        add(
            "remediation.enabled",
            "needs observability.alert_manager: AMP's alert manager is what sends the alerts "
            "to the remediation function",
        )
    if (v := view.get("remediation.policy")) is not None:
        try:
            file_inside(project_dir, v[0])
        except ValueError as error:
            add("remediation.policy", str(error))
    if (v := view.get("slo.specs_dir")) is not None:
        try:
            folder_inside(project_dir, v[0])
        except ValueError as error:
            add("slo.specs_dir", str(error))
    return found


def _namespaces(
    values: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    spaces: dict[str, dict[str, Any]] = {PROJECT: {}, AWS: {}}
    found = []
    for full_key, value in values.items():
        namespace, colon, key = full_key.partition(":")
        if not colon or not namespace or not key:
            found.append((cut(full_key), "must be <namespace>:<key>, e.g. sre-platform:fleet"))
        elif namespace in spaces:
            spaces[namespace][key] = value
    return spaces, found


def _validate(
    model: type[BaseModel], value: Any, context: Mapping[str, Any] | None = None
) -> tuple[Any, list[Any]]:
    try:
        return model.model_validate(value, context=context), []
    except ValidationError as exc:
        return None, exc.errors()


PAGED_STACKS = ("prod",)  # stacks that must page someone
HTTPS_STACKS = ("prod",)  # stacks that must serve HTTPS (port 80 only redirects)


def _https_checks(stack: str, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A stack that must serve HTTPS names its certificate: (key, message) pairs."""
    fleet = raw.get("fleet")
    certificate = fleet.get("certificate_arn") if isinstance(fleet, dict) else None
    if stack in HTTPS_STACKS and not certificate:
        return [
            (
                "fleet.certificate_arn",
                f"must name an ACM certificate in {stack}: without one the load balancer "
                "serves plain HTTP (docs/stacks.md, HTTPS)",
            )
        ]
    return []


def _stack_checks(stack: str, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rules that depend on which stack this is: (key, message) pairs."""
    alerting = raw.get("alerting")
    receivers = alerting.get("receivers") if isinstance(alerting, dict) else None
    page = receivers.get("page") if isinstance(receivers, dict) else None
    if stack in PAGED_STACKS and not page:
        return [
            (
                "alerting.receivers.page",
                f"must list at least one receiver in {stack}: without one the page topic "
                "reaches nobody (docs/stacks.md, Subscriptions)",
            )
        ]
    return []


def parse_settings(
    stack: str,
    values: Mapping[str, Any],
    *,
    project_dir: Path,
    source: str | None = None,
    secret_keys: Iterable[str] = (),
) -> StackSettings:
    """Validate the config ``values`` (full keys such as ``sre-platform:fleet``) of ``stack``.

    Keys of other namespaces than ``sre-platform`` and ``aws`` are left to their owners.
    ``project_dir`` is where relative folders (``slo.specs_dir``) are, and what they must stay
    inside. ``secret_keys`` are the full keys the engine marks secret (a key holding a value
    set with ``pulumi config set --secret --path`` anywhere inside it). Raises
    :class:`StackConfigError` listing every problem, each naming its key.
    """
    problems: list[Problem] = []
    name_problem = stack_name_problem(stack)
    if name_problem:
        problems.append(Problem(name_problem, file=source))
    spaces, key_problems = _namespaces(values)
    problems += [Problem(m, file=source, field=k) for k, m in key_problems]
    secret_sections = {k.partition(":")[2] for k in secret_keys if k.startswith(f"{PROJECT}:")}
    platform, platform_errors = _validate(
        PlatformSettings, spaces[PROJECT], {"secret_sections": secret_sections}
    )
    aws, aws_errors = _validate(AwsSettings, spaces[AWS])
    for namespace, errors in ((PROJECT, platform_errors), (AWS, aws_errors)):
        problems += [
            Problem(_message(e), file=source, field=config_key(namespace, e["loc"])) for e in errors
        ]
    view = _View(spaces[PROJECT], platform_errors)
    problems += [
        Problem(message, file=source, field=f"{PROJECT}:{key}")
        for key, message in _cross_checks(view, spaces[PROJECT], project_dir)
        + _stack_checks(stack, spaces[PROJECT])
        + _https_checks(stack, spaces[PROJECT])
    ]
    if problems or platform is None or aws is None:
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = problems[:MAX_PROBLEMS]
            problems.append(Problem(f"... and {more:,} more problems not shown", file=source))
        raise StackConfigError(problems)
    return StackSettings(
        stack=stack,
        platform=platform,
        aws=aws,
        specs_path=folder_inside(project_dir, platform.slo.specs_dir),
        project_dir=project_dir,
    )


def load_stack_file(project_dir: Path, stack: str) -> StackSettings:
    """Read and validate ``Pulumi.<stack>.yaml`` (the offline path: render and tests)."""
    return parse_settings(
        stack,
        read_stack_config(project_dir, stack),
        project_dir=project_dir,
        source=stack_file(project_dir, stack).name,
    )


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            todo += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            todo += [(v, depth + 1) for v in item]
    return deepest


def decode_config_value(raw: Any) -> Any:
    """Decode one value as the Pulumi runtime hands it over (objects arrive as JSON text).

    Raises ValueError when the value is nested deeper than a config file may be.
    """
    if not isinstance(raw, str):
        return raw
    too_deep = f"nested deeper than {DEFAULT_LIMITS.max_depth} levels"
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError(too_deep) from None
    except ValueError:
        return raw
    if _depth(value) > DEFAULT_LIMITS.max_depth:
        raise ValueError(too_deep)
    return value


def encode_config_value(value: Any) -> str:
    """Encode one value the way the Pulumi engine passes config to a program."""
    return value if isinstance(value, str) else json.dumps(value)
