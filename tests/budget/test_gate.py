"""Gate decisions and status readings as pure functions (no Prometheus)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

from alerting.names import CURRENT_BURN_RATE, PERIOD_BUDGET_REMAINING
from budget.gate import Outcome, run_gate
from budget.policy import Policy, parse_policy
from budget.status import SloReading, outage_budget_spent, readings_from_samples, slo_query
from sre_platform.errors import BudgetError
from sre_platform.prometheus import Sample

SHIPPED = Path(__file__).resolve().parents[2] / "ops" / "error-budget-policy.yaml"


def _policy(**changes: object) -> Policy:
    data = copy.deepcopy(yaml.safe_load(SHIPPED.read_text(encoding="utf-8")))
    data.update(changes)
    return parse_policy(data, "policy.yaml")


def _reading(
    service: str = "svc",
    budget: float | None = 0.9,
    burn: float | None = 1.0,
    error_1d: float = 0.001,
) -> SloReading:
    return SloReading(
        service=service,
        slo="availability",
        slo_id=f"{service}-availability",
        objective=0.999,
        budget_remaining=budget,
        burn_rate=burn,
        period_days=30,
        sli_errors=MappingProxyType({"5m": 0.001, "1d": error_1d}),
    )


def _unreachable(service: str | None) -> list[SloReading]:
    raise BudgetError("Prometheus at http://x is unreachable: refused")


@pytest.mark.parametrize(
    ("policy", "readings", "service", "reason", "outcome"),
    [
        pytest.param(_policy(), [_reading()], None, None, Outcome.ALLOWED, id="budget left ships"),
        pytest.param(
            _policy(), [_reading(budget=0.0)], None, None, Outcome.FROZEN, id="no budget freezes"
        ),
        pytest.param(
            _policy(),
            [_reading(budget=0.0), _reading("other", budget=None)],
            None,
            None,
            Outcome.FROZEN,
            id="a freeze outranks missing data elsewhere",
        ),
        pytest.param(
            _policy(),
            [_reading(burn=None)],
            None,
            None,
            Outcome.CANNOT_DECIDE,
            id="a missing burn rate is missing data",
        ),
        pytest.param(
            _policy(),
            _unreachable,
            "svc",
            None,
            Outcome.CANNOT_DECIDE,
            id="an unreachable Prometheus is missing data",
        ),
        pytest.param(
            _policy(on_missing_data="allow"),
            _unreachable,
            None,
            None,
            Outcome.ALLOWED,
            id="an unreachable Prometheus passes when the policy allows missing data",
        ),
        pytest.param(
            _policy(),
            _unreachable,
            "svc",
            "P0 INC-7",
            Outcome.OVERRIDDEN,
            id="an override passes a P0 fix while Prometheus is down",
        ),
        pytest.param(
            _policy(),
            [],
            "svc",
            None,
            Outcome.CANNOT_DECIDE,
            id="a service without series is missing data",
        ),
        pytest.param(
            _policy(outage={"max_budget_spent": 0.2, "window": "1d", "release": "deny"}),
            [_reading(error_1d=0.01)],
            None,
            None,
            Outcome.FROZEN,
            id="an outage holds releases when the policy says so",
        ),
        pytest.param(
            _policy(services={"svc": {"fast_burn": {"max_burn_rate": 2}}}),
            [_reading(burn=3.0), _reading("other", burn=3.0)],
            "svc",
            None,
            Outcome.FROZEN,
            id="a service override tightens the fast burn rule for that service",
        ),
        pytest.param(
            _policy(services={"svc": {"fast_burn": {"max_burn_rate": 2}}}),
            [_reading("other", burn=3.0)],
            "other",
            None,
            Outcome.ALLOWED,
            id="other services keep the default fast burn rule",
        ),
        pytest.param(
            _policy(services={"svc": {"exceptions": []}}),
            [_reading(budget=-0.1)],
            "svc",
            "security fix",
            Outcome.FROZEN,
            id="an override is refused for a service whose policy lists no exceptions",
        ),
    ],
)
def test_gate_outcomes(policy, readings, service, reason, outcome) -> None:
    read = (
        readings
        if callable(readings)
        else lambda s: [r for r in readings if s in (None, r.service)]
    )
    assert run_gate(policy, read, service, reason).outcome is outcome


def test_exit_codes_match_the_contract() -> None:
    codes = {outcome: outcome.exit_code for outcome in Outcome}
    assert codes == {
        Outcome.ALLOWED: 0,
        Outcome.OVERRIDDEN: 0,
        Outcome.FROZEN: 3,
        Outcome.CANNOT_DECIDE: 4,
    }


def test_outage_budget_spent_is_the_share_of_the_period_budget() -> None:
    # A burn rate of 1 for a whole 30-day period spends exactly the budget.
    reading = _reading()
    assert outage_budget_spent(reading, "5m", 30 * 86400) == pytest.approx(1.0)
    assert outage_budget_spent(reading, "1d", 86400) == pytest.approx(1 / 30)
    assert outage_budget_spent(reading, "6h", 6 * 3600) is None


def _sample(name: str, value: float, **labels: str) -> Sample:
    base = {"__name__": name, "sloth_id": "a-b", "sloth_service": "a", "sloth_slo": "b"}
    return Sample(MappingProxyType({**base, **labels}), value)


def test_readings_keep_the_value_least_favourable_to_releasing() -> None:
    [reading] = readings_from_samples(
        [
            _sample(PERIOD_BUDGET_REMAINING, 0.4, replica="1"),
            _sample(PERIOD_BUDGET_REMAINING, 0.2, replica="2"),
            _sample(CURRENT_BURN_RATE, 1.0, replica="1"),
            _sample(CURRENT_BURN_RATE, 5.0, replica="2"),
        ]
    )
    assert (reading.budget_remaining, reading.burn_rate) == (0.2, 5.0)


def test_nan_values_count_as_missing() -> None:
    [reading] = readings_from_samples([_sample(PERIOD_BUDGET_REMAINING, float("nan"))])
    assert reading.budget_remaining is None


def test_the_query_quotes_the_service_name() -> None:
    assert 'sloth_service="we\\"ird"' in slo_query('we"ird')
    assert "sloth_service" not in slo_query(None)
