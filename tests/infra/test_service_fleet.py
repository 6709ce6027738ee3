"""ServiceFleet: heals (ELB health checks), scales, changes safely, holds least privilege, and
boots on a first deployment (artifacts staged first, a concrete AMI, bounded retries at boot)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from artifacts import Artifact, FleetArtifacts
from components.service_fleet import (
    FETCH_ATTEMPTS,
    FETCH_MAX_DELAY_SECONDS,
    AccessLogs,
    ServiceFleet,
    ServiceFleetArgs,
    UserData,
    instance_policy,
    render_user_data,
    resolve_image_id,
)
from stacks.render import PlatformMocks, run_mocked
from tests.infra.conftest import TAGS, declare

WORKSPACE_ARN = "arn:aws:aps:us-east-1:123456789012:workspace/ws-1"
BUCKET_ARN = "arn:aws:s3:::artifacts-1"
REMOTE_WRITE = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
ROLLBACK = ("exchange-test-alb-5xx-ratio", "exchange-test-alb-p99-latency")
AMI = "ami-0123456789abcdef0"
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/c"
SERVICE = Artifact(
    "releases/exchange/0.1.0/" + "a" * 16 + "/exchange.tar.gz", Path("/b/s.tgz"), "a" * 64
)
NODE_EXPORTER = Artifact("tools/node_exporter-1.9.1.linux-amd64.tar.gz", Path("/d/n.tgz"), "b" * 64)
PROMETHEUS = Artifact("tools/prometheus-3.5.0.linux-amd64.tar.gz", Path("/d/p.tgz"), "c" * 64)
ARTIFACTS = FleetArtifacts(SERVICE, PROMETHEUS, NODE_EXPORTER)


def _args(**options: object) -> ServiceFleetArgs:
    return ServiceFleetArgs(
        **{
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
            "image_id": AMI,
            "artifacts": ARTIFACTS,
            "access_logs": AccessLogs(bucket="logs-1", prefix="elb"),
            "refresh_alarm_names": ROLLBACK,
            **options,
        }
    )


def _fleet(**options: object) -> dict:
    return declare(lambda: ServiceFleet("fleet", _args(**options)))


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


def test_a_template_change_rolls_out_with_checkpoints_and_stops_on_alarms(fleet: dict) -> None:
    refresh = fleet["fleet-asg"].inputs["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    prefs = refresh["preferences"]
    # No automatic rollback: the provider switches the group to the new template version
    # before it starts the refresh, so a rollback would restore that same version.
    assert prefs["autoRollback"] is False
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
        # a missing artifact is a 404 (NoSuchKey), not a 403 that reads like a permissions bug
        (("s3:ListBucket",), (BUCKET_ARN,)),
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


def test_a_certificate_adds_https_and_http_only_redirects_to_it() -> None:
    fleet = _fleet(certificate_arn=CERTIFICATE)
    https = fleet["fleet-https"].inputs
    assert (https["port"], https["protocol"], https["certificateArn"]) == (
        443,
        "HTTPS",
        CERTIFICATE,
    )
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    (forward,) = https["defaultActions"]
    assert forward["type"] == "forward"
    http = fleet["fleet-http"].inputs
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    (action,) = http["defaultActions"]
    assert action == {
        "type": "redirect",
        "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"},
    }
    assert {rule["fromPort"] for rule in fleet["fleet-alb-sg"].inputs["ingress"]} == {80, 443}


def test_without_a_certificate_port_80_forwards(fleet: dict) -> None:
    assert "fleet-https" not in fleet
    (action,) = fleet["fleet-http"].inputs["defaultActions"]
    assert action["type"] == "forward"


def test_the_load_balancer_writes_access_logs_to_the_logs_bucket(fleet: dict) -> None:
    logs = fleet["fleet-alb"].inputs["accessLogs"]
    assert logs == {"bucket": "logs-1", "prefix": "elb", "enabled": True}
    assert "accessLogs" not in _fleet(access_logs=None)["fleet-alb"].inputs


# --- a first deployment boots ----------------------------------------------------------------


def test_the_launch_template_holds_the_concrete_ami(fleet: dict) -> None:
    assert fleet["fleet-lt"].inputs["imageId"] == AMI


def test_an_ssm_parameter_is_resolved_to_an_ami_id_at_deploy_time() -> None:
    fleet = declare(
        lambda: ServiceFleet("fleet", _args(image_id=resolve_image_id(f"resolve:ssm:{AL2023}")))
    )
    image = fleet["fleet-lt"].inputs["imageId"]
    assert image == PlatformMocks.image_id(AL2023)  # what the mocked parameter holds
    assert re.fullmatch(r"ami-[0-9a-f]{17}", image)


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(f"resolve:ssm:{AL2023}", id="an unresolved SSM parameter is refused"),
        pytest.param("ami-XYZ", id="something that is not an AMI id is refused"),
    ],
)
def test_the_launch_template_refuses_an_image_that_is_not_an_ami_id(image: str) -> None:
    with pytest.raises(Exception, match=r"needs an AMI id \(ami-\.\.\.\)"):
        run_mocked(lambda: ServiceFleet("fleet", _args(image_id=image)))


def test_resolving_refuses_a_value_that_is_neither() -> None:
    with pytest.raises(ValueError, match="needs an AMI id"):
        resolve_image_id("al2023")


def test_the_artifacts_are_uploaded_with_their_content_hash(fleet: dict) -> None:
    objects = {r.name: r.inputs for r in fleet.values() if r.type.endswith("BucketObjectv2")}
    assert set(objects) == {
        "fleet-artifact-service",
        "fleet-artifact-node-exporter",
        "fleet-artifact-prometheus",
    }
    for name, artifact in (
        ("fleet-artifact-service", SERVICE),
        ("fleet-artifact-node-exporter", NODE_EXPORTER),
        ("fleet-artifact-prometheus", PROMETHEUS),
    ):
        upload = objects[name]
        assert upload["bucket"] == "artifacts-1" and upload["key"] == artifact.key
        assert upload["source"] == {"fileAsset": str(artifact.path)}
        assert upload["sourceHash"] == artifact.sha256  # a changed file is uploaded again
        assert upload["checksumAlgorithm"] == "SHA256"


def test_instances_start_only_after_what_they_need_at_boot(fleet: dict) -> None:
    assert fleet["fleet-lt"].depends_on == ("fleet-policy",)
    assert set(fleet["fleet-asg"].depends_on) == {
        "fleet-artifact-service",
        "fleet-artifact-node-exporter",
        "fleet-artifact-prometheus",
        "fleet-http",
    }
    # the target group is attached (by a listener) before scaling on requests per target
    assert fleet["fleet-requests-tracking"].depends_on == ("fleet-http",)
    https = _fleet(certificate_arn=CERTIFICATE)
    assert {"fleet-http", "fleet-https"} <= set(https["fleet-asg"].depends_on)
    assert set(https["fleet-requests-tracking"].depends_on) == {"fleet-http", "fleet-https"}


def test_the_group_waits_for_the_boot_dependencies_it_is_given() -> None:
    import pulumi_aws as aws

    def program() -> None:
        endpoint = aws.ec2.VpcEndpoint("s3-endpoint", vpc_id="vpc-1", service_name="s3")
        ServiceFleet("fleet", _args(boot_dependencies=[endpoint]))

    fleet = declare(program)
    assert "s3-endpoint" in fleet["fleet-asg"].depends_on


def test_user_data_installs_from_the_bucket_and_remote_writes_with_sigv4(fleet: dict) -> None:
    script = _user_data(fleet)
    assert "BUCKET=artifacts-1" in script
    for artifact in (SERVICE, NODE_EXPORTER, PROMETHEUS):
        assert f"{artifact.key} " in script and f" {artifact.sha256}\n" in script
    assert f"url: {REMOTE_WRITE}" in script and "sigv4:" in script
    assert "--agent" in script
    assert "systemctl enable --now exchange.service node_exporter.service" in script
    assert f"FETCH_ATTEMPTS={FETCH_ATTEMPTS}\n" in script


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


def _values(**changes: object) -> dict:
    return {
        "service": "exchange",
        "environment": "dev",
        "region": "us-east-1",
        "bucket": "b",
        "port": 8080,
        "remote_write_url": REMOTE_WRITE,
        "service_artifact": SERVICE,
        "node_exporter_artifact": NODE_EXPORTER,
        "prometheus_artifact": PROMETHEUS,
        **changes,
    }


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
        pytest.param(
            "service_artifact",
            Artifact("releases/$(id).tar.gz", Path("/x"), "a" * 64),
            id="a key with shell syntax is refused",
        ),
        pytest.param(
            "prometheus_artifact",
            Artifact("tools/../../etc/passwd", Path("/x"), "a" * 64),
            id="a key leaving its prefix is refused",
        ),
        pytest.param(
            "node_exporter_artifact",
            Artifact("tools/n.tar.gz", Path("/x"), "abc; id"),
            id="a checksum that is not hex is refused",
        ),
    ],
)
def test_user_data_refuses_values_that_would_change_the_script(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        render_user_data(UserData(**_values(**{field: value})))


# --- the user data's fetches, run with a fake aws on PATH --------------------------------------

FAKE_AWS = """#!/bin/bash
# aws s3 cp --only-show-errors --region R s3://BUCKET/KEY DEST: fail $FAIL_TIMES times, then copy
echo "$*" >> "$WORK/aws.calls"
calls=$(wc -l < "$WORK/aws.calls")
if (( calls <= FAIL_TIMES )); then
  echo "An error occurred (AccessDenied) when calling the HeadObject operation" >&2
  exit 1
fi
cp "$SOURCE" "${@: -1}"
"""
FAKE_SLEEP = '#!/bin/sh\necho "$1" >> "$WORK/sleeps"\n'


def _tarball() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho node_exporter\n"
        info = tarfile.TarInfo("node_exporter-1.9.1.linux-amd64/node_exporter")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _run_function(tmp_path: Path, call: str, fail_times: int, served: bytes, sha256: str):
    """Source the rendered user data (which defines its functions and runs nothing), then run
    ``call`` with a fake aws and sleep on PATH. Returns (result, aws calls, sleeps)."""
    script = tmp_path / "user-data.sh"
    script.write_text(
        render_user_data(
            UserData(
                **_values(node_exporter_artifact=Artifact(NODE_EXPORTER.key, Path("/x"), sha256))
            )
        )
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("sleep", FAKE_SLEEP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "served").write_bytes(served)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WORK": str(tmp_path),
        "SOURCE": str(tmp_path / "served"),
        "FAIL_TIMES": str(fail_times),
    }
    result = subprocess.run(
        ["bash", "-c", f'source "{script}"; set +e; {call}; echo "exit=$?"'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    calls = tmp_path / "aws.calls"
    sleeps = tmp_path / "sleeps"
    return (
        result,
        calls.read_text().splitlines() if calls.exists() else [],
        [int(s) for s in sleeps.read_text().split()] if sleeps.exists() else [],
    )


def _backoff(retries: int) -> list[int]:
    return [min(2**i, FETCH_MAX_DELAY_SECONDS) for i in range(retries)]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize(
    "failures",
    [
        pytest.param(0, id="a fetch that works at once does not wait"),
        pytest.param(3, id="a fetch that fails three times succeeds on the fourth try"),
        pytest.param(FETCH_ATTEMPTS - 1, id="a fetch succeeds on the last allowed try"),
    ],
)
def test_a_failing_fetch_is_retried_with_backoff(tmp_path: Path, failures: int) -> None:
    data = _tarball()
    sha = hashlib.sha256(data).hexdigest()
    dest = tmp_path / "opt"
    result, calls, sleeps = _run_function(
        tmp_path, f"unpack {NODE_EXPORTER.key} {dest} {sha}", failures, data, sha
    )
    assert result.stdout.strip() == "exit=0", result.stderr
    assert len(calls) == failures + 1
    assert calls[0].split() == [
        "s3", "cp", "--only-show-errors", "--region", "us-east-1",
        f"s3://b/{NODE_EXPORTER.key}", calls[0].split()[-1],
    ]  # fmt: skip
    assert sleeps == _backoff(failures)
    assert (dest / "node_exporter").read_text() == "#!/bin/sh\necho node_exporter\n"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_a_fetch_gives_up_after_the_bound_and_says_so(tmp_path: Path) -> None:
    data = _tarball()
    sha = hashlib.sha256(data).hexdigest()
    result, calls, sleeps = _run_function(
        tmp_path, f"fetch {NODE_EXPORTER.key} {tmp_path}/out {sha}", 1000, data, sha
    )
    assert result.stdout.strip() == "exit=1"
    assert len(calls) == FETCH_ATTEMPTS
    assert sleeps == _backoff(FETCH_ATTEMPTS - 1)
    assert sum(sleeps) == 95  # the documented worst case before an instance gives up
    assert f"giving up on s3://b/{NODE_EXPORTER.key} after {FETCH_ATTEMPTS} attempts" in (
        result.stderr
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_a_download_with_the_wrong_checksum_is_discarded_and_retried(tmp_path: Path) -> None:
    expected = "d" * 64
    result, calls, _ = _run_function(
        tmp_path, f"fetch {NODE_EXPORTER.key} {tmp_path}/out {expected}", 0, b"tampered", expected
    )
    assert result.stdout.strip() == "exit=1"
    assert len(calls) == FETCH_ATTEMPTS
    assert f"does not have SHA-256 {expected}" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_an_artifact_without_a_checksum_is_refused_without_fetching(tmp_path: Path) -> None:
    result, calls, _ = _run_function(
        tmp_path, f"fetch {NODE_EXPORTER.key} {tmp_path}/out unknown", 0, b"x", "a" * 64
    )
    assert result.stdout.strip() == "exit=1"
    assert calls == [] and "no SHA-256" in result.stderr


def test_an_unknown_checksum_is_rendered_as_unknown() -> None:
    script = render_user_data(
        UserData(**_values(prometheus_artifact=Artifact(PROMETHEUS.key, Path("/x"), None)))
    )
    assert f"unpack {PROMETHEUS.key} /opt/prometheus unknown\n" in script


def test_every_child_is_parented_and_tagged(fleet: dict) -> None:
    for name, resource in fleet.items():
        if name != "fleet":
            assert resource.parent == "fleet"
        tags = resource.inputs.get("tags")
        if isinstance(tags, dict):
            assert TAGS.items() <= tags.items(), name
        elif isinstance(tags, list):
            assert {t["key"]: t["value"] for t in tags} == TAGS
