"""Network: private instances reach AWS through endpoints; NAT only when asked."""

from __future__ import annotations

import ipaddress

import pulumi
import pytest

from components.network import (
    FLOW_LOG_AGGREGATION_SECONDS,
    INTERFACE_ENDPOINTS,
    ExistingVpc,
    Network,
    NetworkArgs,
    is_zone_id,
    subnet_cidrs,
)
from tests.infra.conftest import TAGS, declare, of_type

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
SUBNET = "aws:ec2/subnet:Subnet"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def _network(**options: object) -> dict:
    args = {"region": "us-east-1", "tags": TAGS, "availability_zones": ZONES, **options}
    return declare(lambda: Network("net", NetworkArgs(**args)))


@pytest.mark.parametrize(
    "zones",
    [
        pytest.param(1, id="one zone gets one public and one private subnet"),
        pytest.param(2, id="two zones (dev) get disjoint subnets"),
        pytest.param(3, id="three zones (prod) get disjoint subnets"),
        pytest.param(8, id="eight zones, the most the layout holds, still fit"),
    ],
)
def test_subnets_are_disjoint_and_inside_the_vpc(zones: int) -> None:
    public, private = subnet_cidrs("10.0.0.0/16", zones)
    networks = [ipaddress.ip_network(c) for c in public + private]
    assert len(public) == len(private) == zones
    assert all(n.subnet_of(ipaddress.ip_network("10.0.0.0/16")) for n in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_more_zones_than_the_layout_holds_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 8 zones"):
        subnet_cidrs("10.0.0.0/16", 9)


def test_a_new_vpc_has_a_public_and_a_private_subnet_per_zone() -> None:
    r = _network()
    subnets = of_type(r, SUBNET)
    public = [s for s in subnets if s.inputs["tags"]["tier"] == "public"]
    private = [s for s in subnets if s.inputs["tags"]["tier"] == "private"]
    assert sorted(s.inputs["availabilityZone"] for s in public) == list(ZONES)
    assert sorted(s.inputs["availabilityZone"] for s in private) == list(ZONES)
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)
    assert r["net-vpc"].inputs["enableDnsHostnames"] is True


def test_instances_get_ssm_amp_and_s3_endpoints_and_no_nat_by_default() -> None:
    r = _network()
    endpoints = {e.inputs["serviceName"]: e.inputs for e in of_type(r, ENDPOINT)}
    for service in INTERFACE_ENDPOINTS:
        interface = endpoints[f"com.amazonaws.us-east-1.{service}"]
        assert interface["vpcEndpointType"] == "Interface"
        assert interface["privateDnsEnabled"] is True
        assert len(interface["subnetIds"]) == len(ZONES)
    s3 = endpoints["com.amazonaws.us-east-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway"
    (route_table,) = s3["routeTableIds"]
    assert route_table.startswith("net-private-rt-")  # the mock id of the private route table
    assert of_type(r, "aws:ec2/natGateway:NatGateway") == []
    assert r["net-private-rt"].inputs.get("routes", []) == []
    assert {"ssm", "ssmmessages", "ec2messages"} <= set(INTERFACE_ENDPOINTS)
    assert len(endpoints) == len(INTERFACE_ENDPOINTS) + 1


def test_no_endpoint_is_paid_for_that_nothing_uses() -> None:
    # Nothing on the instances ships to CloudWatch Logs: the logs endpoint only cost money.
    services = {e.inputs["serviceName"] for e in of_type(_network(), ENDPOINT)}
    assert "com.amazonaws.us-east-1.logs" not in services


def test_the_endpoints_accept_https_from_the_vpc_only() -> None:
    (rule,) = _network(cidr_block="10.9.0.0/16")["net-endpoints-sg"].inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (443, 443, ["10.9.0.0/16"])


def test_a_nat_gateway_exists_only_when_turned_on() -> None:
    r = _network(nat_gateway=True)
    (nat,) = of_type(r, "aws:ec2/natGateway:NatGateway")
    (route,) = r["net-private-rt"].inputs["routes"]
    assert route["cidrBlock"] == "0.0.0.0/0" and "natGatewayId" in route
    assert nat.parent == "net"


def test_endpoints_can_be_switched_off() -> None:
    assert of_type(_network(vpc_endpoints=False), ENDPOINT) == []


def test_an_existing_vpc_is_used_as_it_is() -> None:
    existing = ExistingVpc(
        vpc_id="vpc-1",
        cidr_block="172.16.0.0/16",
        public_subnet_ids=("subnet-a", "subnet-b"),
        private_subnet_ids=("subnet-c", "subnet-d"),
        private_route_table_ids=("rtb-1",),
    )
    r = _network(existing=existing, availability_zones=())
    assert of_type(r, "aws:ec2/vpc:Vpc") == [] and of_type(r, SUBNET) == []
    endpoints = of_type(r, ENDPOINT)
    assert {e.inputs["vpcId"] for e in endpoints} == {"vpc-1"}
    gateway = next(e for e in endpoints if e.inputs["vpcEndpointType"] == "Gateway")
    assert gateway.inputs["routeTableIds"] == ["rtb-1"]
    interface = next(e for e in endpoints if e.inputs["vpcEndpointType"] == "Interface")
    assert interface.inputs["subnetIds"] == ["subnet-c", "subnet-d"]


def test_every_network_resource_is_tagged() -> None:
    for resource in _network(nat_gateway=True).values():
        if "tags" in resource.inputs:
            assert TAGS.items() <= resource.inputs["tags"].items()


FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DESTINATION = "arn:aws:s3:::logs-bucket"


@pytest.mark.parametrize(
    "existing",
    [
        pytest.param(None, id="a new VPC records its traffic to the logs bucket"),
        pytest.param(
            ExistingVpc("vpc-1", "172.16.0.0/16", ("subnet-a",), ("subnet-c",), ("rtb-1",)),
            id="an existing VPC records its traffic to the logs bucket too",
        ),
    ],
)
def test_the_vpc_has_flow_logs_to_s3(existing: ExistingVpc | None) -> None:
    zones = () if existing else ZONES
    r = _network(flow_logs_destination=DESTINATION, existing=existing, availability_zones=zones)
    (flow,) = of_type(r, FLOW_LOG)
    assert flow.inputs["logDestination"] == DESTINATION
    assert flow.inputs["logDestinationType"] == "s3"
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["maxAggregationInterval"] == FLOW_LOG_AGGREGATION_SECONDS == 600
    assert TAGS.items() <= flow.inputs["tags"].items()
    if existing is None:
        assert flow.dependencies["vpcId"] == ("net-vpc",)
    else:
        assert flow.inputs["vpcId"] == "vpc-1"


def test_without_a_destination_there_is_no_flow_log() -> None:
    assert of_type(_network(), FLOW_LOG) == []


@pytest.mark.parametrize(
    ("vpc_endpoints", "count"),
    [
        pytest.param(True, len(INTERFACE_ENDPOINTS) + 1, id="every endpoint is exported"),
        pytest.param(False, 0, id="no endpoints, nothing to wait for"),
    ],
)
def test_the_endpoints_are_exported_for_depends_on(vpc_endpoints: bool, count: int) -> None:
    exported: list[str] = []

    def program() -> None:
        network = Network(
            "net",
            NetworkArgs(
                region="us-east-1",
                tags=TAGS,
                availability_zones=ZONES,
                vpc_endpoints=vpc_endpoints,
            ),
        )
        for endpoint in network.endpoints:
            assert isinstance(endpoint, pulumi.Resource)
            endpoint.urn.apply(exported.append)

    declared = declare(program)
    assert len(exported) == count
    assert sorted(u.rsplit("::", 1)[1] for u in exported) == sorted(
        e.name for e in of_type(declared, ENDPOINT)
    )


@pytest.mark.parametrize(
    ("zone", "field"),
    [
        pytest.param("us-east-1a", "availabilityZone", id="a zone name is passed as a name"),
        pytest.param(
            "use1-az4",
            "availabilityZoneId",
            id="a zone id is passed as an id (same zone in every account)",
        ),
        pytest.param("usw2-lax1-az1", "availabilityZoneId", id="a Local Zone id is an id too"),
    ],
)
def test_subnets_take_zone_names_or_zone_ids(zone: str, field: str) -> None:
    subnets = of_type(_network(availability_zones=(zone,)), SUBNET)
    assert len(subnets) == 2
    assert all(s.inputs[field] == zone for s in subnets)
    other = "availabilityZoneId" if field == "availabilityZone" else "availabilityZone"
    assert not any(other in s.inputs for s in subnets)
    assert is_zone_id(zone) is (field == "availabilityZoneId")
