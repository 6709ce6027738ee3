"""Network: a VPC whose private instances reach AWS through endpoints, not the internet.

Public subnets hold the load balancer only; instances live in private subnets without public
addresses. Interface endpoints (SSM for Session Manager, AMP remote write) and an S3 gateway
endpoint give them every AWS API they need; a NAT gateway exists only when asked. Flow logs
record the VPC's traffic into the logs bucket.

Zones are given by name (``us-east-1a``) or, better, by id (``use1-az1``): a name maps to a
different physical zone in each account, an id to the same one everywhere, so a zone id chosen
where the endpoint services and instance types are offered stays right in every account.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

INTERFACE_ENDPOINTS = ("ssm", "ssmmessages", "ec2messages", "aps-workspaces")
SUBNET_SLOTS = 16  # the VPC is cut into 16 equal blocks: public from 0, private from 8
# Flow records aggregated over 10 minutes (AWS's default; the other choice is 1 minute): a
# forensic trail read after the fact, at a tenth of the records.
FLOW_LOG_AGGREGATION_SECONDS = 600
# An availability zone id: use1-az1, apne1-az4, or a Local Zone's usw2-lax1-az1.
ZONE_ID = re.compile(r"[a-z]{3,6}[0-9]{1,2}(-[a-z]{3,4}[0-9]{1,2})?-az[0-9]{1,2}")


def is_zone_id(zone: str) -> bool:
    """True when ``zone`` is an availability zone id (``use1-az1``), not a name."""
    return ZONE_ID.fullmatch(zone) is not None


@dataclass(frozen=True)
class ExistingVpc:
    """A VPC made elsewhere: its id, CIDR, subnets and the private subnets' route tables."""

    vpc_id: str
    cidr_block: str
    public_subnet_ids: Sequence[str]
    private_subnet_ids: Sequence[str]
    private_route_table_ids: Sequence[str]


@dataclass(frozen=True)
class NetworkArgs:
    """Arguments of :class:`Network`: create a VPC across ``availability_zones`` (zone names or
    zone ids), or use ``existing``. ``vpc_endpoints`` adds the interface and S3 gateway
    endpoints; ``flow_logs_destination`` (an S3 bucket ARN, optionally with a folder) records
    all of the VPC's traffic there."""

    region: str
    tags: Mapping[str, str]
    cidr_block: str = "10.0.0.0/16"
    availability_zones: Sequence[str] = ()
    nat_gateway: bool = False
    vpc_endpoints: bool = True
    existing: ExistingVpc | None = None
    flow_logs_destination: pulumi.Input[str] | None = None


def subnet_cidrs(cidr_block: str, zones: int) -> tuple[list[str], list[str]]:
    """Return (public, private) subnet CIDRs, one of each per zone, carved from ``cidr_block``."""
    network = ipaddress.ip_network(cidr_block)
    blocks = list(network.subnets(prefixlen_diff=4))
    half = SUBNET_SLOTS // 2
    if zones > half:
        raise ValueError(f"at most {half} zones fit the subnet layout, got {zones}")
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[half : half + zones]]


class Network(pulumi.ComponentResource):
    """A VPC (new or existing) with public and private subnets and private AWS endpoints."""

    vpc_id: pulumi.Output[str]
    cidr_block: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    endpoints: tuple[aws.ec2.VpcEndpoint, ...]  # for depends_on: instances need them at boot
    flow_log: aws.ec2.FlowLog | None

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:network:Network", name, None, opts)
        self._name = name
        self._tags = dict(args.tags)
        if args.existing is not None:
            existing = args.existing
            vpc_id: pulumi.Input[str] = existing.vpc_id
            cidr = existing.cidr_block
            public_ids: list[pulumi.Input[str]] = list(existing.public_subnet_ids)
            private_ids: list[pulumi.Input[str]] = list(existing.private_subnet_ids)
            route_tables: list[pulumi.Input[str]] = list(existing.private_route_table_ids)
        else:
            vpc_id, public_ids, private_ids, route_tables = self._create(args)
            cidr = args.cidr_block
        self.endpoints = ()
        if args.vpc_endpoints:
            self.endpoints = self._endpoints(args.region, vpc_id, cidr, private_ids, route_tables)
        self.flow_log = None
        if args.flow_logs_destination is not None:
            self.flow_log = aws.ec2.FlowLog(
                f"{name}-flow-log",
                vpc_id=vpc_id,
                log_destination=args.flow_logs_destination,
                log_destination_type="s3",
                traffic_type="ALL",
                max_aggregation_interval=FLOW_LOG_AGGREGATION_SECONDS,
                tags=self._named(f"{name}-flow-log"),
                opts=self._opts(),
            )

        self.vpc_id = pulumi.Output.from_input(vpc_id)
        self.cidr_block = pulumi.Output.from_input(cidr)
        self.public_subnet_ids = pulumi.Output.all(*public_ids)
        self.private_subnet_ids = pulumi.Output.all(*private_ids)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "cidr_block": self.cidr_block,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _opts(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)  # type: ignore[arg-type]

    def _named(self, name: str) -> dict[str, str]:
        return {**self._tags, "Name": name}

    def _create(
        self, args: NetworkArgs
    ) -> tuple[
        pulumi.Input[str], list[pulumi.Input[str]], list[pulumi.Input[str]], list[pulumi.Input[str]]
    ]:
        name = self._name
        zones = list(args.availability_zones)
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr_block, len(zones))
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self._named(f"{name}-vpc"),
            opts=self._opts(),
        )
        # The default security group allows all traffic between its members: empty it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            tags=self._named(f"{name}-default"),
            opts=self._opts(),
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._named(f"{name}-igw"), opts=self._opts()
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=self._named(f"{name}-public"),
            opts=self._opts(),
        )
        public_ids: list[pulumi.Input[str]] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for index, zone in enumerate(zones):
            where = {"availability_zone_id" if is_zone_id(zone) else "availability_zone": zone}
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[index],
                **where,
                map_public_ip_on_launch=False,
                tags={**self._named(f"{name}-public-{zone}"), "tier": "public"},
                opts=self._opts(),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}-rta",
                subnet_id=public.id,
                route_table_id=public_rt.id,
                opts=self._opts(),
            )
            public_ids.append(public.id)
            private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{zone}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[index],
                    **where,
                    map_public_ip_on_launch=False,
                    tags={**self._named(f"{name}-private-{zone}"), "tier": "private"},
                    opts=self._opts(),
                )
            )
        routes = []
        if args.nat_gateway:
            eip = aws.ec2.Eip(
                f"{name}-nat-eip",
                domain="vpc",
                tags=self._named(f"{name}-nat"),
                opts=self._opts(),
            )
            nat = aws.ec2.NatGateway(
                f"{name}-nat",
                allocation_id=eip.id,
                subnet_id=public_ids[0],
                tags=self._named(f"{name}-nat"),
                opts=self._opts(depends_on=[igw]),
            )
            routes.append({"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id})
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=vpc.id,
            routes=routes,
            tags=self._named(f"{name}-private"),
            opts=self._opts(),
        )
        for zone, subnet in zip(zones, private_subnets, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}-rta",
                subnet_id=subnet.id,
                route_table_id=private_rt.id,
                opts=self._opts(),
            )
        return vpc.id, public_ids, [s.id for s in private_subnets], [private_rt.id]

    def _endpoints(
        self,
        region: str,
        vpc_id: pulumi.Input[str],
        cidr: str,
        private_ids: list[pulumi.Input[str]],
        route_tables: list[pulumi.Input[str]],
    ) -> tuple[aws.ec2.VpcEndpoint, ...]:
        name = self._name
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            description="HTTPS from inside the VPC to the interface endpoints",
            vpc_id=vpc_id,
            ingress=[
                {
                    "description": "HTTPS from the VPC",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": [cidr],
                }
            ],
            egress=[],
            tags=self._named(f"{name}-endpoints"),
            opts=self._opts(),
        )
        endpoints = [
            aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=vpc_id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=private_ids,
                security_group_ids=[sg.id],
                tags=self._named(f"{name}-{service}"),
                opts=self._opts(),
            )
            for service in INTERFACE_ENDPOINTS
        ]
        gateway = aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_tables,
            tags=self._named(f"{name}-s3"),
            opts=self._opts(),
        )
        return (*endpoints, gateway)
