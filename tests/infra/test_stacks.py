"""Every stack, rendered whole: it carries the compiled SLO rules, routes alerts to its topics,
wires the fleet to its alarms, and exports what an operator needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from alerting import compile_specs
from stacks.config import load_stack_file
from stacks.environment import build
from stacks.render import Rendering, run_mocked
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
    remediation = load_stack_file(PROJECT_DIR, stack).remediation_enabled
    assert set(outputs) == (
        EXPORTS
        | ({"grafana_url"} if grafana else set())
        | ({"remediation_function"} if remediation else set())
    )
    https = load_stack_file(PROJECT_DIR, stack).platform.fleet.certificate_arn is not None
    assert outputs["load_balancer_url"].startswith("https://" if https else "http://")
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
    assert topics == {
        "page": outputs["page_topic_arn"],
        "ticket": outputs["ticket_topic_arn"],
        "remediation": outputs["page_topic_arn"].replace("-page", "-remediation"),
    }
    routes = {tuple(r.get("matchers", ())): r["receiver"] for r in config["route"]["routes"]}
    assert routes == {
        (): "remediation",  # every alert, first, then on to the routes below (continue)
        ('sloth_severity="page"',): "page",
        ('sloth_severity="ticket"',): "ticket",
    }


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        pytest.param(
            ["sloth_severity=page", "sloth_slo=order-api-availability"],
            "remediation,page",
            id="a page alert reaches the remediation and page topics",
        ),
        pytest.param(
            ["sloth_severity=ticket", "sloth_slo=order-api-availability"],
            "remediation,ticket",
            id="a ticket alert reaches the remediation and ticket topics",
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


# --- issue 9: Grafana reads AMP, the fleet boots and rolls out safely, prod serves HTTPS ------

LISTENER = "aws:lb/listener:Listener"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "local"])
def test_grafana_runs_a_pinned_version_and_reads_amp_through_the_amp_plugin(
    renderings: dict, stack: str
) -> None:
    (workspace,) = renderings[stack].of_type("aws:grafana/workspace:Workspace")
    assert workspace.inputs["grafanaVersion"] == "12.4"
    sources = renderings[stack].of_type("grafana:oss/dataSource:DataSource")
    assert sources and all(
        s.inputs["type"] == "grafana-amazonprometheus-datasource" for s in sources
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_launch_template_holds_a_concrete_ami_and_rolls_out_without_auto_rollback(
    renderings: dict, stack: str
) -> None:
    (template,) = renderings[stack].of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert re.fullmatch(r"ami-[0-9a-f]{17}", template.inputs["imageId"])
    (group,) = renderings[stack].of_type("aws:autoscaling/group:Group")
    assert group.inputs["instanceRefresh"]["preferences"]["autoRollback"] is False


def test_prod_serves_https_with_its_certificate_and_port_80_only_redirects(
    renderings: dict,
) -> None:
    prod = renderings["prod"]
    listeners = {r.inputs["port"]: r.inputs for r in prod.of_type(LISTENER)}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    certificate = load_stack_file(PROJECT_DIR, "prod").platform.fleet.certificate_arn
    assert https["protocol"] == "HTTPS" and https["certificateArn"] == certificate
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [a["type"] for a in listeners[80]["defaultActions"]] == ["redirect"]
    assert listeners[80]["defaultActions"][0]["redirect"]["statusCode"] == "HTTP_301"


@pytest.mark.parametrize("stack", STACKS)
def test_the_load_balancer_writes_access_logs_to_the_logs_bucket(
    renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    (alb,) = rendering.of_type("aws:lb/loadBalancer:LoadBalancer")
    logs = alb.inputs["accessLogs"]
    assert logs["enabled"] is True and logs["prefix"]
    assert logs["bucket"] == rendering.outputs["logs_bucket"]
    # the bucket name comes through the logs bucket's policy: the grant exists first
    assert "logs-policy" in alb.dependencies["accessLogs"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_first_deployment_stages_what_instances_fetch_before_they_start(
    renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    uploads = rendering.of_type(OBJECT)
    assert sorted(u.inputs["key"].split("/")[0] for u in uploads) == ["releases", "tools", "tools"]
    assert all(u.inputs["bucket"] == rendering.outputs["artifacts_bucket"] for u in uploads)
    (service,) = [u for u in uploads if u.inputs["key"].startswith("releases/")]
    assert re.fullmatch(r"[0-9a-f]{64}", service.inputs["sourceHash"])
    (template,) = rendering.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    (group,) = rendering.of_type("aws:autoscaling/group:Group")
    assert template.depends_on == ("fleet-policy",)
    endpoints = {r.name for r in rendering.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints  # every stack has its endpoints on
    listeners = {r.name for r in rendering.of_type(LISTENER)}
    assert set(group.depends_on) == {u.name for u in uploads} | listeners | endpoints


def _prod_on(today: date):
    settings = load_stack_file(PROJECT_DIR, "prod")
    resources, _ = run_mocked(lambda: build(settings, today=today), stack="prod")
    (token,) = [r for r in resources if r.type.endswith("WorkspaceServiceAccountToken")]
    return token.inputs["name"]


def test_any_up_after_a_rotation_boundary_replaces_the_grafana_token() -> None:
    days = load_stack_file(PROJECT_DIR, "prod").platform.grafana.token_rotation_days
    start = date(2026, 2, 26)  # a period start for 14 days (periods count from 1970-01-01)
    assert (start - date(1970, 1, 1)).days % days == 0
    first, last_day, next_period = (
        _prod_on(start),
        _prod_on(start + timedelta(days=days - 1)),
        _prod_on(start + timedelta(days=days)),
    )
    assert first == last_day == "pulumi-20260226"
    assert next_period == f"pulumi-{start + timedelta(days=days):%Y%m%d}"
