"""`sre slo test`: alert proofs derived from each SLO's parameters, run by the real promtool."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alerting.loader import load_specs
from alerting.model import SLO
from alerting.proofs import (
    BLIP,
    MAX_WINDOW_SAMPLES,
    OUTAGE,
    STEADY,
    Check,
    ProofResult,
    ProofSuite,
    Traffic,
    promtool_test_text,
    proof_suite,
    run_suites,
    sample_step,
    series_values,
)
from alerting.render import render_rules
from alerting.windows import catalog_for
from sre_platform.cli import slo as slo_cli
from sre_platform.errors import ToolMissingError
from sre_platform.tools import find_tool
from tests.alerting.helpers import FIXTURES, ROOT, write_spec

EXAMPLES = [
    *sorted((ROOT / "slo_specs").glob("*.y*ml")),
    FIXTURES / "payments-sloth-style.yaml",
    FIXTURES / "periods.yaml",
]


def slos_of(*paths: Path) -> list[SLO]:
    return [slo for spec_file in load_specs(paths) for slo in spec_file.slos]


def run(suites: list[ProofSuite], tmp_path: Path) -> list[ProofResult]:
    return run_suites(suites, tmp_path)


def failures(results: list[ProofResult]) -> str:
    return "\n\n".join(f"{r.slo_id} {r.proof}: {r.detail}" for r in results if r.status == "failed")


def variant_spec(tmp_path: Path, period: str, objective: float) -> Path:
    return write_spec(
        tmp_path,
        f"""\
  - name: variant
    objective: {objective}
    period: {period}
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total[{{{{.window}}}}]))
    alerting:
      name: ExchangeVariant
      labels:
        team: oncall
      page_alert:
        labels:
          route: pager
""",
    )


# --- the proofs pass on every example and on other periods and objectives -------------------


@pytest.mark.parametrize("spec", [pytest.param(p, id=p.name) for p in EXAMPLES])
def test_every_example_spec_is_proven_by_promtool(spec: Path, tmp_path: Path) -> None:
    results = run([proof_suite(slo) for slo in slos_of(spec)], tmp_path)
    assert not failures(results), failures(results)
    assert any(r.status == "passed" for r in results)


def test_the_demo_specs_run_every_proof_without_skipping(tmp_path: Path) -> None:
    suites = [proof_suite(slo) for slo in slos_of(ROOT / "slo_specs")]
    assert [p.skipped for suite in suites for p in suite.proofs] == [None] * 3 * len(suites)


@pytest.mark.parametrize(
    ("period", "objective"),
    [
        pytest.param("1d", 99.9, id="a one-day 99.9% SLO is proven"),
        pytest.param("7d", 99, id="a weekly 99% SLO is proven"),
        pytest.param("28d", 95, id="a 28-day 95% SLO is proven"),
        pytest.param("90d", 99.9, id="a quarterly 99.9% SLO is proven"),
        pytest.param("30d", 95, id="a 30-day 95% SLO is proven"),
        pytest.param("30d", 90, id="a 90% SLO whose quick page tier cannot fire is proven"),
    ],
)
def test_other_periods_and_objectives_are_proven(
    period: str, objective: float, tmp_path: Path
) -> None:
    suite = proof_suite(slos_of(variant_spec(tmp_path, period, objective))[0])
    results = run([suite], tmp_path / "proofs")
    assert not failures(results), failures(results)
    expected = {OUTAGE: "passed", STEADY: "passed", BLIP: "passed"}
    if objective == 90:
        expected[BLIP] = "skipped"
    assert {r.proof: r.status for r in results} == expected


# --- what each proof claims -----------------------------------------------------------------


def test_the_outage_proof_checks_silence_before_and_a_page_one_evaluation_after(
    tmp_path: Path,
) -> None:
    slo = slos_of(variant_spec(tmp_path, "30d", 99))[0]
    outage = proof_suite(slo).proofs[0]
    # 99% over 30d: the quick tier sees 14.4 x 1% of its 1h window after 518.4s, so with
    # one-minute evaluations the page is still silent at 8m and fires at 9m.
    start = outage.checks[0].time
    assert outage.step == 60
    assert [(c.time - start, "page" in c.firing) for c in outage.checks] == [
        (0, False),
        (480, False),
        (540, True),
    ]
    assert outage.checks[0].firing == ()


def test_the_blip_trips_only_the_quick_page_tier_and_ends_after_its_short_window(
    tmp_path: Path,
) -> None:
    slo = slos_of(variant_spec(tmp_path, "30d", 99.9))[0]
    blip = proof_suite(slo).proofs[2]
    before, peak, after = blip.checks
    assert (before.firing, peak.firing, after.firing) == ((), ("page",), ())
    (start, end, ratio), *_ = blip.traffic.segments
    assert end is not None
    # 99.9%: the quick tier needs 51.84 error-seconds in its hour, the slow one 129.6.
    assert 51.84 < (end - start) * ratio < 129.6
    assert after.time - end >= 300


@pytest.mark.parametrize(
    ("objective", "alerting", "skipped"),
    [
        pytest.param(
            99.9,
            "{page_alert: {disable: true}, ticket_alert: {disable: true}}",
            {
                OUTAGE: "both alerts are disabled",
                STEADY: "both alerts are disabled",
                BLIP: "the page alert is disabled",
            },
            id="an SLO without alerts skips every proof and says why",
        ),
        pytest.param(
            99.9,
            "{name: X, page_alert: {disable: true}}",
            {BLIP: "the page alert is disabled"},
            id="an SLO without a page proves its ticket and skips the blip",
        ),
        pytest.param(
            90,
            "{name: X}",
            {BLIP: "the page quick tier can never fire: factor 14.4 x budget 0.1 >= 1"},
            id="a quick page tier that can never fire skips the blip",
        ),
        pytest.param(
            100,
            "{name: X}",
            {
                STEADY: "a 100% objective leaves no error budget to burn",
                BLIP: "a 100% objective leaves no error budget to burn",
            },
            id="a 100% objective has no budget to burn slowly or in a blip",
        ),
        pytest.param(
            99.9,
            "{name: X, labels: {team: '{{ $labels.sloth_service }}'}}",
            {
                name: "alert label 'team' is a template: its value cannot be predicted"
                for name in (OUTAGE, STEADY, BLIP)
            },
            id="a templated alert label cannot be predicted so every proof is skipped",
        ),
    ],
)
def test_impossible_proofs_are_skipped_with_a_reason(
    objective: float, alerting: str, skipped: dict[str, str], tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path,
        f"""\
  - name: quiet
    objective: {objective}
    sli:
      raw:
        error_ratio_query: sum(rate(errors[{{{{.window}}}}]))
    alerting: {alerting}
""",
    )
    suite = proof_suite(slos_of(spec)[0])
    assert {p.name: p.skipped for p in suite.proofs if p.skipped} == skipped


def test_a_ticket_only_slo_proves_that_an_outage_opens_a_ticket(tmp_path: Path) -> None:
    outage = proof_suite(slos_of(FIXTURES / "payments-sloth-style.yaml")[2]).proofs[0]
    assert outage.title.startswith("a total outage opens a ticket within 43m 12s")
    assert outage.checks[-1].firing == ("ticket",)


# --- the proofs can fail --------------------------------------------------------------------


def mutate_alerts(suite: ProofSuite, old: str, new: str) -> ProofSuite:
    """The suite with ``old`` replaced by ``new`` in its alert expressions only."""
    groups = tuple(
        replace(
            group,
            rules=tuple(
                replace(rule, expr=rule.expr.replace(old, new)) if rule.alert else rule
                for rule in group.rules
            ),
        )
        for group in suite.rule_groups
    )
    text, _ = render_rules(groups, ["mutated test twin"])
    assert text != suite.rules_text
    return replace(suite, rules_text=text, rule_groups=groups)


def only(suite: ProofSuite, name: str) -> ProofSuite:
    return replace(suite, proofs=tuple(p for p in suite.proofs if p.name == name))


def demo_suite() -> ProofSuite:
    return proof_suite(slos_of(ROOT / "slo_specs")[0])


@pytest.mark.parametrize(
    ("old", "new", "proof"),
    [
        pytest.param(
            "(14.4 * ",
            "(144 * ",
            OUTAGE,
            id="a quick page tier ten times too lax misses the outage",
        ),
        pytest.param(
            "(1 * ",
            "(0.9 * ",
            STEADY,
            id="a slow ticket tier below 1x fires on a 0.99x burn",
        ),
        pytest.param(
            "slo:sli_error:ratio_rate5m{",
            "slo:sli_error:ratio_rate1h{",
            BLIP,
            id="a page without its short window keeps firing after a blip",
        ),
    ],
)
def test_a_mutated_alert_fails_its_proof(old: str, new: str, proof: str, tmp_path: Path) -> None:
    suite = only(mutate_alerts(demo_suite(), old, new), proof)
    (result,) = run([suite], tmp_path)
    assert result.status == "failed"
    assert "FAILED" in result.detail
    assert result.slo_id == "exchange-order-api-availability"


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    suite = only(demo_suite(), OUTAGE)
    outage = suite.proofs[0]
    silent = (*outage.checks[:-1], Check(outage.checks[-1].time, ()))
    (result,) = run([replace(suite, proofs=(replace(outage, checks=silent),))], tmp_path)
    assert result.status == "failed"
    assert "exp:[]" in result.detail.replace(" ", "")


def test_a_missing_promtool_is_a_tool_missing_error(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match="promtool"):
        run_suites([demo_suite()], tmp_path, promtool="promtool-that-does-not-exist")


# --- the command line -----------------------------------------------------------------------

runner = CliRunner()


def test_sre_slo_test_runs_the_proofs_and_keeps_the_files(tmp_path: Path) -> None:
    find_tool("promtool")
    spec = variant_spec(tmp_path, "1d", 99.9)
    keep = tmp_path / "kept"
    result = runner.invoke(
        slo_cli.app, ["test", "-i", str(spec), "--keep", str(keep)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "1 SLO(s): 3 passed, 0 failed, 0 skipped" in result.output
    assert sorted(p.name for p in (keep / "exchange-variant").iterdir()) == [
        "blip.test.yaml",
        "outage.test.yaml",
        "rules.yaml",
        "steady-burn.test.yaml",
    ]


def test_sre_slo_test_names_the_slo_and_proof_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_tool("promtool")
    spec = variant_spec(tmp_path, "1d", 99.9)
    monkeypatch.setattr(
        slo_cli,
        "proof_suite",
        lambda slo, mode: only(mutate_alerts(proof_suite(slo, mode), "> (", "> 100 * ("), OUTAGE),
    )
    result = runner.invoke(slo_cli.app, ["test", "-i", str(spec)], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "slo exchange-variant: proof outage" in result.output


# --- the pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "window", "expected"),
    [
        pytest.param(600, 300, Fraction(0), id="a window before the outage reads no errors"),
        pytest.param(1200, 300, Fraction(1), id="a window inside the outage reads 100%"),
        pytest.param(960, 300, Fraction(1, 5), id="a window the outage entered reads its share"),
        pytest.param(120, 3600, Fraction(0), id="a window longer than the history reads it all"),
        pytest.param(0, 300, None, id="a window without two samples reads nothing"),
    ],
)
def test_traffic_ratio(at: int, window: int, expected: Fraction | None) -> None:
    traffic = Traffic(((900, None, Fraction(1)),))
    assert traffic.ratio(at, window, 60) == expected


@pytest.mark.parametrize(
    ("start", "increments", "expected"),
    [
        pytest.param(10, [Fraction(1)] * 3, "10 11+1x2", id="a steady counter is one run"),
        pytest.param(
            10,
            [Fraction(0), Fraction(0), Fraction(5), Fraction(0)],
            "10 10+0x1 15 15",
            id="runs of equal increments are compressed",
        ),
        pytest.param(
            0,
            [Fraction(1, 3)] * 2,
            "0 0.33333301544189453+0.33333301544189453x1",
            id="increments are rounded to exact binary fractions",
        ),
    ],
)
def test_series_values(start: int, increments: list[Fraction], expected: str) -> None:
    assert series_values(start, increments) == expected


@pytest.mark.parametrize(
    ("windows", "per_window", "cap", "expected"),
    [
        pytest.param([3600, 300, 21600, 1800], 5, None, 60, id="30d page windows sample every 1m"),
        pytest.param([3600, 300], 2, None, 150, id="two samples per 5m window is every 2m30s"),
        pytest.param([120, 60], 5, None, 12, id="one-minute windows sample every 12s"),
        pytest.param([86400, 7200], 5, 240, 240, id="the cap bounds a coarse step"),
        pytest.param(
            [300, 840, 751680],
            2,
            None,
            180,
            id="a long span gets a round step that keeps windows under promtool's limit",
        ),
    ],
)
def test_sample_step(windows: list[int], per_window: int, cap: int | None, expected: int) -> None:
    assert sample_step(windows, per_window, cap, span=max(windows) * 21 // 20) == expected


DEMO_SLO = slos_of(ROOT / "slo_specs")[0]


@settings(max_examples=100, deadline=None)
@given(
    objective=st.floats(min_value=0.001, max_value=100),
    days=st.integers(min_value=1, max_value=90),
    page=st.booleans(),
    ticket=st.booleans(),
)
def test_any_objective_and_period_gives_runnable_or_explained_proofs(
    objective: float, days: int, page: bool, ticket: bool
) -> None:
    base = DEMO_SLO
    alerting = replace(
        base.alerting,
        page=replace(base.alerting.page, disabled=not page),
        ticket=replace(base.alerting.ticket, disabled=not ticket),
    )
    slo = replace(base, objective=objective, period_seconds=days * 86400, alerting=alerting)
    suite = proof_suite(slo)
    for proof in suite.proofs:
        if proof.skipped:
            continue
        times = [check.time for check in proof.checks]
        assert times == sorted(times) and times[-1] == proof.end
        assert proof.evaluation % proof.step == 0
        assert all(t % proof.evaluation == 0 for t in times)
        widest = min(proof.end, max(catalog_for(slo.period_seconds).sli_windows))
        assert widest / proof.step <= MAX_WINDOW_SAMPLES  # promtool's sample limit
        assert promtool_test_text(suite, proof)
