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
from budget.prometheus import PrometheusClient, Sample, quote

# The short windows shown next to each SLO (Sloth records these for every period).
SHORT_WINDOWS = ("5m", "30m", "1h")
_SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class SloReading:
    """The Sloth series of one SLO at one instant; None where a series has no (numeric) value."""

    service: str
    slo: str
    slo_id: str
    objective: float | None = None
    budget_remaining: float | None = None
    burn_rate: float | None = None
    period_days: float | None = None
    sli_errors: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


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


def readings_from_samples(samples: Iterable[Sample]) -> list[SloReading]:
    """Group the samples of ``slo_query`` by SLO id; NaN values count as missing."""
    values: dict[tuple[str, str, str], dict[str, float]] = {}
    for sample in samples:
        service, slo, slo_id = (sample.labels.get(n) for n in (LABEL_SERVICE, LABEL_SLO, LABEL_ID))
        if service is None or slo is None or slo_id is None:
            continue
        series = values.setdefault((service, slo, slo_id), {})
        if math.isnan(sample.value):
            continue
        previous = series.get(sample.name)
        series[sample.name] = (
            sample.value if previous is None else _worst(sample.name)(previous, sample.value)
        )
    return [
        SloReading(
            service=service,
            slo=slo,
            slo_id=slo_id,
            objective=series.get(OBJECTIVE),
            budget_remaining=series.get(PERIOD_BUDGET_REMAINING),
            burn_rate=series.get(CURRENT_BURN_RATE),
            period_days=series.get(TIME_PERIOD_DAYS),
            sli_errors=MappingProxyType(
                {
                    name.removeprefix(SLI_ERROR_PREFIX): value
                    for name, value in series.items()
                    if name.startswith(SLI_ERROR_PREFIX)
                }
            ),
        )
        for (service, slo, slo_id), series in sorted(values.items())
    ]


def read_slos(client: PrometheusClient, service: str | None = None) -> list[SloReading]:
    """Return the current reading of every SLO (of ``service``, if given) in Prometheus."""
    return readings_from_samples(client.query(slo_query(service)))


# --- judging -------------------------------------------------------------------------------------


def percent(ratio: float) -> str:
    """Return a ratio as a percentage for people, e.g. ``-12.5%``."""
    return f"{ratio * 100:.1f}%"


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
    return error * (window_seconds / (reading.period_days * _SECONDS_PER_DAY)) / budget


def _missing_series(reading: SloReading, policy: ServicePolicy) -> list[str]:
    outage_window = policy.outage.window
    required = {
        PERIOD_BUDGET_REMAINING: reading.budget_remaining,
        CURRENT_BURN_RATE: reading.burn_rate,
        OBJECTIVE: reading.objective,
        TIME_PERIOD_DAYS: reading.period_days,
        sli_error_record(outage_window): reading.sli_errors.get(outage_window),
    }
    return [name for name, value in required.items() if value is None]


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
            f"burning the budget {reading.burn_rate:.1f}x as fast as the SLO allows "
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
    return SloStatus(reading, policy, tier, spent, tuple(findings))
