"""Alert windows and burn factors as data: one catalog per SLO period.

The SRE workbook's multi-window, multi-burn-rate alerts for a 30-day period are four tiers,
each defined by the share of the period's error budget it lets burn before it fires:

| tier         | long window | short window | budget share | burn factor |
|--------------|-------------|--------------|--------------|-------------|
| page quick   | 1h          | 5m           | 2%           | 14.4        |
| page slow    | 6h          | 30m          | 5%           | 6           |
| ticket quick | 1d          | 2h           | 10%          | 3           |
| ticket slow  | 3d          | 6h           | 10%          | 1           |

with ``factor = share * period / long_window``. For any other period P the windows are scaled
by P / 30d (floored to whole minutes, at least one minute) and the factor is recomputed from the
floored window with the same formula, so:
- each tier still fires after burning exactly its workbook share of *this* period's budget;
- the factors stay at (or, after flooring, just above) 14.4 / 6 / 3 / 1, so a steady burn
  below 1x never alerts and a total outage pages within minutes;
- for 30d the catalog is the workbook's, number for number (a test pins it).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from alerting.names import SEVERITY_PAGE, SEVERITY_TICKET

MINUTE = 60
HOUR = 3600
DAY = 86400
WORKBOOK_PERIOD = 30 * DAY
MIN_PERIOD = 1 * DAY
MAX_PERIOD = 90 * DAY

# Windows every SLO records, as Sloth does, so dashboards and the budget gate find them.
STANDARD_SLI_WINDOWS = (5 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 6 * HOUR, DAY, 3 * DAY)


@dataclass(frozen=True)
class BurnTier:
    """One half of an alert: fire when both windows burn faster than ``factor``."""

    name: str  # "quick" or "slow"
    severity: str  # "page" or "ticket"
    long_window: int  # seconds
    short_window: int  # seconds
    budget_share: Fraction  # share of the period's budget this tier lets burn
    factor: float

    def threshold(self, error_budget_ratio: float) -> float:
        """The error ratio above which this tier fires."""
        return self.factor * error_budget_ratio


@dataclass(frozen=True)
class WindowCatalog:
    """The four burn tiers of one SLO period."""

    period: int  # seconds
    page_quick: BurnTier
    page_slow: BurnTier
    ticket_quick: BurnTier
    ticket_slow: BurnTier

    @property
    def tiers(self) -> tuple[BurnTier, ...]:
        """All tiers, pages first."""
        return (self.page_quick, self.page_slow, self.ticket_quick, self.ticket_slow)

    def tiers_of(self, severity: str) -> tuple[BurnTier, BurnTier]:
        """The quick and slow tier of ``severity``."""
        if severity == SEVERITY_PAGE:
            return (self.page_quick, self.page_slow)
        return (self.ticket_quick, self.ticket_slow)

    @property
    def sli_windows(self) -> tuple[int, ...]:
        """Every window an SLI is recorded over: the standard ones, the tiers', the period."""
        windows = {w for w in STANDARD_SLI_WINDOWS if w <= self.period}
        for tier in self.tiers:
            windows.update((tier.long_window, tier.short_window))
        windows.add(self.period)
        return tuple(sorted(windows))


# (severity, name, long window, short window, share of budget) for the 30-day workbook.
_WORKBOOK = (
    (SEVERITY_PAGE, "quick", HOUR, 5 * MINUTE, Fraction(2, 100)),
    (SEVERITY_PAGE, "slow", 6 * HOUR, 30 * MINUTE, Fraction(5, 100)),
    (SEVERITY_TICKET, "quick", DAY, 2 * HOUR, Fraction(10, 100)),
    (SEVERITY_TICKET, "slow", 3 * DAY, 6 * HOUR, Fraction(10, 100)),
)


def _scaled(window: int, period: int) -> int:
    """``window`` scaled by period / 30d, floored to whole minutes, at least one minute."""
    scaled = Fraction(window * period, WORKBOOK_PERIOD)
    return max(MINUTE, int(scaled // MINUTE) * MINUTE)


def _tier(
    severity: str, name: str, long: int, short: int, share: Fraction, period: int
) -> BurnTier:
    long_window = _scaled(long, period)
    short_window = min(_scaled(short, period), long_window)
    factor = float(share * period / long_window)
    return BurnTier(name, severity, long_window, short_window, share, factor)


@cache
def catalog_for(period: int) -> WindowCatalog:
    """Return the window catalog of an SLO period given in seconds (1d to 90d)."""
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise ValueError("the SLO period must be between 1d and 90d")
    tiers = [_tier(*row, period) for row in _WORKBOOK]
    return WindowCatalog(period, *tiers)
