"""The security baseline: it holds on every stack, and deliberately bad resources are caught."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from policy.baseline import (
    RESOURCE_RULES,
    STACK_RULES,
    Resource,
    Violation,
    check_resource,
    check_stack,
    is_taggable,
)
from policy.pack import policies
from stacks.render import Rendering
from tests.infra.conftest import STACKS

TAGS = {"service": "exchange", "environment": "dev", "owner": "sre-team"}
OPEN = "0.0.0.0/0"
AMP_WORKSPACE = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/"
SIGV4 = json.dumps({"sigV4Auth": True, "sigV4AuthType": "ec2_iam_role", "sigV4Region": "us-east-1"})


def _resources(rendering: Rendering) -> list[Resource]:
    return [
        Resource(r.type, r.name, r.parent, r.inputs, r.dependencies) for r in rendering.resources
    ]


def _admin(effect: str = "Allow", action: Any = "*", resource: Any = "*") -> str:
    statement = {"Effect": effect, "Action": action, "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _rule(port: int, cidr: str = OPEN, to_port: int | None = None, protocol: str = "tcp") -> dict:
    return {"protocol": protocol, "fromPort": port, "toPort": to_port or port, "cidrBlocks": [cidr]}


@pytest.mark.parametrize("stack", STACKS)
def test_the_baseline_holds_on_every_stack(renderings: dict, stack: str) -> None:
    assert [str(v) for v in check_stack(_resources(renderings[stack]))] == []


BAD = [
    pytest.param(
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"tags": TAGS, "metadataOptions": {"httpTokens": "optional"}},
        "imdsv2-required",
        id="a launch template that allows IMDSv1 is caught",
    ),
    pytest.param(
        "aws:ec2/launchTemplate:LaunchTemplate",
        {
            "tags": TAGS,
            "metadataOptions": {"httpTokens": "required"},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 8}}],
        },
        "volumes-encrypted",
        id="an unencrypted launch template disk is caught",
    ),
    pytest.param(
        "aws:ec2/instance:Instance",
        {"tags": TAGS, "metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {}},
        "volumes-encrypted",
        id="an instance with an unencrypted root volume is caught",
    ),
    pytest.param(
        "aws:ebs/volume:Volume",
        {"tags": TAGS, "size": 10},
        "volumes-encrypted",
        id="an unencrypted EBS volume is caught",
    ),
    pytest.param(
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"tags": TAGS, "metadataOptions": {"httpTokens": "required"}, "keyName": "ops"},
        "no-ssh-keys",
        id="an SSH key pair on a launch template is caught",
    ),
    pytest.param(
        "aws:ec2/securityGroup:SecurityGroup",
        {"tags": TAGS, "ingress": [_rule(8080)]},
        "no-open-ingress",
        id="the service port open to the internet is caught",
    ),
    pytest.param(
        "aws:ec2/securityGroup:SecurityGroup",
        {"tags": TAGS, "ingress": [_rule(443)]},
        "no-open-ingress",
        id="HTTPS open to the internet outside the load balancer's group is caught",
    ),
    pytest.param(
        "aws:ec2/securityGroup:SecurityGroup",
        {"tags": {**TAGS, "role": "load-balancer"}, "ingress": [_rule(0, to_port=65535)]},
        "no-open-ingress",
        id="the load balancer's group open on every port is caught",
    ),
    pytest.param(
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "tags": TAGS,
            "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}],
        },
        "no-open-ingress",
        id="all traffic from the IPv6 internet is caught",
    ),
    pytest.param(
        "aws:ec2/securityGroup:SecurityGroup",
        {"tags": TAGS, "ingress": [_rule(22, cidr="10.0.0.0/8")]},
        "no-ssh-ingress",
        id="SSH from inside the network is still caught",
    ),
    pytest.param(
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"type": "ingress", **_rule(20, to_port=25, cidr="10.0.0.0/8")},
        "no-ssh-ingress",
        id="a port range that includes 22 is caught",
    ),
    pytest.param(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"tags": TAGS, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": OPEN},
        "no-open-ingress",
        id="a standalone ingress rule from the internet is caught",
    ),
    pytest.param(
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": _admin()},
        "no-admin-statements",
        id="an inline role policy allowing * on * is caught",
    ),
    pytest.param(
        "aws:iam/policy:Policy",
        {"tags": TAGS, "policy": _admin(action=["s3:GetObject", "*"], resource=["*"])},
        "no-admin-statements",
        id="a managed policy with * among its actions is caught",
    ),
    pytest.param(
        "aws:iam/role:Role",
        {"tags": TAGS, "inlinePolicies": [{"name": "admin", "policy": _admin()}]},
        "no-admin-statements",
        id="an inline policy block of a role allowing * on * is caught",
    ),
    pytest.param(
        "aws:sns/topic:Topic",
        {"tags": TAGS, "name": "page"},
        "sns-encrypted",
        id="an unencrypted SNS topic is caught",
    ),
    pytest.param(
        "aws:s3/bucket:Bucket",
        {"tags": {"service": "exchange", "environment": "dev"}},
        "required-tags: missing tags: owner",
        id="a bucket without an owner tag is caught",
    ),
    pytest.param(
        "aws:autoscaling/group:Group",
        {"tags": [{"key": "service", "value": "exchange", "propagateAtLaunch": True}]},
        "required-tags: missing tags: environment, owner",
        id="an Auto Scaling group's tag list is checked too",
    ),
    pytest.param(
        "aws:s3/bucket:Bucket",
        {"tags": TAGS, "acl": "public-read"},
        "no-public-bucket-acl",
        id="a public-read bucket is caught",
    ),
    pytest.param(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": False,
        },
        "public-access-fully-blocked: public access block leaves restrictPublicBuckets off",
        id="a public access block with one block off is caught",
    ),
    pytest.param(
        "grafana:oss/dataSource:DataSource",
        {"type": "prometheus", "url": AMP_WORKSPACE, "jsonDataEncoded": SIGV4},
        "grafana-amp-datasource",
        id="a core Prometheus data source signing for AMP is caught",
    ),
    pytest.param(
        "grafana:index/dataSource:DataSource",
        {"type": "prometheus", "url": AMP_WORKSPACE},
        "grafana-amp-datasource",
        id="the older type token of the data source is checked too",
    ),
    pytest.param(
        "grafana:oss/dataSource:DataSource",
        {"type": "prometheus", "url": "https://prometheus.example.com", "jsonDataEncoded": SIGV4},
        "grafana-amp-datasource",
        id="core Prometheus with SigV4 is caught whatever its URL",
    ),
    pytest.param(
        "aws:grafana/workspace:Workspace",
        {"tags": TAGS, "accountAccessType": "CURRENT_ACCOUNT"},
        "grafana-version-pinned",
        id="a Grafana workspace on whatever version AMG picks is caught",
    ),
    pytest.param(
        "aws:lb/loadBalancer:LoadBalancer",
        {"tags": TAGS, "loadBalancerType": "application"},
        "alb-access-logs",
        id="an application load balancer without access logs is caught",
    ),
    pytest.param(
        "aws:lb/loadBalancer:LoadBalancer",
        {"tags": TAGS, "accessLogs": {"bucket": "logs", "enabled": False}},
        "alb-access-logs",
        id="access logs with a bucket but not enabled are caught",
    ),
    pytest.param(
        "aws:lambda/function:Function",
        {"tags": TAGS, "deadLetterConfig": {"targetArn": "arn:aws:sqs:::q"}},
        "lambda-bounded",
        id="a function without reserved concurrency is caught",
    ),
    pytest.param(
        "aws:lambda/function:Function",
        {
            "tags": TAGS,
            "reservedConcurrentExecutions": -1,
            "deadLetterConfig": {"targetArn": "arn:aws:sqs:::q"},
        },
        "lambda-bounded",
        id="a function reserving -1 (unreserved) is caught",
    ),
    pytest.param(
        "aws:lambda/function:Function",
        {"tags": TAGS, "reservedConcurrentExecutions": 2},
        "lambda-dead-letters",
        id="a function that drops the events it failed on is caught",
    ),
    pytest.param(
        "aws:dynamodb/table:Table",
        {"tags": TAGS, "pointInTimeRecovery": {"enabled": False}},
        "dynamodb-recoverable",
        id="a table without point-in-time recovery is caught",
    ),
]


@pytest.mark.parametrize(("type_token", "inputs", "expected"), BAD)
def test_a_deliberately_bad_resource_is_caught(
    type_token: str, inputs: dict, expected: str
) -> None:
    violations = check_resource(type_token, inputs)
    assert any(v.startswith(expected) for v in violations), violations


GOOD = [
    pytest.param(
        "aws:ec2/securityGroup:SecurityGroup",
        {"tags": {**TAGS, "role": "load-balancer"}, "ingress": [_rule(80), _rule(443)]},
        id="the load balancer's group may take HTTP and HTTPS from the internet",
    ),
    pytest.param(
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": _admin(action=["aps:RemoteWrite"], resource=["arn:aws:aps:::workspace/ws"])},
        id="a scoped role policy passes",
    ),
    pytest.param(
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": _admin(effect="Deny")},
        id="denying * on * is not an admin grant",
    ),
    pytest.param(
        "aws:s3/bucketPolicy:BucketPolicy",
        {},
        id="a policy not known yet in a preview is not judged",
    ),
    pytest.param(
        "aws:kms/alias:Alias",
        {"name": "alias/x"},
        id="a resource that takes no tags needs none",
    ),
    pytest.param(
        "grafana:oss/dataSource:DataSource",
        {
            "type": "grafana-amazonprometheus-datasource",
            "url": AMP_WORKSPACE,
            "jsonDataEncoded": SIGV4,
        },
        id="the Amazon Managed Prometheus data source may read AMP",
    ),
    pytest.param(
        "grafana:oss/dataSource:DataSource",
        {"type": "prometheus", "url": "https://prometheus.example.com"},
        id="a core Prometheus data source for a Prometheus that needs no signing passes",
    ),
    pytest.param(
        "grafana:oss/dataSource:DataSource",
        {"url": AMP_WORKSPACE},
        id="a data source whose type is not known yet is not judged",
    ),
    pytest.param(
        "aws:grafana/workspace:Workspace",
        {"tags": TAGS, "grafanaVersion": "10.4"},
        id="a Grafana workspace on a pinned version passes",
    ),
    pytest.param(
        "aws:lb/loadBalancer:LoadBalancer",
        {"tags": TAGS, "accessLogs": {"bucket": "logs", "prefix": "elb", "enabled": True}},
        id="a load balancer writing access logs passes",
    ),
    pytest.param(
        "aws:lb/loadBalancer:LoadBalancer",
        {"tags": TAGS, "loadBalancerType": "network"},
        id="a network load balancer is not held to ALB access logs",
    ),
    pytest.param(
        "aws:lambda/function:Function",
        {
            "tags": TAGS,
            "reservedConcurrentExecutions": 2,
            "deadLetterConfig": {"targetArn": "arn:aws:sqs:::q"},
        },
        id="a bounded function with a dead-letter queue passes",
    ),
    pytest.param(
        "aws:dynamodb/table:Table",
        {"tags": TAGS, "pointInTimeRecovery": {"enabled": True}},
        id="a table with point-in-time recovery passes",
    ),
]


@pytest.mark.parametrize(("type_token", "inputs"), GOOD)
def test_what_the_baseline_allows(type_token: str, inputs: dict) -> None:
    assert check_resource(type_token, inputs) == []


@pytest.mark.parametrize(
    ("type_token", "taggable"),
    [
        pytest.param("aws:s3/bucket:Bucket", True, id="buckets take tags"),
        pytest.param("aws:s3/bucketPolicy:BucketPolicy", False, id="bucket policies do not"),
        pytest.param("aws:autoscaling/group:Group", True, id="Auto Scaling groups take tags"),
        pytest.param("pulumi:providers:aws", False, id="providers are not AWS resources"),
        pytest.param("aws:nosuch/thing:Thing", False, id="an unknown type is not judged"),
    ],
)
def test_taggable_types_come_from_the_aws_provider_schema(type_token: str, taggable: bool) -> None:
    assert is_taggable(type_token) is taggable


def _without(resources: list[Resource], name: str) -> list[Resource]:
    return [r for r in resources if r.name != name]


def _changed(resources: list[Resource], name: str, **inputs: Any) -> list[Resource]:
    return [replace(r, inputs={**r.inputs, **inputs}) if r.name == name else r for r in resources]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda rs: _without(rs, "artifacts-versioning"),
            "artifacts-bucket: versioning is not enabled",
            id="a bucket without versioning is caught",
        ),
        pytest.param(
            lambda rs: _changed(
                rs, "logs-versioning", versioningConfiguration={"status": "Suspended"}
            ),
            "logs-bucket: versioning is not enabled",
            id="suspended versioning is caught",
        ),
        pytest.param(
            lambda rs: _without(rs, "artifacts-encryption"),
            "artifacts-bucket: no default server-side encryption",
            id="a bucket without default encryption is caught",
        ),
        pytest.param(
            lambda rs: _without(rs, "artifacts-public-access"),
            "artifacts-bucket: no public access block",
            id="a bucket without a public access block is caught",
        ),
        pytest.param(
            lambda rs: _changed(
                rs, "artifacts-policy", policy=_admin(effect="Deny", action="s3:*")
            ),
            "artifacts-bucket: no policy denying requests without TLS",
            id="a bucket policy that does not require TLS is caught",
        ),
        pytest.param(
            lambda rs: [*rs, Resource("aws:s3/bucket:Bucket", "loose", None, {"tags": TAGS})],
            "loose: declare buckets through SecureBucket",
            id="a bare bucket outside a SecureBucket is caught",
        ),
    ],
)
def test_a_stack_with_a_weakened_bucket_is_caught(renderings: dict, mutate, expected: str) -> None:
    violations = check_stack(mutate(_resources(renderings["dev"])))
    found = [f"{v.name}: {v.message}" for v in violations if v.rule == "buckets-secured"]
    assert found == [expected]


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def test_the_pack_carries_every_rule() -> None:
    assert [p.name for p in policies()] == [*RESOURCE_RULES, *STACK_RULES]
    assert all(p.description for p in policies())


def test_the_pack_reports_a_bad_resource_through_pulumi_policy() -> None:
    imds = next(p for p in policies() if p.name == "imdsv2-required")
    args = ResourceValidationArgs(
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions": {"httpTokens": "optional"}},
        "urn:pulumi:dev::sre-platform::aws:ec2/launchTemplate:LaunchTemplate::lt",
        "lt",
        _options(),
        None,
    )
    reported: list[str] = []
    imds.validate(args, lambda message, urn: reported.append(message))
    assert reported == ["IMDSv2 is not required (metadataOptions.httpTokens is 'optional')"]


def test_the_pack_checks_buckets_across_the_stack_through_pulumi_policy() -> None:
    component = PolicyResource(
        "sre-platform:storage:SecureBucket", {}, "urn:c", "data", _options(), None, None, [], {}
    )
    bucket = PolicyResource(
        "aws:s3/bucket:Bucket",
        {"tags": TAGS},
        "urn:b",
        "data-bucket",
        _options(),
        None,
        component,
        [],
        {},
    )
    secured = next(p for p in policies() if p.name == "buckets-secured")
    reported: list[str] = []
    secured.validate(StackValidationArgs([component, bucket]), lambda m, urn: reported.append(m))
    assert "data-bucket: versioning is not enabled" in reported
    assert "data-bucket: no public access block" in reported


def _r(type_token: str, name: str, inputs: dict | None = None, **dependencies: tuple) -> Resource:
    return Resource(type_token, name, "c", {"tags": TAGS, **(inputs or {})}, dependencies)


TOPIC = "aws:sns/topic:Topic"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
CHATBOT = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
DEFINITION = "aws:amp/alertManagerDefinition:AlertManagerDefinition"
GROUP = "aws:autoscaling/group:Group"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LISTENER = "aws:lb/listener:Listener"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SSM_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
ROLLBACK = {"instanceRefresh": {"preferences": {"autoRollback": True}}}
FORWARD = {"protocol": "HTTP", "port": 80, "defaultActions": [{"type": "forward"}]}
REDIRECT = {
    "protocol": "HTTP",
    "port": 80,
    "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}],
}
PROD = {"tags": {**TAGS, "environment": "prod"}}
PROVIDER_PROD = json.dumps({"tags": {**TAGS, "environment": "prod"}})

STACK_CASES = [
    pytest.param(
        [_r(TOPIC, "page"), _r(ALARM, "errors", alarmActions=("page",), okActions=("page",))],
        [("alert-topics-subscribed", "page")],
        id="a topic alarms publish to without a subscription is caught",
    ),
    pytest.param(
        [_r(TOPIC, "ticket"), _r(DEFINITION, "am", {"definition": "..."}, definition=("ticket",))],
        [("alert-topics-subscribed", "ticket")],
        id="a topic the AMP alert manager publishes to without a subscription is caught",
    ),
    pytest.param(
        [
            _r(TOPIC, "page"),
            _r(ALARM, "errors", alarmActions=("page",)),
            _r(SUBSCRIPTION, "oncall", {"protocol": "email"}, topic=("page",)),
        ],
        [],
        id="a topic with a subscription passes",
    ),
    pytest.param(
        [
            _r(TOPIC, "page"),
            _r(ALARM, "errors", alarmActions=("page",)),
            _r(CHATBOT, "slack", {"slackChannelId": "C1"}, snsTopicArns=("page",)),
        ],
        [],
        id="a topic a Chatbot Slack channel configuration lists passes",
    ),
    pytest.param(
        [
            _r(TOPIC, "page"),
            _r(TOPIC, "ticket"),
            _r(ALARM, "errors", alarmActions=("ticket",)),
            _r(SUBSCRIPTION, "oncall", {"protocol": "email"}, topic=("page",)),
        ],
        [("alert-topics-subscribed", "ticket")],
        id="a subscription to another topic does not count",
    ),
    pytest.param(
        [_r(TOPIC, "spare")],
        [],
        id="a topic nobody publishes to needs no subscriber",
    ),
    pytest.param(
        [
            _r(TEMPLATE, "lt", {"imageId": SSM_AMI}),
            _r(GROUP, "asg", ROLLBACK, launchTemplate=("lt",)),
        ],
        [("rollback-needs-ami-id", "asg")],
        id="auto rollback from a template whose AMI is an SSM parameter is caught",
    ),
    pytest.param(
        [
            _r(TEMPLATE, "lt", {"imageId": "ami-0123456789abcdef0"}),
            _r(GROUP, "asg", ROLLBACK, launchTemplate=("lt",)),
        ],
        [],
        id="auto rollback from a template with an AMI id passes",
    ),
    pytest.param(
        [
            _r(TEMPLATE, "lt", {"imageId": SSM_AMI}),
            _r(GROUP, "asg", {"instanceRefresh": {"preferences": {}}}, launchTemplate=("lt",)),
        ],
        [],
        id="an SSM parameter AMI without auto rollback passes",
    ),
    pytest.param(
        [_r(LISTENER, "http", {**FORWARD, **PROD})],
        [("prod-http-redirects", "http")],
        id="a prod HTTP listener that forwards is caught",
    ),
    pytest.param(
        [
            Resource("pulumi:providers:aws", "aws", None, {"defaultTags": PROVIDER_PROD}),
            Resource(LISTENER, "http", "c", FORWARD),
        ],
        [("prod-http-redirects", "http")],
        id="prod is read from the provider's default tags too",
    ),
    pytest.param(
        [_r(LISTENER, "http", {**REDIRECT, **PROD})],
        [],
        id="a prod HTTP listener that redirects to HTTPS passes",
    ),
    pytest.param(
        [_r(LISTENER, "http", FORWARD)],
        [],
        id="a dev HTTP listener may serve",
    ),
    pytest.param(
        [_r(VPC, "vpc")],
        [("vpc-flow-logs", "vpc")],
        id="a VPC without flow logs is caught",
    ),
    pytest.param(
        [_r(VPC, "vpc"), _r(VPC, "other"), _r(FLOW_LOG, "flow", vpcId=("other",))],
        [("vpc-flow-logs", "vpc")],
        id="a flow log of another VPC does not count",
    ),
    pytest.param(
        [_r(VPC, "vpc"), _r(FLOW_LOG, "flow", {"trafficType": "ALL"}, vpcId=("vpc",))],
        [],
        id="a VPC with a flow log passes",
    ),
]


@pytest.mark.parametrize(("resources", "expected"), STACK_CASES)
def test_the_stack_rules_link_resources_by_where_their_inputs_came_from(
    resources: list[Resource], expected: list[tuple[str, str]]
) -> None:
    found = [(v.rule, v.name) for v in check_stack(resources) if v.rule in STACK_RULES]
    assert found == expected


def test_a_violation_names_its_rule_and_resource() -> None:
    (violation,) = check_stack([_r(VPC, "vpc")])
    assert violation == Violation(
        "vpc-flow-logs", VPC, "vpc", "no aws.ec2.FlowLog records this VPC's traffic"
    )
    assert str(violation) == (
        "vpc-flow-logs: vpc (aws:ec2/vpc:Vpc): no aws.ec2.FlowLog records this VPC's traffic"
    )


def _policy_resource(
    type_token: str, name: str, props: dict, dependencies: dict | None = None
) -> PolicyResource:
    return PolicyResource(
        type_token, props, f"urn:{name}", name, _options(), None, None, [], dependencies or {}
    )


def test_the_pack_links_resources_by_property_dependencies_and_names_the_urn() -> None:
    topic = _policy_resource(TOPIC, "page", {"tags": TAGS})
    alarm = _policy_resource(ALARM, "errors", {"tags": TAGS}, {"alarmActions": [topic]})
    vpc = _policy_resource(VPC, "vpc", {"tags": TAGS})
    flow = _policy_resource(FLOW_LOG, "flow", {"tags": TAGS}, {"vpcId": [vpc]})
    reported: list[tuple[str, str]] = []
    for name in ("alert-topics-subscribed", "vpc-flow-logs"):
        policy = next(p for p in policies() if p.name == name)
        policy.validate(
            StackValidationArgs([topic, alarm, vpc, flow]),
            lambda message, urn: reported.append((message, urn)),
        )
    assert reported == [
        (
            "page: errors publish to this topic, but no aws.sns.TopicSubscription reads it: "
            "nobody is notified",
            "urn:page",
        )
    ]
