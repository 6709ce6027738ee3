"""alerting.receivers: the config that says who is paged, and what every stack makes of it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sre_platform.errors import StackConfigError
from stacks.config import SecretValue, load_stack_file, parse_settings
from stacks.environment import placeholder_receivers
from stacks.render import SECRET, run_program
from tests.infra.conftest import PROJECT_DIR, STACKS

SRE = str(PROJECT_DIR / ".venv" / "bin" / "sre")
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
SLACK = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
UNDELIVERED = "alerts-undelivered"  # the alert topics' dead-letter component
PAGERDUTY = "https://events.pagerduty.com/integration/0123456789abcdef0123456789abcdef/enqueue"
OPSGENIE = "https://api.opsgenie.com/v1/json/amazonsns?apiKey=8c3c2c6e-1b1a-4a3e-9f1e-0d9a1c2b3c4d"
BASE = {
    "aws:region": "us-east-1",
    "sre-platform:tags": {"service": "exchange", "owner": "sre-team"},
    "sre-platform:network": {"availability_zones": ["us-east-1a"]},
    "sre-platform:fleet": {
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0abc-123"
    },
}
EMAIL = {"name": "oncall", "protocol": "email", "endpoint": "oncall@example.com"}
SLACK_RECEIVER = {
    "name": "slack",
    "protocol": "chatbot",
    "slack_team_id": "T07EA123LEP",
    "slack_channel_id": "C07EZ1ABC23",
}


def _parse(stack: str, alerting: Any, secret_keys: tuple[str, ...] = ()) -> Any:
    config = {**BASE, "sre-platform:alerting": alerting}
    return parse_settings(
        stack,
        config,
        project_dir=PROJECT_DIR,
        source=f"Pulumi.{stack}.yaml",
        secret_keys=secret_keys,
    )


def _problems(stack: str, alerting: Any, secret_keys: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        _parse(stack, alerting, secret_keys)
    return [str(p) for p in caught.value.problems]


def _page(*receivers: dict[str, Any]) -> dict[str, Any]:
    return {"receivers": {"page": list(receivers)}}


KEY = "Pulumi.dev.yaml: sre-platform:alerting.receivers.page[0]"
BAD_RECEIVERS = [
    pytest.param(
        {"name": "a", "protocol": "email", "endpoint": "oncall"},
        f"{KEY}.endpoint: must be an email address",
        id="an email receiver needs an address",
    ),
    pytest.param(
        {"name": "a", "protocol": "email", "endpoint": "on call@example.com"},
        f"{KEY}.endpoint: must be an email address",
        id="an address with a space is refused",
    ),
    pytest.param(
        {"name": "a", "protocol": "email"},
        f"{KEY}.endpoint: is required for a email receiver",
        id="an email receiver without an endpoint",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": "http://hooks.example.com/sns"},
        f"{KEY}.endpoint: must be an https:// URL",
        id="http is refused: alerts would travel in clear",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": "https://"},
        f"{KEY}.endpoint: must be an https:// URL",
        id="an https URL needs a host",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": "https://hooks.example.com/a b"},
        f"{KEY}.endpoint: must be an https:// URL",
        id="an https URL without spaces",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": PAGERDUTY},
        f"{KEY}.endpoint: holds a path segment that looks like a key",
        id="a PagerDuty URL in plain text is refused: its key is a secret",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": OPSGENIE},
        f"{KEY}.endpoint: holds a query string",
        id="an Opsgenie URL in plain text is refused: its apiKey is a secret",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": "https://user:pw@hooks.example.com/"},
        f"{KEY}.endpoint: holds a user name or password",
        id="a URL with a password in plain text is refused",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": ["https://a.example.com"]},
        f"{KEY}.endpoint: must be text, or {{secure: ...}}",
        id="an endpoint that is a list",
    ),
    pytest.param(
        {"name": "a", "protocol": "https", "endpoint": {"secure": ""}},
        f"{KEY}.endpoint.secure:",
        id="an empty secret",
    ),
    pytest.param(
        {"name": "a", "protocol": "sms", "endpoint": "+15550100"},
        f"{KEY}.protocol: input should be 'email', 'https' or 'chatbot'",
        id="an unknown protocol",
    ),
    pytest.param(
        {"name": "Oncall", "protocol": "email", "endpoint": "oncall@example.com"},
        f"{KEY}.name: must be a lowercase name",
        id="a name that cannot name a resource",
    ),
    pytest.param(
        {"protocol": "email", "endpoint": "oncall@example.com"},
        f"{KEY}.name: is required",
        id="a receiver without a name",
    ),
    pytest.param(
        {**EMAIL, "colour": "red"},
        f"{KEY}.colour: unknown key",
        id="an unknown key",
    ),
    pytest.param(
        {**EMAIL, "raw_message_delivery": True},
        f"{KEY}.raw_message_delivery: applies to https receivers only",
        id="raw delivery on an email receiver",
    ),
    pytest.param(
        {**EMAIL, "auto_confirms": False},
        f"{KEY}.auto_confirms: applies to https receivers only",
        id="auto-confirmation on an email receiver",
    ),
    pytest.param(
        {**EMAIL, "slack_channel_id": "C07EZ1ABC23"},
        f"{KEY}.slack_channel_id: applies to chatbot receivers only",
        id="a Slack channel on an email receiver",
    ),
    pytest.param(
        {**SLACK_RECEIVER, "endpoint": "https://global.sns-api.chatbot.amazonaws.com"},
        f"{KEY}.endpoint: a chatbot receiver takes slack_team_id and slack_channel_id",
        id="a chatbot receiver with an endpoint",
    ),
    pytest.param(
        {"name": "slack", "protocol": "chatbot", "slack_team_id": "T07EA123LEP"},
        f"{KEY}.slack_channel_id: is required for a chatbot receiver",
        id="a chatbot receiver without its channel",
    ),
    pytest.param(
        {**SLACK_RECEIVER, "slack_channel_id": "#alerts"},
        f"{KEY}.slack_channel_id: must be a Slack id",
        id="a channel name instead of its id",
    ),
    pytest.param(
        "oncall@example.com",
        f"{KEY}: must be a mapping",
        id="a receiver that is a bare address",
    ),
]


@pytest.mark.parametrize(("receiver", "expected"), BAD_RECEIVERS)
def test_each_bad_receiver_names_its_key(receiver: Any, expected: str) -> None:
    problems = _problems("dev", _page(receiver))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("alerting", "expected"),
    [
        pytest.param(
            _page(EMAIL, {**EMAIL, "endpoint": "other@example.com"}),
            "sre-platform:alerting.receivers.page: lists the name 'oncall' twice",
            id="two receivers of one name",
        ),
        pytest.param(
            _page(EMAIL, {**EMAIL, "name": "again"}),
            "sre-platform:alerting.receivers.page: oncall and again are the same subscriber",
            id="one address twice",
        ),
        pytest.param(
            _page(SLACK_RECEIVER, {**SLACK_RECEIVER, "name": "again"}),
            "sre-platform:alerting.receivers.page: slack and again are the same subscriber",
            id="one Slack channel twice",
        ),
        pytest.param(
            _page(
                *[{**EMAIL, "name": f"r{i}", "endpoint": f"r{i}@example.com"} for i in range(11)]
            ),
            "sre-platform:alerting.receivers.page: tuple should have at most 10 items",
            id="more than ten receivers",
        ),
        pytest.param(
            {"receivers": {"pager": [EMAIL]}},
            "sre-platform:alerting.receivers.pager: unknown key",
            id="a severity that does not exist",
        ),
    ],
)
def test_receiver_lists_are_checked_as_a_whole(alerting: Any, expected: str) -> None:
    problems = _problems("dev", alerting)
    assert any(expected in p for p in problems), problems


def test_every_bad_receiver_is_reported_at_once() -> None:
    receivers = [param.values[0] for param in BAD_RECEIVERS[:8]]
    problems = _problems("dev", {"receivers": {"page": receivers}})
    for index in range(8):
        assert any(f"receivers.page[{index}]." in p for p in problems), (index, problems)


PROD_KEY = "Pulumi.prod.yaml: sre-platform:alerting.receivers.page: must list at least one receiver"


@pytest.mark.parametrize(
    "alerting",
    [
        pytest.param(None, id="prod without an alerting section"),
        pytest.param({}, id="prod without receivers"),
        pytest.param({"receivers": {"page": []}}, id="prod with an empty page list"),
        pytest.param({"receivers": {"ticket": [EMAIL]}}, id="prod with tickets only"),
    ],
)
def test_prod_refuses_to_render_without_a_page_receiver(alerting: Any) -> None:
    config = {**BASE, **({"sre-platform:alerting": alerting} if alerting is not None else {})}
    with pytest.raises(StackConfigError) as caught:
        parse_settings("prod", config, project_dir=PROJECT_DIR, source="Pulumi.prod.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith(PROD_KEY) for p in problems), problems


def test_prod_reports_a_missing_page_receiver_with_the_other_mistakes() -> None:
    problems = _problems("prod", {"receivers": {"ticket": [{**EMAIL, "endpoint": "x"}]}})
    assert any(p.startswith(PROD_KEY) for p in problems)
    assert any("receivers.ticket[0].endpoint: must be an email address" in p for p in problems)


@pytest.mark.parametrize("stack", ["dev", "staging", "local"])
def test_other_stacks_may_go_without_receivers(stack: str) -> None:
    assert _parse(stack, {}).platform.alerting.receivers.page == ()


def test_any_receiver_on_the_page_topic_satisfies_prod() -> None:
    assert _parse("prod", _page(SLACK_RECEIVER)).platform.alerting.receivers.page


@pytest.mark.parametrize("endpoint", [PAGERDUTY, OPSGENIE])
def test_a_url_with_a_key_is_accepted_as_a_secret_from_the_stack_file(endpoint: str) -> None:
    secret = {"secure": "v1:9vjxO9hT2Q6ZjJ8=:v1:abcdefgh:ciphertext"}
    settings = _parse("dev", _page({"name": "pd", "protocol": "https", "endpoint": secret}))
    (receiver,) = settings.platform.alerting.receivers.page
    assert receiver.endpoint == SecretValue(secure=secret["secure"])


def test_under_the_engine_a_secret_section_keeps_its_urls_secret() -> None:
    # `pulumi up` hands the section decrypted and only says that the key holds a secret.
    page = _page({"name": "pd", "protocol": "https", "endpoint": PAGERDUTY}, EMAIL)
    settings = _parse("dev", page, ("sre-platform:alerting",))
    pagerduty, email = settings.platform.alerting.receivers.page
    assert pagerduty.endpoint == SecretValue(secure=PAGERDUTY)
    assert email.endpoint == SecretValue(secure="oncall@example.com")


def test_under_the_engine_a_secret_url_is_still_checked_for_https() -> None:
    page = _page({"name": "pd", "protocol": "https", "endpoint": "http://events.example.com/"})
    problems = _problems("dev", page, ("sre-platform:alerting",))
    assert any(p.startswith(f"{KEY}.endpoint: must be an https:// URL") for p in problems)


def test_a_secret_of_another_section_does_not_make_receivers_secret() -> None:
    problems = _problems(
        "dev",
        _page({"name": "pd", "protocol": "https", "endpoint": PAGERDUTY}),
        ("sre-platform:grafana", "aws:secretKey"),
    )
    assert any("holds a path segment that looks like a key" in p for p in problems)


# What the stacks make of it: rendered under the mock runtime.


def _configured(stack: str) -> dict[str, list[Any]]:
    receivers = load_stack_file(PROJECT_DIR, stack).platform.alerting.receivers
    return {"page": list(receivers.page), "ticket": list(receivers.ticket)}


def _alert_subscriptions(rendering: Any) -> list[Any]:
    """The subscriptions of the page and ticket topics (not the remediation Lambda's)."""
    return [s for s in rendering.of_type(SUBSCRIPTION) if s.parent == "alerts"]


def _topic_arn(rendering: Any, severity: str) -> str:
    (topic,) = [
        t for t in rendering.of_type("aws:sns/topic:Topic") if t.name == f"alerts-{severity}"
    ]
    return f"arn:aws:sns:us-east-1:123456789012:{topic.inputs['name']}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_configured_receiver_is_a_subscription_on_its_topic(
    renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    subscriptions = {s.name: s.inputs for s in _alert_subscriptions(rendering)}
    expected = {
        f"alerts-{severity}-{r.name}": (_topic_arn(rendering, severity), r.protocol, r.endpoint)
        for severity, receivers in _configured(stack).items()
        for r in receivers
        if r.protocol != "chatbot"
    }
    assert {
        name: (s["topic"], s["protocol"], s["endpoint"]) for name, s in subscriptions.items()
    } == expected
    for severity in ("page", "ticket"):
        assert any(s["topic"] == _topic_arn(rendering, severity) for s in subscriptions.values())


@pytest.mark.parametrize("stack", STACKS)
def test_every_subscription_of_every_stack_redrives_to_its_encrypted_queue(
    renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    # The alert topics' queue (a stack with remediation has the Lambda's dead-letter queue too)
    (queue,) = [q for q in rendering.of_type("aws:sqs/queue:Queue") if q.parent == UNDELIVERED]
    arn = f"arn:aws:sqs:us-east-1:123456789012:{queue.inputs['name']}"
    for subscription in _alert_subscriptions(rendering):
        assert json.loads(subscription.inputs["redrivePolicy"]) == {"deadLetterTargetArn": arn}
    (topic, _) = [t for t in rendering.of_type("aws:sns/topic:Topic") if t.parent == "alerts"]
    assert queue.inputs["kmsMasterKeyId"] == topic.inputs["kmsMasterKeyId"]
    (policy,) = rendering.of_type("aws:sqs/queuePolicy:QueuePolicy")
    allow = json.loads(policy.inputs["policy"])["Statement"][0]
    topics = [_topic_arn(rendering, "page"), _topic_arn(rendering, "ticket")]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": topics}}
    (alarm,) = [
        a
        for a in rendering.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.inputs.get("namespace") == "AWS/SQS" and a.parent == UNDELIVERED
    ]
    assert alarm.inputs["dimensions"] == {"QueueName": queue.inputs["name"]}
    assert alarm.inputs["alarmActions"] == topics


def test_a_secret_endpoint_and_a_slack_channel_render_as_declared() -> None:
    config = {
        **BASE,
        "sre-platform:grafana": {"enabled": False},
        "sre-platform:alerting": {
            "receivers": {
                "page": [{"name": "pd", "protocol": "https", "endpoint": {"secure": "v1:x"}}],
                "ticket": [SLACK_RECEIVER],
            }
        },
    }
    rendering = run_program("dev", config, PROJECT_DIR)
    (subscription,) = _alert_subscriptions(rendering)
    assert subscription.inputs["endpoint"] == SECRET
    assert subscription.inputs["topic"] == _topic_arn(rendering, "page")
    (slack,) = rendering.of_type(SLACK)
    assert slack.inputs["snsTopicArns"] == [_topic_arn(rendering, "ticket")]


def test_sre_stack_render_prod_format_json_shows_a_subscription_on_each_topic(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [SRE, "stack", "render", "--stack", "prod", "--format", "json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)["resources"]
    topics = {
        r["name"]: f"arn:aws:sns:us-east-1:123456789012:{r['inputs']['name']}"
        for r in resources
        if r["type"] == "aws:sns/topic:Topic"
    }
    subscribed = {r["inputs"]["topic"] for r in resources if r["type"] == SUBSCRIPTION}
    assert subscribed == {
        topics["alerts-page"],
        topics["alerts-ticket"],
        topics["remediation-topic"],  # the remediation Lambda's
    }


@pytest.mark.parametrize(
    ("receivers", "expected"),
    [
        pytest.param(
            {"page": [EMAIL], "ticket": [{**EMAIL, "endpoint": "sre@tickets.example.org"}]},
            [
                "sre-platform:alerting.receivers.page[0].endpoint",
                "sre-platform:alerting.receivers.ticket[0].endpoint",
            ],
            id="addresses at example.com and below example.org are placeholders",
        ),
        pytest.param(
            {
                "page": [
                    {"name": "h", "protocol": "https", "endpoint": "https://hooks.example.net/"}
                ]
            },
            ["sre-platform:alerting.receivers.page[0].endpoint"],
            id="a webhook at example.net is a placeholder",
        ),
        pytest.param(
            {
                "page": [
                    {**EMAIL, "endpoint": "oncall@example.com.yourcompany.io"},
                    {**EMAIL, "name": "b", "endpoint": "oncall@notexample.com"},
                    {"name": "pd", "protocol": "https", "endpoint": {"secure": "v1:x"}},
                    SLACK_RECEIVER,
                ]
            },
            [],
            id="real domains, secrets and Slack channels are not",
        ),
    ],
)
def test_placeholder_receivers_are_found(receivers: dict, expected: list[str]) -> None:
    assert placeholder_receivers(_parse("dev", {"receivers": receivers})) == expected


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_stacks_hold_placeholders_to_replace(stack: str) -> None:
    assert placeholder_receivers(load_stack_file(PROJECT_DIR, stack)) == [
        "sre-platform:alerting.receivers.page[0].endpoint",
        "sre-platform:alerting.receivers.ticket[0].endpoint",
    ]


def test_a_render_warns_about_each_placeholder(caplog: pytest.LogCaptureFixture) -> None:
    config = {**BASE, "sre-platform:alerting": {"receivers": {"page": [EMAIL]}}}
    with caplog.at_level("WARNING"):
        run_program("dev", config, PROJECT_DIR)
    warned = [r.getMessage() for r in caplog.records if "an example address" in r.getMessage()]
    assert warned == [
        "Pulumi.dev.yaml: sre-platform:alerting.receivers.page[0].endpoint: an example address "
        "that reaches nobody; replace it before relying on this stack's alerts "
        "(docs/stacks.md, Subscriptions)"
    ]
