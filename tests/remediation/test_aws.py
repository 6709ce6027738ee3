"""The AWS side against moto: the DynamoDB store's conditional writes (two stores racing, one
wins), and the Lambda handler end to end (SNS event -> Auto Scaling, SSM, DynamoDB); botocore
Stubber for the instance-refresh calls moto lacks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from alerting.routing import REMEDIATION_MESSAGE
from remediation.alerts import AlertPayloadError
from remediation.aws import AwsActuator
from remediation.dynamo import DynamoAuditLog, DynamoStateStore
from remediation.guardrails import Request
from remediation.handler import RemediationFailed, Runtime, build_runtime, handle
from remediation.model import policy_to_json
from tests.remediation.conftest import TABLE
from tests.remediation.helpers import T0, later, policy


def _request(key: str = "k1", now: float = T0.timestamp(), **limits: int) -> Request:
    values = {
        "max_actions": 1,
        "window_seconds": 1800,
        "cooldown_seconds": 300,
        "keep_seconds": 9000,
        **limits,
    }
    return Request(scope="live/exchange", action="scale_out", key=key, now=now, **values)


def test_two_stores_racing_for_the_last_slot_one_wins(aws_session: boto3.Session) -> None:
    """Both read the empty history, then both write: the second write's condition fails, it
    reads again and finds the budget spent."""
    first = DynamoStateStore(aws_session.client("dynamodb"), TABLE)
    second = DynamoStateStore(aws_session.client("dynamodb"), TABLE)
    stale = second.history("live/exchange")  # what the second one read before the first wrote
    assert first.reserve(_request("a")) is None
    reads = iter([stale])
    original = second.history
    second.history = lambda scope: next(reads, None) or original(scope)  # type: ignore[method-assign]
    assert second.reserve(replace(_request("b"), action="rollback_release")) == "budget"
    assert first.history("live/exchange").actions == (T0.timestamp(),)


def test_the_same_alert_delivered_twice_is_reserved_once(aws_session: boto3.Session) -> None:
    store = DynamoStateStore(aws_session.client("dynamodb"), TABLE)
    assert store.reserve(_request("same", max_actions=5, cooldown_seconds=1)) is None
    assert (
        store.reserve(_request("same", now=T0.timestamp() + 60, max_actions=5, cooldown_seconds=1))
        == "duplicate"
    )
    assert store.reserve(_request("next", now=T0.timestamp() + 60, max_actions=5)) == "cooldown"
    assert store.reserve(_request("next", now=T0.timestamp() + 400, max_actions=5)) is None


def test_a_seen_key_that_has_expired_is_taken_again(aws_session: boto3.Session) -> None:
    store = DynamoStateStore(aws_session.client("dynamodb"), TABLE)
    assert store.reserve(_request("k", keep_seconds=60, max_actions=5, cooldown_seconds=1)) is None
    assert (
        store.reserve(
            _request(
                "k", now=T0.timestamp() + 120, keep_seconds=60, max_actions=5, cooldown_seconds=1
            )
        )
        is None
    )


def _fleet(
    session: boto3.Session, desired: int = 3, minimum: int = 2, maximum: int = 9
) -> tuple[str, list[str]]:
    ec2 = session.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="exchange",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small"},
    )
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    autoscaling = session.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="exchange-prod-abc",
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"]},
        MinSize=minimum,
        MaxSize=maximum,
        DesiredCapacity=desired,
        VPCZoneIdentifier=subnet,
    )
    group = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    return group["AutoScalingGroupName"], sorted(i["InstanceId"] for i in group["Instances"])


def _runtime(session: boto3.Session, tmp_path: Path, **guardrails: object) -> Runtime:
    (tmp_path / "policy.json").write_text(policy_to_json(policy(**guardrails)))
    env = {
        "REMEDIATION_POLICY_FILE": str(tmp_path / "policy.json"),
        "REMEDIATION_TABLE": TABLE,
        "REMEDIATION_GROUPS": json.dumps({"exchange": "exchange-prod-abc"}),
    }
    return build_runtime(env, lambda: session)


def _sns_event(*alerts: dict, sent=T0) -> dict:
    message = {
        "version": "4",
        "status": "firing",
        "receiver": "remediation",
        "alerts": list(alerts),
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "Message": json.dumps(message),
                    "Timestamp": sent.isoformat().replace("+00:00", "Z"),
                    "MessageId": "m1",
                },
            }
        ]
    }


def _alert(name: str, fingerprint: str, **labels: str) -> dict:
    return {
        "status": "firing",
        "labels": {
            "alertname": name,
            "sloth_service": "exchange",
            "sloth_severity": "page",
            **labels,
        },
        "annotations": {"summary": "it's slow"},
        "startsAt": "2024-05-06T09:14:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def test_the_handler_scales_the_group_out_within_bounds_and_audits(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    group, _ = _fleet(aws_session, desired=5, maximum=9)
    runtime = _runtime(aws_session, tmp_path, cooldown="1s", max_actions=10)
    first = handle(_sns_event(_alert("Latency", "a")), runtime, now=T0)
    second = handle(_sns_event(_alert("Latency", "b"), sent=later(1)), runtime, now=later(1))
    third = handle(_sns_event(_alert("Latency", "c"), sent=later(2)), runtime, now=later(2))
    autoscaling = aws_session.client("autoscaling")
    assert (
        autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"]
        == 6
    )
    outcomes = [r["decisions"][0]["reason"] for r in (first, second, third)]
    assert outcomes == ["acted", "at-bound", "at-bound"]  # the policy's max_replicas is 6
    assert (
        first["decisions"][0]["result"]["before"] == 5 and first["decisions"][0]["target"] == group
    )
    records = DynamoAuditLog(aws_session.client("dynamodb"), TABLE).records(T0)
    assert [r["reason"] for r in records] == outcomes
    assert DynamoStateStore(aws_session.client("dynamodb"), TABLE).history(
        "live/exchange"
    ).actions == (T0.timestamp(),)


def test_the_handler_restarts_the_service_on_one_instance_with_ssm(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    _, instances = _fleet(aws_session)
    runtime = _runtime(aws_session, tmp_path)
    sent: list[dict] = []
    runtime.actuator.ssm.meta.events.register(  # type: ignore[attr-defined]
        "provide-client-params.ssm.SendCommand", lambda params, **_: sent.append(dict(params))
    )
    result = handle(_sns_event(_alert("Hung", "h", instance_id=instances[1])), runtime, now=T0)
    (decision,) = result["decisions"]
    assert decision["outcome"] == "acted" and decision["target"] == instances[1]
    (request,) = sent
    assert (
        request["InstanceIds"] == [instances[1]] and request["DocumentName"] == "AWS-RunShellScript"
    )
    assert request["Parameters"] == {"commands": ["systemctl restart exchange.service"]}
    # moto kept the command (its InstanceIds list every instance when no Targets are given: a
    # moto quirk, hence the request itself is checked above).
    (command,) = aws_session.client("ssm").list_commands()["Commands"]
    assert command["CommandId"] == decision["result"]["after"]


def test_an_alert_naming_an_instance_outside_the_group_restarts_one_of_the_group(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    _, instances = _fleet(aws_session)
    result = handle(
        _sns_event(_alert("Hung", "h", instance_id="i-0000000000000dead")),
        _runtime(aws_session, tmp_path),
        now=T0,
    )
    assert result["decisions"][0]["target"] == instances[0]


def test_a_stale_or_repeated_delivery_changes_nothing(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    group, _ = _fleet(aws_session)
    runtime = _runtime(aws_session, tmp_path)
    stale = handle(
        _sns_event(_alert("Latency", "a"), sent=T0 - timedelta(minutes=6)), runtime, now=T0
    )
    assert stale["decisions"][0]["reason"] == "stale"
    assert (
        handle(_sns_event(_alert("Latency", "a")), runtime, now=T0)["decisions"][0]["reason"]
        == "acted"
    )
    again = handle(_sns_event(_alert("Latency", "a"), sent=later(1)), runtime, now=later(1))
    assert again["decisions"][0]["reason"] == "duplicate"
    desired = aws_session.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group]
    )["AutoScalingGroups"][0]["DesiredCapacity"]
    assert desired == 4


def test_shedding_load_is_skipped_on_aws(aws_session: boto3.Session, tmp_path: Path) -> None:
    _fleet(aws_session)
    result = handle(_sns_event(_alert("Login", "l")), _runtime(aws_session, tmp_path), now=T0)
    assert result["decisions"][0]["reason"] == "unsupported"


def test_a_message_that_is_not_an_alert_document_fails_the_invocation(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    runtime = _runtime(aws_session, tmp_path)
    event = {
        "Records": [
            {
                "Sns": {
                    "Message": "ExchangeOrderExecutionLatency is firing",
                    "Timestamp": "2024-05-06T09:15:00Z",
                }
            }
        ]
    }
    with pytest.raises(AlertPayloadError, match=r"Records\[0\]\.Sns\.Message: not JSON"):
        handle(event, runtime, now=T0)


def _stubbed(
    session: boto3.Session, refreshes: list[dict], rollback_error: str | None
) -> tuple[AwsActuator, Stubber]:
    client = session.client("autoscaling")
    stub = Stubber(client)
    group = {
        "AutoScalingGroupName": "g",
        "MinSize": 2,
        "MaxSize": 9,
        "DesiredCapacity": 3,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["us-east-1a"],
        "HealthCheckType": "ELB",
        "CreatedTime": T0,
        "Instances": [],
    }
    stub.add_response(
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [group]},
        {"AutoScalingGroupNames": ["g"]},
    )
    stub.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": refreshes},
        {"AutoScalingGroupName": "g", "MaxRecords": 10},
    )
    if any(r["Status"] == "InProgress" for r in refreshes):
        if rollback_error:
            stub.add_client_error(
                "rollback_instance_refresh",
                "ValidationError",
                rollback_error,
                expected_params={"AutoScalingGroupName": "g"},
            )
            stub.add_response(
                "cancel_instance_refresh",
                {"InstanceRefreshId": "r1"},
                {"AutoScalingGroupName": "g"},
            )
        else:
            stub.add_response(
                "rollback_instance_refresh",
                {"InstanceRefreshId": "r1"},
                {"AutoScalingGroupName": "g"},
            )
    stub.activate()
    return AwsActuator(client, session.client("ssm"), {"exchange": "g"}), stub


REFRESH = [{"InstanceRefreshId": "r1", "AutoScalingGroupName": "g", "Status": "InProgress"}]


@pytest.mark.parametrize(
    ("refreshes", "error", "detail", "changed"),
    [
        pytest.param(
            REFRESH,
            None,
            "rolling back instance refresh r1",
            True,
            id="a refresh in progress is rolled back",
        ),
        pytest.param(
            REFRESH,
            "no desired configuration",
            "cancelled instance refresh r1 (rollback refused: no desired configuration)",
            True,
            id="a refresh AWS will not roll back is cancelled",
        ),
        pytest.param(
            [{"InstanceRefreshId": "r0", "AutoScalingGroupName": "g", "Status": "Successful"}],
            None,
            "nothing to roll back",
            False,
            id="no refresh in progress: nothing is done",
        ),
    ],
)
def test_rollback_of_an_instance_refresh(
    aws_session: boto3.Session, refreshes, error, detail, changed
) -> None:
    actuator, stub = _stubbed(aws_session, refreshes, error)
    result = actuator.rollback("exchange")
    assert detail in result.detail and result.changed == changed
    stub.assert_no_pending_responses()


def test_the_remediation_receiver_message_is_what_the_handler_parses(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    """The template, rendered by amtool (Alertmanager's own template engine), with hostile
    label values, is a message the handler reads and acts on."""
    import subprocess

    from sre_platform.tools import find_tool

    hostile = "it's \\' a \"quote\" <b>&= \\ back\\\\slash \n tab\t é ✓ \u2028"
    (tmp_path / "t.tmpl").write_text('{{ define "m" }}' + REMEDIATION_MESSAGE + "{{ end }}")
    data = {
        "receiver": "remediation",
        "status": "firing",
        "alerts": [
            {**_alert("Latency", "fp'1", weird=hostile), "annotations": {"summary": hostile}}
        ],
        "groupLabels": {},
        "commonLabels": {"weird": hostile},
        "commonAnnotations": {},
        "externalURL": "http://am",
    }
    (tmp_path / "d.json").write_text(json.dumps(data))
    rendered = subprocess.run(
        [
            find_tool("amtool"),
            "template",
            "render",
            f"--template.glob={tmp_path / 't.tmpl'}",
            '--template.text={{ template "m" . }}',
            f"--template.data={tmp_path / 'd.json'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    document = json.loads(rendered)
    assert document["alerts"][0]["labels"]["weird"] == hostile == document["commonLabels"]["weird"]
    assert document["alerts"][0]["startsAt"] == "2024-05-06T09:14:00.123456789Z"
    _fleet(aws_session)
    event = {"Records": [{"Sns": {"Message": rendered, "Timestamp": "2024-05-06T09:15:00.000Z"}}]}
    (decision,) = handle(event, _runtime(aws_session, tmp_path), now=T0)["decisions"]
    assert decision["outcome"] == "acted" and decision["alert"]["fingerprint"] == "fp'1"


def test_a_failed_action_fails_the_invocation_after_auditing_it(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    runtime = _runtime(aws_session, tmp_path)  # no Auto Scaling group exists
    with pytest.raises(RemediationFailed, match="errors-rollback"):
        handle(_sns_event(_alert("Errors", "e")), runtime, now=T0)
    (record,) = DynamoAuditLog(aws_session.client("dynamodb"), TABLE).records(T0)
    assert record["outcome"] == "failed" and "does not exist" in record["detail"]
