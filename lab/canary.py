"""Canary analysis: is the new version's share of bad events larger than the baseline's?

Each look compares two counts per metric, the canary's and the baseline's: bad events (order-API
requests answered 5xx; orders that took over 40 ms) out of all events, over the same window.

The test is Fisher's exact test, one-sided (H1: the canary's bad share is larger). Its
statistic is the canary's bad count ``a`` given the table's margins; under H0 ``a`` follows a
hypergeometric law, and the p-value is ``P(X >= a)``. It is exact for the small counts a canary
sees (a handful of errors in a few hundred requests), where the two-proportion z-test's normal
approximation is poor and undefined with no errors at all. It is computed here in closed form
with ``math.lgamma``: one short sum, no need to bring scipy into the lab for it.

A regression needs both a significant p-value and a difference above the SLO's own tolerance
(its budget share: 0.1% of requests, 1% of orders), so a statistically real but harmless
difference never rolls a release back. The analysis looks every few seconds, so the overall
false-rollback rate is held at ``alpha`` by giving each look ``alpha / max looks`` (Bonferroni).
All of this is pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Counts:
    """Bad events out of all events, on one side of the comparison."""

    bad: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.bad <= self.total:
            raise ValueError(f"bad events must lie between 0 and total, got {self}")

    @property
    def share(self) -> float | None:
        """The bad share, or None without events."""
        return self.bad / self.total if self.total else None


@dataclass(frozen=True)
class FisherResult:
    """Fisher's exact test, one-sided: the statistic (canary bad count) and the p-value."""

    statistic: int
    expected: float  # the statistic's expectation under H0
    p_value: float


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(canary: Counts, baseline: Counts) -> FisherResult:
    """One-sided Fisher's exact test that ``canary``'s bad share exceeds ``baseline``'s."""
    n1, n = canary.total, canary.total + baseline.total
    bad = canary.bad + baseline.bad
    expected = n1 * bad / n if n else 0.0
    if n1 == 0 or baseline.total == 0 or bad == 0:
        return FisherResult(canary.bad, expected, 1.0)
    log_all = _log_comb(n, n1)
    top = min(bad, n1)
    terms = [
        math.exp(_log_comb(bad, x) + _log_comb(n - bad, n1 - x) - log_all)
        for x in range(canary.bad, top + 1)
    ]
    return FisherResult(canary.bad, expected, min(1.0, math.fsum(terms)))


class Verdict(StrEnum):
    """What the analysis says after a look."""

    WAIT = "wait"
    PROMOTE = "promote"
    ROLLBACK = "rollback"  # a regression: the canary is worse
    INCONCLUSIVE = "inconclusive"  # too few events by the maximum time: rolled back too


@dataclass(frozen=True)
class AnalysisPolicy:
    """The analysis' parameters (the defaults are what `sre lab deploy` uses)."""

    alpha: float = 0.05  # overall false-rollback rate, split over every look
    min_samples: int = 50  # events on each side before a metric can decide anything
    bake_seconds: float = 30.0  # a good canary runs at least this long before promotion
    max_seconds: float = 300.0  # no decision by then: inconclusive, rolled back
    interval_seconds: float = 5.0  # between looks (the lab's scrape interval)
    error_tolerance: float = 0.001  # 1 - 99.9%: the order API's budget share
    latency_tolerance: float = 0.01  # 1 - 99%: the latency SLO's budget share

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must lie between 0 and 1")
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")
        if not 0 < self.interval_seconds <= self.max_seconds:
            raise ValueError("the interval must be positive and at most the maximum time")
        if not 0 <= self.bake_seconds <= self.max_seconds:
            raise ValueError("the bake time must lie between 0 and the maximum time")

    @property
    def max_looks(self) -> int:
        """How many looks the analysis can take at most."""
        return math.ceil(self.max_seconds / self.interval_seconds) + 1

    @property
    def alpha_per_look(self) -> float:
        """The significance level of one look (Bonferroni: alpha over the looks)."""
        return self.alpha / self.max_looks


@dataclass(frozen=True)
class Comparison:
    """One metric compared: both sides' counts, the test, and what it means."""

    metric: str  # "errors" or "latency"
    canary: Counts
    baseline: Counts
    test: FisherResult
    tolerance: float
    enough: bool  # both sides have the minimum number of events
    regressed: bool  # enough, significant, and worse by more than the tolerance

    @property
    def difference(self) -> float | None:
        """Canary's bad share minus the baseline's."""
        c, b = self.canary.share, self.baseline.share
        return None if c is None or b is None else c - b


def compare(
    metric: str, canary: Counts, baseline: Counts, tolerance: float, policy: AnalysisPolicy
) -> Comparison:
    """Compare one metric's counts under ``policy``."""
    test = fisher_greater(canary, baseline)
    enough = min(canary.total, baseline.total) >= policy.min_samples
    worse = canary.bad * baseline.total - baseline.bad * canary.total > (
        tolerance * canary.total * baseline.total
    )
    regressed = enough and worse and test.p_value < policy.alpha_per_look
    return Comparison(metric, canary, baseline, test, tolerance, enough, regressed)


@dataclass(frozen=True)
class Decision:
    """The verdict of one look and why."""

    verdict: Verdict
    reason: str
    comparisons: tuple[Comparison, ...]
    elapsed_seconds: float


def decide(comparisons: tuple[Comparison, ...], elapsed: float, policy: AnalysisPolicy) -> Decision:
    """The verdict after ``elapsed`` seconds of analysis.

    A regression in any metric rolls back at once; otherwise the canary is promoted once every
    metric has enough events and the bake time has passed; without enough events by the maximum
    time the release is inconclusive (rolled back: nothing showed it is safe).
    """
    regressed = [c for c in comparisons if c.regressed]
    if regressed:
        words = ", ".join(
            f"{c.metric} {_pct(c.canary.share)} vs {_pct(c.baseline.share)} "
            f"(p={c.test.p_value:.2g})"
            for c in regressed
        )
        return Decision(
            Verdict.ROLLBACK, f"the new version regressed: {words}", comparisons, elapsed
        )
    short = [c for c in comparisons if not c.enough]
    if elapsed >= policy.max_seconds:
        if short:
            words = ", ".join(f"{c.metric} {c.canary.total}/{c.baseline.total}" for c in short)
            return Decision(
                Verdict.INCONCLUSIVE,
                f"fewer than {policy.min_samples} events on a side after "
                f"{policy.max_seconds:g}s (canary/baseline: {words})",
                comparisons,
                elapsed,
            )
        return Decision(Verdict.PROMOTE, "no regression by the maximum time", comparisons, elapsed)
    if not short and elapsed >= policy.bake_seconds:
        return Decision(
            Verdict.PROMOTE,
            f"no regression after {elapsed:.0f}s and at least {policy.min_samples} events a side",
            comparisons,
            elapsed,
        )
    return Decision(Verdict.WAIT, "waiting for events and the bake time", comparisons, elapsed)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.2f}%"
