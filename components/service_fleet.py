"""ServiceFleet: a self-healing EC2 fleet behind an application load balancer.

- healing: the Auto Scaling group uses the load balancer's health checks, so an instance that
  fails them is replaced;
- scaling: target tracking on CPU and on requests per target;
- safe change: every launch template change starts an instance refresh with checkpoints that
  rolls back by itself when one of the fleet's alarms fires;
- least privilege: the instance role can use SSM Session Manager (no SSH key, no port 22),
  remote-write to this AMP workspace, and read the artifacts it installs.
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

from components.policy_documents import assume_role, document, statement

TEMPLATE = Path(__file__).with_name("fleet_user_data.sh.j2")
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
ARTIFACT_PREFIXES = ("releases/", "tools/")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_SAFE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_URL = re.compile(r"^https?://[A-Za-z0-9._:/-]+$")


@dataclass(frozen=True)
class UserData:
    """What an instance needs to install and start its software."""

    service: str
    environment: str
    region: str
    bucket: str
    port: int
    service_version: str
    prometheus_version: str
    node_exporter_version: str
    remote_write_url: str

    @property
    def service_key(self) -> str:
        """Bucket key of the service release tarball."""
        return f"releases/{self.service}/{self.service_version}/{self.service}.tar.gz"

    @property
    def prometheus_key(self) -> str:
        """Bucket key of the upstream Prometheus release tarball."""
        return f"tools/prometheus-{self.prometheus_version}.linux-amd64.tar.gz"

    @property
    def node_exporter_key(self) -> str:
        """Bucket key of the upstream node_exporter release tarball."""
        return f"tools/node_exporter-{self.node_exporter_version}.linux-amd64.tar.gz"


def render_user_data(values: UserData) -> str:
    """Render the instance bootstrap script for ``values`` (validated, shell-quoted)."""
    for label, value in (("service", values.service), ("environment", values.environment)):
        if not _SAFE.match(value):
            raise ValueError(f"{label} {value!r} is not a lowercase name")
    if not _URL.match(values.remote_write_url):
        raise ValueError(f"remote write URL {values.remote_write_url!r} is not a plain URL")
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
        service_key=values.service_key,
        prometheus_key=values.prometheus_key,
        node_exporter_key=values.node_exporter_key,
    )


@dataclass(frozen=True)
class InstanceRefresh:
    """Rolling replacement settings: checkpoints, warm-up and the healthy floor."""

    checkpoint_percentages: Sequence[int] = (50, 100)
    checkpoint_delay_seconds: int = 300
    instance_warmup_seconds: int = 120
    min_healthy_percentage: int = 90


@dataclass(frozen=True)
class ServiceFleetArgs:
    """Arguments of :class:`ServiceFleet`."""

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
    min_size: int = 1
    max_size: int = 2
    desired_capacity: int = 1
    instance_type: str = "t3.small"
    image_id: str = (
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    volume_size_gb: int = 20
    port: int = 8080
    health_check_path: str = "/healthz"
    service_version: str = "0.1.0"
    prometheus_version: str = "3.5.0"
    node_exporter_version: str = "1.9.1"
    cpu_target_percent: float = 50.0
    requests_per_target: int = 1000
    certificate_arn: str | None = None
    ingress_cidrs: Sequence[str] = ("0.0.0.0/0",)
    artifacts_kms_key_arn: str | None = None
    rollback_alarm_names: Sequence[str] = ()
    instance_refresh: InstanceRefresh = field(default_factory=InstanceRefresh)
    protect: bool = False


def instance_policy(workspace_arn: str, bucket_arn: str, kms_key_arn: str | None = None) -> str:
    """Return the instance role's inline policy: AMP remote write, artifact reads."""
    statements = [
        statement(["aps:RemoteWrite"], [workspace_arn], sid="RemoteWriteToWorkspace"),
        statement(
            ["s3:GetObject"],
            [f"{bucket_arn}/{prefix}*" for prefix in ARTIFACT_PREFIXES],
            sid="ReadArtifacts",
        ),
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

        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[alb_sg.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.protect,
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
        if https:
            aws.lb.Listener(
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
            http_actions = [
                {
                    "type": "redirect",
                    "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"},
                }
            ]
        else:
            http_actions = forward
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=http_actions,
            tags=tags,
            opts=child,
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
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(args.amp_workspace_arn, args.artifacts_bucket_arn).apply(
                lambda arns: instance_policy(arns[0], arns[1], args.artifacts_kms_key_arn)
            ),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=tags, opts=child)

        user_data = pulumi.Output.all(args.artifacts_bucket_name, args.amp_remote_write_url).apply(
            lambda values: base64.b64encode(
                render_user_data(
                    UserData(
                        service=args.service,
                        environment=args.environment,
                        region=args.region,
                        bucket=values[0],
                        port=args.port,
                        service_version=args.service_version,
                        prometheus_version=args.prometheus_version,
                        node_exporter_version=args.node_exporter_version,
                        remote_write_url=values[1],
                    )
                ).encode()
            ).decode()
        )
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"{args.service} {args.environment} instances",
            image_id=args.image_id,
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
            opts=child,
        )

        refresh = args.instance_refresh
        preferences: dict[str, object] = {
            "checkpoint_percentages": list(refresh.checkpoint_percentages),
            "checkpoint_delay": str(refresh.checkpoint_delay_seconds),
            "instance_warmup": str(refresh.instance_warmup_seconds),
            "min_healthy_percentage": refresh.min_healthy_percentage,
            "auto_rollback": True,
            "skip_matching": True,
        }
        if args.rollback_alarm_names:
            preferences["alarm_specification"] = {"alarms": list(args.rollback_alarm_names)}
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
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
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
            opts=child,
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
