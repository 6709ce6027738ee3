"""Observability: AMP carries the compiled rules and routes alerts to the topics; AMG reads AMP."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from itertools import pairwise

import pytest
import yaml

from alerting.generate import Rule, RuleGroup
from alerting.render import group_dict
from components.observability import (
    AMP_DATA_SOURCE_TYPE,
    NAMESPACE_NAME_MAX,
    Dashboard,
    GrafanaArgs,
    Observability,
    ObservabilityArgs,
    RuleSource,
    namespace_name,
    pack_rule_namespaces,
    token_name,
    token_period_start,
)
from tests.infra.conftest import TAGS, declare, of_type

PAGE = "arn:aws:sns:us-east-1:123456789012:exchange-test-page"
TICKET = "arn:aws:sns:us-east-1:123456789012:exchange-test-ticket"
NAMESPACE = "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
AMP_NAME = re.compile(r"^[0-9A-Za-z][-.0-9A-Z_a-z]*$")
TODAY = date(2026, 3, 5)
GRAFANA = GrafanaArgs(today=TODAY)


def _group(name: str, rules: int = 3) -> RuleGroup:
    return RuleGroup(
        name, tuple(Rule(record=f"job:up:sum{i}", expr="sum(up)", labels={}) for i in range(rules))
    )


SOURCES = [
    RuleSource("exchange", [_group("sloth-slo-sli-recordings-a"), _group("sloth-slo-alerts-a")]),
    RuleSource("payments", [_group("sloth-slo-sli-recordings-b")]),
]


def _observability(**options: object) -> dict:
    args = {
        "prefix": "exchange-test",
        "region": "us-east-1",
        "account_id": "123456789012",
        "tags": TAGS,
        "page_topic_arn": PAGE,
        "ticket_topic_arn": TICKET,
        "rule_sources": SOURCES,
        "grafana": GRAFANA,
        **options,
    }
    return declare(lambda: Observability("obs", ObservabilityArgs(**args)))


@pytest.fixture(scope="module")
def obs() -> dict:
    return _observability()


def test_the_workspace_logs_to_its_own_log_group(obs: dict) -> None:
    workspace = obs["obs-amp"].inputs
    assert workspace["alias"] == "exchange-test"
    log_group = obs["obs-amp-logs"].inputs
    assert log_group["name"] == "/aws/vendedlogs/prometheus/exchange-test"
    assert workspace["loggingConfiguration"]["logGroupArn"].endswith(":*")


def test_each_spec_file_gets_a_namespace_with_exactly_its_groups(obs: dict) -> None:
    namespaces = {n.inputs["name"]: n.inputs for n in of_type(obs, NAMESPACE)}
    assert set(namespaces) == {"exchange", "payments"}
    for source in SOURCES:
        expected = [group_dict(group) for group in source.groups]
        assert yaml.safe_load(namespaces[source.name]["data"]) == {"groups": expected}


@pytest.mark.parametrize(
    "max_bytes",
    [
        pytest.param(330, id="a tiny limit puts about one group in each namespace"),
        pytest.param(600, id="a small limit packs a few groups together"),
        pytest.param(1500, id="a larger limit packs more groups together"),
        pytest.param(100_000, id="under the limit everything stays in one namespace"),
    ],
)
def test_packing_keeps_every_group_in_order_and_each_namespace_under_the_limit(
    max_bytes: int,
) -> None:
    groups = [_group(f"g{i}", rules=i % 4 + 1) for i in range(12)]
    namespaces = pack_rule_namespaces([RuleSource("exchange", groups)], max_bytes)
    assert [g for ns in namespaces for g in ns.groups] == groups
    assert all(len(ns.data.encode()) <= max_bytes for ns in namespaces)
    assert all(AMP_NAME.match(ns.name) for ns in namespaces)
    if len(namespaces) > 1:
        assert [ns.name for ns in namespaces][:2] == ["exchange-1", "exchange-2"]


def test_a_group_too_large_for_any_namespace_is_an_error() -> None:
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        pack_rule_namespaces([RuleSource("x", [_group("huge", rules=10)])], 100)


def test_sources_that_would_share_a_namespace_name_are_an_error() -> None:
    with pytest.raises(ValueError, match="collide"):
        pack_rule_namespaces([RuleSource("a b", [_group("x")]), RuleSource("a-b", [_group("y")])])


@pytest.mark.parametrize(
    ("source", "index", "total"),
    [
        pytest.param("exchange", 0, 1, id="a plain stem stays as it is"),
        pytest.param("_private spec", 0, 1, id="a leading underscore and a space are replaced"),
        pytest.param("x" * 80, 11, 12, id="a long stem is cut to 64 characters with its suffix"),
    ],
)
def test_namespace_names_follow_amp_rules(source: str, index: int, total: int) -> None:
    name = namespace_name(source, index, total)
    assert AMP_NAME.match(name) and len(name) <= NAMESPACE_NAME_MAX


def test_namespace_data_is_a_prometheus_rules_file() -> None:
    (namespace,) = pack_rule_namespaces([RuleSource("x", [_group("g")])])
    assert yaml.safe_load(namespace.data) == {"groups": [group_dict(_group("g"))]}


def test_the_alert_manager_routes_pages_and_tickets_to_their_topics(obs: dict) -> None:
    definition = yaml.safe_load(obs["obs-alert-manager"].inputs["definition"])
    config = yaml.safe_load(definition["alertmanager_config"])
    receivers = {r["name"]: r["sns_configs"][0] for r in config["receivers"]}
    assert receivers["page"]["topic_arn"] == PAGE
    assert receivers["ticket"]["topic_arn"] == TICKET
    assert receivers["page"]["sigv4"] == {"region": "us-east-1"}
    assert config["route"]["group_by"] == ["alertname", "sloth_service", "sloth_slo"]
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["equal"] == ["sloth_id"]


def test_aps_may_publish_only_for_this_workspace_and_account(obs: dict) -> None:
    for kind, arn in (("page", PAGE), ("ticket", TICKET)):
        policy = obs[f"obs-{kind}-topic-policy"].inputs
        assert policy["arn"] == arn
        statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
        aps = statements["AmpAlertManagerPublishes"]
        assert aps["Principal"] == {"Service": "aps.amazonaws.com"}
        assert "sns:Publish" in aps["Action"] and aps["Resource"] == [arn]
        assert aps["Condition"]["ArnEquals"]["aws:SourceArn"].startswith(
            "arn:aws:aps:us-east-1:123456789012:workspace/"
        )
        assert aps["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_grafana_has_a_role_a_token_a_provider_and_an_amp_data_source(obs: dict) -> None:
    workspace = obs["obs-grafana"].inputs
    assert workspace["authenticationProviders"] == ["AWS_SSO"]
    assert workspace["permissionType"] == "CUSTOMER_MANAGED"
    assert workspace["dataSources"] == ["PROMETHEUS"]
    trust = json.loads(obs["obs-grafana-role"].inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "grafana.amazonaws.com"}
    assert obs["obs-grafana-sa"].inputs["grafanaRole"] == "ADMIN"
    provider = obs["obs-grafana-provider"]
    assert provider.type == "pulumi:providers:grafana"
    assert provider.inputs["auth"] == "[secret]"
    assert provider.inputs["url"].startswith("https://g-")


def test_the_workspace_runs_the_pinned_grafana_version(obs: dict) -> None:
    assert obs["obs-grafana"].inputs["grafanaVersion"] == "12.4"
    pinned = _observability(grafana=GrafanaArgs(today=TODAY, version="13.2"))
    assert pinned["obs-grafana"].inputs["grafanaVersion"] == "13.2"


def test_amp_is_read_through_the_amp_plugin_with_the_workspace_role(obs: dict) -> None:
    sources = of_type(obs, "grafana:oss/dataSource:DataSource")
    assert [s.inputs["type"] for s in sources] == ["grafana-amazonprometheus-datasource"]
    (source,) = sources
    assert AMP_DATA_SOURCE_TYPE == "grafana-amazonprometheus-datasource"
    assert source.inputs["url"].startswith("https://aps-workspaces.us-east-1.amazonaws.com/")
    settings = json.loads(source.inputs["jsonDataEncoded"])
    assert settings == {
        "authType": "ec2_iam_role",
        "defaultRegion": "us-east-1",
        "httpMethod": "POST",
    }


@pytest.mark.parametrize(
    ("today", "days", "start"),
    [
        pytest.param(
            date(1970, 1, 1), 14, date(1970, 1, 1), id="the first period starts at the epoch"
        ),
        pytest.param(
            date(2026, 3, 5), 14, date(2026, 2, 26), id="a day inside a period maps to its start"
        ),
        pytest.param(
            date(2026, 2, 26), 14, date(2026, 2, 26), id="a period's first day is its start"
        ),
        pytest.param(
            date(2026, 3, 11), 14, date(2026, 2, 26), id="a period's last day is still in it"
        ),
        pytest.param(
            date(2026, 3, 12), 14, date(2026, 3, 12), id="the next day starts a new period"
        ),
        pytest.param(
            date(2026, 3, 5), 1, date(2026, 3, 5), id="a one-day period is the day itself"
        ),
    ],
)
def test_the_rotation_period_of_a_day(today: date, days: int, start: date) -> None:
    assert token_period_start(today, days) == start
    assert token_name(today, days) == f"pulumi-{start:%Y%m%d}"


def test_the_token_name_changes_at_each_period_and_only_then() -> None:
    names = [token_name(date(2026, 1, 1) + timedelta(days=n), 14) for n in range(365)]
    changes = [n for n in range(1, 365) if names[n] != names[n - 1]]
    assert all(b - a == 14 for a, b in pairwise(changes))
    assert len(set(names)) == len(changes) + 1


def test_the_token_is_named_after_the_rotation_period_and_lives_thirty_days(obs: dict) -> None:
    token = obs["obs-grafana-token"].inputs
    assert token["name"] == "pulumi-20260226"
    assert token["secondsToLive"] == 30 * 86_400
    later = _observability(grafana=GrafanaArgs(today=date(2026, 3, 12)))
    assert later["obs-grafana-token"].inputs["name"] == "pulumi-20260312"
    same = _observability(grafana=GrafanaArgs(today=date(2026, 3, 11)))
    assert same["obs-grafana-token"].inputs["name"] == token["name"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"version": "9.4"}, "Grafana version", id="a version without the AMP plugin is refused"
        ),
        pytest.param(
            {"token_rotation_days": 29},
            "outlive its rotation period",
            id="a period the token cannot outlive is refused",
        ),
        pytest.param(
            {"token_rotation_days": 7, "token_ttl_seconds": 8 * 86_400},
            "outlive",
            id="a token shorter than its period plus the margin is refused",
        ),
        pytest.param(
            {"token_ttl_seconds": 31 * 86_400},
            "at most",
            id="a token longer than AMG allows is refused",
        ),
        pytest.param({"token_rotation_days": 0}, "outlive", id="a period of zero days is refused"),
    ],
)
def test_grafana_settings_the_token_cannot_honour_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GrafanaArgs(today=TODAY, **options)


def test_the_grafana_role_may_only_read_this_workspace(obs: dict) -> None:
    statements = json.loads(obs["obs-grafana-policy"].inputs["policy"])["Statement"]
    query = next(s for s in statements if s["Sid"] == "QueryWorkspace")
    assert "aps:QueryMetrics" in query["Action"]
    assert query["Resource"][0].startswith("arn:aws:aps:us-east-1:123456789012:workspace/")
    assert all(
        not a.startswith(("aps:Remote", "aps:Create", "aps:Delete")) for a in query["Action"]
    )


def test_no_dashboards_are_declared_unless_given(obs: dict) -> None:
    assert of_type(obs, "grafana:oss/dashboard:Dashboard") == []


def test_given_dashboards_are_declared_in_the_workspace_grafana() -> None:
    board = Dashboard(name="slo", config_json=json.dumps({"title": "SLOs"}))
    obs = _observability(dashboards=[board])
    (dashboard,) = of_type(obs, "grafana:oss/dashboard:Dashboard")
    assert dashboard.name == "obs-dashboard-slo"
    assert json.loads(dashboard.inputs["configJson"]) == {"title": "SLOs"}


def test_dashboards_without_grafana_are_refused() -> None:
    board = Dashboard(name="slo", config_json="{}")
    with pytest.raises(Exception, match="dashboards need Grafana"):
        _observability(grafana=None, dashboards=[board])


def test_what_an_emulator_lacks_can_be_switched_off() -> None:
    obs = _observability(grafana=None, alert_manager=False, logging=False)
    assert "obs-alert-manager" not in obs and "obs-amp-logs" not in obs
    assert not [r for r in obs.values() if "grafana" in r.type]
    assert "loggingConfiguration" not in obs["obs-amp"].inputs
    assert len(of_type(obs, NAMESPACE)) == 2


def test_saml_sign_in_is_passed_through() -> None:
    obs = _observability(grafana=GrafanaArgs(today=TODAY, authentication_providers=("SAML",)))
    assert obs["obs-grafana"].inputs["authenticationProviders"] == ["SAML"]
