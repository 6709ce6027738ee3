"""The security baseline as pure functions over declared resources.

Each rule looks at a resource's Pulumi type token and its input properties (as a policy pack
sees them in a preview, and as ``sre stack render`` records them) and returns violation
messages. ``policy/pack.py`` wraps the same functions as a pulumi-policy pack; the tests run
them over every rendered stack.

Values that are not known yet (computed during a preview) are never a violation: a rule only
judges what it can read.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
    """A declared resource as the stack-wide rules see it."""

    type: str
    name: str
    parent: str | None
    inputs: Mapping[str, Any]


ResourceRule = Callable[[str, Mapping[str, Any]], list[str]]
StackRule = Callable[[Sequence[Resource]], list[str]]


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


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


def buckets_secured(resources: Sequence[Resource]) -> list[str]:
    """Every bucket is declared with versioning, encryption, a full public access block and a
    TLS-only policy (companions are found next to the bucket, under the same parent)."""
    found = []
    for bucket in (r for r in resources if r.type == BUCKET):
        if bucket.parent is None:
            found.append(f"{bucket.name}: declare buckets through SecureBucket")
            continue
        versioning = _companions(bucket, resources, VERSIONING)
        if not any(
            (v.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"
            for v in versioning
        ):
            found.append(f"{bucket.name}: versioning is not enabled")
        encryption = [
            (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            for e in _companions(bucket, resources, ENCRYPTION)
            for rule in _as_list(e.inputs.get("rules"))
        ]
        if not {"AES256", "aws:kms", "aws:kms:dsse"} & set(encryption):
            found.append(f"{bucket.name}: no default server-side encryption")
        if not _companions(bucket, resources, PUBLIC_ACCESS):
            found.append(f"{bucket.name}: no public access block")
        policies = _companions(bucket, resources, BUCKET_POLICY)
        documents = [_document(p.inputs.get("policy")) for p in policies]
        known = [d for d in documents if d is not None]
        if not policies or (
            len(known) == len(documents) and not any(denies_insecure_transport(d) for d in known)
        ):
            found.append(f"{bucket.name}: no policy denying requests without TLS")
    return found


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
}
STACK_RULES: dict[str, StackRule] = {"buckets-secured": buckets_secured}


def check_resource(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every resource-level violation of one resource, each prefixed with its rule name."""
    return [
        f"{name}: {message}"
        for name, rule in RESOURCE_RULES.items()
        for message in rule(type_token, inputs)
    ]


def check_stack(resources: Iterable[Resource]) -> list[str]:
    """Every violation in a whole stack: each resource's, then the stack-wide rules'."""
    resources = list(resources)
    found = [
        f"{r.name} ({r.type}): {message}"
        for r in resources
        for message in check_resource(r.type, r.inputs)
    ]
    return found + [
        f"{name}: {message}" for name, rule in STACK_RULES.items() for message in rule(resources)
    ]
