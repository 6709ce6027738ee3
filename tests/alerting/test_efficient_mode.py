"""`--mode efficient`: the raw series read once per SLO, every longer window derived from two
recordings, event-weighted; same names and labels; values checked by promtool; alerts proven."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from alerting import compile_specs
from alerting.compiler import RAW_FALLBACK, compile_inputs
from alerting.generate import RuleGroup, slo_groups
from alerting.loader import load_specs
from alerting.model import SLO
from alerting.names import MODE_DEFAULT, MODE_EFFICIENT
from alerting.proofs import OUTAGE, Traffic, proof_suite, run_suites
from tests.alerting.helpers import FIXTURES, ROOT, run_promtool, write_spec
from tests.alerting.test_cli_slo import sre

EXAMPLES = [
    *sorted((ROOT / "slo_specs").glob("*.y*ml")),
    FIXTURES / "payments-sloth-style.yaml",
    FIXTURES / "periods.yaml",
]

EVENTS = """\
  - name: {name}
    objective: 99
    sli:
      events:
        error_query: sum(rate(req_errors_total[{{{{.window}}}}]))
        total_query: sum(rate(req_total[{{{{.window}}}}]))
    alerting:
      name: Exchange{name}
"""
LATENCY = """\
  - name: latency
    objective: 99
    sli:
      latency: {histogram: order_seconds, selector: '{job="exchange"}', threshold: 0.25}
    alerting:
      name: ExchangeLatency
"""
RAW = """\
  - name: raw
    objective: 99
    sli:
      raw:
        error_ratio_query: sum(rate(bad_total[{{.window}}])) / sum(rate(all_total[{{.window}}]))
    alerting:
      name: ExchangeRaw
"""


def slos_of(*paths: Path) -> list[SLO]:
    return [slo for spec_file in load_specs(paths) for slo in spec_file.slos]


def by_record(group: RuleGroup) -> dict[str, dict]:
    return {rule.record: {"labels": dict(rule.labels), "expr": rule.expr} for rule in group.rules}


# --- shape: same names and labels, one raw read -------------------------------------------


@pytest.mark.parametrize(
    ("body", "derived"),
    [
        pytest.param(EVENTS.format(name="events"), True, id="an events SLI is derived"),
        pytest.param(LATENCY, True, id="a latency SLI is derived (errors = total - good)"),
        pytest.param(RAW, False, id="a raw SLI keeps the default rules"),
    ],
)
def test_the_efficient_mode_keeps_every_name_and_label_of_the_default(
    body: str, derived: bool, tmp_path: Path
) -> None:
    (slo,) = slos_of(write_spec(tmp_path, body))
    default = slo_groups(slo, "v", MODE_DEFAULT)
    efficient = slo_groups(slo, "v", MODE_EFFICIENT)
    # Metadata and alerts: identical, rule for rule.
    assert efficient[1:] == default[1:]
    old, new = by_record(default[0]), by_record(efficient[0])
    assert efficient[0].name == default[0].name
    for record, rule in old.items():
        assert new[record]["labels"] == rule["labels"]
    extra = set(new) - set(old)
    if not derived:
        assert efficient == default
        return
    assert extra == {"slo:sli_error:events_rate5m", "slo:sli_total:events_rate5m"}
    raw_reads = [r for r, rule in new.items() if "rate(" in rule["expr"]]
    assert sorted(raw_reads) == sorted(extra), "only the two event-rate recordings read raw series"
    for record, rule in new.items():
        if record.startswith("slo:sli_error:ratio_rate") and record != "slo:sli_error:ratio_rate5m":
            window = record.removeprefix("slo:sli_error:ratio_rate")
            assert rule["expr"].startswith("sum_over_time(slo:sli_error:events_rate5m{")
            assert f"[{window}])\n/\nsum_over_time(slo:sli_total:events_rate5m{{" in rule["expr"]


def test_a_raw_sli_in_efficient_mode_is_a_warning_naming_the_slo(tmp_path: Path) -> None:
    path = write_spec(tmp_path, RAW + EVENTS.format(name="events"))
    compilation = compile_inputs([path], mode=MODE_EFFICIENT)
    assert compilation.ok
    assert [(p.severity, p.slo, p.message) for p in compilation.problems] == [
        ("warning", "raw", RAW_FALLBACK)
    ]
    assert compile_inputs([path]).problems == []


def test_the_default_mode_is_unchanged_by_the_option(tmp_path: Path) -> None:
    spec = ROOT / "slo_specs" / "exchange.yaml"
    assert compile_specs([spec])[0].text == compile_specs([spec], mode=MODE_DEFAULT)[0].text
    efficient = compile_specs([spec], mode=MODE_EFFICIENT)[0].text
    assert "# Rules mode: efficient" in efficient
    assert efficient != compile_specs([spec])[0].text


@pytest.mark.parametrize("spec", [pytest.param(p, id=p.name) for p in EXAMPLES])
def test_promtool_accepts_every_example_in_efficient_mode(spec: Path, tmp_path: Path) -> None:
    (rule_file,) = compile_specs([spec], mode=MODE_EFFICIENT)
    target = tmp_path / "rules.yaml"
    target.write_text(rule_file.text, encoding="utf-8")
    result = run_promtool("check", "rules", target)
    assert result.returncode == 0, result.stdout + result.stderr


# --- values: promtool evaluates both modes on varied traffic -------------------------------

STEP = 60
BASE = 300
# (minutes, requests per minute, error ratio): day, a burst, a quiet night, an outage, ...
PHASES = [
    (100, 600, Fraction(1, 1000)),
    (40, 3000, Fraction(5, 100)),
    (100, 60, Fraction(1, 5)),
    (20, 1200, Fraction(1)),
    (120, 900, Fraction(0)),
    (100, 240, Fraction(1, 100)),
]


def counters() -> tuple[list[int], list[int]]:
    """Per-minute cumulative errors and requests (integers: every value and sum is exact)."""
    errors, requests = [1_000_000], [2_000_000]
    for minutes, rate, ratio in PHASES:
        for _ in range(minutes):
            requests.append(requests[-1] + rate)
            errors.append(errors[-1] + int(rate * ratio))
    return errors, requests


def rate(values: list[int], at: int, window: int) -> float | None:
    """Prometheus 2.x rate() over [at - window, at] of per-minute samples, extrapolated."""
    first = max(0, -(-(at - window) // STEP))  # the first sample's index
    last = at // STEP
    if last - first < 1:
        return None
    sampled = (last - first) * STEP
    increase = values[last] - values[first]
    to_start = first * STEP - (at - window)
    if increase > 0:
        to_start = min(to_start, sampled * values[first] / increase)
    extend = to_start if to_start < 1.1 * STEP else STEP / 2
    return increase * (sampled + extend) / sampled / window


def expected_efficient(at: int, window: int) -> float:
    """Ratio of sums of the recorded 5m event rates over [at - window, at]."""
    errors, requests = counters()
    evaluations = [s for s in range(0, at + 1, STEP) if s >= at - window]
    pairs = [(rate(errors, s, BASE), rate(requests, s, BASE)) for s in evaluations]
    pairs = [(e, r) for e, r in pairs if e is not None and r is not None]
    return sum(e for e, _ in pairs) / sum(r for _, r in pairs)


def expected_default(at: int, window: int) -> float:
    errors, requests = counters()
    first, last = max(0, -(-(at - window) // STEP)), at // STEP
    return (errors[last] - errors[first]) / (requests[last] - requests[first])


def series(values: list[int]) -> str:
    return " ".join(str(v) for v in values)


def value_test(rules: str, checks: list[tuple[int, str, float]]) -> dict:
    errors, requests = counters()
    return {
        "rule_files": [rules],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": "req_errors_total", "values": series(errors)},
                    {"series": "req_total", "values": series(requests)},
                ],
                "promql_expr_test": [
                    {
                        "expr": f"abs(slo:sli_error:ratio_rate{window} - {value!r}) "
                        f"<= bool {abs(value) * 1e-9 + 1e-15!r}",
                        "eval_time": f"{at}s",
                        "exp_samples": [
                            {
                                "labels": '{sloth_id="exchange-values", sloth_service='
                                f'"exchange", sloth_slo="values", sloth_window="{window}"}}',
                                "value": 1,
                            }
                        ],
                    }
                    for at, window, value in checks
                ],
            }
        ],
    }


WINDOWS = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400}
# Times: inside each phase, at phase ends, and during the outage.
TIMES = [6000, 8400, 9000, 14400, 15600, 16200, 20400, 26400, 28200]


def run_values(tmp_path: Path, mode: str, checks: list[tuple[int, str, float]]) -> None:
    path = write_spec(tmp_path, EVENTS.format(name="values"))
    (rule_file,) = compile_specs([path], mode=mode)
    (tmp_path / f"{mode}.yaml").write_text(rule_file.text, encoding="utf-8")
    test = tmp_path / f"{mode}.test.yaml"
    test.write_text(yaml.safe_dump(value_test(f"{mode}.yaml", checks)), encoding="utf-8")
    result = run_promtool("test", "rules", test)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_reads_the_efficient_windows_as_the_ratio_of_summed_event_rates(
    tmp_path: Path,
) -> None:
    checks = [
        (at, name, expected_efficient(at, seconds))
        for at in TIMES
        for name, seconds in WINDOWS.items()
    ]
    # The period too: every recording since the start.
    checks += [(at, "30d", expected_efficient(at, 30 * 86400)) for at in TIMES]
    run_values(tmp_path, MODE_EFFICIENT, checks)


def test_promtool_reads_the_default_windows_as_rates_over_the_raw_counters(
    tmp_path: Path,
) -> None:
    checks = [
        (at, name, expected_default(at, seconds))
        for at in TIMES
        for name, seconds in WINDOWS.items()
        if name != "5m" or at >= BASE
    ]
    run_values(tmp_path, MODE_DEFAULT, checks)


@pytest.mark.parametrize(
    ("at", "window"),
    [
        pytest.param(6000, 3600, id="after 100 minutes of steady day traffic the 1h windows agree"),
        pytest.param(6000, 1800, id="after 100 steady minutes the 30m windows agree"),
        pytest.param(20400, 3600, id="after 100 steady healthy minutes the 1h windows read 0"),
    ],
)
def test_where_traffic_is_steady_both_modes_read_the_same(at: int, window: int) -> None:
    assert expected_efficient(at, window) == pytest.approx(expected_default(at, window), rel=1e-9)


def test_where_traffic_varies_the_efficient_windows_are_event_weighted_not_a_mean(
    tmp_path: Path,
) -> None:
    # During the night phase the mean of 5m ratios and the ratio of sums part ways; the 6h
    # window after the burst and the night: ratio of sums weighs the busy burst more.
    at, window = 14400, 21600
    errors, requests = counters()
    ratios = [
        rate(errors, s, BASE) / rate(requests, s, BASE)
        for s in range(at - window, at + 1, STEP)
        if s >= BASE
    ]
    mean = sum(ratios) / len(ratios)
    weighted = expected_efficient(at, window)
    assert abs(weighted - expected_default(at, window)) < abs(mean - expected_default(at, window))


# --- alerts: the proofs, in both modes -------------------------------------------------------


@pytest.mark.parametrize("spec", [pytest.param(p, id=p.name) for p in EXAMPLES])
def test_every_example_is_proven_in_efficient_mode(spec: Path, tmp_path: Path) -> None:
    suites = [proof_suite(slo, MODE_EFFICIENT) for slo in slos_of(spec)]
    results = run_suites(suites, tmp_path)
    failed = [f"{r.slo_id} {r.proof}: {r.detail}" for r in results if r.status == "failed"]
    assert not failed, "\n\n".join(failed)
    assert any(r.status == "passed" for r in results)
    assert {r.mode for r in results} == {MODE_EFFICIENT}


@pytest.mark.parametrize(
    ("period", "objective", "blip"),
    [
        pytest.param("1d", 99.9, "passed", id="a one-day 99.9% SLO is proven (base window 1m)"),
        pytest.param("7d", 99, "passed", id="a weekly 99% SLO is proven"),
        pytest.param("28d", 95, "passed", id="a 28-day 95% SLO is proven"),
        pytest.param(
            "90d", 99.9, "passed", id="a quarterly SLO is proven (its short windows are derived)"
        ),
        pytest.param("90d", 99, "passed", id="a quarterly 99% SLO is proven"),
        pytest.param(
            "1d", 95, "skipped", id="a one-day 95% SLO: no blip trips the quick tier alone"
        ),
    ],
)
def test_other_periods_and_objectives_are_proven_in_efficient_mode(
    period: str, objective: float, blip: str, tmp_path: Path
) -> None:
    body = EVENTS.format(name="variant").replace(
        "objective: 99", f"objective: {objective}\n    period: {period}"
    )
    (slo,) = slos_of(write_spec(tmp_path, body))
    results = run_suites([proof_suite(slo, MODE_EFFICIENT)], tmp_path / "proofs")
    failed = [f"{r.proof}: {r.detail}" for r in results if r.status == "failed"]
    assert not failed, "\n\n".join(failed)
    assert {r.proof: r.status for r in results} == {
        OUTAGE: "passed",
        "steady-burn": "passed",
        "blip": blip,
    }


def test_the_demo_specs_run_every_efficient_proof_without_skipping() -> None:
    suites = [proof_suite(slo, MODE_EFFICIENT) for slo in slos_of(ROOT / "slo_specs")]
    assert [p.skipped for suite in suites for p in suite.proofs] == [None] * 3 * len(suites)


@pytest.mark.parametrize(
    ("objective", "default_after", "efficient_after"),
    [
        pytest.param(99.9, 60, 180, id="99.9%: a total outage pages after 3m instead of 1m"),
        pytest.param(99, 540, 660, id="99%: after 11m instead of 9m"),
        pytest.param(99.5, 300, 420, id="99.5%: after 7m instead of 5m"),
    ],
)
def test_the_efficient_mode_pages_on_a_total_outage_about_two_minutes_later(
    objective: float, default_after: int, efficient_after: int, tmp_path: Path
) -> None:
    body = EVENTS.format(name="variant").replace("objective: 99", f"objective: {objective}")
    (slo,) = slos_of(write_spec(tmp_path, body))
    default = proof_suite(slo, MODE_DEFAULT).proofs[0]
    efficient = proof_suite(slo, MODE_EFFICIENT).proofs[0]
    assert (default.name, efficient.name) == (OUTAGE, OUTAGE)
    assert (default.detected_after, efficient.detected_after) == (default_after, efficient_after)


def test_the_model_of_derived_windows_matches_a_steady_ratio_exactly() -> None:
    traffic = Traffic(((0, None, Fraction(3, 1000)),))
    for window in (1800, 3600, 86400):
        assert traffic.derived_ratio(7200, window, 60, 300, 60) == Fraction(3, 1000)


def test_an_efficient_proof_suite_writes_to_its_own_folder(tmp_path: Path) -> None:
    (slo,) = slos_of(write_spec(tmp_path, EVENTS.format(name="folder")))
    suites = [proof_suite(slo, MODE_DEFAULT), proof_suite(slo, MODE_EFFICIENT)]
    results = run_suites(suites, tmp_path / "out")
    assert {r.status for r in results} == {"passed"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "exchange-folder",
        "exchange-folder+efficient",
    ]


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["compile", "--mode", "fast"],
            "--mode 'fast': expected one of default, efficient",
            id="an unknown compile mode is a usage error",
        ),
        pytest.param(
            ["test", "--mode", "both"],
            "--mode 'both': expected one of default, efficient, all",
            id="an unknown test mode is a usage error",
        ),
    ],
)
def test_bad_mode_options_exit_2(args: list[str], message: str) -> None:
    result = sre("slo", args[0], "-i", "slo_specs/exchange.yaml", *args[1:])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_sre_slo_compile_mode_efficient_writes_the_efficient_rules(tmp_path: Path) -> None:
    result = sre("slo", "compile", "-i", "slo_specs/exchange.yaml", "--mode", "efficient")
    assert result.returncode == 0, result.stderr
    assert result.stdout == compile_specs(["slo_specs/exchange.yaml"], mode="efficient")[0].text


def test_sre_slo_test_mode_all_proves_both_modes() -> None:
    result = sre("slo", "test", "-i", "slo_specs/exchange.yaml", "--mode", "all", "--json")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    modes = [r["mode"] for r in document["results"]]
    assert modes.count("default") == modes.count("efficient") == 9
    assert document["counts"] == {"passed": 18, "failed": 0, "skipped": 0}


def test_a_failed_efficient_proof_names_the_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from typer.testing import CliRunner

    from sre_platform.cli import slo as slo_cli

    def broken(slo: SLO, mode: str):  # type: ignore[no-untyped-def]
        suite = proof_suite(slo, mode)
        text = suite.rules_text.replace("> (", "> 100 * (")
        return replace(suite, rules_text=text, proofs=suite.proofs[:1])

    monkeypatch.setattr(slo_cli, "proof_suite", broken)
    spec = write_spec(tmp_path, EVENTS.format(name="broken"))
    result = CliRunner().invoke(
        slo_cli.app, ["test", "-i", str(spec), "--mode", "efficient"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 1
    assert "slo exchange-broken: proof outage (efficient rules)" in result.output


@pytest.mark.parametrize(
    ("mode", "period_is_a_number"),
    [
        pytest.param(MODE_DEFAULT, False, id="default: one 0/0 5m ratio makes the period NaN"),
        pytest.param(MODE_EFFICIENT, True, id="efficient: the period adds events, never NaN"),
    ],
)
def test_minutes_without_traffic_do_not_poison_the_efficient_period_sli(
    mode: str, period_is_a_number: bool, tmp_path: Path
) -> None:
    path = write_spec(tmp_path, EVENTS.format(name="quiet"))
    (rule_file,) = compile_specs([path], mode=mode)
    (tmp_path / "rules.yaml").write_text(rule_file.text, encoding="utf-8")
    # Ten minutes without a request, then an hour of traffic at 1% errors.
    quiet = "0+0x10 "
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": "req_errors_total", "values": quiet + "0+1x60"},
                    {"series": "req_total", "values": quiet + "0+100x60"},
                ],
                "promql_expr_test": [
                    {
                        "expr": "count(slo:sli_error:ratio_rate30d == slo:sli_error:ratio_rate30d)",
                        "eval_time": "70m",
                        "exp_samples": [{"labels": "{}", "value": 1}] if period_is_a_number else [],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = run_promtool("test", "rules", tmp_path / "test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
