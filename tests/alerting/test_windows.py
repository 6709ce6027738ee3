"""The window catalog: the workbook's numbers for 30 days, and its invariants for any period."""

from __future__ import annotations

from fractions import Fraction

import pytest

from alerting.windows import DAY, HOUR, MINUTE, catalog_for
from sre_platform.durations import format_duration


def test_the_30_day_catalog_is_the_workbooks() -> None:
    catalog = catalog_for(30 * DAY)
    got = [
        (t.severity, t.name, t.long_window, t.short_window, t.budget_share, t.factor)
        for t in catalog.tiers
    ]
    assert got == [
        ("page", "quick", HOUR, 5 * MINUTE, Fraction(2, 100), 14.4),
        ("page", "slow", 6 * HOUR, 30 * MINUTE, Fraction(5, 100), 6),
        ("ticket", "quick", DAY, 2 * HOUR, Fraction(10, 100), 3),
        ("ticket", "slow", 3 * DAY, 6 * HOUR, Fraction(10, 100), 1),
    ]


def test_the_30_day_sli_windows_are_the_ones_sloth_records() -> None:
    windows = [format_duration(w) for w in catalog_for(30 * DAY).sli_windows]
    assert windows == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]


PERIODS = [
    pytest.param(days * DAY, id=f"a {days}-day period")
    for days in (1, 2, 7, 14, 28, 30, 31, 60, 90)
]


@pytest.mark.parametrize("period", PERIODS)
def test_no_tier_fires_on_a_steady_burn_below_1x(period: int) -> None:
    assert min(t.factor for t in catalog_for(period).tiers) >= 1


@pytest.mark.parametrize("period", PERIODS)
def test_each_tier_fires_after_burning_its_workbook_share(period: int) -> None:
    for tier in catalog_for(period).tiers:
        spent = Fraction(tier.factor).limit_denominator(10**9) * tier.long_window / period
        assert float(spent) == pytest.approx(float(tier.budget_share), rel=1e-9)


@pytest.mark.parametrize("period", PERIODS)
def test_a_total_outage_at_99_9_pages_within_minutes(period: int) -> None:
    budget = 0.001
    quick = catalog_for(period).page_quick
    detection = quick.long_window * quick.factor * budget  # seconds at a 1/budget burn
    assert detection <= 5 * MINUTE


@pytest.mark.parametrize("period", PERIODS)
def test_windows_are_whole_minutes_with_short_inside_long(period: int) -> None:
    catalog = catalog_for(period)
    for tier in catalog.tiers:
        assert tier.long_window % MINUTE == 0 and tier.short_window % MINUTE == 0
        assert MINUTE <= tier.short_window <= tier.long_window <= period
    assert catalog.sli_windows[-1] == period


@pytest.mark.parametrize(
    "period", [pytest.param(DAY - 1, id="just under a day"), pytest.param(91 * DAY, id="91 days")]
)
def test_periods_outside_1d_to_90d_are_refused(period: int) -> None:
    with pytest.raises(ValueError, match="between 1d and 90d"):
        catalog_for(period)
