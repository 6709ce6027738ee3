"""Error-budget status per SLO: read the Sloth-standard series, then judge them by the policy.

Reading (``read_slos``) is the only I/O; ``evaluate`` is a pure function of a policy and a
reading, so every rule is testable without a Prometheus.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from alerting.names import (
    CURRENT_BURN_RATE,
    LABEL_ID,
    LABEL_SERVICE,
    LABEL_SLO,
    OBJECTIVE,
    PERIOD_BUDGET_REMAINING,
    SLI_ERROR_PREFIX,
    TIME_PERIOD_DAYS,
    sli_error_record,
)
from budget.policy import Release, ServicePolicy, Tier
from sre_platform.prometheus import PrometheusClient, Sample, quote

# The short windows shown next to each SLO (Sloth records these for every period).
SHORT_WINDOWS = ("5m", "30m", "1h")
_SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class ImpossibleValue:
    """A value no SLO can have (budget left +Inf, objective 99.9, ...): counted as missing."""

    series: str
    value: float
    reason: str

    def __str__(self) -> str:
        return f"{self.series} is {number(self.value)} ({self.reason})"


@dataclass(frozen=True)
class SloReading:
    """The Sloth series of one SLO at one instant; None where a series has no usable value
    (absent, NaN, or impossible: then ``impossible`` says which and why)."""

    service: str
    slo: str
    slo_id: str
    objective: float | None = None
    budget_remaining: float | None = None
    burn_rate: float | None = None
    period_days: float | None = None
    sli_errors: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    impossible: tuple[ImpossibleValue, ...] = ()


class Kind(enum.StrEnum):
    """Which part of the policy a finding comes from."""

    TIER = "tier"
    FAST_BURN = "fast burn"
    OUTAGE = "outage"
    MISSING_DATA = "missing data"


@dataclass(frozen=True)
class Finding:
    """One clause of the policy applied to one SLO (or service): what it says and why."""

    kind: Kind
    subject: str
    service: str | None
    clause: str
    release: Release
    message: str


@dataclass(frozen=True)
class SloStatus:
    """An SLO's reading judged by its service's policy."""

    reading: SloReading
    policy: ServicePolicy
    tier: Tier | None
    outage_budget_spent: float | None
    findings: tuple[Finding, ...]

    @property
    def release(self) -> Release:
        """DENY when any finding denies releases, else ALLOW."""
        denied = any(f.release is Release.DENY for f in self.findings)
        return Release.DENY if denied else Release.ALLOW


# --- reading -------------------------------------------------------------------------------------

_SERIES = (OBJECTIVE, PERIOD_BUDGET_REMAINING, CURRENT_BURN_RATE, TIME_PERIOD_DAYS)


def slo_query(service: str | None) -> str:
    """Return the one PromQL selector that fetches every series the status needs."""
    names = "|".join((*_SERIES, f"{SLI_ERROR_PREFIX}.+"))
    matchers = [f"__name__=~{quote(names)}"]
    if service is not None:
        matchers.append(f"{LABEL_SERVICE}={quote(service)}")
    return "{" + ", ".join(matchers) + "}"


def _worst(name: str) -> Callable[[float, float], float]:
    # Several series for one SLO (e.g. two Prometheus replicas): keep the one least favourable
    # to releasing.
    return min if name in (PERIOD_BUDGET_REMAINING, OBJECTIVE) else max


def impossible_reason(name: str, value: float) -> str | None:
    """Why ``value`` cannot be the value of the series ``name``, or None when it can.

    NaN is not impossible: Prometheus records 0/0 for an SLO without traffic (missing data).
    """
    if math.isinf(value):
        return "not a finite number"
    if name == PERIOD_BUDGET_REMAINING and value > 1:
        return "above 1: no budget has more than 100% left"
    if name == CURRENT_BURN_RATE and value < 0:
        return "negative: a burn rate is 0 or more"
    if name == OBJECTIVE and not 0 < value <= 1:
        hint = ": a percentage? 99.9% is recorded as 0.999" if 1 < value <= 100 else ""
        return f"not a ratio in (0, 1]{hint}"
    if name == TIME_PERIOD_DAYS and value <= 0:
        return "not a positive number of days"
    if name.startswith(SLI_ERROR_PREFIX) and not 0 <= value <= 1:
        return "not an error ratio in [0, 1]"
    return None


def readings_from_samples(samples: Iterable[Sample]) -> list[SloReading]:
    """Group the samples of ``slo_query`` by SLO id; NaN values count as missing, and so do
    impossible ones (which the reading lists, with the reason)."""
    values: dict[tuple[str, str, str], dict[str, float]] = {}
    impossible: dict[tuple[str, str, str], dict[str, ImpossibleValue]] = {}
    for sample in samples:
        service, slo, slo_id = (sample.labels.get(n) for n in (LABEL_SERVICE, LABEL_SLO, LABEL_ID))
        if service is None or slo is None or slo_id is None:
            continue
        key = (service, slo, slo_id)
        series = values.setdefault(key, {})
        if math.isnan(sample.value):
            continue
        reason = impossible_reason(sample.name, sample.value)
        if reason is not None:
            bad = impossible.setdefault(key, {})
            bad.setdefault(sample.name, ImpossibleValue(sample.name, sample.value, reason))
            continue
        previous = series.get(sample.name)
        series[sample.name] = (
            sample.value if previous is None else _worst(sample.name)(previous, sample.value)
        )
    readings = []
    for key, series in sorted(values.items()):
        bad = impossible.get(key, {})
        usable = {name: value for name, value in series.items() if name not in bad}
        service, slo, slo_id = key
        readings.append(
            SloReading(
                service=service,
                slo=slo,
                slo_id=slo_id,
                objective=usable.get(OBJECTIVE),
                budget_remaining=usable.get(PERIOD_BUDGET_REMAINING),
                burn_rate=usable.get(CURRENT_BURN_RATE),
                period_days=usable.get(TIME_PERIOD_DAYS),
                sli_errors=MappingProxyType(
                    {
                        name.removeprefix(SLI_ERROR_PREFIX): value
                        for name, value in usable.items()
                        if name.startswith(SLI_ERROR_PREFIX)
                    }
                ),
                impossible=tuple(bad.values()),
            )
        )
    return readings


def read_slos(client: PrometheusClient, service: str | None = None) -> list[SloReading]:
    """Return the current reading of every SLO (of ``service``, if given) in Prometheus."""
    return readings_from_samples(client.query(slo_query(service)))


# --- judging -------------------------------------------------------------------------------------


def number(value: float) -> str:
    """Return a value as Prometheus writes it for people: ``+Inf``, ``NaN``, ``1e+308``, ``0.5``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def percent(ratio: float) -> str:
    """Return a ratio as a percentage for people, e.g. ``-12.5%`` (``-1e+310%`` when huge)."""
    if abs(ratio) < 1e12:
        return f"{ratio * 100:.1f}%"
    mantissa, exponent = f"{ratio:.3e}".split("e")
    return f"{mantissa}e{int(exponent) + 2:+d}%"


def times(rate: float) -> str:
    """Return a burn rate for people, e.g. ``14.4x`` (``1e+308x`` when huge)."""
    return f"{rate:.1f}x" if rate < 1e6 else f"{rate:.3g}x"


def outage_budget_spent(reading: SloReading, window: str, window_seconds: int) -> float | None:
    """Return the share of the period's budget spent within ``window`` (None without data).

    Assumes steady traffic: spent = error ratio over the window x window / period / budget.
    """
    error = reading.sli_errors.get(window)
    if error is None or reading.objective is None or not reading.period_days:
        return None
    budget = 1 - reading.objective
    if budget <= 0:
        return None
    spent = error * (window_seconds / (reading.period_days * _SECONDS_PER_DAY)) / budget
    return spent if math.isfinite(spent) else None


def _missing_series(reading: SloReading, policy: ServicePolicy) -> list[str]:
    outage_window = policy.outage.window
    required = {
        PERIOD_BUDGET_REMAINING: reading.budget_remaining,
        CURRENT_BURN_RATE: reading.burn_rate,
        OBJECTIVE: reading.objective,
        TIME_PERIOD_DAYS: reading.period_days,
        sli_error_record(outage_window): reading.sli_errors.get(outage_window),
    }
    impossible = {bad.series for bad in reading.impossible}
    return [name for name, value in required.items() if value is None and name not in impossible]


def evaluate(policy: ServicePolicy, reading: SloReading) -> SloStatus:
    """Judge one SLO's reading by ``policy``: its tier and every clause that applies."""
    subject = f"{reading.service}/{reading.slo}"
    findings: list[Finding] = []

    def add(kind: Kind, clause: str, release: Release, message: str) -> None:
        findings.append(Finding(kind, subject, reading.service, clause, release, message))

    tier = None
    if reading.budget_remaining is not None:
        tier = policy.tier_for(reading.budget_remaining)
        add(
            Kind.TIER,
            f'{tier.clause} "{tier.name}"',
            tier.release,
            f"budget remaining {percent(reading.budget_remaining)} of the period: {tier.allows}",
        )
    fast = policy.fast_burn
    if reading.burn_rate is not None and reading.burn_rate > fast.max_burn_rate:
        add(
            Kind.FAST_BURN,
            fast.clause,
            fast.release,
            f"burning the budget {times(reading.burn_rate)} as fast as the SLO allows "
            f"(the limit is {fast.max_burn_rate:g}x)",
        )
    outage = policy.outage
    spent = outage_budget_spent(reading, outage.window, outage.window_seconds)
    if spent is not None and spent > outage.max_budget_spent:
        add(
            Kind.OUTAGE,
            outage.clause,
            outage.release,
            f"{percent(spent)} of the budget spent in the last {outage.window} "
            f"(more than {percent(outage.max_budget_spent)}): requires {outage.requires}",
        )
    missing = _missing_series(reading, policy)
    if missing:
        add(
            Kind.MISSING_DATA,
            policy.on_missing_data_clause,
            policy.on_missing_data,
            f"no data for {', '.join(missing)}",
        )
    if reading.impossible:
        add(
            Kind.MISSING_DATA,
            policy.on_missing_data_clause,
            policy.on_missing_data,
            "impossible values, counted as missing data: "
            + "; ".join(str(bad) for bad in reading.impossible),
        )
    return SloStatus(reading, policy, tier, spent, tuple(findings))
