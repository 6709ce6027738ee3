"""ops/remediation.yaml: validated like the other config files, every problem naming file and
field, never a traceback; compiled to the JSON the Lambda reads back unchanged."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from remediation.model import policy_from_json, policy_to_json
from remediation.policy import RemediationPolicyError, load_policy, parse_policy
from tests.remediation.helpers import policy_data

SHIPPED = Path(__file__).resolve().parents[2] / "ops" / "remediation.yaml"


def _edit(path: str, value: object) -> dict:
    data = copy.deepcopy(policy_data())
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()

BAD = [
    pytest.param("version", 2, "version", "Input should be 1", id="an unknown version is refused"),
    pytest.param(
        "dry_rum", True, "dry_rum", "unknown field", id="a misspelt top-level field is named"
    ),
    pytest.param(
        "guardrails.max_actions",
        0,
        "guardrails.max_actions",
        "greater than or equal to 1",
        id="a budget of zero actions is refused",
    ),
    pytest.param(
        "guardrails.window",
        "30 minutes",
        "guardrails.window",
        "invalid duration",
        id="a window that is not a duration is refused",
    ),
    pytest.param(
        "guardrails.cooldown",
        "-5m",
        "guardrails.cooldown",
        "invalid duration",
        id="a negative cooldown is refused",
    ),
    pytest.param(
        "guardrails.max_age",
        "1h",
        "guardrails.max_age",
        "unknown field",
        id="a misspelt guardrail is named",
    ),
    pytest.param(
        "services.exchange.max_replicas",
        1,
        "services.exchange",
        "at least min_replicas (2)",
        id="max below min is refused",
    ),
    pytest.param(
        "services.exchange.min_replicas",
        -1,
        "services.exchange.min_replicas",
        "greater than or equal to 0",
        id="negative replicas are refused",
    ),
    pytest.param(
        "rules.0.name",
        "Scale Out!",
        "rules[0].name",
        "String should match pattern",
        id="a rule name that is not a lowercase name is refused",
    ),
    pytest.param(
        "rules.1.name",
        "latency-scale-out",
        "",
        'rule name "latency-scale-out" is used more than once',
        id="two rules with one name are refused",
    ),
    pytest.param(
        "rules.0.match",
        {},
        "rules[0].match",
        "would act on every alert",
        id="an empty match is refused",
    ),
    pytest.param(
        "rules.0.match",
        {"alertname": "Latency", "lables": {}},
        "rules[0].match.lables",
        "unknown field",
        id="a misspelt match field is named",
    ),
    pytest.param(
        "rules.3.match",
        {"matchers": ['alertname=~"(unclosed"']},
        "rules[3].match.matchers",
        "invalid regular expression",
        id="a matcher's bad regex is named",
    ),
    pytest.param(
        "rules.3.match",
        {"matchers": ["alertname ~ Hung"]},
        "rules[3].match.matchers",
        "is not a matcher",
        id="a matcher without an operator is named",
    ),
    pytest.param(
        "rules.0.action",
        {"type": "reboot"},
        "rules[0].action",
        "unknown action type 'reboot'",
        id="an unknown action type is named",
    ),
    pytest.param(
        "rules.0.action",
        {"step": 1},
        "rules[0].action",
        "needs a type",
        id="an action without a type is refused",
    ),
    pytest.param(
        "rules.0.action",
        {"type": "scale_out", "step": 0},
        "rules[0].action.step",
        "greater than or equal to 1",
        id="a scaling step of zero is refused",
    ),
    pytest.param(
        "rules.0.action",
        {"type": "scale_out", "stepp": 2},
        "rules[0].action.stepp",
        "unknown field",
        id="a misspelt action field is named",
    ),
    pytest.param(
        "rules.4.action",
        {"type": "shed_load", "fraction": 1.0},
        "rules[4].action.fraction",
        "less than or equal to 0.9",
        id="shedding every order is refused",
    ),
    pytest.param(
        "rules.4.action",
        {"type": "shed_load"},
        "rules[4].action.fraction",
        "required field is missing",
        id="shed_load without a fraction is refused",
    ),
    pytest.param(
        "rules.2.action",
        {"type": "rollback_release", "step": 1},
        "rules[2].action.step",
        "unknown field",
        id="a field the action type does not take is refused",
    ),
    pytest.param(
        "rules.0.service",
        "broker",
        "rules[0].service",
        'names service "broker", which is not under services',
        id="a rule naming an unlisted service is refused",
    ),
    pytest.param(
        "service_labels", [], "service_labels", "at least 1 item", id="no service label is refused"
    ),
    pytest.param("rules", _DELETE, None, None, id="a policy without rules is valid"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), BAD)
def test_each_bad_field_is_named_with_its_file(
    path: str, value: object, field: str | None, message: str | None
) -> None:
    data = _edit(path, value)
    if field is None:
        parse_policy(data, "ops/remediation.yaml")
        return
    with pytest.raises(RemediationPolicyError) as caught:
        parse_policy(data, "ops/remediation.yaml")
    problems = caught.value.problems
    assert any((p.field or "") == field and message in p.message for p in problems), problems
    assert all(p.file == "ops/remediation.yaml" for p in problems)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    data = _edit("guardrails.max_actions", 0)
    data["rules"][0]["action"] = {"type": "reboot"}
    data["services"]["exchange"]["max_replicas"] = 1
    with pytest.raises(RemediationPolicyError) as caught:
        parse_policy(data, "p.yaml")
    fields = {p.field for p in caught.value.problems}
    assert {"guardrails.max_actions", "rules[0].action", "services.exchange"} <= fields


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the file is empty", id="an empty file"),
        pytest.param("version: 1\nrules: [\n", "invalid YAML", id="broken YAML"),
        pytest.param(
            "- a\n- b\n", "expected a mapping at the top", id="a list instead of a mapping"
        ),
        pytest.param("a: &a [*a]\n", "YAML", id="a recursive alias"),
    ],
)
def test_unreadable_files_are_one_problem_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "remediation.yaml"
    path.write_text(text)
    with pytest.raises(RemediationPolicyError) as caught:
        load_policy(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path) and message in problem.message, problem


def test_a_missing_file_and_a_folder_are_named(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path):
        with pytest.raises(RemediationPolicyError) as caught:
            load_policy(path)
        assert str(caught.value).startswith(str(path)), caught.value


def test_the_shipped_policy_loads_and_every_rule_matches_an_alert_that_exists() -> None:
    """Each rule of ops/remediation.yaml names an alert the SLO specs or the lab rules raise."""
    import yaml

    policy = load_policy(SHIPPED)
    root = SHIPPED.parents[1]
    names = {
        slo["alerting"]["name"]
        for spec in sorted((root / "slo_specs").glob("*.yaml"))
        for slo in yaml.safe_load(spec.read_text())["slos"]
    }
    lab = yaml.safe_load((root / "lab" / "rules" / "lab-alerts.yaml").read_text())
    names |= {r["alert"] for g in lab["groups"] for r in g["rules"] if "alert" in r}
    for rule in policy.rules:
        (alertname,) = [m.value for m in rule.matchers if m.name == "alertname"]
        assert alertname in names, rule.name
    assert {r.action.type for r in policy.rules} >= {
        "scale_out",
        "rollback_release",
        "restart_replica",
        "shed_load",
    }


def test_the_compiled_policy_reads_back_unchanged() -> None:
    policy = load_policy(SHIPPED)
    text = policy_to_json(policy)
    assert policy_from_json(text) == policy
    assert policy_to_json(policy_from_json(text)) == text


@pytest.mark.parametrize(
    "text", ["{}", '{"format": "other"}', '{"format": "sre-platform/remediation-policy/v1"}', "[]"]
)
def test_a_document_that_is_not_a_compiled_policy_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a compiled remediation policy"):
        policy_from_json(text)
