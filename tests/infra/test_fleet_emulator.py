"""The rendered prod fleet's new resources replayed against moto (in process): the artifacts
uploads, the load balancer's access logs, the HTTPS listener and the redirect, the launch
template with its AMI id. moto checks shapes and some references (it refuses a certificate it
does not hold); it does not check TLS policy names, bucket grants or IAM."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stacks.render import Rendering
from tests.infra.conftest import REGION
from tests.infra.test_emulator import pascal


def _one(rendering: Rendering, token: str) -> dict[str, Any]:
    (resource,) = rendering.of_type(token)
    return dict(resource.inputs)


def _load_balancer(rendering: Rendering) -> tuple[Any, str, str]:
    ec2, elb = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("abc")
    ]
    alb = _one(rendering, "aws:lb/loadBalancer:LoadBalancer")
    arn = elb.create_load_balancer(
        Name="fleet-alb", Subnets=subnets, Type=alb["loadBalancerType"], Scheme="internet-facing"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    group = _one(rendering, "aws:lb/targetGroup:TargetGroup")
    target_group = elb.create_target_group(
        Name="fleet-tg",
        Protocol=group["protocol"],
        Port=group["port"],
        VpcId=vpc,
        TargetType=group["targetType"],
        HealthCheckPath=group["healthCheck"]["path"],
    )["TargetGroups"][0]["TargetGroupArn"]
    return elb, arn, target_group


def _actions(actions: list[dict[str, Any]], target_group: str) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        if action["type"] == "forward":
            out.append({"Type": "forward", "TargetGroupArn": target_group})
        else:
            out.append({"Type": "redirect", "RedirectConfig": pascal(action["redirect"])})
    return out


def test_access_logs_go_to_the_logs_bucket(aws: None, renderings: dict) -> None:
    prod = renderings["prod"]
    logs = _one(prod, "aws:lb/loadBalancer:LoadBalancer")["accessLogs"]
    boto3.client("s3").create_bucket(Bucket=logs["bucket"])
    elb, arn, _ = _load_balancer(prod)
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn,
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": str(logs["enabled"]).lower()},
            {"Key": "access_logs.s3.bucket", "Value": logs["bucket"]},
            {"Key": "access_logs.s3.prefix", "Value": logs["prefix"]},
        ],
    )
    attributes = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == logs["bucket"]


def test_prod_listeners_need_a_real_certificate_and_redirect_http(
    aws: None, renderings: dict
) -> None:
    prod = renderings["prod"]
    elb, arn, target_group = _load_balancer(prod)
    listeners = {r.inputs["port"]: r.inputs for r in prod.of_type("aws:lb/listener:Listener")}
    https = listeners[443]

    def create(certificate: str) -> dict[str, Any]:
        return elb.create_listener(
            LoadBalancerArn=arn,
            Protocol=https["protocol"],
            Port=https["port"],
            SslPolicy=https["sslPolicy"],
            Certificates=[{"CertificateArn": certificate}],
            DefaultActions=_actions(https["defaultActions"], target_group),
        )["Listeners"][0]

    # The shipped placeholder exists nowhere: the listener is refused until it is replaced.
    with pytest.raises(ClientError, match="CertificateNotFound"):
        create(https["certificateArn"])
    real = boto3.client("acm").request_certificate(DomainName="exchange.example.com")
    assert create(real["CertificateArn"])["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    http = listeners[80]
    created = elb.create_listener(
        LoadBalancerArn=arn,
        Protocol=http["protocol"],
        Port=http["port"],
        DefaultActions=_actions(http["defaultActions"], target_group),
    )["Listeners"][0]
    assert created["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
        }
    ]


def test_the_artifacts_upload_with_their_sha256_and_the_template_takes_the_ami(
    aws: None, renderings: dict
) -> None:
    prod = renderings["prod"]
    s3 = boto3.client("s3")
    bucket = prod.outputs["artifacts_bucket"]
    s3.create_bucket(Bucket=bucket)
    for upload in prod.of_type("aws:s3/bucketObjectv2:BucketObjectv2"):
        inputs = upload.inputs
        path = Path(inputs["source"]["fileAsset"])
        body = path.read_bytes() if path.is_file() else b"a tool tarball not downloaded here"
        s3.put_object(
            Bucket=inputs["bucket"],
            Key=inputs["key"],
            Body=body,
            ChecksumAlgorithm=inputs["checksumAlgorithm"],
            ContentType=inputs["contentType"],
            Tagging="&".join(f"{k}={v}" for k, v in inputs["tags"].items()),
        )
        stored = s3.head_object(Bucket=bucket, Key=inputs["key"], ChecksumMode="ENABLED")
        assert base64.b64decode(stored["ChecksumSHA256"]) == hashlib.sha256(body).digest()
        if "sourceHash" in inputs:  # the service bundle: its hash is its content's
            assert inputs["sourceHash"] == hashlib.sha256(body).hexdigest()
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert {o["Key"].split("/")[0] for o in listed} == {"releases", "tools"}

    template = _one(prod, "aws:ec2/launchTemplate:LaunchTemplate")
    created = boto3.client("ec2").create_launch_template(
        LaunchTemplateName="fleet-lt",
        LaunchTemplateData={
            "ImageId": template["imageId"],
            "InstanceType": template["instanceType"],
            "UserData": template["userData"],
            "MetadataOptions": pascal(template["metadataOptions"]),
        },
    )["LaunchTemplate"]
    data = boto3.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=created["LaunchTemplateId"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == template["imageId"]
