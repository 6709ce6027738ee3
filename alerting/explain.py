"""What an SLO means in time and events: its error budget, its alert tiers, its detection times.

Pure functions over the domain model and the window catalog. A tier with burn factor ``f``
and long window ``L`` fires on a steady burn ``b`` (the error ratio divided by the error
budget) once its long window has seen ``L * f / b`` of it, provided ``b >= f`` (its short
window is shorter and fills first). The alert fires at the earliest of its enabled tiers;
tiers whose threshold ``f x budget`` reaches a 100% error ratio can never fire.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alerting import names
from alerting.model import SLO
from alerting.windows import BurnTier
from sre_platform.durations import format_duration, humanize

# The burns `sre slo explain` reports: a total outage (100% errors), then 10x, 2x and 1x.
OUTAGE = "100% errors"
BURNS = (10.0, 2.0, 1.0)
_ROUNDING = 1e-9  # 1 / budget x budget may land a hair above 1 in floats


@dataclass(frozen=True)
class TierView:
    """One alert tier of one SLO."""

    severity: str
    name: str
    long_window: int
    short_window: int
    factor: float
    threshold: float  # error ratio: factor x error budget
    budget_share: float  # share of the period's budget burnt before it fires
    enabled: bool  # the alert is not disabled
    can_fire: bool  # enabled and threshold below a 100% error ratio

    @property
    def label(self) -> str:
        """``page quick``, ``ticket slow``, ..."""
        return f"{self.severity} {self.name}"


@dataclass(frozen=True)
class Detection:
    """How long a steady burn takes to alert, and which tier alerts first."""

    burn_label: str
    burn: float
    error_ratio: float
    seconds: float | None  # None: never
    tier: str | None
    reason: str = ""  # why never


@dataclass(frozen=True)
class Explanation:
    """An SLO in numbers."""

    slo_id: str
    source: str
    objective: float
    period_seconds: int
    error_budget_ratio: float
    budget_seconds: float
    rate: float
    budget_events: float
    tiers: tuple[TierView, ...]
    detections: tuple[Detection, ...]


def budget_seconds(period_seconds: int, error_budget_ratio: float) -> float:
    """The error budget as time: how long a total outage may last in one period."""
    return period_seconds * error_budget_ratio


def budget_events(period_seconds: int, error_budget_ratio: float, rate: float) -> float:
    """The error budget as events: failed events allowed per period at ``rate`` events/s."""
    return period_seconds * rate * error_budget_ratio


def tier_detection(long_window: int, factor: float, burn: float) -> float | None:
    """Seconds until a steady ``burn`` trips a tier (``L * f / b``); None when ``b < f``."""
    if burn <= 0 or burn < factor:
        return None
    return long_window * factor / burn


def detect(tiers: Sequence[TierView], burn: float, error_ratio: float, label: str) -> Detection:
    """The first tier a steady ``burn`` (``error_ratio``) trips and when; never when none can."""
    if error_ratio <= 0:
        return Detection(label, burn, error_ratio, None, None, "no errors to detect")
    if error_ratio > 1 + _ROUNDING:
        reason = f"a {burn:g}x burn needs an error ratio of {error_ratio:.3g}, above 100%"
        return Detection(label, burn, error_ratio, None, None, reason)
    if not any(tier.can_fire for tier in tiers):
        reason = "no alert tier can fire (disabled, or factor x budget >= 1)"
        return Detection(label, burn, error_ratio, None, None, reason)
    best: tuple[float, str] | None = None
    for tier in tiers:
        if not tier.can_fire:
            continue
        seconds = tier_detection(tier.long_window, tier.factor, burn)
        if seconds is not None and (best is None or seconds < best[0]):
            best = (seconds, tier.label)
    if best is None:
        return Detection(label, burn, error_ratio, None, None, "below every live tier's factor")
    return Detection(label, burn, error_ratio, best[0], best[1])


def tier_views(slo: SLO) -> tuple[TierView, ...]:
    """The SLO's four tiers with their thresholds and whether they can fire."""
    budget = slo.error_budget_ratio
    views = []
    for tier in slo.catalog.tiers:
        enabled = not _alert_disabled(slo, tier)
        views.append(
            TierView(
                severity=tier.severity,
                name=tier.name,
                long_window=tier.long_window,
                short_window=tier.short_window,
                factor=tier.factor,
                threshold=tier.threshold(budget),
                budget_share=float(tier.budget_share),
                enabled=enabled,
                can_fire=enabled and tier.threshold(budget) < 1,
            )
        )
    return tuple(views)


def _alert_disabled(slo: SLO, tier: BurnTier) -> bool:
    alert = slo.alerting.page if tier.severity == names.SEVERITY_PAGE else slo.alerting.ticket
    return alert.disabled


def explain(slo: SLO, rate: float) -> Explanation:
    """Explain ``slo`` with ``rate`` events per second for its event budget."""
    budget = slo.error_budget_ratio
    tiers = tier_views(slo)
    # A 100% objective has no budget: any error is an infinite burn.
    outage = (OUTAGE, 1 / budget if budget > 0 else math.inf, 1.0)
    burns = [outage] + [(f"{b:g}x burn", b, b * budget) for b in BURNS]
    return Explanation(
        slo_id=slo.id,
        source=slo.source,
        objective=slo.objective,
        period_seconds=slo.period_seconds,
        error_budget_ratio=budget,
        budget_seconds=budget_seconds(slo.period_seconds, budget),
        rate=rate,
        budget_events=budget_events(slo.period_seconds, budget, rate),
        tiers=tiers,
        detections=tuple(detect(tiers, burn, ratio, label) for label, burn, ratio in burns),
    )


def as_json(explanation: Explanation) -> dict[str, Any]:
    """A JSON-ready view of an explanation (seconds as numbers, plus readable strings)."""
    e = explanation
    return {
        "slo": e.slo_id,
        "source": e.source,
        "objective": e.objective,
        "period": format_duration(e.period_seconds),
        "error_budget_ratio": round(e.error_budget_ratio, 12),
        "budget": {
            "seconds": round(e.budget_seconds, 3),
            "time": humanize(e.budget_seconds),
            "rate_per_second": e.rate,
            "events": round(e.budget_events, 3),
        },
        "tiers": [
            {
                "tier": t.label,
                "long_window": format_duration(t.long_window),
                "short_window": format_duration(t.short_window),
                "factor": round(t.factor, 6),
                "threshold": round(t.threshold, 12),
                "budget_share": t.budget_share,
                "enabled": t.enabled,
                "can_fire": t.can_fire,
            }
            for t in e.tiers
        ],
        "detection": [
            {
                "burn": d.burn_label,
                "error_ratio": round(d.error_ratio, 12),
                "seconds": None if d.seconds is None else round(d.seconds, 3),
                "time": "never" if d.seconds is None else humanize(d.seconds),
                "tier": d.tier,
                "reason": d.reason or None,
            }
            for d in e.detections
        ],
    }
