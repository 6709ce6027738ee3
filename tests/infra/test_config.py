"""Stack configuration: the shipped stacks say what the brief asks, mistakes name their key."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sre_platform.errors import StackConfigError
from stacks.config import (
    COMPONENT_TAG_KEYS,
    COMPONENT_TAGS_PER_RESOURCE,
    MAX_PROBLEMS,
    MAX_STACK_TAGS,
    load_stack_file,
    parse_settings,
)
from stacks.project import read_stack_config
from stacks.render import run_program
from stacks.tags import MAX_TAGS_PER_RESOURCE
from tests.infra.conftest import PROJECT_DIR, STACKS


def test_the_four_environments_exist() -> None:
    assert STACKS == ["dev", "local", "prod", "staging"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack: str) -> None:
    settings = load_stack_file(PROJECT_DIR, stack)
    assert settings.tags == {"service": "exchange", "environment": stack, "owner": "sre-team"}


def test_dev_is_small_and_cheap() -> None:
    dev = load_stack_file(PROJECT_DIR, "dev").platform
    assert len(dev.network.availability_zones) == 2
    assert dev.fleet.instance_type == "t3.small"
    assert (dev.fleet.min_size, dev.fleet.max_size) == (1, 2)
    assert dev.network.nat_gateway is False
    assert dev.protect_data is False


def test_prod_has_three_zones_three_instances_protected_data_and_sso() -> None:
    prod = load_stack_file(PROJECT_DIR, "prod").platform
    assert len(prod.network.availability_zones) == 3
    assert prod.fleet.min_size >= 3
    assert prod.protect_data is True
    assert prod.grafana.authentication_providers == ("AWS_SSO",)


def test_local_points_every_service_at_the_emulator_and_skips_what_it_lacks() -> None:
    local = load_stack_file(PROJECT_DIR, "local")
    (endpoints,) = local.aws.endpoints
    assert set(endpoints.values()) == {"http://127.0.0.1:5000"}
    assert {"s3", "ec2", "elbv2", "autoscaling", "amp", "sns", "cloudwatch"} <= set(endpoints)
    assert local.aws.skipCredentialsValidation and local.aws.skipRequestingAccountId
    assert local.aws.skipMetadataApiCheck and local.aws.s3UsePathStyle
    assert local.platform.grafana.enabled is False
    assert local.platform.observability.alert_manager is False


def _with(stack: str, key: str, path: list[str], value: Any) -> dict[str, Any]:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, stack))
    if not path:
        config[key] = value
        return config
    node = config.setdefault(key, {})
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return config


def _without(stack: str, key: str) -> dict[str, Any]:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, stack))
    del config[key]
    return config


CASES = [
    pytest.param(
        _with("dev", "sre-platform:fleet", ["min_size"], 0),
        "sre-platform:fleet.min_size: must be at least 1",
        id="a fleet of zero instances names fleet.min_size",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["min_sise"], 2),
        "sre-platform:fleet.min_sise: unknown key",
        id="a typo in a nested key is an unknown key, not a silent default",
    ),
    pytest.param(
        _with("dev", "sre-platform:flet", [], {"min_size": 2}),
        "sre-platform:flet: unknown key",
        id="a typo in a top-level key is an unknown key",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["max_size"], 0),
        "sre-platform:fleet.max_size: must be at least 1",
        id="a zero maximum names fleet.max_size",
    ),
    pytest.param(
        _with("prod", "sre-platform:fleet", ["max_size"], 2),
        "sre-platform:fleet.max_size: must be at least fleet.min_size (3)",
        id="a maximum below the minimum names fleet.max_size",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["desired_capacity"], 5),
        "sre-platform:fleet.desired_capacity: must be between fleet.min_size (1) and "
        "fleet.max_size (2)",
        id="a desired capacity outside the bounds names fleet.desired_capacity",
    ),
    pytest.param(
        _with("dev", "sre-platform:network", ["availability_zones"], []),
        "sre-platform:network.availability_zones: must list at least one zone",
        id="a new VPC without zones names network.availability_zones",
    ),
    pytest.param(
        _with("dev", "sre-platform:network", ["cidr_block"], "10.0.0.0/28"),
        "sre-platform:network.cidr_block: must be a /20 or larger network",
        id="a VPC too small for the subnet layout names network.cidr_block",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["instance_refresh"], {"checkpoint_percentages": [50]}),
        "sre-platform:fleet.instance_refresh.checkpoint_percentages: must be increasing",
        id="checkpoints that never reach 100 percent name the nested key",
    ),
    pytest.param(
        _with("dev", "sre-platform:slo", ["period"], "thirty days"),
        "sre-platform:slo.period:",
        id="an unreadable SLO period names slo.period",
    ),
    pytest.param(
        _with("dev", "sre-platform:grafana", ["authentication_providers"], ["LDAP"]),
        "sre-platform:grafana.authentication_providers[0]:",
        id="an unsupported Grafana sign-in names the list entry",
    ),
    pytest.param(
        _with("dev", "sre-platform:observability", ["log_retention_days"], 10),
        "sre-platform:observability.log_retention_days: must be one of CloudWatch Logs' periods",
        id="a log retention CloudWatch does not offer names the key",
    ),
    pytest.param(
        _with("local", "aws:endpoints", [], [{"s3": "http://127.0.0.1:5000", "s4": "x"}]),
        "aws:endpoints[0].s4: unknown AWS service endpoint: 's4'",
        id="an emulator endpoint for a service the provider does not know is reported",
    ),
    pytest.param(
        _with("dev", "sre-platform:buckets", ["noncurrent_expiration_days"], 30),
        "sre-platform:buckets.noncurrent_expiration_days: must be more than",
        id="noncurrent versions expiring before their transition name the key",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["prometheus_version"], "2.53.0"),
        "sre-platform:fleet.prometheus_version: must be 3.0.0 or newer",
        id="a Prometheus without the --agent flag names fleet.prometheus_version",
    ),
    pytest.param(
        _without("dev", "aws:region"),
        "aws:region: is required",
        id="a stack without a region names aws:region",
    ),
    pytest.param(
        _with("dev", "aws:skipCredentialValidation", [], True),
        "aws:skipCredentialValidation: unknown key",
        id="a misspelled aws provider key is reported, not ignored",
    ),
    pytest.param(
        _without("dev", "sre-platform:tags"),
        "sre-platform:tags: is required",
        id="a stack without its owner and service tags names sre-platform:tags",
    ),
    pytest.param(
        _with("dev", "sre-platform:alarms", ["latency_p99_seconds"], float("inf")),
        "sre-platform:alarms.latency_p99_seconds: must be a finite number",
        id="an infinite alarm threshold is refused, not passed to CloudWatch",
    ),
    pytest.param(
        _with("dev", "sre-platform:alarms", ["runbook_base_url"], "https://x/" + "r" * 100_000),
        "sre-platform:alarms.runbook_base_url: string should have at most 512 characters",
        id="a runbook base too long for an alarm description names the key",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["instance_type"], "t3 small"),
        "sre-platform:fleet.instance_type: must be an EC2 instance type",
        id="an instance type with a space names fleet.instance_type",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["image_id"], "x" * 100_000),
        "sre-platform:fleet.image_id: string should have at most 1024 characters",
        id="100,000 characters of AMI id are refused by length",
    ),
    pytest.param(
        _with("dev", "sre-platform:fleet", ["certificate_arn"], "arn:aws:iam::1:role/x"),
        "sre-platform:fleet.certificate_arn: must be an ARN such as arn:aws:acm:",
        id="a certificate ARN of another service names fleet.certificate_arn",
    ),
    pytest.param(
        _with(
            "dev", "sre-platform:fleet", ["ingress_cidrs"], [f"10.{i}.0.0/16" for i in range(31)]
        ),
        "sre-platform:fleet.ingress_cidrs: tuple should have at most 30 items",
        id="more ingress ranges than a security group holds name fleet.ingress_cidrs",
    ),
    pytest.param(
        _with("dev", "sre-platform:network", ["availability_zones"], ["us-east-1a", "a b"]),
        "sre-platform:network.availability_zones[1]: must be a zone id (use1-az1) or a zone name",
        id="a malformed zone names its list entry",
    ),
    pytest.param(
        _with("dev", "aws:region", [], "us east 1"),
        "aws:region: must be a region (us-east-1)",
        id="a malformed region names aws:region",
    ),
    pytest.param(
        _with("local", "aws:endpoints", [], [{"s3": "127.0.0.1:5000"}]),
        "aws:endpoints[0].s3: must be an http(s) URL",
        id="an emulator endpoint without its scheme names the service",
    ),
    pytest.param(
        _with("dev", "fleet", [], {"min_size": 2}),
        "fleet: must be <namespace>:<key>",
        id="a key without its namespace is reported, not ignored",
    ),
]


@pytest.mark.parametrize(("config", "expected"), CASES)
def test_a_config_mistake_names_its_key(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", config, project_dir=PROJECT_DIR, source="Pulumi.dev.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any(expected in m for m in messages), messages
    assert all(m.startswith("Pulumi.dev.yaml: ") for m in messages)


# Mistakes that used to hide one another: the rules between keys (min <= desired <= max, ...)
# ran only once every key was valid. Each case lists every key that must be reported.
TOGETHER = [
    pytest.param(
        {
            "sre-platform:fleet": {"min_size": 5, "max_size": 2, "volume_size_gb": 1},
        },
        {
            "sre-platform:fleet.max_size",
            "sre-platform:fleet.desired_capacity",
            "sre-platform:fleet.volume_size_gb",
        },
        id="a maximum below the minimum is reported beside another fleet mistake",
    ),
    pytest.param(
        {
            "sre-platform:fleet": {"min_size": 5, "max_size": 2, "desired_capacity": 3},
            "sre-platform:observability": {"log_retention_days": 10},
            "aws:bogus": 1,
        },
        {
            "sre-platform:fleet.max_size",
            "sre-platform:fleet.desired_capacity",
            "sre-platform:observability.log_retention_days",
            "aws:bogus",
        },
        id="a maximum below the minimum is reported beside mistakes in other sections",
    ),
    pytest.param(
        {
            "sre-platform:tags": None,
            "sre-platform:buckets": {"noncurrent_expiration_days": 30},
        },
        {"sre-platform:tags", "sre-platform:buckets.noncurrent_expiration_days"},
        id="a lifecycle rule between keys is reported when the tags are missing",
    ),
    pytest.param(
        {
            "sre-platform:network": {"availability_zones": ["us-east-1a"] * 9},
            "sre-platform:fleet": {"min_size": 0},
        },
        {"sre-platform:network.availability_zones", "sre-platform:fleet.min_size"},
        id="a zone rule is reported beside a field mistake",
    ),
]


@pytest.mark.parametrize(("changes", "fields"), TOGETHER)
def test_every_mistake_is_reported_at_once(changes: dict[str, Any], fields: set[str]) -> None:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, "dev"))
    for key, value in changes.items():
        if value is None:
            del config[key]
        elif isinstance(value, dict):
            config[key] = {**config.get(key, {}), **value}
        else:
            config[key] = value
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", config, project_dir=PROJECT_DIR, source="Pulumi.dev.yaml")
    assert {p.field for p in caught.value.problems} == fields, caught.value.problems


def test_a_runaway_file_gets_a_short_answer() -> None:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, "dev"))
    config.update({f"sre-platform:typo{i}": 1 for i in range(1000)})
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", config, project_dir=PROJECT_DIR, source="Pulumi.dev.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == MAX_PROBLEMS + 1
    assert messages[-1] == "Pulumi.dev.yaml: ... and 950 more problems not shown"


def test_a_section_that_is_not_a_mapping_says_so() -> None:
    config = _with("dev", "sre-platform:fleet", [], [1, 2])
    with pytest.raises(StackConfigError, match=r"sre-platform:fleet: must be a mapping$"):
        parse_settings("dev", config, project_dir=PROJECT_DIR)


def test_two_zone_rules_are_both_reported() -> None:
    config = _with("dev", "sre-platform:network", ["availability_zones"], ["us-east-1a"] * 9)
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", config, project_dir=PROJECT_DIR)
    messages = {p.message for p in caught.value.problems}
    assert messages == {"must not repeat a zone", "must be at most 8 zones"}


def test_the_program_itself_rejects_a_bad_config_naming_the_file_and_key() -> None:
    config = _with("dev", "sre-platform:fleet", ["min_size"], 0)
    with pytest.raises(
        StackConfigError,
        match=r"Pulumi\.dev\.yaml: sre-platform:fleet\.min_size: must be at least 1",
    ):
        run_program("dev", config, PROJECT_DIR)


def _tags(**tags: Any) -> dict[str, Any]:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, "dev"))
    config["sre-platform:tags"] = {**config["sre-platform:tags"], **tags}
    return config


# AWS's tag rules (keys 1-128 and values 0-256 characters; letters, digits, spaces and
# _ . : / = + - @; no aws: prefix in any case), and the keys the platform sets itself.
BAD_TAGS = [
    pytest.param(
        {"owner": "x" * 100_000},
        "sre-platform:tags.owner: a tag value has at most 256 characters in AWS, this one has "
        "100,000",
        id="a 100,000-character owner is refused by AWS's value length",
    ),
    pytest.param(
        {"team": "x" * 257},
        "sre-platform:tags.team: a tag value has at most 256 characters",
        id="a 257-character value of an extra tag is refused",
    ),
    pytest.param(
        {"k" * 129: "x"},
        "a tag key has at most 128 characters in AWS, this one has 129",
        id="a 129-character tag key is refused",
    ),
    pytest.param(
        {"": "x"},
        "a tag key must not be empty",
        id="an empty tag key is refused",
    ),
    pytest.param(
        {"team": "sre; rm -rf /"},
        "sre-platform:tags.team: a tag value may hold only letters, digits, spaces and",
        id="a value with a character outside AWS's set names the tag",
    ),
    pytest.param(
        {"owner": "sre\x1b[31m"},
        r"(found \x1b [)",
        id="a control character in a value is shown escaped",
    ),
    pytest.param(
        {"AWS:cost": "x"},
        'sre-platform:tags["AWS:cost"]: a tag key must not start with aws: (reserved by AWS)',
        id="a key with AWS's reserved prefix in any case is refused",
    ),
    pytest.param(
        {"team": "aws:sre"},
        "sre-platform:tags.team: a tag value must not start with aws:",
        id="a value with AWS's reserved prefix is refused",
    ),
    pytest.param(
        {"owner": ""},
        "sre-platform:tags.owner: string should have at least 1 character",
        id="an empty owner is refused",
    ),
    pytest.param(
        {"environment": "prod"},
        "sre-platform:tags.environment: the environment tag is the stack's name",
        id="an environment tag that would contradict the stack is refused",
    ),
    pytest.param(
        {"role": "load-balancer"},
        "sre-platform:tags.role: the components set the role tag themselves",
        id="a role tag that would open every security group to the internet is refused",
    ),
    pytest.param(
        {"service": "Exchange Svc"},
        "sre-platform:tags.service: must be a lowercase name",
        id="a service that cannot name AWS resources is refused before the program runs",
    ),
    pytest.param(
        {f"t{i}": "x" for i in range(46)},
        "sre-platform:tags: must hold at most 48 tags with environment, not 49",
        id="more tags than leave room for the components' own under AWS's 50",
    ),
]


@pytest.mark.parametrize(("tags", "expected"), BAD_TAGS)
def test_a_tag_aws_would_refuse_is_reported(tags: dict[str, Any], expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", _tags(**tags), project_dir=PROJECT_DIR, source="Pulumi.dev.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == 1, messages
    assert expected in messages[0]
    assert len(messages[0]) < 400  # the value itself is never echoed


GOOD_TAGS = [
    pytest.param({"cost-center": 1234}, {"cost-center": "1234"}, id="a number reads as text"),
    pytest.param({"équipe": "sûreté"}, {"équipe": "sûreté"}, id="letters beyond ASCII"),
    pytest.param(
        {"app.io/part-of": "trading desk:eu=1+@_"},
        {"app.io/part-of": "trading desk:eu=1+@_"},
        id="every symbol AWS allows, and spaces",
    ),
    pytest.param({"note": ""}, {"note": ""}, id="an empty value"),
    pytest.param(
        {f"t{i}": "x" for i in range(45)},
        {f"t{i}": "x" for i in range(45)},
        id="48 tags with environment",
    ),
]


@pytest.mark.parametrize(("tags", "extra"), GOOD_TAGS)
def test_extra_tags_go_on_every_resource(tags: dict[str, Any], extra: dict[str, str]) -> None:
    settings = parse_settings("dev", _tags(**tags), project_dir=PROJECT_DIR)
    assert settings.tags == {
        "service": "exchange",
        "owner": "sre-team",
        "environment": "dev",
        **extra,
    }


def test_the_tag_limit_leaves_room_for_the_components_tags() -> None:
    extra = {f"t{i}": "x" for i in range(MAX_STACK_TAGS - 3)}
    rendering = run_program("dev", _tags(**extra), PROJECT_DIR)
    provider = next(r for r in rendering.resources if r.type == "pulumi:providers:aws")
    default_tags = json.loads(provider.inputs["defaultTags"])["tags"]  # providers take JSON
    assert len(default_tags) == MAX_STACK_TAGS
    added_per_resource = []
    for resource in rendering.resources:
        tags = resource.inputs.get("tags")
        if isinstance(tags, list):  # the Auto Scaling group's propagated tags
            tags = {t["key"]: t["value"] for t in tags}
        if not isinstance(tags, dict) or resource is provider:
            continue
        merged = {**default_tags, **tags}
        assert len(merged) <= MAX_TAGS_PER_RESOURCE, resource.name
        added = set(merged) - set(default_tags)
        assert added <= set(COMPONENT_TAG_KEYS), (resource.name, added)
        added_per_resource.append(len(added))
    assert max(added_per_resource) == COMPONENT_TAGS_PER_RESOURCE
