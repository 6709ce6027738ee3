"""Stack configuration: the shipped stacks say what the brief asks, mistakes name their key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sre_platform.errors import StackConfigError
from stacks.config import load_stack_file, parse_settings, read_stack_file
from stacks.render import run_program
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
    config = copy.deepcopy(read_stack_file(PROJECT_DIR, stack))
    if not path:
        config[key] = value
        return config
    node = config.setdefault(key, {})
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return config


def _without(stack: str, key: str) -> dict[str, Any]:
    config = copy.deepcopy(read_stack_file(PROJECT_DIR, stack))
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
        "aws:endpoints: unknown AWS service endpoint: s4",
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
]


@pytest.mark.parametrize(("config", "expected"), CASES)
def test_a_config_mistake_names_its_key(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", config, source="Pulumi.dev.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any(expected in m for m in messages), messages
    assert all(m.startswith("Pulumi.dev.yaml: ") for m in messages)


def test_every_mistake_is_reported_at_once() -> None:
    config = _with("dev", "sre-platform:fleet", ["min_size"], 0)
    config["aws:bogus"] = 1
    with pytest.raises(StackConfigError) as caught:
        parse_settings("dev", config)
    assert {p.field for p in caught.value.problems} == {"sre-platform:fleet.min_size", "aws:bogus"}


def test_the_program_itself_rejects_a_bad_config_naming_the_key() -> None:
    config = _with("dev", "sre-platform:fleet", ["min_size"], 0)
    with pytest.raises(StackConfigError, match=r"sre-platform:fleet\.min_size: must be at least 1"):
        run_program("dev", config, PROJECT_DIR)


def test_an_unknown_stack_lists_the_stacks_there_are(tmp_path: Path) -> None:
    with pytest.raises(StackConfigError, match="the stacks are: dev, local, prod, staging"):
        read_stack_file(PROJECT_DIR, "qa")
    with pytest.raises(StackConfigError, match="the stacks are: none"):
        read_stack_file(tmp_path, "dev")
