"""Canary analysis as pure functions: Fisher's exact test, the comparison, the decision, the
PromQL that splits the SLIs by version, and --inject's parsing."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab import release
from lab.canary import AnalysisPolicy, Counts, Verdict, compare, decide, fisher_greater
from lab.release import by_version, comparisons, parse_inject, window_of
from sre_platform.errors import UsageError

POLICY = AnalysisPolicy()  # alpha 0.05 over 62 looks, 50 events a side, bake 30 s, max 300 s


def exact_p(a: int, n1: int, c: int, n2: int) -> Fraction:
    """P(X >= a) for the hypergeometric law of the table, with exact integers."""
    from math import comb

    bad, n = a + c, n1 + n2
    return sum(
        (
            Fraction(comb(bad, x) * comb(n - bad, n1 - x), comb(n, n1))
            for x in range(a, min(bad, n1) + 1)
        ),
        Fraction(0),
    )


# --- Fisher's exact test -------------------------------------------------------------------
FISHER_CASES = [
    # (id, canary bad/total, baseline bad/total, p-value)
    # Fisher's tea-tasting table (3 1 / 1 3): one-sided p = 17/70 (R: fisher.test(alt="greater")).
    ("tea tasting: the textbook one-sided p is 0.2429", (3, 4), (1, 4), 17 / 70),
    ("no bad event anywhere: nothing to test, p is 1", (0, 100), (0, 200), 1.0),
    ("an empty side: p is 1", (0, 0), (5, 100), 1.0),
    ("every bad event on the canary: p is 1 / C(n, n1) over the ways", (2, 2), (0, 2), 1 / 6),
    ("the canary better than the baseline: p near 1", (0, 100), (20, 100), 1.0),
]


@pytest.mark.parametrize(
    ("case", "canary", "baseline", "p"), FISHER_CASES, ids=[c[0] for c in FISHER_CASES]
)
def test_fisher_known_values(
    case: str, canary: tuple[int, int], baseline: tuple[int, int], p: float
) -> None:
    result = fisher_greater(Counts(*canary), Counts(*baseline))
    assert result.p_value == pytest.approx(p, rel=1e-9, abs=1e-12), case
    assert result.statistic == canary[0]


@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_fisher_matches_exact_enumeration(a: int, b: int, c: int, d: int) -> None:
    """The closed form with lgamma agrees with exact integer arithmetic on every small table."""
    result = fisher_greater(Counts(a, a + b), Counts(c, c + d))
    if a + b == 0 or c + d == 0 or a + c == 0:
        assert result.p_value == 1.0
    else:
        assert result.p_value == pytest.approx(float(exact_p(a, a + b, c, c + d)), rel=1e-9)


def test_fisher_is_monotone_in_the_canary_bad_count() -> None:
    """More bad events on the canary never make the evidence weaker."""
    p_values = [fisher_greater(Counts(a, 200), Counts(2, 400)).p_value for a in range(0, 40)]
    assert all(x >= y for x, y in itertools.pairwise(p_values))


def test_fisher_handles_large_counts() -> None:
    result = fisher_greater(Counts(1200, 100_000), Counts(1000, 200_000))
    assert 0 <= result.p_value < 1e-50
    assert math.isfinite(result.expected)


def test_counts_refuse_more_bad_than_total() -> None:
    with pytest.raises(ValueError, match="between 0 and total"):
        Counts(5, 4)


# --- the decision ----------------------------------------------------------------------------
def _look(
    errors: tuple[tuple[int, int], tuple[int, int]],
    latency: tuple[tuple[int, int], tuple[int, int]],
    policy: AnalysisPolicy = POLICY,
):
    return (
        compare("errors", Counts(*errors[0]), Counts(*errors[1]), policy.error_tolerance, policy),
        compare(
            "latency", Counts(*latency[0]), Counts(*latency[1]), policy.latency_tolerance, policy
        ),
    )


DECISIONS = [
    # (id, errors (canary, baseline), latency (canary, baseline), elapsed, verdict)
    (
        "a clear error regression rolls back at the first look with enough events",
        ((20, 100), (0, 200)), ((0, 80), (1, 160)), 10, Verdict.ROLLBACK,
    ),
    (
        "the story's defect (20% errors) is caught with the minimum sample",
        ((10, 50), (0, 100)), ((0, 50), (0, 100)), 5, Verdict.ROLLBACK,
    ),
    (
        "a latency regression (every order slow) rolls back",
        ((0, 100), (0, 200)), ((80, 80), (2, 160)), 10, Verdict.ROLLBACK,
    ),
    (
        "no difference, enough events, bake time passed: promoted",
        ((0, 300), (1, 600)), ((2, 250), (5, 500)), 30, Verdict.PROMOTE,
    ),
    (
        "no difference but the bake time has not passed: wait",
        ((0, 300), (1, 600)), ((2, 250), (5, 500)), 20, Verdict.WAIT,
    ),
    (
        "too few canary events: keep waiting",
        ((3, 40), (0, 600)), ((0, 40), (0, 500)), 120, Verdict.WAIT,
    ),
    (
        "too few events at the maximum time: inconclusive (rolled back)",
        ((0, 40), (0, 600)), ((0, 40), (0, 500)), 300, Verdict.INCONCLUSIVE,
    ),
    (
        "enough events at the maximum time and no regression: promoted",
        ((0, 60), (0, 600)), ((0, 60), (0, 500)), 300, Verdict.PROMOTE,
    ),
    (
        "significant but within the SLO's tolerance (0.1% of errors): not a regression",
        ((6, 100_000), (0, 100_000)), ((0, 500), (0, 500)), 60, Verdict.PROMOTE,
    ),
    (
        "a worse share that is not significant per look: not a regression",
        ((2, 60), (0, 120)), ((0, 60), (0, 120)), 60, Verdict.PROMOTE,
    ),
    (
        "a regression wins over too few events elsewhere",
        ((30, 100), (0, 200)), ((0, 10), (0, 20)), 10, Verdict.ROLLBACK,
    ),
    (
        "a regression is not judged on fewer than the minimum events",
        ((10, 10), (0, 10)), ((0, 10), (0, 10)), 10, Verdict.WAIT,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "errors", "latency", "elapsed", "verdict"), DECISIONS, ids=[d[0] for d in DECISIONS]
)
def test_decision_table(case: str, errors, latency, elapsed: float, verdict: Verdict) -> None:
    decision = decide(_look(errors, latency), elapsed, POLICY)
    assert decision.verdict is verdict, f"{case}: {decision.reason}"


def test_rollback_reason_names_the_metric_and_p_value() -> None:
    decision = decide(_look(((20, 100), (0, 200)), ((0, 80), (0, 160))), 10, POLICY)
    assert "errors 20.00% vs 0.00%" in decision.reason
    assert "p=" in decision.reason


def test_per_look_alpha_is_bonferroni() -> None:
    policy = AnalysisPolicy(alpha=0.05, max_seconds=300, interval_seconds=5)
    assert policy.max_looks == 61
    assert policy.alpha_per_look == pytest.approx(0.05 / 61)


@pytest.mark.parametrize(
    ("case", "kwargs", "message"),
    [
        ("alpha out of range", {"alpha": 1.5}, "alpha"),
        ("no events needed", {"min_samples": 0}, "min_samples"),
        ("bake longer than the maximum", {"bake_seconds": 600}, "bake"),
        ("an interval longer than the maximum", {"interval_seconds": 900}, "interval"),
    ],
)
def test_policy_refuses_nonsense(case: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisPolicy(**kwargs)


# --- PromQL and the comparison from Prometheus' answers --------------------------------------
def test_by_version_joins_the_build_info_on_instance() -> None:
    expr = by_version('exchange_http_requests_total{job="exchange"}', 42)
    assert expr == (
        'sum by (version) (increase(exchange_http_requests_total{job="exchange"}[42s]) '
        '* on (instance) group_left (version) exchange_build_info{job="exchange"})'
    )


@pytest.mark.parametrize(("seconds", "window"), [(0, 10), (3.2, 10), (10.1, 11), (299.5, 300)])
def test_window_covers_the_analysis(seconds: float, window: int) -> None:
    assert window_of(seconds) == window


def test_comparisons_from_answers() -> None:
    answers = {
        "errors": {"v2": 20.4, "v1": 0.0},
        "requests": {"v2": 101.6, "v1": 199.8},
        "orders": {"v2": 80.0, "v1": 160.2},
        "fast": {"v2": 80.0, "v1": 158.9},
    }
    errors, latency = comparisons(answers, "v2", "v1", POLICY)
    assert (errors.canary, errors.baseline) == (Counts(20, 102), Counts(0, 200))
    assert (latency.canary, latency.baseline) == (Counts(0, 80), Counts(1, 160))
    assert errors.regressed and not latency.regressed


def test_comparisons_without_canary_data_wait() -> None:
    answers = {"errors": {}, "requests": {"v1": 300.0}, "orders": {"v1": 200.0}, "fast": {}}
    errors, latency = comparisons(answers, "v2", "v1", POLICY)
    assert errors.canary == Counts(0, 0) and not errors.enough
    assert latency.baseline == Counts(200, 200)
    assert decide((errors, latency), 10, POLICY).verdict is Verdict.WAIT


# --- --inject ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (None, (0.0, 0.0)),
        ("error-rate=0.2", (0.2, 0.0)),
        ("latency-ms=50", (0.0, 50.0)),
        ("error-rate=0.1,latency-ms=5", (0.1, 5.0)),
    ],
)
def test_parse_inject(text: str | None, parsed: tuple[float, float]) -> None:
    assert parse_inject(text) == parsed


@pytest.mark.parametrize(
    "text", ["error-rate=2", "error-rate=x", "latency=5", "latency-ms=-1", "error-rate"]
)
def test_parse_inject_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--inject"):
        parse_inject(text)


def test_decisions_cover_every_verdict() -> None:
    """The table exercises every verdict the analysis can give."""
    assert {d[4] for d in DECISIONS} == set(Verdict)


def test_a_release_in_progress_is_seen_by_its_lock(tmp_path: Path) -> None:
    # The autoscaler holds still while a deploy owns the replica set.
    assert not release.in_progress(tmp_path)
    with release._release_lock(tmp_path):
        assert release.in_progress(tmp_path)
    assert not release.in_progress(tmp_path)
