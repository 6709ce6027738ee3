"""Stack config of the network, the AWS provider and the AMP quota alarms: zones by name or by
id, the metadata service left usable, quotas taken from config or from Service Quotas."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.alarms import AlarmNames, Alarms, AlarmsArgs
from components.network import is_zone_id
from sre_platform.errors import StackConfigError
from stacks.config import load_stack_file, parse_settings
from stacks.project import read_stack_config
from tests.infra.conftest import PROJECT_DIR, STACKS, TAGS, declare


def _parse(stack: str, section: str, **values: Any) -> Any:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, stack))
    config.setdefault(f"sre-platform:{section}", {}).update(values)
    return parse_settings(stack, config, project_dir=PROJECT_DIR)


def _problems(stack: str, section: str, **values: Any) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        _parse(stack, section, **values)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    "zones",
    [
        pytest.param(["us-east-1a", "us-east-1b"], id="zone names are accepted"),
        pytest.param(["use1-az1", "use1-az4"], id="zone ids are accepted"),
        pytest.param(["usw2-lax1-az1"], id="a Local Zone id is accepted"),
    ],
)
def test_zones_are_names_or_ids(zones: list[str]) -> None:
    settings = _parse("dev", "network", availability_zones=zones)
    assert settings.platform.network.availability_zones == tuple(zones)


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        pytest.param(
            ["use1-az1", "us-east-1b"],
            "sre-platform:network.availability_zones: must be all zone ids or all zone names",
            id="a list mixing ids and names is refused",
        ),
        pytest.param(
            ["use1-az1", "a b"],
            "sre-platform:network.availability_zones[1]: must be a zone id (use1-az1) or a "
            "zone name (us-east-1a)",
            id="text that is neither names its index",
        ),
        pytest.param(
            ["use1-az1", "use1-az1"],
            "sre-platform:network.availability_zones: must not repeat a zone",
            id="a repeated zone id is refused",
        ),
    ],
)
def test_bad_zones_name_the_key(zones: list[str], message: str) -> None:
    assert any(message in p for p in _problems("dev", "network", availability_zones=zones))


@pytest.mark.parametrize(
    ("zone", "zone_id"),
    [
        pytest.param("use1-az1", True, id="use1-az1 is an id for the config and the network"),
        pytest.param("apne1-az4", True, id="apne1-az4 is an id for both"),
        pytest.param("usw2-lax1-az1", True, id="a Local Zone id is an id for both"),
        pytest.param("us-east-1a", False, id="us-east-1a is a name for both"),
        pytest.param("us-west-2-lax-1a", False, id="a Local Zone name is a name for both"),
    ],
)
def test_the_config_and_the_network_agree_on_what_a_zone_id_is(zone: str, zone_id: bool) -> None:
    settings = _parse("dev", "network", availability_zones=[zone])
    assert settings.platform.network.availability_zones == (zone,)
    assert is_zone_id(zone) is zone_id


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_aws_stacks_pin_zone_ids(stack: str) -> None:
    zones = load_stack_file(PROJECT_DIR, stack).platform.network.availability_zones
    assert zones and all(is_zone_id(z) for z in zones)
    assert "use1-az3" not in zones  # the us-east-1 zone that lacks newer instance types


@pytest.mark.parametrize(
    ("stack", "skip"),
    [
        pytest.param(s, s == "local", id=f"{s}: skipMetadataApiCheck is {s == 'local'}")
        for s in STACKS
    ],
)
def test_only_the_emulator_stack_skips_the_metadata_service(
    renderings: dict, stack: str, skip: bool
) -> None:
    assert load_stack_file(PROJECT_DIR, stack).aws.skipMetadataApiCheck is skip
    (provider,) = renderings[stack].of_type("pulumi:providers:aws")
    assert json.loads(provider.inputs["skipMetadataApiCheck"]) is skip


def _quota_expressions(**options: Any) -> dict[str, str]:
    args = AlarmsArgs(
        names=AlarmNames("exchange-test"),
        tags=TAGS,
        page_topic_arn="arn:aws:sns:us-east-1:123456789012:page",
        ticket_topic_arn="arn:aws:sns:us-east-1:123456789012:ticket",
        load_balancer_arn_suffix="app/fleet-alb/1",
        target_group_arn_suffix="targetgroup/fleet-tg/2",
        autoscaling_group_name="exchange-test-asg",
        amp_workspace_id="ws-1",
        **options,
    )
    declared = declare(lambda: Alarms("alarms", args))
    return {
        kind: next(
            q["expression"]
            for q in declared[f"alarms-{kind}"].inputs["metricQueries"]
            if "expression" in q
        )
        for kind in ("amp-ingestion-rate", "amp-active-series")
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            {},
            {
                "amp-ingestion-rate": "100 * usage / SERVICE_QUOTA(usage)",
                "amp-active-series": "100 * usage / SERVICE_QUOTA(usage)",
            },
            id="without configured quotas the alarms read Service Quotas",
        ),
        pytest.param(
            {"amp_ingestion_rate_quota": 170000.0, "amp_active_series_quota": 10_000_000.0},
            {
                "amp-ingestion-rate": "100 * usage / 170000",
                "amp-active-series": "100 * usage / 10000000",
            },
            id="configured quotas replace SERVICE_QUOTA",
        ),
        pytest.param(
            {"amp_active_series_quota": 2.5e7},
            {
                "amp-ingestion-rate": "100 * usage / SERVICE_QUOTA(usage)",
                "amp-active-series": "100 * usage / 25000000",
            },
            id="each quota is set on its own",
        ),
    ],
)
def test_amp_usage_alarms_take_quotas_from_config_or_service_quotas(
    options: dict, expected: dict
) -> None:
    assert _quota_expressions(**options) == expected


def test_the_amp_quotas_are_read_from_the_alarms_section() -> None:
    alarms = _parse("dev", "alarms", amp_ingestion_rate_quota=170000).platform.alarms
    assert alarms.amp_ingestion_rate_quota == 170000 and alarms.amp_active_series_quota is None
    assert any(
        "sre-platform:alarms.amp_active_series_quota: must be greater than 0" in p
        for p in _problems("dev", "alarms", amp_active_series_quota=0)
    )
