"""Impossible values from Prometheus are missing data: the policy's on_missing_data decides, and
the gate says which series was impossible and why. Values at the edge of their range stay data."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

from alerting.names import (
    CURRENT_BURN_RATE,
    OBJECTIVE,
    PERIOD_BUDGET_REMAINING,
    TIME_PERIOD_DAYS,
    sli_error_record,
)
from budget.gate import Outcome, run_gate
from budget.policy import Policy, parse_policy
from budget.report import gate_document, gate_lines
from budget.status import Kind, percent, readings_from_samples
from sre_platform.prometheus import Sample

SHIPPED = Path(__file__).resolve().parents[2] / "ops" / "error-budget-policy.yaml"
HEALTHY = {
    OBJECTIVE: 0.999,
    PERIOD_BUDGET_REMAINING: 0.9,
    CURRENT_BURN_RATE: 0.5,
    TIME_PERIOD_DAYS: 30.0,
    sli_error_record("5m"): 0.0005,
    sli_error_record("1d"): 0.0005,
}


def _policy(**changes: object) -> Policy:
    data = copy.deepcopy(yaml.safe_load(SHIPPED.read_text(encoding="utf-8")))
    data.update(changes)
    return parse_policy(data, "policy.yaml")


def _samples(**values: float) -> list[Sample]:
    """One SLO's samples, ``values`` (series name with ':' as '__') replacing healthy ones."""
    series = {**HEALTHY, **{name.replace("__", ":"): value for name, value in values.items()}}
    labels = {"sloth_id": "svc-availability", "sloth_service": "svc", "sloth_slo": "availability"}
    return [Sample(MappingProxyType({"__name__": n, **labels}), v) for n, v in series.items()]


def _gate(samples: list[Sample], policy: Policy | None = None):
    readings = readings_from_samples(samples)
    return run_gate(policy or _policy(), lambda service: readings)


def _key(name: str) -> str:
    return name.replace(":", "__")


INF = math.inf
IMPOSSIBLE = [
    (PERIOD_BUDGET_REMAINING, INF, "not a finite number", "budget remaining +Inf"),
    (PERIOD_BUDGET_REMAINING, -INF, "not a finite number", "budget remaining -Inf"),
    (PERIOD_BUDGET_REMAINING, 1e308, "above 1", "budget remaining 1e308"),
    (PERIOD_BUDGET_REMAINING, 5.0, "above 1", "budget remaining 500%"),
    (PERIOD_BUDGET_REMAINING, 1.0000001, "above 1", "budget remaining just over 100%"),
    (CURRENT_BURN_RATE, -3.0, "negative", "a negative burn rate"),
    (CURRENT_BURN_RATE, -1e-9, "negative", "a burn rate just below zero"),
    (CURRENT_BURN_RATE, INF, "not a finite number", "an infinite burn rate"),
    (OBJECTIVE, 99.9, "a percentage? 99.9% is recorded as 0.999", "objective 99.9 read as a ratio"),
    (OBJECTIVE, 0.0, "not a ratio in (0, 1]", "objective 0"),
    (OBJECTIVE, -0.5, "not a ratio in (0, 1]", "a negative objective"),
    (OBJECTIVE, 1000.0, "not a ratio in (0, 1]", "objective 1000"),
    (TIME_PERIOD_DAYS, 0.0, "not a positive number of days", "a period of 0 days"),
    (TIME_PERIOD_DAYS, -INF, "not a finite number", "a period of -Inf days"),
    (sli_error_record("1d"), 7.0, "not an error ratio in [0, 1]", "an error ratio of 700%"),
    (sli_error_record("5m"), -0.1, "not an error ratio in [0, 1]", "a negative error ratio"),
    (sli_error_record("5m"), INF, "not a finite number", "an infinite error ratio"),
]


@pytest.mark.parametrize(
    ("series", "value", "reason"),
    [pytest.param(s, v, r, id=f"{i}: counted as missing data") for s, v, r, i in IMPOSSIBLE],
)
def test_impossible_values_are_missing_data_named_with_the_reason(
    series: str, value: float, reason: str
) -> None:
    decision = _gate(_samples(**{_key(series): value}))
    assert decision.outcome is Outcome.CANNOT_DECIDE
    [missing] = [f for f in decision.findings if f.kind is Kind.MISSING_DATA]
    assert missing.clause == "on_missing_data"
    assert missing.message.startswith("impossible values, counted as missing data: ")
    assert f"{series} is " in missing.message
    assert reason in missing.message
    assert missing.subject == "svc/availability"


@pytest.mark.parametrize(
    ("series", "value"),
    [
        pytest.param(s, v, id=f"{i}: allowed when the policy allows missing data")
        for s, v, _, i in IMPOSSIBLE
    ],
)
def test_the_policy_decides_what_impossible_data_means(series: str, value: float) -> None:
    decision = _gate(_samples(**{_key(series): value}), _policy(on_missing_data="allow"))
    assert decision.outcome is Outcome.ALLOWED


@pytest.mark.parametrize(
    ("values", "outcome"),
    [
        pytest.param(
            {PERIOD_BUDGET_REMAINING: 1.0}, Outcome.ALLOWED, id="an untouched budget is data"
        ),
        pytest.param(
            {PERIOD_BUDGET_REMAINING: -0.5},
            Outcome.FROZEN,
            id="an overspent budget is data and freezes",
        ),
        pytest.param(
            {PERIOD_BUDGET_REMAINING: -1e308},
            Outcome.FROZEN,
            id="a hugely overspent budget still freezes",
        ),
        pytest.param({CURRENT_BURN_RATE: 0.0}, Outcome.ALLOWED, id="a burn rate of zero is data"),
        pytest.param(
            {CURRENT_BURN_RATE: 1e308}, Outcome.FROZEN, id="a huge burn rate holds releases"
        ),
        pytest.param({OBJECTIVE: 1.0}, Outcome.ALLOWED, id="an objective of 100% is a ratio"),
        pytest.param({OBJECTIVE: 1e-9}, Outcome.ALLOWED, id="a tiny objective is a ratio"),
        pytest.param(
            {sli_error_record("1d"): 1.0}, Outcome.ALLOWED, id="an error ratio of 1 is data"
        ),
        pytest.param(
            {sli_error_record("1d"): 0.0}, Outcome.ALLOWED, id="an error ratio of 0 is data"
        ),
        pytest.param(
            {TIME_PERIOD_DAYS: 1e-300, sli_error_record("1d"): 1.0},
            Outcome.ALLOWED,
            id="a tiny period cannot make the outage share infinite",
        ),
    ],
)
def test_values_at_the_edge_of_their_range_are_data(values: dict, outcome: Outcome) -> None:
    decision = _gate(_samples(**{_key(k): v for k, v in values.items()}))
    assert decision.outcome is outcome
    assert not [f for f in decision.findings if f.kind is Kind.MISSING_DATA]


def test_one_impossible_replica_makes_the_series_missing_although_another_is_plausible() -> None:
    samples = [*_samples(), *_samples(**{_key(PERIOD_BUDGET_REMAINING): INF})]
    [reading] = readings_from_samples(samples)
    assert reading.budget_remaining is None
    assert [bad.series for bad in reading.impossible] == [PERIOD_BUDGET_REMAINING]


def test_nan_is_no_data_not_an_impossible_value() -> None:
    decision = _gate(_samples(**{_key(CURRENT_BURN_RATE): math.nan}))
    [missing] = [f for f in decision.findings if f.kind is Kind.MISSING_DATA]
    assert missing.message == f"no data for {CURRENT_BURN_RATE}"


def test_the_json_document_names_the_impossible_series_with_finite_numbers_only() -> None:
    decision = _gate(_samples(**{_key(PERIOD_BUDGET_REMAINING): INF, _key(OBJECTIVE): 99.9}))
    text = json.dumps(gate_document(decision), allow_nan=False)
    [slo] = json.loads(text)["slos"]
    assert slo["impossible"] == [
        {
            "series": OBJECTIVE,
            "value": "99.9",
            "reason": "not a ratio in (0, 1]: a percentage? 99.9% is recorded as 0.999",
        },
        {"series": PERIOD_BUDGET_REMAINING, "value": "+Inf", "reason": "not a finite number"},
    ]
    assert (slo["budget_remaining"], slo["objective"]) == (None, None)


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        pytest.param(-0.2, "-20.0%", id="an ordinary share is shown with one decimal"),
        pytest.param(
            -1e308, "-1.000e+310%", id="a huge share is shown in scientific notation, not -inf%"
        ),
    ],
)
def test_percentages_stay_readable(ratio: float, text: str) -> None:
    assert percent(ratio) == text


def test_gate_lines_show_a_huge_overspent_budget_readably() -> None:
    lines = gate_lines(_gate(_samples(**{_key(PERIOD_BUDGET_REMAINING): -1e308})))
    assert any("budget remaining -1.000e+310% of the period" in line for line in lines), lines
