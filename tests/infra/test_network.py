"""Network: private instances reach AWS through endpoints; NAT only when asked."""

from __future__ import annotations

import ipaddress

import pytest

from components.network import INTERFACE_ENDPOINTS, ExistingVpc, Network, NetworkArgs, subnet_cidrs
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


def test_instances_get_ssm_amp_logs_and_s3_endpoints_and_no_nat_by_default() -> None:
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
