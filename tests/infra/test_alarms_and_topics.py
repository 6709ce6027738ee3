"""Alarms and alert topics: the right metrics, the right thresholds, a runbook for each."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from components.alarms import ALARM_KINDS, AlarmNames, Alarms, AlarmsArgs
from components.topics import (
    CHATBOT_GUARDRAIL,
    PUBLISHERS,
    AlertTopics,
    AlertTopicsArgs,
    Receiver,
)
from tests.infra.conftest import PROJECT_DIR, TAGS, declare, of_type

PAGE = "arn:aws:sns:us-east-1:123456789012:page"
TICKET = "arn:aws:sns:us-east-1:123456789012:ticket"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _alarms(**options: object) -> dict:
    args = {
        "names": AlarmNames("exchange-test"),
        "tags": TAGS,
        "page_topic_arn": PAGE,
        "ticket_topic_arn": TICKET,
        "load_balancer_arn_suffix": "app/fleet-alb/1",
        "target_group_arn_suffix": "targetgroup/fleet-tg/2",
        "autoscaling_group_name": "exchange-test-asg",
        "amp_workspace_id": "ws-1",
        **options,
    }
    return declare(lambda: Alarms("alarms", AlarmsArgs(**args)))


@pytest.fixture(scope="module")
def alarms() -> dict:
    return _alarms()


def test_there_is_one_alarm_per_kind_with_its_fixed_name(alarms: dict) -> None:
    names = {a.inputs["name"] for a in of_type(alarms, ALARM)}
    assert names == {f"exchange-test-{kind}" for kind in ALARM_KINDS}


def test_every_alarm_links_a_runbook_that_exists(alarms: dict) -> None:
    for alarm in of_type(alarms, ALARM):
        (link,) = re.findall(r"Runbook: (\S+)", alarm.inputs["alarmDescription"])
        assert (PROJECT_DIR / link).is_file(), link


def test_the_5xx_ratio_is_metric_math_over_target_and_balancer_errors(alarms: dict) -> None:
    alarm = alarms["alarms-alb-5xx-ratio"].inputs
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    assert queries["ratio"]["expression"] == "(FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests"
    assert queries["ratio"]["returnData"] is True
    assert queries["requests"]["metric"]["metricName"] == "RequestCount"
    assert alarm["threshold"] == 0.01
    assert alarm["alarmActions"] == [PAGE]


def test_p99_latency_is_held_to_the_40_ms_order_target(alarms: dict) -> None:
    alarm = alarms["alarms-alb-p99-latency"].inputs
    assert alarm["metricName"] == "TargetResponseTime"
    assert alarm["extendedStatistic"] == "p99"
    assert alarm["threshold"] == 0.04
    assert alarm["dimensions"] == {"LoadBalancer": "app/fleet-alb/1"}


def test_capacity_compares_in_service_instances_with_desired(alarms: dict) -> None:
    queries = {q["id"]: q for q in alarms["alarms-fleet-capacity"].inputs["metricQueries"]}
    assert queries["missing"]["expression"] == "desired - inservice"
    assert queries["inservice"]["metric"]["metricName"] == "GroupInServiceInstances"
    assert queries["inservice"]["metric"]["dimensions"] == {
        "AutoScalingGroupName": "exchange-test-asg"
    }


def test_unhealthy_hosts_watch_the_target_group(alarms: dict) -> None:
    alarm = alarms["alarms-unhealthy-hosts"].inputs
    assert alarm["metricName"] == "UnHealthyHostCount"
    assert alarm["dimensions"]["TargetGroup"] == "targetgroup/fleet-tg/2"


@pytest.mark.parametrize("kind", ["amp-ingestion-rate", "amp-active-series"])
def test_amp_limits_are_watched_as_a_share_of_the_service_quota(alarms: dict, kind: str) -> None:
    alarm = alarms[f"alarms-{kind}"].inputs
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    assert queries["percent"]["expression"] == "100 * usage / SERVICE_QUOTA(usage)"
    usage = queries["usage"]["metric"]
    assert usage["namespace"] == "AWS/Usage" and usage["dimensions"]["Service"] == "Prometheus"
    assert usage["dimensions"]["ResourceId"] == "ws-1"
    assert alarm["threshold"] == 80


@pytest.mark.parametrize(
    ("kind", "topic"),
    [
        pytest.param("alb-5xx-ratio", PAGE, id="server errors page"),
        pytest.param("alb-p99-latency", PAGE, id="slow orders page"),
        pytest.param("unhealthy-hosts", TICKET, id="unhealthy hosts open a ticket"),
        pytest.param("fleet-capacity", TICKET, id="missing capacity opens a ticket"),
        pytest.param(
            "amp-ingestion-rate", TICKET, id="AMP ingestion near its quota opens a ticket"
        ),
    ],
)
def test_each_alarm_notifies_its_topic(alarms: dict, kind: str, topic: str) -> None:
    alarm = alarms[f"alarms-{kind}"].inputs
    assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic]


def test_without_an_amp_workspace_the_amp_alarms_are_left_out() -> None:
    names = {a.inputs["name"] for a in of_type(_alarms(amp_workspace_id=None), ALARM)}
    assert "exchange-test-amp-ingestion-rate" not in names and len(names) == 4


def test_the_rollback_alarms_are_the_customer_facing_ones() -> None:
    assert AlarmNames("x").rollback == ("x-alb-5xx-ratio", "x-alb-p99-latency")


def test_topics_are_encrypted_with_a_rotating_key_the_publishers_may_use() -> None:
    topics = declare(
        lambda: AlertTopics(
            "alerts", AlertTopicsArgs(prefix="exchange-test", account_id="123456789012", tags=TAGS)
        )
    )
    key = topics["alerts-key"].inputs
    assert key["enableKeyRotation"] is True
    for kind in ("page", "ticket"):
        topic = topics[f"alerts-{kind}"].inputs
        assert topic["name"] == f"exchange-test-{kind}"
        assert topic["kmsMasterKeyId"].startswith("arn:aws:kms:")
    statements = json.loads(key["policy"])["Statement"]
    use = next(s for s in statements if s["Sid"] == "AlertPublishersEncrypt")
    assert use["Principal"] == {"Service": list(PUBLISHERS)}
    assert use["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert topics["alerts-key-alias"].inputs["name"] == "alias/exchange-test-alerts"


# Receivers, dead letters and the alarm on them (components/topics.py, components/dead_letter.py)

SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
SLACK = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
PAGERDUTY = "https://events.pagerduty.com/integration/0123456789abcdef0123456789abcdef/enqueue"
TEAM, CHANNEL = "T07EA123LEP", "C07EZ1ABC23"


def _topics(page: list[Receiver], ticket: list[Receiver]) -> dict:
    return declare(
        lambda: AlertTopics(
            "alerts",
            AlertTopicsArgs(
                prefix="exchange-test",
                account_id="123456789012",
                tags=TAGS,
                page_receivers=page,
                ticket_receivers=ticket,
            ),
        )
    )


@pytest.fixture(scope="module")
def subscribed() -> dict:
    return _topics(
        page=[
            Receiver("oncall", "email", "oncall@example.com"),
            Receiver("pagerduty", "https", pulumi.Output.secret(PAGERDUTY)),
            Receiver("slack", "chatbot", slack_team_id=TEAM, slack_channel_id=CHANNEL),
        ],
        ticket=[
            Receiver("sre", "email", "sre@example.com"),
            Receiver("hook", "https", "https://hooks.example.com/sns", auto_confirms=False),
            Receiver("slack", "chatbot", slack_team_id=TEAM, slack_channel_id=CHANNEL),
        ],
    )


def _topic(resources: dict, severity: str) -> str:
    assert resources[f"alerts-{severity}"].inputs["name"] == f"exchange-test-{severity}"
    return f"arn:aws:sns:us-east-1:123456789012:exchange-test-{severity}"


@pytest.mark.parametrize(
    ("name", "severity", "protocol", "endpoint"),
    [
        pytest.param("alerts-page-oncall", "page", "email", "oncall@example.com", id="email page"),
        pytest.param("alerts-page-pagerduty", "page", "https", "[secret]", id="secret https page"),
        pytest.param("alerts-ticket-sre", "ticket", "email", "sre@example.com", id="email ticket"),
        pytest.param(
            "alerts-ticket-hook", "ticket", "https", "https://hooks.example.com/sns", id="https"
        ),
    ],
)
def test_each_receiver_subscribes_to_its_topic(
    subscribed: dict, name: str, severity: str, protocol: str, endpoint: str
) -> None:
    inputs = subscribed[name].inputs
    assert subscribed[name].type == SUBSCRIPTION
    assert inputs["topic"] == _topic(subscribed, severity)
    assert (inputs["protocol"], inputs["endpoint"]) == (protocol, endpoint)


def test_one_subscription_per_email_or_https_receiver(subscribed: dict) -> None:
    assert len(of_type(subscribed, SUBSCRIPTION)) == 4


def test_every_subscription_redrives_to_the_dead_letter_queue(subscribed: dict) -> None:
    queue = subscribed["alerts-undelivered-queue"].inputs["name"]
    for subscription in of_type(subscribed, SUBSCRIPTION):
        redrive = json.loads(subscription.inputs["redrivePolicy"])
        assert redrive == {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:123456789012:{queue}"}


def test_an_https_endpoint_that_confirms_itself_is_waited_for(subscribed: dict) -> None:
    pagerduty = subscribed["alerts-page-pagerduty"].inputs
    assert pagerduty["endpointAutoConfirms"] is True
    assert pagerduty["confirmationTimeoutInMinutes"] == 5
    assert pagerduty["rawMessageDelivery"] is False  # PagerDuty reads SNS's JSON envelope
    hook = subscribed["alerts-ticket-hook"].inputs
    assert hook["endpointAutoConfirms"] is False and "confirmationTimeoutInMinutes" not in hook
    assert "endpointAutoConfirms" not in subscribed["alerts-page-oncall"].inputs


def test_a_slack_channel_gets_one_chatbot_configuration_for_both_topics(subscribed: dict) -> None:
    (slack,) = of_type(subscribed, SLACK)
    assert slack.inputs["slackTeamId"] == TEAM and slack.inputs["slackChannelId"] == CHANNEL
    assert slack.inputs["snsTopicArns"] == [
        _topic(subscribed, "page"),
        _topic(subscribed, "ticket"),
    ]
    assert slack.inputs["guardrailPolicyArns"] == [CHATBOT_GUARDRAIL]
    role = subscribed["alerts-chatbot"].inputs
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "chatbot.amazonaws.com"
    }
    (read,) = json.loads(subscribed["alerts-chatbot-read"].inputs["policy"])["Statement"]
    assert all(action.startswith("cloudwatch:") for action in read["Action"])


def test_without_chatbot_receivers_there_is_no_chatbot_role() -> None:
    resources = _topics([Receiver("oncall", "email", "oncall@example.com")], [])
    assert not of_type(resources, SLACK) and "alerts-chatbot" not in resources


def test_the_dead_letter_queue_is_encrypted_with_the_topics_key(subscribed: dict) -> None:
    queue = subscribed["alerts-undelivered-queue"].inputs
    page = subscribed["alerts-page"].inputs
    assert queue["kmsMasterKeyId"] == page["kmsMasterKeyId"]
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600
    statements = json.loads(subscribed["alerts-key"].inputs["policy"])["Statement"]
    (sns,) = [s for s in statements if s["Principal"] == {"Service": "sns.amazonaws.com"}]
    assert set(sns["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    topics = [_topic(subscribed, "page"), _topic(subscribed, "ticket")]
    assert sns["Condition"] == {"ArnEquals": {"aws:SourceArn": topics}}


def test_only_the_two_topics_may_send_to_the_queue_and_only_over_tls(subscribed: dict) -> None:
    policy = json.loads(subscribed["alerts-undelivered-policy"].inputs["policy"])
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allow["Action"] == ["sqs:SendMessage"]
    topics = [_topic(subscribed, "page"), _topic(subscribed, "ticket")]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": topics}}
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    queue = subscribed["alerts-undelivered-queue"].inputs["name"]
    assert allow["Resource"] == deny["Resource"] == [f"arn:aws:sqs:us-east-1:123456789012:{queue}"]


def test_a_message_in_the_queue_alarms_through_both_topics(subscribed: dict) -> None:
    alarm = subscribed["alerts-undelivered-depth"].inputs
    assert alarm["namespace"] == "AWS/SQS"
    assert alarm["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["dimensions"] == {"QueueName": "exchange-test-undelivered-alerts"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    topics = [_topic(subscribed, "page"), _topic(subscribed, "ticket")]
    assert alarm["alarmActions"] == alarm["okActions"] == topics
    assert alarm["tags"]["severity"] == "page"
    (link,) = re.findall(r"Runbook: (\S+)", alarm["alarmDescription"])
    assert (PROJECT_DIR / link).is_file(), link
