"""The security baseline as pure functions over declared resources.

Each rule looks at a resource's Pulumi type token and its input properties (as a policy pack
sees them in a preview, and as ``sre stack render`` records them) and returns violation
messages. Stack rules see every resource, and link one to another by the resources each input
came from (Pulumi's property dependencies: an alarm's ``alarmActions`` came from a topic, a
flow log's ``vpcId`` from a VPC), which a policy pack and ``sre stack render`` both know.
``policy/pack.py`` wraps the same functions as a pulumi-policy pack, and ``sre stack check``
runs them over a stack rendered offline, so both give the same verdict.

Values that are not known yet (computed during a preview) are never a violation: a rule only
judges what it can read.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from typing import Any

REQUIRED_TAGS = ("service", "environment", "owner")
LOAD_BALANCER_ROLE = "load-balancer"  # the `role` tag of the load balancer's security group
LISTENER_PORTS = frozenset({80, 443})
OPEN = frozenset({"0.0.0.0/0", "::/0"})

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
# AWS Chatbot subscribes a Slack channel to the topics it lists (its own subscription).
CHATBOT_SLACK = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
ALARM_ACTIONS = ("alarmActions", "okActions", "insufficientDataActions")
AMP_ALERT_MANAGER = "aws:amp/alertManagerDefinition:AlertManagerDefinition"
GRAFANA_WORKSPACE = "aws:grafana/workspace:Workspace"
GRAFANA_DATA_SOURCES = ("grafana:oss/dataSource:DataSource", "grafana:index/dataSource:DataSource")
AMP_DATA_SOURCE = "grafana-amazonprometheus-datasource"  # signs with SigV4 in AMG 10 and later
AMP_URL = re.compile(r"https://aps-workspaces\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/workspaces/")
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
AWS_PROVIDER = "pulumi:providers:aws"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
SSM_PARAMETER_AMI = "resolve:ssm:"
PROD_ENVIRONMENTS = frozenset({"prod", "production"})
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
# Inputs that hold IAM-style policy documents, by type token.
POLICY_DOCUMENT_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    "aws:iam/role:Role": ("assumeRolePolicy",),
    BUCKET_POLICY: ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:kms/key:Key": ("policy",),
}


@dataclass(frozen=True)
class Resource:
    """A declared resource as the stack-wide rules see it.

    ``dependencies`` maps an input to the names of the resources its value came from.
    """

    type: str
    name: str
    parent: str | None
    inputs: Mapping[str, Any]
    dependencies: Mapping[str, Sequence[str]] = dataclass_field(default_factory=dict)

    def came_from(self, *inputs: str) -> set[str]:
        """The names of the resources any of ``inputs`` came from."""
        return {name for key in inputs for name in self.dependencies.get(key, ())}


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, which resource (type token and name), and why."""

    rule: str
    type: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.name} ({self.type}): {self.message}"


ResourceRule = Callable[[str, Mapping[str, Any]], list[str]]
# A stack rule returns (resource, message) pairs: the message is about that resource.
StackRule = Callable[[Sequence[Resource]], list[tuple[Resource, str]]]


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` as a mapping: JSON text is parsed, anything else unreadable is empty."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


# --- compute: IMDSv2, encrypted volumes, no SSH key ------------------------------------------


def imdsv2_required(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """Instances and launch templates must require IMDSv2 session tokens."""
    if type_token not in (LAUNCH_TEMPLATE, INSTANCE):
        return []
    tokens = (inputs.get("metadataOptions") or {}).get("httpTokens")
    if tokens != "required":
        return [f"IMDSv2 is not required (metadataOptions.httpTokens is {tokens!r})"]
    return []


def volumes_encrypted(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """EBS volumes, launch template disks and instance root disks must be encrypted."""
    if type_token == LAUNCH_TEMPLATE:
        return [
            f"block device {m.get('deviceName', '?')} is not encrypted"
            for m in _as_list(inputs.get("blockDeviceMappings"))
            if "ebs" in m and not _true(m["ebs"].get("encrypted"))
        ]
    if type_token == INSTANCE:
        root = inputs.get("rootBlockDevice") or {}
        found = [] if _true(root.get("encrypted")) else ["the root volume is not encrypted"]
        return found + [
            f"EBS volume {d.get('deviceName', '?')} is not encrypted"
            for d in _as_list(inputs.get("ebsBlockDevices"))
            if not _true(d.get("encrypted"))
        ]
    if type_token == "aws:ebs/volume:Volume" and not _true(inputs.get("encrypted")):
        return ["the volume is not encrypted"]
    return []


def no_ssh_keys(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """No SSH key pairs on instances: access is through SSM Session Manager."""
    if type_token in (LAUNCH_TEMPLATE, INSTANCE) and inputs.get("keyName"):
        return [f"SSH key pair {inputs['keyName']!r} is set; use SSM Session Manager instead"]
    return []


# --- network: no open ingress except the load balancer's listeners, no SSH ------------------


def _covers(rule: Mapping[str, Any], port: int) -> bool:
    if str(rule.get("protocol", "")).lower() in ("-1", "all"):
        return True
    low, high = rule.get("fromPort"), rule.get("toPort")
    return isinstance(low, int | float) and isinstance(high, int | float) and low <= port <= high


def _ports(rule: Mapping[str, Any]) -> set[int] | None:
    if str(rule.get("protocol", "")).lower() in ("-1", "all"):
        return None
    low, high = rule.get("fromPort"), rule.get("toPort")
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return None
    if high - low > 1024:
        return None
    return set(range(int(low), int(high) + 1))


def _sources(rule: Mapping[str, Any]) -> set[str]:
    return {
        *_as_list(rule.get("cidrBlocks")),
        *_as_list(rule.get("ipv6CidrBlocks")),
        *_as_list(rule.get("cidrIpv4")),
        *_as_list(rule.get("cidrIpv6")),
    }


def _ingress_rules(type_token: str, inputs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if type_token == SECURITY_GROUP:
        return list(_as_list(inputs.get("ingress")))
    if type_token == "aws:ec2/securityGroupRule:SecurityGroupRule":
        return [inputs] if inputs.get("type") == "ingress" else []
    if type_token == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        return [{**inputs, "protocol": inputs.get("ipProtocol")}]
    return []


def no_open_ingress(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """No ingress from the internet, except the load balancer's group on ports 80 and 443."""
    is_load_balancer = type_token == SECURITY_GROUP and (
        (inputs.get("tags") or {}).get("role") == LOAD_BALANCER_ROLE
    )
    found = []
    for rule in _ingress_rules(type_token, inputs):
        if not _sources(rule) & OPEN:
            continue
        ports = _ports(rule)
        if is_load_balancer and ports is not None and ports <= LISTENER_PORTS:
            continue
        shown = (
            "all ports" if ports is None else f"ports {rule.get('fromPort')}-{rule.get('toPort')}"
        )
        found.append(f"ingress from the internet on {shown}")
    return found


def no_ssh_ingress(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """No ingress rule may open port 22, from anywhere."""
    return [
        "ingress opens SSH (port 22)"
        for rule in _ingress_rules(type_token, inputs)
        if _covers(rule, 22)
    ]


# --- IAM-style documents: no Allow * on * ----------------------------------------------------


def _document(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def wildcard_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Statements of ``document`` that allow every action on every resource."""
    return [
        s
        for s in _as_list(document.get("Statement"))
        if isinstance(s, Mapping)
        and s.get("Effect") == "Allow"
        and "*" in _as_list(s.get("Action"))
        and "*" in _as_list(s.get("Resource", "*"))
    ]


def no_admin_statements(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """No policy document may allow ``*`` on ``*``."""
    found = []
    fields = POLICY_DOCUMENT_INPUTS.get(type_token, ())
    documents = [(f, inputs.get(f)) for f in fields]
    if type_token == "aws:iam/role:Role":
        documents += [
            (f"inlinePolicies[{i}].policy", p.get("policy"))
            for i, p in enumerate(_as_list(inputs.get("inlinePolicies")))
        ]
    for field, raw in documents:
        document = _document(raw)
        if document is not None and wildcard_statements(document):
            found.append(f"{field} allows every action on every resource")
    return found


# --- SNS -------------------------------------------------------------------------------------


def sns_encrypted(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """SNS topics must be encrypted with a KMS key."""
    if type_token == SNS_TOPIC and not inputs.get("kmsMasterKeyId"):
        return ["the topic is not encrypted (kmsMasterKeyId is empty)"]
    return []


# --- tags ------------------------------------------------------------------------------------


@cache
def is_taggable(type_token: str) -> bool:
    """True when the pulumi-aws resource of ``type_token`` takes ``tags``."""
    package, _, rest = type_token.partition(":")
    if package != "aws" or rest.count(":") != 1:
        return False
    module_path, class_name = rest.split(":")
    module = module_path.split("/")[0]
    try:
        found = importlib.import_module(
            "pulumi_aws" if module == "index" else f"pulumi_aws.{module}"
        )
        cls = getattr(found, class_name)
        return "tags" in inspect.signature(cls._internal_init).parameters
    except (ImportError, AttributeError, ValueError, TypeError):
        return False


def _tag_map(tags: Any) -> dict[str, Any]:
    if isinstance(tags, Mapping):
        return dict(tags)
    return {t.get("key"): t.get("value") for t in _as_list(tags) if isinstance(t, Mapping)}


def required_tags(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every taggable AWS resource carries the service, environment and owner tags."""
    if not is_taggable(type_token):
        return []
    tags = _tag_map(inputs.get("tags"))
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    return [f"missing tags: {', '.join(missing)}"] if missing else []


# --- S3: private, encrypted, versioned, TLS-only ---------------------------------------------


def no_public_bucket_acl(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """Buckets get no public canned ACL."""
    if type_token == BUCKET and str(inputs.get("acl", "")).startswith("public-"):
        return [f"the bucket has the public ACL {inputs['acl']!r}"]
    return []


def public_access_fully_blocked(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """A public access block turns on all four blocks."""
    if type_token != PUBLIC_ACCESS:
        return []
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not _true(inputs.get(flag))]
    return [f"public access block leaves {', '.join(off)} off"] if off else []


def denies_insecure_transport(document: Mapping[str, Any]) -> bool:
    """True when ``document`` denies every request made without TLS."""
    for s in _as_list(document.get("Statement")):
        condition = (s.get("Condition") or {}).get("Bool") or {}
        if (
            s.get("Effect") == "Deny"
            and s.get("Principal") in ("*", {"AWS": "*"})
            and "s3:*" in _as_list(s.get("Action"))
            and str(condition.get("aws:SecureTransport")).lower() == "false"
        ):
            return True
    return False


def _companions(bucket: Resource, resources: Sequence[Resource], type_token: str) -> list:
    return [r for r in resources if r.type == type_token and r.parent == bucket.parent]


def buckets_secured(resources: Sequence[Resource]) -> list[tuple[Resource, str]]:
    """Every bucket is declared with versioning, encryption, a full public access block and a
    TLS-only policy (companions are found next to the bucket, under the same parent)."""
    found: list[tuple[Resource, str]] = []
    for bucket in (r for r in resources if r.type == BUCKET):
        if bucket.parent is None:
            found.append((bucket, "declare buckets through SecureBucket"))
            continue
        versioning = _companions(bucket, resources, VERSIONING)
        if not any(
            (v.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"
            for v in versioning
        ):
            found.append((bucket, "versioning is not enabled"))
        encryption = [
            (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            for e in _companions(bucket, resources, ENCRYPTION)
            for rule in _as_list(e.inputs.get("rules"))
        ]
        if not {"AES256", "aws:kms", "aws:kms:dsse"} & set(encryption):
            found.append((bucket, "no default server-side encryption"))
        if not _companions(bucket, resources, PUBLIC_ACCESS):
            found.append((bucket, "no public access block"))
        policies = _companions(bucket, resources, BUCKET_POLICY)
        documents = [_document(p.inputs.get("policy")) for p in policies]
        known = [d for d in documents if d is not None]
        if not policies or (
            len(known) == len(documents) and not any(denies_insecure_transport(d) for d in known)
        ):
            found.append((bucket, "no policy denying requests without TLS"))
    return found


# --- alerting: a topic that alarms or AMP publish to reaches someone -------------------------


def alert_topics_subscribed(resources: Sequence[Resource]) -> list[tuple[Resource, str]]:
    """An SNS topic that CloudWatch alarms or the AMP alert manager publish to has at least one
    subscriber (an aws.sns.TopicSubscription, or an AWS Chatbot Slack channel configuration
    listing it): otherwise alerts are published and nobody is notified."""
    publishers: dict[str, list[str]] = {}
    subscribed: set[str] = set()
    for r in resources:
        if r.type in (METRIC_ALARM, COMPOSITE_ALARM):
            topics = r.came_from(*ALARM_ACTIONS)
        elif r.type == AMP_ALERT_MANAGER:
            topics = r.came_from("definition")  # its sns_configs name the topics' ARNs
        else:
            topics = set()
        for topic in topics:
            publishers.setdefault(topic, []).append(r.name)
        if r.type == SNS_SUBSCRIPTION:
            subscribed |= r.came_from("topic")
        elif r.type == CHATBOT_SLACK:
            subscribed |= r.came_from("snsTopicArns")
    return [
        (
            topic,
            f"{', '.join(sorted(publishers[topic.name]))} publish to this topic, but no "
            "aws.sns.TopicSubscription reads it: nobody is notified",
        )
        for topic in resources
        if topic.type == SNS_TOPIC and topic.name in publishers and topic.name not in subscribed
    ]


# --- Grafana: AMP is read through a data source that can sign, on a pinned version -----------


def grafana_amp_datasource(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """A Grafana data source that reads AMP (or signs with SigV4) is of the Amazon Managed
    Prometheus type: AMG 12 and later removed SigV4 from the core Prometheus plugin."""
    if type_token not in GRAFANA_DATA_SOURCES:
        return []
    kind, url = inputs.get("type"), inputs.get("url")
    if not isinstance(kind, str) or kind == AMP_DATA_SOURCE:
        return []
    reads_amp = isinstance(url, str) and AMP_URL.match(url) is not None
    signs = kind == "prometheus" and _true(_mapping(inputs.get("jsonDataEncoded")).get("sigV4Auth"))
    if not (reads_amp or signs):
        return []
    return [
        f"the data source type {kind!r} cannot sign requests for AMP (SigV4 is gone from the "
        f"core Prometheus plugin since AMG 12): use {AMP_DATA_SOURCE!r}"
    ]


def grafana_version_pinned(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """An Amazon Managed Grafana workspace names its Grafana version."""
    if type_token == GRAFANA_WORKSPACE and not inputs.get("grafanaVersion"):
        return [
            "grafanaVersion is not set: AMG creates the latest version, whose plugins the data "
            "sources and dashboards were not written for; pin it and upgrade on purpose"
        ]
    return []


# --- fleet: a rollback that can work, HTTPS in prod, access logs -----------------------------


def rollback_needs_ami_id(resources: Sequence[Resource]) -> list[tuple[Resource, str]]:
    """An instance refresh with autoRollback launches from a launch template with an AMI id:
    AWS cannot roll back a group whose template takes its image from an SSM parameter."""
    templates = {r.name: r for r in resources if r.type == LAUNCH_TEMPLATE}
    found = []
    for group in (r for r in resources if r.type == AUTOSCALING_GROUP):
        preferences = (group.inputs.get("instanceRefresh") or {}).get("preferences") or {}
        if not _true(preferences.get("autoRollback")):
            continue
        for name in sorted(group.came_from("launchTemplate", "mixedInstancesPolicy")):
            image = templates[name].inputs.get("imageId") if name in templates else None
            if isinstance(image, str) and image.startswith(SSM_PARAMETER_AMI):
                found.append(
                    (
                        group,
                        f"instanceRefresh.preferences.autoRollback is on, but launch template "
                        f"{name} takes its AMI from an SSM parameter ({image}), which AWS cannot "
                        "roll back to: resolve the AMI id at deploy time",
                    )
                )
    return found


def _environments(resources: Sequence[Resource]) -> set[str]:
    found = set()
    for r in resources:
        tags = _tag_map(r.inputs.get("tags"))
        if r.type == AWS_PROVIDER:
            tags = _tag_map(_mapping(r.inputs.get("defaultTags")).get("tags"))
        if isinstance(tags.get("environment"), str):
            found.add(tags["environment"])
    return found


def _redirects_to_https(action: Any) -> bool:
    return (
        isinstance(action, Mapping)
        and action.get("type") == "redirect"
        and (action.get("redirect") or {}).get("protocol") == "HTTPS"
    )


def prod_http_redirects(resources: Sequence[Resource]) -> list[tuple[Resource, str]]:
    """In prod (a stack whose environment tag is prod), a load balancer's plain HTTP listener
    only redirects to HTTPS: nothing is served in clear."""
    if not _environments(resources) & PROD_ENVIRONMENTS:
        return []
    found = []
    for listener in (r for r in resources if r.type in LISTENERS):
        if listener.inputs.get("protocol") != "HTTP":
            continue
        actions = _as_list(listener.inputs.get("defaultActions"))
        if not actions or not all(_redirects_to_https(a) for a in actions):
            kinds = ", ".join(str(a.get("type")) for a in actions if isinstance(a, Mapping))
            found.append(
                (
                    listener,
                    f"a prod HTTP listener on port {listener.inputs.get('port')} serves "
                    f"({kinds or 'no action'}) instead of redirecting to HTTPS",
                )
            )
    return found


def alb_access_logs(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """An application load balancer writes access logs to S3."""
    if type_token not in LOAD_BALANCERS or inputs.get("loadBalancerType") not in (
        None,  # application is the default
        "application",
    ):
        return []
    logs = inputs.get("accessLogs") or {}
    if not _true(logs.get("enabled")) or not logs.get("bucket"):
        return ["access logs are off (accessLogs.enabled with a bucket): no record of requests"]
    return []


# --- network: flow logs ----------------------------------------------------------------------


def vpc_flow_logs(resources: Sequence[Resource]) -> list[tuple[Resource, str]]:
    """Every VPC has a flow log (an aws.ec2.FlowLog whose vpcId came from it)."""
    recorded = {name for r in resources if r.type == FLOW_LOG for name in r.came_from("vpcId")}
    return [
        (vpc, "no aws.ec2.FlowLog records this VPC's traffic")
        for vpc in resources
        if vpc.type == VPC and vpc.name not in recorded
    ]


# --- functions and their state: bounded, failures kept, recoverable ------------------------


def lambda_bounded(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """A Lambda function reserves its concurrency: a burst of events cannot run it without
    bound (nor starve the account's other functions)."""
    if type_token != LAMBDA_FUNCTION:
        return []
    reserved = inputs.get("reservedConcurrentExecutions")
    if not isinstance(reserved, int | float) or reserved < 1:
        return [f"reservedConcurrentExecutions is {reserved!r}: set a bound of 1 or more"]
    return []


def lambda_dead_letters(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """A Lambda function keeps the events it failed on (a dead-letter target): an
    asynchronous invocation that fails its retries is otherwise dropped without a trace."""
    if type_token == LAMBDA_FUNCTION and "targetArn" not in (inputs.get("deadLetterConfig") or {}):
        return ["no deadLetterConfig.targetArn: events it fails on are lost"]
    return []


def dynamodb_recoverable(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """A DynamoDB table has point-in-time recovery."""
    if type_token != DYNAMODB_TABLE:
        return []
    if not _true((inputs.get("pointInTimeRecovery") or {}).get("enabled")):
        return ["pointInTimeRecovery is off: a bad write or delete cannot be undone"]
    return []


RESOURCE_RULES: dict[str, ResourceRule] = {
    "imdsv2-required": imdsv2_required,
    "volumes-encrypted": volumes_encrypted,
    "no-ssh-keys": no_ssh_keys,
    "no-open-ingress": no_open_ingress,
    "no-ssh-ingress": no_ssh_ingress,
    "no-admin-statements": no_admin_statements,
    "sns-encrypted": sns_encrypted,
    "required-tags": required_tags,
    "no-public-bucket-acl": no_public_bucket_acl,
    "public-access-fully-blocked": public_access_fully_blocked,
    "grafana-amp-datasource": grafana_amp_datasource,
    "grafana-version-pinned": grafana_version_pinned,
    "alb-access-logs": alb_access_logs,
    "lambda-bounded": lambda_bounded,
    "lambda-dead-letters": lambda_dead_letters,
    "dynamodb-recoverable": dynamodb_recoverable,
}
STACK_RULES: dict[str, StackRule] = {
    "buckets-secured": buckets_secured,
    "alert-topics-subscribed": alert_topics_subscribed,
    "rollback-needs-ami-id": rollback_needs_ami_id,
    "prod-http-redirects": prod_http_redirects,
    "vpc-flow-logs": vpc_flow_logs,
}


def check_resource(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every resource-level violation of one resource, each prefixed with its rule name."""
    return [
        f"{name}: {message}"
        for name, rule in RESOURCE_RULES.items()
        for message in rule(type_token, inputs)
    ]


def check_stack(resources: Iterable[Resource]) -> list[Violation]:
    """Every violation in a whole stack: each resource's, then the stack-wide rules'."""
    resources = list(resources)
    found = [
        Violation(name, r.type, r.name, message)
        for r in resources
        for name, rule in RESOURCE_RULES.items()
        for message in rule(r.type, r.inputs)
    ]
    return found + [
        Violation(name, r.type, r.name, message)
        for name, rule in STACK_RULES.items()
        for r, message in rule(resources)
    ]
