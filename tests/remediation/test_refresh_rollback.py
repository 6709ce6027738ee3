"""A bad release during an instance refresh: the order API's availability page, as AMP would
publish it to the remediation topic, reaches the Lambda handler, which stops the refresh.

Everything on the way is the project's own: the page alert's labels come from the SLO rules
the compiler emits for slo_specs/, the message template from the alert manager definition the
prod stack declares (rendered offline), the message text from amtool (Alertmanager's own
template engine), the policy from the Lambda's package (ops/remediation.yaml compiled), the
state and audit from DynamoDB in moto. moto has no instance refreshes, so the Auto Scaling
client is a botocore Stubber that checks every request the handler makes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from alerting import compile_specs
from components.remediation import lambda_code
from remediation.dynamo import DynamoAuditLog
from remediation.handler import build_runtime, handle
from remediation.policy import load_policy
from sre_platform.tools import find_tool
from stacks.render import render_stack
from tests.remediation.conftest import REGION, TABLE
from tests.remediation.helpers import T0, later

PROJECT_DIR = Path(__file__).resolve().parents[2]
GROUP = "exchange-prod-20240506"
REFRESH_ID = "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b"
PAGE = "ExchangeOrderAPIAvailability"


@pytest.fixture(scope="module")
def prod_template() -> str:
    """The remediation receiver's message template in prod's alert manager definition."""
    rendering = render_stack(PROJECT_DIR, "prod")
    (definition,) = rendering.of_type("aws:amp/alertManagerDefinition:AlertManagerDefinition")
    config = yaml.safe_load(yaml.safe_load(definition.inputs["definition"])["alertmanager_config"])
    (receiver,) = [r for r in config["receivers"] if r["name"] == "remediation"]
    (sns,) = receiver["sns_configs"]
    assert sns["topic_arn"] == f"arn:aws:sns:{REGION}:123456789012:exchange-prod-remediation"
    return sns["message"]


def page_labels() -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations of the order API's availability page, as Prometheus fires
    it: the rule's labels, its alert name, and the labels its expression keeps."""
    rules = [
        rule
        for file in compile_specs([PROJECT_DIR / "slo_specs"], period="30d")
        for group in file.rule_groups
        for rule in group.rules
        if rule.alert == PAGE and rule.labels.get("sloth_severity") == "page"
    ]
    (rule,) = rules
    kept = dict(re.findall(r'(\w+)="([^"]*)"', rule.expr.split("}")[0]))
    labels = {"alertname": PAGE, **kept, **rule.labels}
    annotations = {
        key: re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels[m.group(1)], value)
        for key, value in rule.annotations.items()
    }
    return labels, annotations


def amp_message(template: str, tmp_path: Path) -> str:
    """The SNS message AMP's alert manager publishes for the page (group_by '...': one alert
    per notification), rendered by amtool from the deployed template."""
    labels, annotations = page_labels()
    data = {
        "receiver": "remediation",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2024-05-06T09:13:30.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://aps-workspaces.us-east-1.amazonaws.com/graph",
                "fingerprint": "7f1c2b9a0d3e4f56",
            }
        ],
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "https://aps-workspaces.us-east-1.amazonaws.com/alertmanager",
    }
    (tmp_path / "t.tmpl").write_text('{{ define "m" }}' + template + "{{ end }}")
    (tmp_path / "d.json").write_text(json.dumps(data))
    return subprocess.run(
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


def sns_event(message: str, sent: str = "2024-05-06T09:15:00.000Z") -> dict:
    """The event Lambda gets from an SNS subscription (one record)."""
    topic = f"arn:aws:sns:{REGION}:123456789012:exchange-prod-remediation"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": topic,
                    "Subject": "remediation",
                    "Message": message,
                    "Timestamp": sent,
                    "MessageAttributes": {},
                },
            }
        ]
    }


def packaged_policy(tmp_path: Path) -> Path:
    """policy.json exactly as the Lambda's package holds it (ops/remediation.yaml compiled)."""
    archive = lambda_code(load_policy(PROJECT_DIR / "ops" / "remediation.yaml"))
    path = tmp_path / "policy.json"
    path.write_text(archive.assets["remediation/policy.json"].text)
    return path


GROUP_DESCRIPTION = {
    "AutoScalingGroupName": GROUP,
    "MinSize": 3,
    "MaxSize": 9,
    "DesiredCapacity": 3,
    "DefaultCooldown": 300,
    "AvailabilityZones": ["us-east-1a", "us-east-1b", "us-east-1d"],
    "HealthCheckType": "ELB",
    "CreatedTime": T0,
    "Instances": [],
}
# A refresh paused at its first checkpoint (one instance of three on the new version).
IN_PROGRESS = {
    "InstanceRefreshId": REFRESH_ID,
    "AutoScalingGroupName": GROUP,
    "Status": "InProgress",
    "StatusReason": "Waiting at checkpoint 33%",
    "PercentageComplete": 33,
    "InstancesToUpdate": 2,
    "Preferences": {
        "MinHealthyPercentage": 100,
        "InstanceWarmup": 120,
        "CheckpointPercentages": [33, 66, 100],
        "CheckpointDelay": 900,
        "SkipMatching": True,
        "AutoRollback": False,
    },
}
NO_DESIRED_CONFIGURATION = (
    "Rollback is not supported because the instance refresh has no desired configuration."
)


def stub_refresh(client: object, rollback_refused: bool) -> Stubber:
    """What the handler may call on Auto Scaling, in order, with the exact parameters."""
    stub = Stubber(client)
    stub.add_response(
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [GROUP_DESCRIPTION]},
        {"AutoScalingGroupNames": [GROUP]},
    )
    stub.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [IN_PROGRESS]},
        {"AutoScalingGroupName": GROUP, "MaxRecords": 10},
    )
    if rollback_refused:
        stub.add_client_error(
            "rollback_instance_refresh",
            "ValidationError",
            NO_DESIRED_CONFIGURATION,
            expected_params={"AutoScalingGroupName": GROUP},
        )
        stub.add_response(
            "cancel_instance_refresh",
            {"InstanceRefreshId": REFRESH_ID},
            {"AutoScalingGroupName": GROUP},
        )
    else:
        stub.add_response(
            "rollback_instance_refresh",
            {"InstanceRefreshId": REFRESH_ID},
            {"AutoScalingGroupName": GROUP},
        )
    stub.activate()
    return stub


@pytest.mark.parametrize(
    ("rollback_refused", "detail", "after"),
    [
        pytest.param(
            False,
            f"rolling back instance refresh {REFRESH_ID}",
            "RollbackInProgress",
            id="AWS accepts the rollback: RollbackInstanceRefresh",
        ),
        pytest.param(
            True,
            f"cancelled instance refresh {REFRESH_ID} (rollback refused: "
            f"{NO_DESIRED_CONFIGURATION})",
            "Cancelling",
            id="AWS refuses it (no desired configuration): CancelInstanceRefresh",
        ),
    ],
)
def test_the_order_api_page_during_a_refresh_stops_it(
    aws_session: boto3.Session,
    prod_template: str,
    tmp_path: Path,
    rollback_refused: bool,
    detail: str,
    after: str,
) -> None:
    message = amp_message(prod_template, tmp_path)
    assert json.loads(message)["alerts"][0]["labels"]["alertname"] == PAGE
    runtime = build_runtime(
        {
            "REMEDIATION_POLICY_FILE": str(packaged_policy(tmp_path)),
            "REMEDIATION_TABLE": TABLE,
            "REMEDIATION_GROUPS": json.dumps({"exchange": GROUP}),
        },
        lambda: aws_session,
    )
    stub = stub_refresh(runtime.actuator.autoscaling, rollback_refused)  # type: ignore[attr-defined]

    (decision,) = handle(sns_event(message), runtime, now=T0)["decisions"]
    assert (decision["outcome"], decision["rule"], decision["action"]["type"]) == (
        "acted",
        "availability-page-rollback",
        "rollback_release",
    )
    assert decision["target"] == GROUP and decision["detail"] == detail
    assert (decision["result"]["before"], decision["result"]["after"]) == (REFRESH_ID, after)
    stub.assert_no_pending_responses()

    # SNS delivers again (a retry, or AMP's repeat): nothing more is called on Auto Scaling.
    (again,) = handle(sns_event(message, sent="2024-05-06T09:16:00.000Z"), runtime, now=later(1))[
        "decisions"
    ]
    assert again["reason"] == "duplicate"
    stub.assert_no_pending_responses()
    audit = DynamoAuditLog(aws_session.client("dynamodb"), TABLE).records(T0)
    assert [(r["outcome"], r["reason"]) for r in audit] == [
        ("acted", "acted"),
        ("skipped", "duplicate"),
    ]
    assert audit[0]["alert"]["labels"]["sloth_slo"] == "order-api-availability"
