"""Remediation under Pulumi's mocks: the resources, least privilege, the DLQ, reserved
concurrency, the package, and the security baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.remediation import LAMBDA_MODULES, PACKAGE_DIR, Remediation, RemediationArgs
from policy.baseline import check_resource
from remediation.policy import load_policy
from tests.infra.conftest import PROJECT_DIR, TAGS, declare, of_type

GROUP = "exchange-test-abc"
WORKSPACE = "arn:aws:aps:us-east-1:123456789012:workspace/ws-1"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
TICKET = "arn:aws:sns:us-east-1:123456789012:exchange-test-ticket"


@pytest.fixture(scope="module")
def resources() -> dict:
    policy = load_policy(PROJECT_DIR / "ops" / "remediation.yaml")
    return declare(
        lambda: Remediation(
            "remediation",
            RemediationArgs(
                prefix="exchange-test",
                region="us-east-1",
                account_id="123456789012",
                tags=TAGS,
                policy=policy,
                service="exchange",
                autoscaling_group_name=GROUP,
                workspace_arn=WORKSPACE,
                kms_key_arn=KEY,
                ticket_topic_arn=TICKET,
                reserved_concurrency=3,
            ),
        )
    )


def test_it_declares_the_function_its_queue_table_topic_and_subscription(resources: dict) -> None:
    (function,) = of_type(resources, "aws:lambda/function:Function")
    inputs = function.inputs
    assert inputs["reservedConcurrentExecutions"] == 3
    assert inputs["deadLetterConfig"]["targetArn"].endswith(":exchange-test-remediation-failed")
    assert inputs["handler"] == "remediation.handler.handler" and inputs["runtime"] == "python3.12"
    assert json.loads(inputs["environment"]["variables"]["REMEDIATION_GROUPS"]) == {
        "exchange": GROUP
    }
    (table,) = of_type(resources, "aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["ttl"] == {"attributeName": "expires_at", "enabled": True}
    (queue,) = of_type(resources, "aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    (log_group,) = of_type(resources, "aws:cloudwatch/logGroup:LogGroup")
    assert (
        log_group.inputs["name"] == "/aws/lambda/exchange-test-remediation"
        and log_group.inputs["retentionInDays"] == 30
    )
    (topic,) = of_type(resources, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == KEY
    (subscription,) = of_type(resources, "aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "lambda"
    (permission,) = of_type(resources, "aws:lambda/permission:Permission")
    assert (
        permission.inputs["principal"] == "sns.amazonaws.com"
        and permission.inputs["sourceArn"] == topic.inputs["name"]
    ) or permission.inputs["sourceArn"].endswith(":exchange-test-remediation")
    (invoke,) = of_type(resources, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert invoke.inputs["maximumRetryAttempts"] == 2
    (alarm,) = of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarm.inputs["dimensions"] == {"QueueName": "exchange-test-remediation-failed"}
    assert alarm.inputs["alarmActions"] == [TICKET]


def test_the_role_may_touch_only_the_fleet_its_instances_the_table_and_the_queue(
    resources: dict,
) -> None:
    (policy,) = of_type(resources, "aws:iam/rolePolicy:RolePolicy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ActOnTheFleet"]["Resource"] == [
        f"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/{GROUP}"
    ]
    assert set(statements["ActOnTheFleet"]["Action"]) == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:RollbackInstanceRefresh",
        "autoscaling:CancelInstanceRefresh",
    }
    assert statements["RunShellDocument"]["Resource"] == [
        "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"
    ]
    assert statements["OnTheFleetsInstancesOnly"]["Condition"] == {
        "StringEquals": {"ssm:resourceTag/aws:autoscaling:groupName": GROUP}
    }
    assert statements["StateAndAudit"]["Resource"][0].startswith("arn:aws:dynamodb:")
    wildcard = [s for s in statements.values() if s["Resource"] == ["*"]]
    assert [s["Sid"] for s in wildcard] == ["ReadTheFleet"]
    assert all(a.startswith("autoscaling:Describe") for a in wildcard[0]["Action"])


def test_every_resource_passes_the_baseline(resources: dict) -> None:
    for resource in resources.values():
        assert check_resource(resource.type, resource.inputs) == [], resource.name


def test_the_package_holds_the_handlers_modules_and_the_compiled_policy(resources: dict) -> None:
    (function,) = of_type(resources, "aws:lambda/function:Function")
    assets = function.inputs["code"]["assetArchive"]
    assert set(assets) == {f"remediation/{m}" for m in LAMBDA_MODULES} | {"remediation/policy.json"}


def test_the_packaged_modules_import_with_the_standard_library_and_boto3_only(
    tmp_path: Path,
) -> None:
    """What the Lambda runtime offers: no pydantic, no YAML, nothing else of the project."""
    package = tmp_path / "remediation"
    package.mkdir()
    for module in LAMBDA_MODULES:
        (package / module).write_text((PACKAGE_DIR / module).read_text())
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'pydantic', 'yaml', 'sre_platform', 'alerting', 'stacks', 'components', 'jinja2'}:\n"
        "            raise ImportError('not in the Lambda runtime: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path = [{str(tmp_path)!r}] + [p for p in sys.path if p and (not p.startswith({str(PROJECT_DIR)!r}) or 'site-packages' in p)]\n"
        "import remediation.handler\n"
        "print(remediation.handler.POLICY_FILE)\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(package / "policy.json")
