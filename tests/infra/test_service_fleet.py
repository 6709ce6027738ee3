"""ServiceFleet: heals (ELB health checks), scales, changes safely, holds least privilege."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components.service_fleet import (
    ServiceFleet,
    ServiceFleetArgs,
    UserData,
    instance_policy,
    render_user_data,
)
from tests.infra.conftest import TAGS, declare

WORKSPACE_ARN = "arn:aws:aps:us-east-1:123456789012:workspace/ws-1"
BUCKET_ARN = "arn:aws:s3:::artifacts-1"
REMOTE_WRITE = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
ROLLBACK = ("exchange-test-alb-5xx-ratio", "exchange-test-alb-p99-latency")


def _fleet(**options: object) -> dict:
    args = {
        "service": "exchange",
        "environment": "test",
        "region": "us-east-1",
        "tags": TAGS,
        "vpc_id": "vpc-1",
        "vpc_cidr": "10.0.0.0/16",
        "public_subnet_ids": ["subnet-pub-a", "subnet-pub-b"],
        "private_subnet_ids": ["subnet-priv-a", "subnet-priv-b"],
        "artifacts_bucket_name": "artifacts-1",
        "artifacts_bucket_arn": BUCKET_ARN,
        "amp_workspace_arn": WORKSPACE_ARN,
        "amp_remote_write_url": REMOTE_WRITE,
        "rollback_alarm_names": ROLLBACK,
        **options,
    }
    return declare(lambda: ServiceFleet("fleet", ServiceFleetArgs(**args)))


@pytest.fixture(scope="module")
def fleet() -> dict:
    return _fleet()


def _user_data(fleet: dict) -> str:
    return base64.b64decode(fleet["fleet-lt"].inputs["userData"]).decode()


def test_the_launch_template_requires_imdsv2_encrypts_gp3_and_has_no_key(fleet: dict) -> None:
    lt = fleet["fleet-lt"].inputs
    assert lt["metadataOptions"]["httpTokens"] == "required"
    assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (disk,) = lt["blockDeviceMappings"]
    assert disk["ebs"]["volumeType"] == "gp3" and disk["ebs"]["encrypted"] == "true"
    assert "keyName" not in lt
    assert lt["updateDefaultVersion"] is True
    assert {spec["resourceType"] for spec in lt["tagSpecifications"]} == {"instance", "volume"}


def test_the_group_replaces_instances_the_load_balancer_finds_unhealthy(fleet: dict) -> None:
    asg = fleet["fleet-asg"].inputs
    assert asg["healthCheckType"] == "ELB"
    (target_group_arn,) = asg["targetGroupArns"]
    assert ":targetgroup/fleet-tg/" in target_group_arn
    assert asg["vpcZoneIdentifiers"] == ["subnet-priv-a", "subnet-priv-b"]
    health = fleet["fleet-tg"].inputs["healthCheck"]
    assert health["path"] == "/healthz" and health["matcher"] == "200"
    assert asg["launchTemplate"]["version"] == 1  # follows the template's latest version


def test_a_template_change_rolls_out_with_checkpoints_and_rolls_back_on_alarms(
    fleet: dict,
) -> None:
    refresh = fleet["fleet-asg"].inputs["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    prefs = refresh["preferences"]
    assert prefs["autoRollback"] is True
    assert prefs["alarmSpecification"] == {"alarms": list(ROLLBACK)}
    assert prefs["checkpointPercentages"] == [50, 100]
    assert prefs["minHealthyPercentage"] == 90


def test_the_group_scales_on_cpu_and_on_requests_per_target(fleet: dict) -> None:
    cpu = fleet["fleet-cpu-tracking"].inputs["targetTrackingConfiguration"]
    requests = fleet["fleet-requests-tracking"].inputs["targetTrackingConfiguration"]
    assert cpu["predefinedMetricSpecification"]["predefinedMetricType"] == (
        "ASGAverageCPUUtilization"
    )
    spec = requests["predefinedMetricSpecification"]
    assert spec["predefinedMetricType"] == "ALBRequestCountPerTarget"
    assert re.fullmatch(r"app/fleet-alb/\w+/targetgroup/fleet-tg/\w+", spec["resourceLabel"])


def test_the_role_allows_ssm_remote_write_to_this_workspace_and_artifact_reads(
    fleet: dict,
) -> None:
    assert fleet["fleet-ssm-core"].inputs["policyArn"].endswith("AmazonSSMManagedInstanceCore")
    policy = json.loads(fleet["fleet-policy"].inputs["policy"])
    allowed = {(tuple(s["Action"]), tuple(s["Resource"])) for s in policy["Statement"]}
    assert allowed == {
        (("aps:RemoteWrite",), (WORKSPACE_ARN,)),
        (("s3:GetObject",), (f"{BUCKET_ARN}/releases/*", f"{BUCKET_ARN}/tools/*")),
    }
    trust = json.loads(fleet["fleet-role"].inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_a_kms_encrypted_artifacts_bucket_adds_decrypt_on_that_key_only() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    statements = json.loads(instance_policy(WORKSPACE_ARN, BUCKET_ARN, key))["Statement"]
    assert statements[-1]["Action"] == ["kms:Decrypt"] and statements[-1]["Resource"] == [key]


def test_instances_take_traffic_from_the_load_balancer_only(fleet: dict) -> None:
    (ingress,) = fleet["fleet-instance-sg"].inputs["ingress"]
    assert ingress["fromPort"] == ingress["toPort"] == 8080
    assert "cidrBlocks" not in ingress and len(ingress["securityGroups"]) == 1
    alb_ports = {rule["fromPort"] for rule in fleet["fleet-alb-sg"].inputs["ingress"]}
    assert alb_ports == {80}


def test_a_certificate_adds_https_and_http_redirects_to_it() -> None:
    fleet = _fleet(certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/c")
    assert fleet["fleet-https"].inputs["protocol"] == "HTTPS"
    assert fleet["fleet-https"].inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (action,) = fleet["fleet-http"].inputs["defaultActions"]
    assert action["type"] == "redirect" and action["redirect"]["protocol"] == "HTTPS"
    assert {rule["fromPort"] for rule in fleet["fleet-alb-sg"].inputs["ingress"]} == {80, 443}


def test_user_data_installs_from_the_bucket_and_remote_writes_with_sigv4(fleet: dict) -> None:
    script = _user_data(fleet)
    assert "BUCKET=artifacts-1" in script
    assert "releases/exchange/0.1.0/exchange.tar.gz" in script
    assert "tools/prometheus-3.5.0.linux-amd64.tar.gz" in script
    assert "tools/node_exporter-1.9.1.linux-amd64.tar.gz" in script
    assert f"url: {REMOTE_WRITE}" in script and "sigv4:" in script
    assert "--agent" in script
    assert "systemctl enable --now exchange.service node_exporter.service" in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_user_data_is_valid_bash(fleet: dict, tmp_path: Path) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(_user_data(fleet))
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_agent_configuration_is_valid_for_prometheus(fleet: dict, tmp_path: Path) -> None:
    script = _user_data(fleet)
    body = script.split("cat >/etc/prometheus/agent.yml <<CONFIG\n", 1)[1].split("\nCONFIG\n")[0]
    config = tmp_path / "agent.yml"
    config.write_text(body.replace("$INSTANCE_ID", "i-0123456789abcdef0"))
    result = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(
            "service", "exchange; rm -rf /", id="a service name with shell syntax is refused"
        ),
        pytest.param(
            "environment", "Prod", id="an environment that is not a lowercase name is refused"
        ),
        pytest.param(
            "remote_write_url",
            "https://x/$(id)",
            id="a remote write URL with shell syntax is refused",
        ),
    ],
)
def test_user_data_refuses_values_that_would_change_the_script(field: str, value: str) -> None:
    values = {
        "service": "exchange",
        "environment": "dev",
        "region": "us-east-1",
        "bucket": "b",
        "port": 8080,
        "service_version": "1",
        "prometheus_version": "3.5.0",
        "node_exporter_version": "1.9.1",
        "remote_write_url": REMOTE_WRITE,
        field: value,
    }
    with pytest.raises(ValueError):
        render_user_data(UserData(**values))


def test_every_child_is_parented_and_tagged(fleet: dict) -> None:
    for name, resource in fleet.items():
        if name != "fleet":
            assert resource.parent == "fleet"
        tags = resource.inputs.get("tags")
        if isinstance(tags, dict):
            assert TAGS.items() <= tags.items(), name
        elif isinstance(tags, list):
            assert {t["key"]: t["value"] for t in tags} == TAGS
