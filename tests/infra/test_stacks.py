"""Every stack, rendered whole: it carries the compiled SLO rules, routes alerts to its topics,
wires the fleet to its alarms, and exports what an operator needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alerting import compile_specs
from stacks.config import load_stack_file
from stacks.render import Rendering
from tests.infra.conftest import PROJECT_DIR, STACKS

NAMESPACE = "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPONENTS = {
    "sre-platform:network:Network",
    "sre-platform:storage:SecureBucket",
    "sre-platform:alerting:AlertTopics",
    "sre-platform:observability:Observability",
    "sre-platform:fleet:ServiceFleet",
    "sre-platform:alerting:Alarms",
}
EXPORTS = {
    "load_balancer_url",
    "amp_workspace_id",
    "amp_query_url",
    "amp_remote_write_url",
    "page_topic_arn",
    "ticket_topic_arn",
    "undelivered_alerts_queue_url",
    "artifacts_bucket",
    "logs_bucket",
    "vpc_id",
}


def _alertmanager_config(rendering: Rendering) -> dict:
    (definition,) = rendering.of_type("aws:amp/alertManagerDefinition:AlertManagerDefinition")
    return yaml.safe_load(yaml.safe_load(definition.inputs["definition"])["alertmanager_config"])


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_declares_every_component(renderings: dict, stack: str) -> None:
    rendering = renderings[stack]
    assert {r.type for r in rendering.resources} >= COMPONENTS
    assert len(rendering.of_type("sre-platform:storage:SecureBucket")) == 2
    assert all(r.parent is not None for r in rendering.resources if r.type.startswith("aws:"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_exports_what_an_operator_needs(renderings: dict, stack: str) -> None:
    outputs = renderings[stack].outputs
    grafana = load_stack_file(PROJECT_DIR, stack).platform.grafana.enabled
    assert set(outputs) == EXPORTS | ({"grafana_url"} if grafana else set())
    assert outputs["load_balancer_url"].startswith("http://")
    assert outputs["amp_remote_write_url"].endswith("/api/v1/remote_write")
    assert outputs["amp_remote_write_url"].startswith(outputs["amp_query_url"] + "/")
    assert re.fullmatch(
        r"https://aps-workspaces\.us-east-1\.amazonaws\.com/workspaces/ws-\w+",
        outputs["amp_query_url"],
    )
    assert outputs["page_topic_arn"].endswith(f"exchange-{stack}-page")


@pytest.mark.parametrize("stack", STACKS)
def test_rule_namespaces_carry_exactly_what_the_compiler_emits(
    renderings: dict, stack: str
) -> None:
    expected = [
        g for f in compile_specs([PROJECT_DIR / "slo_specs"], period="30d") for g in f.groups
    ]
    deployed = [
        group
        for namespace in renderings[stack].of_type(NAMESPACE)
        for group in yaml.safe_load(namespace.inputs["data"])["groups"]
    ]
    assert deployed == expected


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_every_rule_namespace_passes_promtool(renderings: dict, tmp_path: Path) -> None:
    for namespace in renderings["prod"].of_type(NAMESPACE):
        path = tmp_path / f"{namespace.inputs['name']}.yaml"
        path.write_text(namespace.inputs["data"])
        result = subprocess.run(
            ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_runbook_the_slo_alerts_link_exists(renderings: dict) -> None:
    links = {
        rule["annotations"]["runbook_url"]
        for namespace in renderings["prod"].of_type(NAMESPACE)
        for group in yaml.safe_load(namespace.inputs["data"])["groups"]
        for rule in group["rules"]
        if "alert" in rule and "runbook_url" in rule.get("annotations", {})
    }
    assert links
    assert all((PROJECT_DIR / link).is_file() for link in links), links


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "local"])
def test_alert_routes_reach_the_stack_topics(renderings: dict, stack: str) -> None:
    config = _alertmanager_config(renderings[stack])
    outputs = renderings[stack].outputs
    topics = {r["name"]: r["sns_configs"][0]["topic_arn"] for r in config["receivers"]}
    assert topics == {"page": outputs["page_topic_arn"], "ticket": outputs["ticket_topic_arn"]}
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes == {('sloth_severity="page"',): "page", ('sloth_severity="ticket"',): "ticket"}


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        pytest.param(
            ["sloth_severity=page", "sloth_slo=order-api-availability"],
            "page",
            id="a page alert reaches the page topic",
        ),
        pytest.param(
            ["sloth_severity=ticket", "sloth_slo=order-api-availability"],
            "ticket",
            id="a ticket alert reaches the ticket topic",
        ),
    ],
)
def test_amtool_accepts_the_prod_definition_and_routes_it(
    renderings: dict, tmp_path: Path, labels: list[str], receiver: str
) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(_alertmanager_config(renderings["prod"])))
    check = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    routed = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={path}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_the_fleet_rolls_back_on_alarms_that_exist_in_the_stack(
    renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    (group,) = rendering.of_type("aws:autoscaling/group:Group")
    rollback = group.inputs["instanceRefresh"]["preferences"]["alarmSpecification"]["alarms"]
    alarm_names = {a.inputs["name"] for a in rendering.of_type(ALARM)}
    assert rollback and set(rollback) <= alarm_names


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_description_links_an_existing_runbook(renderings: dict, stack: str) -> None:
    for alarm in renderings[stack].of_type(ALARM):
        (link,) = re.findall(r"Runbook: (\S+)", alarm.inputs["alarmDescription"])
        assert (PROJECT_DIR / link).is_file(), link


@pytest.mark.parametrize(
    ("stack", "protected"),
    [
        pytest.param("prod", True, id="prod protects its data buckets and keeps them on delete"),
        pytest.param("staging", False, id="staging can be torn down"),
        pytest.param("dev", False, id="dev can be torn down"),
    ],
)
def test_data_protection_follows_the_stack(renderings: dict, stack: str, protected: bool) -> None:
    buckets = renderings[stack].of_type("aws:s3/bucket:Bucket")
    assert len(buckets) == 2
    assert all(b.protect is protected and b.retain_on_delete is protected for b in buckets)


def test_prod_spreads_at_least_three_instances_over_three_zones(renderings: dict) -> None:
    prod = renderings["prod"]
    (group,) = prod.of_type("aws:autoscaling/group:Group")
    assert group.inputs["minSize"] >= 3 and len(group.inputs["vpcZoneIdentifiers"]) == 3
    (grafana,) = prod.of_type("aws:grafana/workspace:Workspace")
    assert grafana.inputs["authenticationProviders"] == ["AWS_SSO"]


def test_local_talks_to_the_emulator_and_leaves_out_what_it_lacks(renderings: dict) -> None:
    local = renderings["local"]
    (provider,) = local.of_type("pulumi:providers:aws")
    assert "127.0.0.1:5000" in str(provider.inputs["endpoints"])
    assert provider.inputs["secretKey"] == "[secret]"
    assert not [r for r in local.resources if "grafana" in r.type]
    assert local.of_type("aws:amp/alertManagerDefinition:AlertManagerDefinition") == []
    assert local.of_type("aws:s3/bucketLogging:BucketLogging") == []
    assert local.of_type(NAMESPACE)


@pytest.mark.parametrize("stack", STACKS)
def test_the_provider_tags_everything_by_default(renderings: dict, stack: str) -> None:
    (provider,) = renderings[stack].of_type("pulumi:providers:aws")
    default_tags = yaml.safe_load(provider.inputs["defaultTags"])
    assert default_tags == {
        "tags": {"service": "exchange", "environment": stack, "owner": "sre-team"}
    }
