"""ServiceFleet: a self-healing EC2 fleet behind an application load balancer.

- healing: the Auto Scaling group uses the load balancer's health checks, so an instance that
  fails them is replaced;
- scaling: target tracking on CPU and on requests per target;
- safe change: every launch template change starts an instance refresh with checkpoints that
  stops by itself when one of the fleet's alarms fires, and that the remediation function
  (components/remediation.py) stops when an SLO page arrives during a checkpoint's wait (no
  automatic rollback: the provider switches the group to the new template version before it
  starts the refresh, so there is nothing to roll back to; see docs/stacks.md, "Rolling out
  and rolling back", and docs/remediation.md);
- a first deployment boots: the artifacts the instances install are uploaded by this component
  before the group exists, the AMI is a concrete id, and every fetch at boot is retried;
- least privilege: the instance role can use SSM Session Manager (no SSH key, no port 22),
  remote-write to this AMP workspace, and read the artifacts it installs;
- HTTPS with a certificate (HTTP then only redirects), access logs to the logs bucket.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pulumi
import pulumi_aws as aws

from artifacts import Artifact, FleetArtifacts
from components.policy_documents import assume_role, document, statement

TEMPLATE = Path(__file__).with_name("fleet_user_data.sh.j2")
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
ARTIFACT_PREFIXES = ("releases/", "tools/")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
SSM_IMAGE_PREFIX = "resolve:ssm:"
# Every fetch at boot: at most 10 tries, 1 s apart at first, doubling up to 16 s between tries
# (1+2+4+8+16*5 = 95 s of waiting before the script gives up and the instance is replaced).
FETCH_ATTEMPTS = 10
FETCH_MAX_DELAY_SECONDS = 16
UNKNOWN_SHA256 = "unknown"  # rendered when a checksum is not known; the script refuses it
_SAFE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_URL = re.compile(r"^https?://[A-Za-z0-9._:/-]+$")
_KEY = re.compile(r"^(releases|tools)/[A-Za-z0-9._+/-]{1,900}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class UserData:
    """What an instance needs to install and start its software.

    ``service``, ``node_exporter`` and ``prometheus`` are the artifacts it fetches from
    ``bucket`` (key and SHA-256 each).
    """

    service: str
    environment: str
    region: str
    bucket: str
    port: int
    remote_write_url: str
    service_artifact: Artifact
    node_exporter_artifact: Artifact
    prometheus_artifact: Artifact


def render_user_data(values: UserData) -> str:
    """Render the instance bootstrap script for ``values`` (validated, shell-quoted)."""
    for label, value in (("service", values.service), ("environment", values.environment)):
        if not _SAFE.match(value):
            raise ValueError(f"{label} {value!r} is not a lowercase name")
    if not _URL.match(values.remote_write_url):
        raise ValueError(f"remote write URL {values.remote_write_url!r} is not a plain URL")
    artifacts = {
        "service": values.service_artifact,
        "node_exporter": values.node_exporter_artifact,
        "prometheus": values.prometheus_artifact,
    }
    for label, artifact in artifacts.items():
        if not _KEY.match(artifact.key) or ".." in artifact.key.split("/"):
            raise ValueError(f"{label} key {artifact.key!r} is not a releases/ or tools/ key")
        if artifact.sha256 is not None and not _SHA256.match(artifact.sha256):
            raise ValueError(f"{label} SHA-256 {artifact.sha256!r} is not 64 hex digits")
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        service=values.service,
        environment=values.environment,
        region=values.region,
        bucket=values.bucket,
        port=values.port,
        remote_write_url=values.remote_write_url,
        fetch_attempts=FETCH_ATTEMPTS,
        fetch_max_delay=FETCH_MAX_DELAY_SECONDS,
        **{f"{label}_key": a.key for label, a in artifacts.items()},
        **{f"{label}_sha256": a.sha256 or UNKNOWN_SHA256 for label, a in artifacts.items()},
    )


def concrete_ami(image_id: str | None) -> str:
    """``image_id`` when it is an AMI id (ami-...); a ValueError otherwise.

    A launch template whose image is an SSM parameter (``resolve:ssm:``) cannot be rolled back
    to, and changes behind the template's back; the program resolves parameters at deploy time.
    """
    if not isinstance(image_id, str) or not _AMI.match(image_id):
        raise ValueError(
            f"the launch template needs an AMI id (ami-...), got {image_id!r}: resolve an SSM "
            "parameter with resolve_image_id first"
        )
    return image_id


def resolve_image_id(
    image: str, opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Output[str]:
    """The AMI id ``image`` names: itself (ami-...), or the value of the SSM parameter after
    ``resolve:ssm:``, read now (at deploy time) so the launch template holds a concrete id."""
    if image.startswith(SSM_IMAGE_PREFIX):
        parameter = aws.ssm.get_parameter_output(name=image[len(SSM_IMAGE_PREFIX) :], opts=opts)
        # insecure_value: an AMI id is public; `value` would make the image id a secret.
        return parameter.insecure_value.apply(concrete_ami)
    return pulumi.Output.from_input(concrete_ami(image))


@dataclass(frozen=True)
class InstanceRefresh:
    """Rolling replacement settings: checkpoints, warm-up and the healthy floor.

    After each checkpoint the refresh waits ``checkpoint_delay_seconds``: the window in which a
    CloudWatch alarm of the alarm specification, or an SLO page through the remediation
    function, stops it before more instances get the new version.
    """

    checkpoint_percentages: Sequence[int] = (50, 100)
    checkpoint_delay_seconds: int = 300
    instance_warmup_seconds: int = 120
    min_healthy_percentage: int = 90


@dataclass(frozen=True)
class AccessLogs:
    """Where the load balancer writes its access logs: a bucket and a key prefix.

    AWS checks that it may write there when access logs are switched on, so ``bucket`` should
    resolve only once the bucket policy grants Elastic Load Balancing (as
    ``SecureBucket.elb_access_logs`` does): the load balancer then waits for the grant.
    """

    bucket: pulumi.Input[str]
    prefix: str


@dataclass(frozen=True)
class ServiceFleetArgs:
    """Arguments of :class:`ServiceFleet`.

    ``image_id`` must be a concrete AMI id (see :func:`resolve_image_id`). ``artifacts`` are
    uploaded to the artifacts bucket before the group exists. ``boot_dependencies`` are
    resources the instances need at boot that none of the inputs reference (the network's VPC
    endpoints): the group waits for them.
    """

    service: str
    environment: str
    region: str
    tags: Mapping[str, str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    artifacts_bucket_name: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    amp_workspace_arn: pulumi.Input[str]
    amp_remote_write_url: pulumi.Input[str]
    image_id: pulumi.Input[str]
    artifacts: FleetArtifacts
    access_logs: AccessLogs | None = None
    boot_dependencies: Sequence[pulumi.Resource] = ()
    min_size: int = 1
    max_size: int = 2
    desired_capacity: int = 1
    instance_type: str = "t3.small"
    volume_size_gb: int = 20
    port: int = 8080
    health_check_path: str = "/healthz"
    cpu_target_percent: float = 50.0
    requests_per_target: int = 1000
    certificate_arn: str | None = None
    ingress_cidrs: Sequence[str] = ("0.0.0.0/0",)
    artifacts_kms_key_arn: str | None = None
    refresh_alarm_names: Sequence[str] = ()
    instance_refresh: InstanceRefresh = field(default_factory=InstanceRefresh)
    protect: bool = False


def instance_policy(workspace_arn: str, bucket_arn: str, kms_key_arn: str | None = None) -> str:
    """Return the instance role's inline policy: AMP remote write, artifact reads.

    ``s3:ListBucket`` on the artifacts bucket makes a missing key a 404 (NoSuchKey) instead of
    a 403 (S3 answers 403 to callers who may not list). It carries no ``s3:prefix`` condition:
    a GetObject or HeadObject request has no prefix a condition could match (how S3 evaluates
    one for this check is not documented; unverified), and the bucket holds only artifacts.
    """
    statements = [
        statement(["aps:RemoteWrite"], [workspace_arn], sid="RemoteWriteToWorkspace"),
        statement(
            ["s3:GetObject"],
            [f"{bucket_arn}/{prefix}*" for prefix in ARTIFACT_PREFIXES],
            sid="ReadArtifacts",
        ),
        statement(["s3:ListBucket"], [bucket_arn], sid="MissingArtifactsAre404"),
    ]
    if kms_key_arn:
        statements.append(statement(["kms:Decrypt"], [kms_key_arn], sid="DecryptArtifacts"))
    return document(*statements)


class ServiceFleet(pulumi.ComponentResource):
    """Load balancer, target group, launch template, Auto Scaling group, scaling, role."""

    load_balancer_dns_name: pulumi.Output[str]
    load_balancer_arn_suffix: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceFleetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:fleet:ServiceFleet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        image_id = (
            concrete_ami(args.image_id)  # refused before anything is declared
            if isinstance(args.image_id, str)
            else pulumi.Output.from_input(args.image_id).apply(concrete_ami)
        )
        tags = dict(args.tags)
        https = args.certificate_arn is not None
        listener_ports = (80, 443) if https else (80,)

        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            description=f"{args.service} load balancer: HTTP(S) in, service port out",
            vpc_id=args.vpc_id,
            ingress=[
                {
                    "description": f"listener {port}",
                    "protocol": "tcp",
                    "from_port": port,
                    "to_port": port,
                    "cidr_blocks": list(args.ingress_cidrs),
                }
                for port in listener_ports
            ],
            egress=[
                {
                    "description": "to the instances",
                    "protocol": "tcp",
                    "from_port": args.port,
                    "to_port": args.port,
                    "cidr_blocks": [args.vpc_cidr],
                }
            ],
            tags={**tags, "Name": f"{name}-alb", "role": "load-balancer"},
            opts=child,
        )
        instance_sg = aws.ec2.SecurityGroup(
            f"{name}-instance-sg",
            description=f"{args.service} instances: service port from the load balancer only",
            vpc_id=args.vpc_id,
            ingress=[
                {
                    "description": "service port from the load balancer",
                    "protocol": "tcp",
                    "from_port": args.port,
                    "to_port": args.port,
                    "security_groups": [alb_sg.id],
                }
            ],
            egress=[
                {
                    "description": "HTTPS to AWS endpoints",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": ["0.0.0.0/0"],
                }
            ],
            tags={**tags, "Name": f"{name}-instances"},
            opts=child,
        )

        access_logs = None
        if args.access_logs is not None:
            access_logs = {
                "bucket": args.access_logs.bucket,
                "prefix": args.access_logs.prefix,
                "enabled": True,
            }
        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[alb_sg.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.protect,
            access_logs=access_logs,
            tags=tags,
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=args.port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "enabled": True,
                "path": args.health_check_path,
                "protocol": "HTTP",
                "matcher": "200",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags=tags,
            opts=child,
        )
        forward = [{"type": "forward", "target_group_arn": target_group.arn}]
        listeners = []
        if https:
            https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=args.certificate_arn,
                default_actions=forward,
                tags=tags,
                opts=child,
            )
            listeners.append(https_listener)
            http_actions = [
                {
                    "type": "redirect",
                    "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"},
                }
            ]
        else:
            http_actions = forward
        listeners.append(
            aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=http_actions,
                tags=tags,
                opts=child,
            )
        )

        role = aws.iam.Role(
            f"{name}-role",
            description=f"{args.service} instances: SSM, AMP remote write, artifact reads",
            assume_role_policy=assume_role("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core", role=role.name, policy_arn=SSM_CORE_POLICY, opts=child
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(args.amp_workspace_arn, args.artifacts_bucket_arn).apply(
                lambda arns: instance_policy(arns[0], arns[1], args.artifacts_kms_key_arn)
            ),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=tags, opts=child)

        staged = [
            aws.s3.BucketObjectv2(
                f"{name}-artifact-{label}",
                bucket=args.artifacts_bucket_name,
                key=artifact.key,
                source=pulumi.FileAsset(str(artifact.path)),
                # The content's hash: a changed file is uploaded again on the next `up`.
                source_hash=artifact.sha256,
                checksum_algorithm="SHA256",
                content_type="application/gzip",
                tags=tags,
                opts=child,
            )
            for label, artifact in (
                ("service", args.artifacts.service),
                ("node-exporter", args.artifacts.node_exporter),
                ("prometheus", args.artifacts.prometheus),
            )
        ]

        user_data = pulumi.Output.all(args.artifacts_bucket_name, args.amp_remote_write_url).apply(
            lambda values: base64.b64encode(
                render_user_data(
                    UserData(
                        service=args.service,
                        environment=args.environment,
                        region=args.region,
                        bucket=values[0],
                        port=args.port,
                        remote_write_url=values[1],
                        service_artifact=args.artifacts.service,
                        node_exporter_artifact=args.artifacts.node_exporter,
                        prometheus_artifact=args.artifacts.prometheus,
                    )
                ).encode()
            ).decode()
        )
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"{args.service} {args.environment} instances",
            image_id=image_id,
            instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn},
            vpc_security_group_ids=[instance_sg.id],
            user_data=user_data,
            update_default_version=True,
            ebs_optimized="true",
            monitoring={"enabled": True},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": args.volume_size_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[
                {"resource_type": "instance", "tags": tags},
                {"resource_type": "volume", "tags": tags},
            ],
            tags=tags,
            # IAM is eventually consistent: the role's permissions exist before any instance
            # can start from this template (the retries at boot cover propagation).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        refresh = args.instance_refresh
        preferences: dict[str, object] = {
            "checkpoint_percentages": list(refresh.checkpoint_percentages),
            "checkpoint_delay": str(refresh.checkpoint_delay_seconds),
            "instance_warmup": str(refresh.instance_warmup_seconds),
            "min_healthy_percentage": refresh.min_healthy_percentage,
            # Off on purpose: the provider points the group at the new template version before
            # it starts the refresh (terraform-provider-aws#34189) and passes no desired
            # configuration, so a rollback would restore the new version. The alarms below stop
            # a bad refresh instead, and so does the remediation function on an SLO page (its
            # RollbackInstanceRefresh is refused, it cancels); reverting is a new `pulumi up`.
            "auto_rollback": False,
            "skip_matching": True,
        }
        if args.refresh_alarm_names:
            preferences["alarm_specification"] = {"alarms": list(args.refresh_alarm_names)}
        group = aws.autoscaling.Group(
            f"{name}-asg",
            name_prefix=f"{args.service}-{args.environment}-",
            vpc_zone_identifiers=args.private_subnet_ids,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            health_check_type="ELB",
            health_check_grace_period=120,
            default_instance_warmup=refresh.instance_warmup_seconds,
            target_group_arns=[target_group.arn],
            launch_template={"id": launch_template.id, "version": launch_template.latest_version},
            instance_refresh={"strategy": "Rolling", "preferences": preferences},
            enabled_metrics=[
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupTerminatingInstances",
            ],
            metrics_granularity="1Minute",
            tags=[
                {"key": key, "value": value, "propagate_at_launch": True}
                for key, value in tags.items()
            ],
            # Instances start only once what they fetch at boot is in place: the artifacts,
            # the network's endpoints, and the listeners that attach the target group.
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["desiredCapacity"],
                depends_on=[*staged, *listeners, *args.boot_dependencies],
            ),
        )
        aws.autoscaling.Policy(
            f"{name}-cpu-tracking",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ASGAverageCPUUtilization"
                },
                "target_value": args.cpu_target_percent,
            },
            opts=child,
        )
        aws.autoscaling.Policy(
            f"{name}-requests-tracking",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ALBRequestCountPerTarget",
                    "resource_label": pulumi.Output.concat(
                        alb.arn_suffix, "/", target_group.arn_suffix
                    ),
                },
                "target_value": float(args.requests_per_target),
            },
            # ALBRequestCountPerTarget needs the target group attached to the load balancer,
            # which the listeners do.
            opts=pulumi.ResourceOptions(parent=self, depends_on=listeners),
        )

        scheme = "https" if https else "http"
        self.load_balancer_dns_name = alb.dns_name
        self.load_balancer_arn_suffix = alb.arn_suffix
        self.target_group_arn_suffix = target_group.arn_suffix
        self.autoscaling_group_name = group.name
        self.role_arn = role.arn
        self.url = pulumi.Output.concat(f"{scheme}://", alb.dns_name)
        self.register_outputs(
            {
                "load_balancer_dns_name": self.load_balancer_dns_name,
                "load_balancer_arn_suffix": self.load_balancer_arn_suffix,
                "target_group_arn_suffix": self.target_group_arn_suffix,
                "autoscaling_group_name": self.autoscaling_group_name,
                "role_arn": self.role_arn,
                "url": self.url,
            }
        )
