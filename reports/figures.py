"""The SLO report's figures as pure functions of what Prometheus answered: the step grid,
attainment, budget spent, the burn-down, and page incidents with what each cost.

No I/O or clock here: reports/slo_report.py asks Prometheus and hands the answers in.

Every figure integrates the SLO's recorded 5m error ratio (``slo:sli_error:ratio_rate5m``) over
time, sampled every ``RESOLUTION_SECONDS``: Sloth's own SLI over the period is the mean of
those ratios, and a steady error ratio ``e`` over ``d`` seconds spends ``e * d / (budget ratio
* period)`` of the period's error budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Chart and query steps: each divides a day, so a period of whole days is a whole number of steps.
NICE_STEPS = (60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 1000
# Samples of the error ratio and of ALERTS are read every minute (PromQL subquery resolution):
# incident start and end are known to the minute.
RESOLUTION_SECONDS = 60
# Two firing stretches less than this apart are one incident.
INCIDENT_GAP_SECONDS = 2 * RESOLUTION_SECONDS + 30


def choose_step(span_seconds: float) -> int:
    """The smallest step of NICE_STEPS that covers ``span_seconds`` in at most MAX_POINTS."""
    for step in NICE_STEPS:
        if math.ceil(span_seconds / step) <= MAX_POINTS:
            return step
    raise ValueError(f"a span of {span_seconds:g} s needs more than {MAX_POINTS} daily points")


@dataclass(frozen=True)
class Grid:
    """Query instants ``end - (count - k) * step`` for k = 0..count; instant k covers the step
    (t[k] - step, t[k]]. Instant 0 covers the step before the window (to see an alert that was
    already firing when the window began)."""

    end: float
    step: int
    count: int

    @property
    def first(self) -> float:
        return self.end - self.count * self.step

    def times(self) -> list[float]:
        return [self.first + k * self.step for k in range(self.count + 1)]


def grid_for(window_start: float, end: float) -> Grid:
    """The grid over ``[window_start, end]`` with a step chosen from its length."""
    span = max(end - window_start, RESOLUTION_SECONDS)
    step = choose_step(span)
    return Grid(end=end, step=step, count=math.ceil(span / step))


@dataclass(frozen=True)
class Step:
    """What one step of the grid holds for one SLO.

    ``error_sum``: the sum of the 5m error ratio samples read in the step (one per
    RESOLUTION_SECONDS; samples without traffic, NaN, are left out), ``samples`` how many;
    ``first_firing``/``last_firing``: the timestamps of the first and last page-alert samples
    seen in the step (None when the page did not fire in it).
    """

    t: float
    error_sum: float = 0.0
    samples: int = 0
    first_firing: float | None = None
    last_firing: float | None = None


@dataclass(frozen=True)
class Incident:
    """A page that fired: ``end`` None while it still fires; ``began_before_window`` when it
    was already firing as the window began (``start`` is then only the earliest sample seen)."""

    start: float
    end: float | None
    began_before_window: bool = False

    def clipped(self, window_start: float, window_end: float) -> tuple[float, float]:
        """The part of the incident inside the window, as (from, to)."""
        return max(self.start, window_start), min(
            window_end if self.end is None else self.end, window_end
        )


def error_integral(steps: Sequence[Step], resolution: float = RESOLUTION_SECONDS) -> float:
    """The error ratio integrated over the steps, in seconds of full outage."""
    return sum(step.error_sum for step in steps) * resolution


def sli(steps: Sequence[Step]) -> float | None:
    """1 - the mean error ratio over the samples of ``steps``; None without any (no traffic)."""
    samples = sum(step.samples for step in steps)
    if samples == 0:
        return None
    return 1 - sum(step.error_sum for step in steps) / samples


def budget_share(integral_seconds: float, budget_ratio: float, period_seconds: float) -> float:
    """The share of a period's error budget that ``integral_seconds`` of full outage spend."""
    if budget_ratio <= 0 or period_seconds <= 0:
        raise ValueError("the error budget and the period must be positive")
    return integral_seconds / (budget_ratio * period_seconds)


def burndown(
    steps: Sequence[Step],
    budget_ratio: float,
    period_seconds: float,
    resolution: float = RESOLUTION_SECONDS,
) -> list[float | None]:
    """The budget remaining (1 = untouched, below 0 = overspent) after each step; None before
    the first step with data, so a chart does not draw a line where Prometheus holds nothing."""
    remaining: list[float | None] = []
    spent = 0.0
    seen = False
    for step in steps:
        seen = seen or step.samples > 0
        spent += step.error_sum * resolution
        remaining.append(1 - budget_share(spent, budget_ratio, period_seconds) if seen else None)
    return remaining


def incidents(
    steps: Sequence[Step],
    window_start: float,
    firing_at_end: bool,
    gap: float = INCIDENT_GAP_SECONDS,
) -> list[Incident]:
    """The page incidents in ``steps`` (grid order; the first step lies before the window).

    Consecutive steps that fire belong to one incident unless the next step's first sample
    comes more than ``gap`` after the previous one's last. An incident that ended before
    ``window_start`` is left out; one still firing in the last step while ``firing_at_end`` is
    ongoing (end None).
    """
    runs: list[tuple[float, float, int]] = []  # (first, last, index of the last step)
    for index, step in enumerate(steps):
        if step.first_firing is None or step.last_firing is None:
            continue
        if runs and runs[-1][2] == index - 1 and step.first_firing - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], max(runs[-1][1], step.last_firing), index)
        else:
            runs.append((step.first_firing, step.last_firing, index))
    found = []
    for first, last, index in runs:
        ongoing = firing_at_end and index == len(steps) - 1
        if last < window_start and not ongoing:
            continue
        found.append(Incident(first, None if ongoing else last, first < window_start))
    return found
