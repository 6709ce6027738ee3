"""The rendered flow logs, replayed against moto (in process): the logs bucket with its rendered
policy, the VPC, and CreateFlowLogs with the rendered destination, as the provider calls it."""

from __future__ import annotations

import boto3
import pytest


@pytest.mark.parametrize("stack", ["local", "prod"])
def test_the_flow_log_is_created_into_the_logs_bucket(
    aws: None, renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    (vpc,) = rendering.of_type("aws:ec2/vpc:Vpc")
    (flow,) = rendering.of_type("aws:ec2/flowLog:FlowLog")
    (logs_policy,) = [
        p for p in rendering.of_type("aws:s3/bucketPolicy:BucketPolicy") if p.parent == "logs"
    ]
    s3, ec2 = boto3.client("s3"), boto3.client("ec2")
    s3.create_bucket(Bucket=logs_policy.inputs["bucket"])
    s3.put_bucket_policy(Bucket=logs_policy.inputs["bucket"], Policy=logs_policy.inputs["policy"])
    vpc_id = ec2.create_vpc(CidrBlock=vpc.inputs["cidrBlock"])["Vpc"]["VpcId"]
    answer = ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType=flow.inputs["trafficType"],
        LogDestinationType=flow.inputs["logDestinationType"],
        LogDestination=flow.inputs["logDestination"],
        MaxAggregationInterval=flow.inputs["maxAggregationInterval"],
    )
    assert answer["Unsuccessful"] == []
    (created,) = ec2.describe_flow_logs()["FlowLogs"]
    assert created["LogDestination"] == flow.inputs["logDestination"]
    assert created["ResourceId"] == vpc_id
