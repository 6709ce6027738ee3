"""The policy file: the shipped default loads, mistakes are refused naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from budget.policy import Release, load_policy, parse_policy
from sre_platform.errors import PolicyFileError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "ops" / "error-budget-policy.yaml"
SOURCE = "ops/error-budget-policy.yaml"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def test_the_shipped_policy_freezes_a_service_with_no_budget_left() -> None:
    policy = load_policy(SHIPPED)
    for service in ("any-service", "exchange"):
        rules = policy.for_service(service)
        assert rules.tier_for(0.0).release is Release.DENY
        assert rules.tier_for(-0.3).release is Release.DENY
        assert rules.tier_for(0.01).release is Release.ALLOW
        assert rules.on_missing_data is Release.DENY


@pytest.mark.parametrize(
    ("remaining", "tier"),
    [
        pytest.param(1.0, "normal", id="an untouched budget is normal"),
        pytest.param(0.51, "normal", id="just over half the budget left is normal"),
        pytest.param(0.5, "caution", id="exactly half the budget left is caution"),
        pytest.param(0.3, "caution", id="a third of the budget left is caution"),
        pytest.param(0.25, "reliability-only", id="a quarter left is reliability only"),
        pytest.param(0.001, "reliability-only", id="a sliver of budget left is reliability only"),
        pytest.param(0.0, "freeze", id="no budget left freezes"),
        pytest.param(-1.5, "freeze", id="an overspent budget freezes"),
    ],
)
def test_tiers_apply_by_budget_remaining(remaining: float, tier: str) -> None:
    assert load_policy(SHIPPED).default.tier_for(remaining).name == tier


def test_a_service_override_replaces_only_the_fields_it_names(shipped: dict) -> None:
    data = copy.deepcopy(shipped)
    data["services"] = {"payments": {"fast_burn": {"max_burn_rate": 6}, "on_missing_data": "allow"}}
    policy = parse_policy(data, SOURCE)
    payments = policy.for_service("payments")
    assert payments.fast_burn.max_burn_rate == 6
    assert payments.fast_burn.clause == "services.payments.fast_burn"
    assert payments.on_missing_data is Release.ALLOW
    assert payments.on_missing_data_clause == "services.payments.on_missing_data"
    assert payments.tiers == policy.default.tiers
    assert policy.for_service("other") == policy.default


def _set(path: str, value: object):
    """Return a mutation of the shipped policy that sets ``path`` (dots, [i]) to ``value``."""

    def mutate(data: dict) -> None:
        parts = path.replace("[", ".").replace("]", "").split(".")
        target = data
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _set("tiers[2].budget_remaining_above", 1.5),
            "tiers[2].budget_remaining_above: must be between 0 and 1",
            id="a tier bound above one is refused",
        ),
        pytest.param(
            _set("tiers[0].budget_remaining_above", -0.1),
            "tiers[0].budget_remaining_above: must be between 0 and 1",
            id="a negative tier bound is refused",
        ),
        pytest.param(
            _set("tiers[1].budget_remaining_above", 0.9),
            'tiers: tier "caution": budget_remaining_above must be lower than the tier before',
            id="tiers out of order are refused",
        ),
        pytest.param(
            _set("tiers[3].budget_remaining_above", 0),
            'tiers: the last tier "freeze" must not set budget_remaining_above',
            id="a last tier with a bound is refused because some budgets would match no tier",
        ),
        pytest.param(
            _set("tiers[1].budget_remaining_above", _DELETE),
            'tiers: tier "caution" needs budget_remaining_above',
            id="an unbounded tier before the last is refused",
        ),
        pytest.param(
            _set("tiers[2].name", "normal"),
            'tiers: tier name "normal" is used more than once',
            id="two tiers with one name are refused",
        ),
        pytest.param(
            _set("tiers[0].relase", "allow"),
            "tiers[0].relase: unknown field",
            id="a misspelt tier field is refused",
        ),
        pytest.param(
            _set("tiers[3].release", "block"),
            "tiers[3].release: Input should be 'allow' or 'deny'",
            id="a release that is neither allow nor deny is refused",
        ),
        pytest.param(
            _set("tiers", []),
            "tiers: List should have at least 1 item",
            id="a policy without tiers is refused",
        ),
        pytest.param(
            _set("fast_burn.max_burn_rate", 0),
            "fast_burn.max_burn_rate: Input should be greater than 0",
            id="a zero fast burn threshold is refused",
        ),
        pytest.param(
            _set("outage.max_budget_spent", 20),
            "outage.max_budget_spent: must be above 0 and at most 1",
            id="an outage share written as a percentage is refused",
        ),
        pytest.param(
            _set("outage.window", "one day"),
            "outage.window: invalid duration 'one day'",
            id="an outage window that is not a duration is refused",
        ),
        pytest.param(
            _set("escalation", []),
            "escalation: List should have at least 1 item",
            id="a policy with nobody to escalate to is refused",
        ),
        pytest.param(
            _set("on_missing_data", "ignore"),
            "on_missing_data: Input should be 'allow' or 'deny'",
            id="an unknown missing data behaviour is refused",
        ),
        pytest.param(
            _set("version", 2),
            "version: Input should be 1",
            id="an unknown policy version is refused",
        ),
        pytest.param(
            _set("fast_burn", _DELETE),
            "fast_burn: required field is missing",
            id="a policy without a fast burn rule is refused",
        ),
        pytest.param(
            _set("services.exchange.tiers", [{"name": "all", "release": "allow", "allows": ""}]),
            "services.exchange.tiers[0].allows: String should have at least 1 character",
            id="a service tier without a description is refused naming the service",
        ),
        pytest.param(
            _set("services.exchange", {}),
            "services.exchange: a service override must replace at least one field",
            id="an empty service override is refused",
        ),
        pytest.param(
            _set("services.exchange.fastburn", {"max_burn_rate": 2}),
            "services.exchange.fastburn: unknown field",
            id="a misspelt service override field is refused",
        ),
    ],
)
def test_mistakes_are_refused_naming_the_file_and_field(
    shipped: dict, mutate, expected: str
) -> None:
    data = copy.deepcopy(shipped)
    mutate(data)
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(data, SOURCE)
    messages = [str(problem) for problem in caught.value.problems]
    assert any(m.startswith(f"{SOURCE}: {expected}") for m in messages), messages


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "the file is empty", id="an empty file is refused"),
        pytest.param(
            "tiers: [\n",
            "invalid YAML: did not find expected node content (line 2, column 1)",
            id="broken YAML names the line",
        ),
        pytest.param(
            "- 1\n", "expected a mapping at the top, found a list", id="a list is refused"
        ),
        pytest.param(
            b"version: 1\nescalation: \xff\xfe\n",
            "not UTF-8 text (byte 24, line 2)",
            id="a file that is not UTF-8 is refused naming the byte",
        ),
        pytest.param(
            BOMB,
            "YAML expands to more than 2,000,000 nodes once its aliases are resolved (line 7); "
            "refusing to read it",
            id="an alias bomb is refused",
        ),
        pytest.param(
            "version: 1\n---\nversion: 1\n",
            "expected one YAML document, found several",
            id="several documents are refused",
        ),
        pytest.param(None, "is a folder, not a file", id="a folder is refused"),
    ],
)
def test_unreadable_files_are_refused_naming_the_file(
    tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "policy.yaml"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    assert str(caught.value) == f"{path}: {expected}"


def test_every_mistake_of_a_file_is_reported_at_once(shipped: dict, tmp_path: Path) -> None:
    data = copy.deepcopy(shipped)
    data["fast_burn"]["max_burn_rate"] = float("inf")
    data["tiers"][0]["budget_remaining_above"] = float("nan")
    data["on_missing_data"] = "maybe"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    fields = [problem.field for problem in caught.value.problems]
    assert fields == [
        "tiers[0].budget_remaining_above",
        "fast_burn.max_burn_rate",
        "on_missing_data",
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(
            "fast_burn.max_burn_rate",
            float("inf"),
            id="an infinite burn limit that never holds is refused",
        ),
        pytest.param("fast_burn.max_burn_rate", float("nan"), id="a NaN burn limit is refused"),
        pytest.param("outage.max_budget_spent", float("nan"), id="a NaN outage share is refused"),
        pytest.param(
            "tiers[1].budget_remaining_above", float("nan"), id="a NaN tier bound is refused"
        ),
    ],
)
def test_thresholds_that_are_not_finite_are_refused(shipped: dict, path: str, value: float) -> None:
    data = copy.deepcopy(shipped)
    _set(path, value)(data)
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(data, SOURCE)
    assert [p.field for p in caught.value.problems] == [path]


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match=r"absent\.yaml: cannot read"):
        load_policy(tmp_path / "absent.yaml")
