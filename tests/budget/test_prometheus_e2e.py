"""Status and gate against a real Prometheus holding healthy, caution, fast-burning and
exhausted services (see conftest.py); the gate runs as the real `sre` console script."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from budget.policy import load_policy
from budget.status import Kind, evaluate, read_slos
from sre_platform.prometheus import open_client

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "ops" / "error-budget-policy.yaml"
SRE = Path(sys.executable).with_name("sre")


def sre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SRE), "budget", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def _policy_file(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def statuses(prometheus_url: str) -> dict[str, object]:
    policy = load_policy(SHIPPED)
    readings = read_slos(open_client(prometheus_url))
    return {r.slo_id: evaluate(policy.for_service(r.service), r) for r in readings}


@pytest.mark.parametrize(
    ("slo_id", "tier", "release", "clauses"),
    [
        pytest.param(
            "healthy-availability", "normal", "allow", [], id="a healthy service is normal"
        ),
        pytest.param(
            "caution-availability", "caution", "allow", [], id="a third of the budget is caution"
        ),
        pytest.param(
            "fast-burning-availability",
            "normal",
            "deny",
            ["fast_burn"],
            id="a fast burn holds releases although most of the budget is left",
        ),
        pytest.param(
            "exhausted-availability",
            "freeze",
            "deny",
            ["outage"],
            id="an overspent budget freezes and its big outage asks for a postmortem",
        ),
        pytest.param(
            "exhausted-latency", "normal", "allow", [], id="a healthy SLO of a frozen service"
        ),
        pytest.param(
            "silent-availability",
            None,
            "deny",
            ["on_missing_data"],
            id="an SLO without traffic has no data and is denied by default",
        ),
    ],
)
def test_status_reads_every_slo_and_applies_the_policy(
    statuses: dict, slo_id: str, tier: str | None, release: str, clauses: list[str]
) -> None:
    status = statuses[slo_id]
    assert (status.tier.name if status.tier else None) == tier
    assert status.release.value == release
    extra = [f.clause for f in status.findings if f.kind is not Kind.TIER]
    assert extra == clauses


def test_status_reads_the_recorded_values(statuses: dict) -> None:
    reading = statuses["exhausted-availability"].reading
    assert reading.budget_remaining == pytest.approx(-0.2)
    assert reading.burn_rate == pytest.approx(3)
    assert reading.sli_errors["1d"] == pytest.approx(0.008)
    assert statuses["exhausted-availability"].outage_budget_spent == pytest.approx(
        0.008 / 30 / 0.001
    )


def test_status_json_lists_each_slo_with_its_tier(prometheus_url: str) -> None:
    result = sre("status", "--prometheus", prometheus_url, "--service", "caution", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["policy"] == "ops/error-budget-policy.yaml"
    [slo] = document["slos"]
    assert (slo["service"], slo["slo"], slo["tier"], slo["release"]) == (
        "caution",
        "availability",
        "caution",
        "allow",
    )
    assert slo["budget_remaining"] == pytest.approx(0.35)
    assert slo["sli_error"]["5m"] == pytest.approx(0.0012)


def test_status_table_shows_every_service_and_tier(prometheus_url: str) -> None:
    result = sre("status", "--prometheus", prometheus_url)
    assert result.returncode == 0, result.stderr
    for text in ("healthy", "fast-burning", "exhausted", "silent", "caution", "freeze", "no data"):
        assert text in result.stdout
    assert "-20.0%" in result.stdout


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("args", "policy_changes", "code", "expected"),
    [
        pytest.param(
            ["--service", "healthy"], {}, 0, ["ALLOWED (exit 0)"], id="a healthy service ships"
        ),
        pytest.param(
            ["--service", "caution"],
            {},
            0,
            ['tiers[1] "caution"', "rollback plan"],
            id="a service in caution ships and is told what caution means",
        ),
        pytest.param(
            ["--service", "fast-burning"],
            {},
            3,
            ["FROZEN (exit 3)", "fast-burning/availability: fast_burn", "20.0x"],
            id="a fast-burning service is held",
        ),
        pytest.param(
            ["--service", "exhausted"],
            {},
            3,
            [
                "DENY       exhausted/availability",
                'tiers[3] "freeze"',
                "budget remaining -20.0%",
                "26.7% of the budget spent in the last 1d",
                "escalate to: SRE on-call #sre-oncall",
            ],
            id="an exhausted service is frozen naming the SLO, its budget and the clause",
        ),
        pytest.param(
            [],
            {},
            3,
            ["FROZEN (exit 3)", "exhausted/availability", "silent/availability"],
            id="without a service every service is gated",
        ),
        pytest.param(
            ["--service", "exhausted", "--override-reason", "P0 INC-42: order matching down"],
            {},
            0,
            [
                "ALLOWED BY OVERRIDE (exit 0)",
                'override reason (recorded): "P0 INC-42: order matching down"',
                "overridden exhausted/availability",
            ],
            id="an override lets a P0 fix through and records the reason",
        ),
        pytest.param(
            ["--service", "exhausted", "--override-reason", "security fix"],
            {"exceptions": []},
            3,
            ["override refused: the policy lists no exceptions for exhausted"],
            id="an override is refused when the policy lists no exceptions",
        ),
        pytest.param(
            ["--service", "silent"],
            {},
            4,
            ["CANNOT DECIDE (exit 4)", "no data for slo:period_error_budget_remaining:ratio"],
            id="the gate cannot decide for an SLO without data by default",
        ),
        pytest.param(
            ["--service", "silent"],
            {"on_missing_data": "allow"},
            0,
            ["ALLOWED (exit 0)", "note       silent/availability: on_missing_data"],
            id="an SLO without data passes when the policy allows it",
        ),
        pytest.param(
            ["--service", "ghost"],
            {},
            4,
            ['no SLO series (slo:*, sloth_service labels) found for service "ghost"'],
            id="the gate cannot decide for a service Prometheus has never heard of",
        ),
    ],
)
def test_gate_exit_codes(
    prometheus_url: str,
    tmp_path: Path,
    args: list[str],
    policy_changes: dict,
    code: int,
    expected: list[str],
) -> None:
    policy = ["--policy", str(_policy_file(tmp_path, **policy_changes))] if policy_changes else []
    result = sre("gate", "--prometheus", prometheus_url, *policy, *args)
    assert result.returncode == code, result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout


def test_the_gate_cannot_decide_with_prometheus_unreachable() -> None:
    url = _closed_port_url()
    result = sre("gate", "--prometheus", url, "--service", "exchange")
    assert result.returncode == 4
    assert f"Prometheus at {url} is unreachable" in result.stdout


def test_gate_refuses_a_bad_policy_file_naming_the_field(
    prometheus_url: str, tmp_path: Path
) -> None:
    policy = _policy_file(tmp_path, on_missing_data="maybe")
    result = sre("gate", "--prometheus", prometheus_url, "--policy", str(policy))
    assert result.returncode == 1
    assert f"{policy}: on_missing_data: Input should be 'allow' or 'deny'" in result.stderr


def test_status_cannot_decide_with_prometheus_unreachable() -> None:
    result = sre("status", "--prometheus", _closed_port_url())
    assert result.returncode == 4
    assert "is unreachable" in result.stderr


def test_the_gate_freezes_the_exchange_from_rules_compiled_from_its_specs(
    exchange_prometheus_url: str,
) -> None:
    result = sre("gate", "--prometheus", exchange_prometheus_url, "--service", "exchange")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "DENY       exchange/order-api-availability: tiers[3]" in result.stdout
    assert "DENY       exchange/order-api-availability: fast_burn" in result.stdout
    assert "escalate to: Exchange on-call #exchange-oncall" in result.stdout
    status = json.loads(sre("status", "--prometheus", exchange_prometheus_url, "--json").stdout)
    tiers = {slo["slo"]: slo["tier"] for slo in status["slos"]}
    assert tiers == {
        "broker-login-availability": "normal",
        "order-api-availability": "freeze",
        "order-execution-latency": "normal",
    }


def test_gate_json_gives_the_decision_each_clause_and_the_same_slos_as_status(
    prometheus_url: str,
) -> None:
    args = ("--prometheus", prometheus_url, "--service", "exhausted", "--json")
    gate = sre("gate", *args)
    assert gate.returncode == 3, gate.stderr
    document = json.loads(gate.stdout)
    assert (document["outcome"], document["decision"], document["exit_code"]) == (
        "frozen",
        "deny",
        3,
    )
    assert (document["service"], document["override_reason"], document["problems"]) == (
        "exhausted",
        None,
        [],
    )
    denials = [(f["subject"], f["clause"]) for f in document["findings"] if f["release"] == "deny"]
    assert denials == [("exhausted/availability", 'tiers[3] "freeze"')]
    assert {"role": "SRE on-call", "contact": "#sre-oncall"} in document["escalation"]
    assert [e["name"] for e in document["exceptions"]] == ["p0", "security"]
    status = json.loads(sre("status", *args).stdout)
    assert status["exit_code"] == 0
    assert status["slos"] == document["slos"]
    assert "Reading error budgets from" in gate.stderr
