"""The remediation Lambda wired into the stacks, under Pulumi's mocks: where it is declared,
how AMP's alert manager reaches it, its dead-letter alarm, its config switch, and the fleet's
instance refresh checkpoints that give an SLO page the time to stop a bad release."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.loader import load_specs
from alerting.windows import catalog_for
from policy.baseline import Resource, check_stack
from sre_platform.durations import parse_duration
from sre_platform.errors import StackConfigError
from stacks.config import load_stack_file, parse_settings
from stacks.render import Rendering, run_program
from tests.infra.conftest import PROJECT_DIR, STACKS

COMPONENT = "sre-platform:remediation:Remediation"
FUNCTION = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
GROUP = "aws:autoscaling/group:Group"
DEFINITION = "aws:amp/alertManagerDefinition:AlertManagerDefinition"
BASE = {
    "aws:region": "us-east-1",
    "sre-platform:tags": {"service": "exchange", "owner": "sre-team"},
    "sre-platform:network": {"availability_zones": ["us-east-1a"]},
    "sre-platform:grafana": {"enabled": False},
    "sre-platform:alerting": {
        "receivers": {"page": [{"name": "p", "protocol": "email", "endpoint": "p@example.com"}]}
    },
}
# From an SLO page's first evaluation to the handler's call: instances remote-write every
# 15 s and flush within a minute, AMP evaluates the recording rules then the alert rules every
# minute, the remediation route waits 10 s, SNS and Lambda take seconds. Generous on purpose.
PIPELINE_SECONDS = 200
BAD_RELEASE_ERROR_RATE = 0.2  # the bad release: `sre lab deploy --inject error-rate=0.2`


def _enabled(stack: str) -> bool:
    return load_stack_file(PROJECT_DIR, stack).remediation_enabled


def _in(rendering: Rendering, token: str) -> list:
    """The resources of ``token`` under the Remediation component."""
    (component,) = rendering.of_type(COMPONENT)
    return [r for r in rendering.of_type(token) if r.parent == component.name]


def _alertmanager(rendering: Rendering) -> dict[str, Any]:
    (definition,) = rendering.of_type(DEFINITION)
    return yaml.safe_load(yaml.safe_load(definition.inputs["definition"])["alertmanager_config"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_component_is_declared_where_the_alert_manager_is(renderings: dict, stack: str) -> None:
    rendering = renderings[stack]
    expected = {"dev": True, "staging": True, "prod": True, "local": False}.get(stack)
    assert _enabled(stack) == expected
    assert len(rendering.of_type(COMPONENT)) == int(bool(expected))
    assert ("remediation_function" in rendering.outputs) == bool(expected)
    if expected:
        (function,) = _in(rendering, FUNCTION)
        assert rendering.outputs["remediation_function"] == f"exchange-{stack}-remediation"
        groups = json.loads(function.inputs["environment"]["variables"]["REMEDIATION_GROUPS"])
        (group,) = rendering.of_type(GROUP)
        assert groups == {"exchange": group.inputs["namePrefix"] + groups["exchange"][-8:]}
        assert groups["exchange"].startswith(f"exchange-{stack}-")


def test_switched_off_nothing_of_it_is_declared_and_amp_routes_as_before() -> None:
    rendering = run_program(
        "dev", {**BASE, "sre-platform:remediation": {"enabled": False}}, PROJECT_DIR
    )
    assert not rendering.of_type(COMPONENT) and not rendering.of_type(FUNCTION)
    assert "remediation_function" not in rendering.outputs
    config = _alertmanager(rendering)
    assert [r["name"] for r in config["receivers"]] == ["page", "ticket"]
    assert all(route["receiver"] != "remediation" for route in config["route"]["routes"])


@pytest.mark.parametrize("stack", [s for s in STACKS if _enabled(s)])
def test_amp_sends_every_alert_to_the_remediation_topic_the_lambda_reads(
    renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    config = _alertmanager(rendering)
    first = config["route"]["routes"][0]
    assert first == {
        "receiver": "remediation",
        "group_by": ["..."],
        "group_wait": "10s",
        "repeat_interval": "1h",
        "continue": True,
    }
    (receiver,) = [r for r in config["receivers"] if r["name"] == "remediation"]
    (sns,) = receiver["sns_configs"]
    (topic,) = _in(rendering, TOPIC)
    # The ARN AMP gets (computed from the name) is the topic's (the mocks give SNS's form).
    arn = f"arn:aws:sns:us-east-1:123456789012:{topic.inputs['name']}"
    assert sns["topic_arn"] == arn and sns["sigv4"] == {"region": "us-east-1"}
    assert sns["message"].startswith('{{ "{" }}"version":"4"')
    (subscription,) = _in(rendering, SUBSCRIPTION)
    assert subscription.inputs["topic"] == arn and subscription.inputs["protocol"] == "lambda"
    assert subscription.inputs["endpoint"].startswith("arn:aws:lambda:us-east-1:123456789012:")
    (policy,) = _in(rendering, "aws:sns/topicPolicy:TopicPolicy")
    (workspace,) = rendering.of_type("aws:amp/workspace:Workspace")
    statement = json.loads(policy.inputs["policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "aps.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"].startswith("arn:aws:aps:")
    assert topic.inputs["kmsMasterKeyId"] == rendering.of_type(TOPIC)[0].inputs["kmsMasterKeyId"]
    assert workspace.inputs["alias"] == f"exchange-{stack}"


@pytest.mark.parametrize("stack", [s for s in STACKS if _enabled(s)])
def test_the_dead_letter_queue_alarms_to_the_ticket_topic(renderings: dict, stack: str) -> None:
    rendering = renderings[stack]
    (queue,) = _in(rendering, QUEUE)
    (alarm,) = _in(rendering, ALARM)
    ticket = f"arn:aws:sns:us-east-1:123456789012:exchange-{stack}-ticket"
    inputs = alarm.inputs
    assert inputs["name"] == f"exchange-{stack}-remediation-failures"
    assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert inputs["dimensions"] == {"QueueName": queue.inputs["name"]}
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanThreshold", 0)
    assert inputs["alarmActions"] == inputs["okActions"] == [ticket]
    assert inputs["tags"]["severity"] == "ticket"
    assert (PROJECT_DIR / "runbooks" / f"{inputs['tags']['runbook']}.md").is_file()
    assert inputs["treatMissingData"] == "notBreaching"
    (function,) = _in(rendering, FUNCTION)
    assert function.inputs["deadLetterConfig"]["targetArn"].endswith(f":{queue.inputs['name']}")


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_keeps_the_baseline(renderings: dict, stack: str) -> None:
    resources = [
        Resource(r.type, r.name, r.parent, r.inputs, r.dependencies)
        for r in renderings[stack].resources
    ]
    assert check_stack(resources) == []


# --- the instance refresh: checkpoints an SLO page can act within ---------------------------


def _preferences(rendering: Rendering) -> dict[str, Any]:
    (group,) = rendering.of_type(GROUP)
    refresh = group.inputs["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    return refresh["preferences"]


@pytest.mark.parametrize(
    ("stack", "percentages", "delay"),
    [
        pytest.param("prod", [33, 66, 100], "1200", id="prod: one instance of three, then two"),
        pytest.param("staging", [50, 100], "900", id="staging: one instance of two"),
        pytest.param("dev", [50, 100], "300", id="dev: the defaults"),
    ],
)
def test_the_refresh_pauses_at_checkpoints(
    renderings: dict, stack: str, percentages: list[int], delay: str
) -> None:
    preferences = _preferences(renderings[stack])
    assert preferences["checkpointPercentages"] == percentages
    assert preferences["checkpointDelay"] == delay
    assert preferences["autoRollback"] is False  # why: docs/stacks.md, "Rolling out ..."
    assert preferences["alarmSpecification"]["alarms"] == [
        f"exchange-{stack}-alb-5xx-ratio",
        f"exchange-{stack}-alb-p99-latency",
    ]


def _page_quick_seconds(error_ratio: float) -> float:
    """How long the order API's quick page takes to fire at a steady ``error_ratio`` of the
    whole fleet's requests (from a clean history): until its long window's ratio is over the
    threshold (its short window gets there first)."""
    (slo,) = [
        slo
        for f in load_specs([PROJECT_DIR / "slo_specs"], "30d")
        for slo in f.slos
        if slo.name == "order-api-availability"
    ]
    tier = catalog_for(int(parse_duration("30d"))).page_quick
    threshold = tier.threshold(slo.error_budget_ratio)
    return math.inf if error_ratio <= threshold else tier.long_window * threshold / error_ratio


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_a_bad_canary_pages_before_its_checkpoint_wait_ends(renderings: dict, stack: str) -> None:
    """The first checkpoint's instances take their share of the load balancer's requests; if
    they fail BAD_RELEASE_ERROR_RATE of them, the quick page fires and reaches the remediation
    function before the refresh moves on."""
    settings = load_stack_file(PROJECT_DIR, stack)
    preferences = _preferences(renderings[stack])
    size = settings.platform.fleet.desired_capacity
    canary = math.ceil(preferences["checkpointPercentages"][0] * size / 100)
    assert canary < size, "the first checkpoint must leave instances on the old version"
    share = canary / size
    seconds = _page_quick_seconds(share * BAD_RELEASE_ERROR_RATE) + PIPELINE_SECONDS
    assert seconds <= int(preferences["checkpointDelay"]), (stack, seconds)


def test_a_canary_failing_one_request_in_a_thousand_would_not_page_in_time() -> None:
    """The check above can fail: a slightly bad release outlasts any checkpoint wait."""
    assert _page_quick_seconds(0.001 / 3) == math.inf
    assert _page_quick_seconds(0.02 / 3) > 3600


# --- the config switch ------------------------------------------------------------------


def _problems(stack: str, values: dict[str, Any], project_dir: Path = PROJECT_DIR) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_settings(stack, values, project_dir=project_dir, source="Pulumi.x.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("remediation", "observability", "expected"),
    [
        pytest.param(
            {"enabled": True},
            {"alert_manager": False},
            "sre-platform:remediation.enabled: needs observability.alert_manager",
            id="on without the alert manager that feeds it",
        ),
        pytest.param(
            {"policy": "ops/missing.yaml"},
            {},
            "sre-platform:remediation.policy: must be a file inside the project",
            id="a policy file that does not exist",
        ),
        pytest.param(
            {"policy": "../../etc/passwd"},
            {},
            "sre-platform:remediation.policy: must be a file inside the project",
            id="a policy file outside the project",
        ),
        pytest.param(
            {"reserved_concurrency": 0},
            {},
            "sre-platform:remediation.reserved_concurrency: must be at least 1",
            id="no concurrency at all",
        ),
        pytest.param(
            {"log_retention_days": 10},
            {},
            "sre-platform:remediation.log_retention_days: must be one of CloudWatch Logs'",
            id="a retention CloudWatch does not offer",
        ),
        pytest.param(
            {"enabled": "sometimes"},
            {},
            "sre-platform:remediation.enabled: input should be a valid boolean",
            id="not a boolean",
        ),
        pytest.param(
            {"lambda": True},
            {},
            "sre-platform:remediation.lambda: unknown key",
            id="an unknown key",
        ),
    ],
)
def test_bad_remediation_settings_name_the_key(
    remediation: dict, observability: dict, expected: str
) -> None:
    values = {
        **BASE,
        "sre-platform:remediation": remediation,
        "sre-platform:observability": observability,
    }
    problems = _problems("dev", values)
    assert any(expected in p and p.startswith("Pulumi.x.yaml") for p in problems), problems


def test_off_by_default_where_the_alert_manager_is_off_and_on_where_it_is() -> None:
    off = parse_settings(
        "dev",
        {**BASE, "sre-platform:observability": {"alert_manager": False}},
        project_dir=PROJECT_DIR,
    )
    assert off.remediation_enabled is False
    on = parse_settings("dev", BASE, project_dir=PROJECT_DIR)
    assert on.remediation_enabled is True
    assert on.remediation_policy_path == PROJECT_DIR / "ops" / "remediation.yaml"


def test_a_policy_that_does_not_bound_the_stacks_service_stops_the_program(
    tmp_path: Path,
) -> None:
    policy = yaml.safe_load((PROJECT_DIR / "ops" / "remediation.yaml").read_text())
    policy["services"] = {"payments": {"min_replicas": 1, "max_replicas": 2}}
    (PROJECT_DIR / "build").mkdir(exist_ok=True)
    path = PROJECT_DIR / "build" / f"remediation-test-{tmp_path.name}.yaml"
    path.write_text(yaml.safe_dump(policy))
    try:
        with pytest.raises(StackConfigError) as caught:
            run_program(
                "dev",
                {
                    **BASE,
                    "sre-platform:remediation": {"policy": str(path.relative_to(PROJECT_DIR))},
                },
                PROJECT_DIR,
            )
    finally:
        path.unlink()
    (problem,) = caught.value.problems
    assert problem.field == "sre-platform:remediation.policy"
    assert "has no services.exchange entry" in str(problem)
