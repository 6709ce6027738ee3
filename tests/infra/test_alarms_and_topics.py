"""Alarms and alert topics: the right metrics, the right thresholds, a runbook for each."""

from __future__ import annotations

import json
import re

import pytest

from components.alarms import ALARM_KINDS, AlarmNames, Alarms, AlarmsArgs
from components.topics import PUBLISHERS, AlertTopics, AlertTopicsArgs
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
