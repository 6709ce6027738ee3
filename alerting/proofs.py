"""Alert proofs: promtool unit tests derived from each SLO's own parameters.

Users' SLI queries read arbitrary metrics, so each SLO is proven through a *test twin*: the
same SLO (objective, period, windows, factors, labels, alert names) whose SLI is replaced by an
events SLI over two synthetic counters, ``sre_proof_errors_total`` and
``sre_proof_requests_total``. The twin goes through the real generator and renderer, and
promtool evaluates its real rules against counter series shaped like the story of each proof:

- outage: a total outage pages within the theoretical detection time plus one evaluation,
  and nothing fires before it;
- steady burn: a burn at 0.99x the budget rate stays silent for longer than the ticket-slow
  long window, while every SLI window reads that burn;
- blip: a short burst of errors trips the quick page tier (and no other), and the page
  resets once the quick tier's short window has passed.

Both counters grow linearly between changes and share their sample times, so ``rate()``'s
extrapolation scales errors and requests alike and every window's ratio is exact. The expected
state at each checked time comes from :class:`Traffic`, an exact (rational) model of what each
window reads; it also decides which other alerts an outage trips on the way, because promtool
compares the full set of alerts of a name (page and ticket share it).

Each test file orders the rule groups (recordings, then metadata, then alerts) so an alert
reads the ratios recorded at the same evaluation: the timings are exact, and "+ one
evaluation" is the margin a real Prometheus, whose groups run on their own schedules, needs.
The model assumes Prometheus 2.x range selection (a sample exactly at the start of a range is
inside it), which is what Debian's promtool implements.

Pure functions build the proofs; :func:`write_suite` and :func:`run_suites` do the I/O last.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from alerting import names
from alerting.generate import RuleGroup, slo_groups, slo_labels
from alerting.model import SLO, Alert, EventsSLI, RawSLI, frozen_map
from alerting.names import MODE_DEFAULT
from alerting.render import render_rules
from alerting.windows import BurnTier, WindowCatalog
from sre_platform.durations import format_duration, humanize
from sre_platform.errors import OutputError
from sre_platform.files import write_atomic
from sre_platform.tools import find_tool

PROOF_ERRORS = "sre_proof_errors_total"
PROOF_REQUESTS = "sre_proof_requests_total"
TWIN_VERSION = "sre-slo-test"
TWIN_ANNOTATIONS = {"summary": "test twin", "title": "test twin"}
RULES_FILE = "rules.yaml"
COUNTER_START = 1_000_000  # far from zero: rate() never clamps its extrapolation at zero
REQUESTS_PER_STEP = 1000
STEADY_BURN = Fraction(99, 100)
STEADY_EVALUATIONS = 200  # about this many rule evaluations over the steady burn
# promtool's unit-test engine refuses queries that load more than 10,000 samples.
MAX_WINDOW_SAMPLES = 4900
_ROUND_STEPS = [d for d in range(1, 3601) if 3600 % d == 0]
_TIE = Fraction(1, 10**6)  # closer than this to a threshold, rounding decides: avoid
# Counter increments are rounded to multiples of 2**-20: every value and every sum promtool
# forms from them is then an exact float, so a counter never dips (a dip reads as a reset).
_QUANTUM = 2**20

_NO_BUDGET = "a 100% objective leaves no error budget to burn"

OUTAGE = "outage"
STEADY = "steady-burn"
BLIP = "blip"


@dataclass(frozen=True)
class Traffic:
    """Error ratio over time: ``(start, end, ratio)`` segments in seconds, healthy elsewhere.

    ``end`` None means "until the end of the test". Requests flow at a constant rate from 0.
    """

    segments: tuple[tuple[int, int | None, Fraction], ...] = ()

    def error_seconds(self, lo: int, hi: int) -> Fraction:
        """Errors in ``(lo, hi]``, in seconds of full outage."""
        total = Fraction(0)
        for start, end, ratio in self.segments:
            overlap = min(hi, hi if end is None else end) - max(lo, start)
            if overlap > 0:
                total += ratio * overlap
        return total

    def ratio(self, at: int, window: int, step: int) -> Fraction | None:
        """The error ratio a ``rate()`` over ``window`` reads at ``at`` (None: no samples).

        The range holds the samples at or after ``at - window`` (and after the series start),
        so it spans whole steps; extrapolation scales errors and requests alike.
        """
        lo = max(0, at - (window // step) * step)
        return self.error_seconds(lo, at) / (at - lo) if at > lo else None

    def derived_ratio(
        self, at: int, window: int, step: int, base: int, evaluation: int
    ) -> Fraction | None:
        """The error ratio the efficient mode derives at ``at`` for ``window`` (None: no data).

        It adds up the two event-rate recordings over ``base`` that the evaluations at or after
        ``at - window`` (multiples of ``evaluation``, from the first with two samples) wrote:
        errors over requests, each recording weighted by its events. A recording's ``rate()``
        whose range starts before the first sample is extrapolated as Prometheus 2.x does
        (by the gap to the range start when under 1.1 steps, else by half a step); errors and
        requests share the factor, so it weights that recording only.
        """
        first_eval = max(evaluation, math.ceil(max(at - window, 0) / evaluation) * evaluation)
        errors = requests = Fraction(0)
        for s in range(first_eval, at + 1, evaluation):
            first = max(0, math.ceil(Fraction(s - base, step)) * step)
            sampled = s - first
            if sampled <= 0:
                continue
            gap = first - (s - base)
            extend = gap if gap < Fraction(11, 10) * step else Fraction(step, 2)
            weight = Fraction(sampled + extend) / sampled
            errors += weight * self.error_seconds(first, s)
            requests += weight * sampled
        return errors / requests if requests else None

    def increment(self, index: int, step: int) -> Fraction:
        """The error ratio of the step that ends at sample ``index``."""
        return self.error_seconds((index - 1) * step, index * step) / step


@dataclass(frozen=True)
class Reading:
    """How a rules mode's SLI windows read traffic.

    ``default``: every window is a ``rate()`` over the raw counters. ``efficient``: the
    shortest window (``base``) too, every longer one is derived from the recordings written at
    each evaluation (every ``evaluation`` seconds), so it lags and blurs by about ``base``.
    """

    mode: str = MODE_DEFAULT
    base: int = 0
    evaluation: int = 0

    def ratio(self, traffic: Traffic, at: int, window: int, step: int) -> Fraction | None:
        """The error ratio the SLI window ``window`` reads at ``at``."""
        if self.mode == MODE_DEFAULT or window == self.base:
            return traffic.ratio(at, window, step)
        return traffic.derived_ratio(at, window, step, self.base, self.evaluation)

    def every(self, evaluation: int) -> Reading:
        """This reading with rules evaluated every ``evaluation`` seconds."""
        return dataclasses.replace(self, evaluation=evaluation)


DEFAULT_READING = Reading()


def reading_of(mode: str, catalog: WindowCatalog) -> Reading:
    """The Reading of ``mode`` for an SLO with ``catalog``."""
    if mode == MODE_DEFAULT:
        return DEFAULT_READING
    return Reading(mode, base=min(catalog.sli_windows))


@dataclass(frozen=True)
class Check:
    """At ``time`` exactly the alerts of ``firing`` (severities) fire."""

    time: int
    firing: tuple[str, ...]


@dataclass(frozen=True)
class Proof:
    """One promtool test group: traffic, evaluation step and the checks; or why it is skipped."""

    name: str
    title: str
    step: int = 0  # seconds between samples
    evaluation: int = 0  # seconds between rule evaluations (a multiple of step)
    end: int = 0
    traffic: Traffic = Traffic()
    checks: tuple[Check, ...] = ()
    windows_reading: tuple[Fraction, Fraction] | None = None  # every SLI window in (low, high)
    skipped: str | None = None
    detected_after: int | None = None  # outage: seconds from its start to the first alert


@dataclass(frozen=True)
class ProofSuite:
    """An SLO's test twin, its rendered rules and its proofs (for one rules mode)."""

    slo: SLO
    twin: SLO
    rules_text: str
    rule_groups: tuple[RuleGroup, ...]
    alert_labels: dict[str, dict[str, str]]  # severity -> full label set, alertname excluded
    alert_annotations: dict[str, dict[str, str]]
    proofs: tuple[Proof, ...]
    mode: str = MODE_DEFAULT


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one proof: ``passed``, ``failed`` or ``skipped`` and why."""

    slo_id: str
    source: str
    proof: str
    title: str
    status: str
    detail: str = ""
    mode: str = MODE_DEFAULT


# --- the twin -------------------------------------------------------------------------------


def twin_of(slo: SLO) -> SLO:
    """The SLO with its SLI over the synthetic counters and plain (untemplated) annotations."""
    sli = EventsSLI(
        error_query=f"sum(rate({PROOF_ERRORS}[{names.WINDOW_PLACEHOLDER}]))",
        total_query=f"sum(rate({PROOF_REQUESTS}[{names.WINDOW_PLACEHOLDER}]))",
    )
    alerting = dataclasses.replace(
        slo.alerting,
        annotations=frozen_map(TWIN_ANNOTATIONS),
        page=dataclasses.replace(slo.alerting.page, annotations=frozen_map()),
        ticket=dataclasses.replace(slo.alerting.ticket, annotations=frozen_map()),
    )
    return dataclasses.replace(slo, sli=sli, alerting=alerting)


def _alert(slo: SLO, severity: str) -> Alert:
    return slo.alerting.page if severity == names.SEVERITY_PAGE else slo.alerting.ticket


def _alert_rule_sets(
    twin: SLO, groups: Sequence[RuleGroup]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The labels and annotations each alert carries when it fires (series labels + rule's)."""
    series = slo_labels(twin)
    labels: dict[str, dict[str, str]] = {}
    annotations: dict[str, dict[str, str]] = {}
    for group in groups:
        for rule in group.rules:
            if rule.alert is None:
                continue
            severity = rule.labels[names.LABEL_SEVERITY]
            labels[severity] = dict(sorted({**series, **rule.labels}.items()))
            annotations[severity] = dict(rule.annotations or {})
    return labels, annotations


# --- the maths ------------------------------------------------------------------------------


def threshold(slo: SLO, tier: BurnTier) -> Fraction:
    """The error ratio above which ``tier`` fires, exactly as the rule's floats say."""
    return Fraction(tier.factor) * Fraction(slo.error_budget_ratio)


def _live_tiers(slo: SLO, catalog: WindowCatalog, severity: str) -> list[BurnTier]:
    """Tiers of an enabled alert that can fire at all (threshold below a 100% error ratio)."""
    if _alert(slo, severity).disabled:
        return []
    return [t for t in catalog.tiers_of(severity) if threshold(slo, t) < 1]


def _above(value: Fraction | None, limit: Fraction) -> bool | None:
    """True/False when ``value`` is clearly above/not above ``limit``; None on a near tie."""
    if value is None:
        return False
    if limit and abs(value - limit) <= _TIE * limit:
        return None
    return value > limit


def tier_fires(
    slo: SLO,
    tier: BurnTier,
    traffic: Traffic,
    at: int,
    step: int,
    reading: Reading = DEFAULT_READING,
) -> bool | None:
    """Whether both windows of ``tier`` burn above its threshold at ``at`` (None: a tie)."""
    limit = threshold(slo, tier)
    states = [
        _above(reading.ratio(traffic, at, w, step), limit)
        for w in (tier.short_window, tier.long_window)
    ]
    if False in states:
        return False
    return True if all(states) else None


def firing(
    slo: SLO,
    catalog: WindowCatalog,
    traffic: Traffic,
    at: int,
    step: int,
    reading: Reading = DEFAULT_READING,
) -> tuple[str, ...] | None:
    """The severities firing at ``at``; None when a tie makes the answer float rounding's."""
    result = []
    for severity in names.SEVERITIES:
        if _alert(slo, severity).disabled:
            continue
        states = [
            tier_fires(slo, t, traffic, at, step, reading) for t in catalog.tiers_of(severity)
        ]
        if True in states:
            result.append(severity)
        elif None in states:
            return None
    return tuple(result)


def sample_step(
    windows: Iterable[int], per_window: int, cap: int | None = None, span: int = 0
) -> int:
    """The sample step for a test over ``windows`` that lasts ``span`` seconds.

    The largest step (at most ``cap``) that divides every window and fits ``per_window`` times
    in the smallest; but never so small that a window over ``span`` holds more than
    MAX_WINDOW_SAMPLES samples (promtool refuses such queries), in which case it is the
    smallest round step (a divisor of an hour) that keeps under that bound.
    """
    windows = list(windows)
    common = math.gcd(*windows)
    limit = max(1, min([min(windows) // per_window] + ([cap] if cap else [])))
    step = max(d for d in range(1, limit + 1) if common % d == 0)
    if span / step > MAX_WINDOW_SAMPLES:
        step = min(d for d in _ROUND_STEPS if d * MAX_WINDOW_SAMPLES >= span)
    return step


def _windows(tiers: Iterable[BurnTier]) -> list[int]:
    return [w for tier in tiers for w in (tier.long_window, tier.short_window)]


def _ceil_to(value: Fraction | int, step: int) -> int:
    return math.ceil(Fraction(value) / step) * step


# --- the proofs -----------------------------------------------------------------------------


def outage_proof(slo: SLO, catalog: WindowCatalog, reading: Reading = DEFAULT_READING) -> Proof:
    """A total outage pages (or, without a page, tickets) within its detection time + 1 step.

    In the efficient mode the derived windows lag: the first evaluation that alerts is found
    by stepping the exact model forward, and the title states it.
    """
    for severity in names.SEVERITIES:
        tiers = _live_tiers(slo, catalog, severity)
        if tiers:
            break
    else:
        return Proof(OUTAGE, "a total outage alerts", skipped=_no_tier_reason(slo))
    verb = "pages" if severity == names.SEVERITY_PAGE else "opens a ticket"
    detect = min(t.long_window * threshold(slo, t) for t in tiers)
    # A tenth of the detection time (but not under a minute) keeps "+ one evaluation" small.
    windows = _windows(catalog.tiers_of(severity))
    cap = max(60, int(detect / 10))
    if reading.mode != MODE_DEFAULT:  # evaluations no sparser than the base window
        windows, cap = [*windows, reading.base], min(cap, reading.base)
    step = sample_step(windows, 5, cap, span=2 * max(windows))
    reading = reading.every(step)
    start = _ceil_to(max(t.long_window for t in tiers), step)  # full windows of healthy traffic
    traffic = Traffic(((start, None, Fraction(1)),))
    if reading.mode == MODE_DEFAULT:
        # The last evaluation clearly before the detection time and the first clearly after it.
        fire_at = start + (math.floor(detect * (1 + _TIE) / step) + 1) * step
        quiet_at = start + max(0, math.ceil(detect * (1 - _TIE) / step) - 1) * step
        title = (
            f"a total outage {verb} within {humanize(float(detect))} (theory) + one evaluation "
            f"({format_duration(step)}), and nothing fires before"
        )
    else:
        found = _first_alert(slo, catalog, traffic, start, step, reading, severity)
        if isinstance(found, str):
            return Proof(OUTAGE, f"a total outage {verb}", skipped=found)
        fire_at, quiet_at = found, found - step
        title = (
            f"a total outage {verb} within {humanize(fire_at - start)} (derived windows; the "
            f"default mode's theory: {humanize(float(detect))}), and nothing fires before"
        )
    times = sorted({start, quiet_at, fire_at})
    checks = []
    for at in times:
        state = firing(slo, catalog, traffic, at, step, reading)
        if state is None:
            return Proof(OUTAGE, title, skipped=_tie_reason(at))
        checks.append(Check(at, state))
    expected = [(c.time, severity in c.firing) for c in checks]
    claim = [(at, at == fire_at) for at in times]
    if expected != claim:
        return Proof(OUTAGE, title, skipped="the window catalog contradicts its detection time")
    return Proof(
        OUTAGE, title, step, step, fire_at, traffic, tuple(checks), detected_after=fire_at - start
    )


def _first_alert(
    slo: SLO,
    catalog: WindowCatalog,
    traffic: Traffic,
    start: int,
    step: int,
    reading: Reading,
    severity: str,
) -> int | str:
    """The first evaluation after ``start`` at which ``severity`` fires, or why none is found."""
    horizon = start + max(t.long_window for t in catalog.tiers) + 2 * reading.base
    for at in range(start + step, horizon + 1, step):
        state = firing(slo, catalog, traffic, at, step, reading)
        if state is None:
            return _tie_reason(at)
        if severity in state:
            return at
    return f"no {severity} alert within {format_duration(horizon - start)} of the outage"


def steady_burn_proof(slo: SLO, catalog: WindowCatalog) -> Proof:
    """A steady burn at 0.99x stays silent for longer than the ticket-slow long window (in
    either mode: a steady ratio reads the same through every window, derived or not)."""
    title = "a steady burn at 0.99x the budget rate stays silent"
    if slo.alerting.page.disabled and slo.alerting.ticket.disabled:
        return Proof(STEADY, title, skipped="both alerts are disabled")
    if slo.error_budget_ratio <= 0:
        return Proof(STEADY, title, skipped=_NO_BUDGET)
    longest = max(t.long_window for t in catalog.tiers)
    windows = [w for w in catalog.sli_windows if w != catalog.period]
    step = sample_step(windows, 2, span=longest * 21 // 20)
    # Samples as dense as the smallest window needs; evaluations sparse enough to stay quick.
    evaluation = step * max(1, longest // (step * STEADY_EVALUATIONS))
    end = _ceil_to(longest, evaluation) + evaluation
    title = (
        f"{title} for {format_duration(end)}, past the {format_duration(longest)} "
        "ticket-slow long window, while every SLI window reads it"
    )
    budget = Fraction(slo.error_budget_ratio)
    traffic = Traffic(((0, None, STEADY_BURN * budget),))
    times = sorted({_ceil_to(t.long_window, evaluation) for t in catalog.tiers} | {end})
    checks = tuple(Check(at, ()) for at in times)
    reading = (budget * Fraction(98, 100), budget)
    return Proof(STEADY, title, step, evaluation, end, traffic, checks, windows_reading=reading)


def blip_proof(slo: SLO, catalog: WindowCatalog, reading: Reading = DEFAULT_READING) -> Proof:
    """A short blip trips the quick page tier only, and the page resets after the short window.

    In the efficient mode the derived windows read the blip later and let go of it later (by
    up to the base window): the page is checked at the first evaluation that fires, and the
    reset after the short window plus the base window when the short window is derived.
    """
    title = "a short blip pages, then resets once the short window has passed"
    quick = catalog.page_quick
    if slo.alerting.page.disabled:
        return Proof(BLIP, title, skipped="the page alert is disabled")
    if threshold(slo, quick) >= 1:
        return Proof(BLIP, title, skipped=_never_reason(slo, quick))
    if slo.error_budget_ratio <= 0:
        return Proof(BLIP, title, skipped=_NO_BUDGET)
    others = [
        t
        for severity in names.SEVERITIES
        for t in _live_tiers(slo, catalog, severity)
        if t is not quick
    ]
    detect = quick.long_window * threshold(slo, quick)
    next_detect = min((t.long_window * threshold(slo, t) for t in others), default=None)
    # Error-seconds in the middle of (quick tier's, next tier's detection) and within its window.
    target = min(
        detect * Fraction(3, 2),
        (detect + quick.long_window) / 2,
        *([(detect + next_detect) / 2] if next_detect is not None else []),
    )
    warmup = max(
        [quick.long_window]
        + [min(t.long_window, target * 5 / 4 / threshold(slo, t)) for t in others]
    )
    span = math.ceil(warmup + target + quick.short_window) * 21 // 20
    windows = _windows(catalog.tiers)
    cap = None
    if reading.mode != MODE_DEFAULT:  # evaluations no sparser than the base window
        windows, cap = [*windows, reading.base], reading.base
    step = sample_step(windows, 2, cap, span=span)
    reading = reading.every(step)
    length = _ceil_to(target, step)
    ratio = target / length
    start = _ceil_to(warmup, step)
    derived = reading.mode != MODE_DEFAULT and quick.short_window != reading.base
    reset_after = quick.short_window + (reading.base if derived else 0)
    reset_at = _ceil_to(start + length + reset_after, step) + step
    traffic = Traffic(((start, start + length, ratio),))
    title = (
        f"a {format_duration(length)} blip at {float(ratio):.0%} errors pages (quick tier only), "
        f"then resets {format_duration(reset_after)} after it ends"
    )
    peak = start + length
    if reading.mode != MODE_DEFAULT:
        peak = next(
            (
                at
                for at in range(start + step, reset_at, step)
                if tier_fires(slo, quick, traffic, at, step, reading) is not False
            ),
            peak,
        )
    silent = all(firing(slo, catalog, traffic, at, step, reading) == () for at in (start, reset_at))
    quick_only = tier_fires(slo, quick, traffic, peak, step, reading) is True and all(
        tier_fires(slo, t, traffic, peak, step, reading) is False for t in others
    )
    if not (silent and quick_only):
        return Proof(BLIP, title, skipped="no blip trips the quick page tier alone")
    checks = (Check(start, ()), Check(peak, (names.SEVERITY_PAGE,)), Check(reset_at, ()))
    return Proof(BLIP, title, step, step, reset_at, traffic, checks)


def _no_tier_reason(slo: SLO) -> str:
    if slo.alerting.page.disabled and slo.alerting.ticket.disabled:
        return "both alerts are disabled"
    return "no enabled alert tier can fire: burn factor x error budget >= 1 for every tier"


def _never_reason(slo: SLO, tier: BurnTier) -> str:
    return (
        f"the {tier.severity} {tier.name} tier can never fire: factor {tier.factor:g} x budget "
        f"{slo.error_budget_ratio:g} >= 1"
    )


def _tie_reason(at: int) -> str:
    return f"a window sits exactly on a threshold at {format_duration(at)}: float rounding decides"


def proof_suite(slo: SLO, mode: str = MODE_DEFAULT) -> ProofSuite:
    """Build the test twin of ``slo``, its rules in ``mode`` and its three proofs (pure).

    A raw SLI compiles to the default rules in every mode (alerting/compiler.py), so that is
    what its twin proves.
    """
    twin = twin_of(slo)
    suite_mode, mode = mode, (MODE_DEFAULT if isinstance(slo.sli, RawSLI) else mode)
    groups = slo_groups(twin, TWIN_VERSION, mode)
    header = [f"Test twin of SLO {slo.id} from {slo.source}."]
    if mode != MODE_DEFAULT:
        header.append(f"Rules mode: {mode}.")
    rules_text, _ = render_rules(groups, header)
    labels, annotations = _alert_rule_sets(twin, groups)
    catalog = slo.catalog
    reading = reading_of(mode, catalog)
    proofs = (
        outage_proof(slo, catalog, reading),
        steady_burn_proof(slo, catalog),
        blip_proof(slo, catalog, reading),
    )
    templated = [k for found in labels.values() for k, v in found.items() if "{{" in v]
    if templated:
        reason = f"alert label {templated[0]!r} is a template: its value cannot be predicted"
        proofs = tuple(dataclasses.replace(p, skipped=p.skipped or reason) for p in proofs)
    return ProofSuite(slo, twin, rules_text, groups, labels, annotations, proofs, suite_mode)


# --- promtool test files --------------------------------------------------------------------


def _number(value: Fraction | int) -> str:
    text = repr(float(value))
    return text.removesuffix(".0")


def series_values(start: Fraction | int, increments: Sequence[Fraction]) -> str:
    """promtool's expanding notation for a counter: ``start`` then each step's increment."""
    increments = [Fraction(round(i * _QUANTUM), _QUANTUM) for i in increments]
    parts = [_number(start)]
    value = Fraction(start)
    index = 0
    while index < len(increments):
        run = 1
        while index + run < len(increments) and increments[index + run] == increments[index]:
            run += 1
        step = increments[index]
        first = value + step
        parts.append(_number(first) if run == 1 else f"{_number(first)}+{_number(step)}x{run - 1}")
        value += step * run
        index += run
    return " ".join(parts)


def promtool_test(suite: ProofSuite, proof: Proof) -> dict[str, Any]:
    """The promtool test document of one (not skipped) proof."""
    samples = proof.end // proof.step
    errors = [
        REQUESTS_PER_STEP * proof.traffic.increment(i, proof.step) for i in range(1, samples + 1)
    ]
    alertname = suite.twin.alerting.name
    group: dict[str, Any] = {
        "name": f"{suite.slo.id}: {proof.title}",
        "interval": format_duration(proof.step),
        "input_series": [
            {
                "series": PROOF_REQUESTS,
                "values": series_values(COUNTER_START, [Fraction(REQUESTS_PER_STEP)] * samples),
            },
            {"series": PROOF_ERRORS, "values": series_values(COUNTER_START, errors)},
        ],
        "alert_rule_test": [
            {
                "eval_time": format_duration(check.time),
                "alertname": alertname,
                "exp_alerts": [
                    {
                        "exp_labels": suite.alert_labels[severity],
                        "exp_annotations": suite.alert_annotations[severity],
                    }
                    for severity in check.firing
                ],
            }
            for check in proof.checks
        ],
    }
    if proof.windows_reading is not None:
        low, high = proof.windows_reading
        selector = f'{{__name__=~"{names.SLI_ERROR_PREFIX}.+", {names.LABEL_ID}="{suite.twin.id}"}}'
        windows = len(suite.slo.catalog.sli_windows)
        group["promql_expr_test"] = [
            {
                "expr": f"count({selector} > {_number(low)} < {_number(high)})",
                "eval_time": format_duration(proof.end),
                "exp_samples": [{"labels": "{}", "value": windows}],
            }
        ]
    return {
        "rule_files": [RULES_FILE],
        "evaluation_interval": format_duration(proof.evaluation),
        # Recordings before alerts at each evaluation, so the alerts read this evaluation's
        # ratios (promtool otherwise picks a random group order: one evaluation of jitter).
        "group_eval_order": [g.name for g in suite.rule_groups],
        "tests": [group],
    }


def promtool_test_text(suite: ProofSuite, proof: Proof) -> str:
    """The YAML text of one proof's promtool test file."""
    header = f"# {suite.slo.id}: {proof.title}\n"
    return header + yaml.safe_dump(promtool_test(suite, proof), sort_keys=False, width=1 << 16)


# --- I/O ------------------------------------------------------------------------------------


def promtool_path(promtool: str = "promtool") -> str:
    """The promtool executable; raise ToolMissingError when it is not installed."""
    return find_tool("promtool", promtool)


def _file_names(suite: ProofSuite) -> dict[str | None, str]:
    """File name per runnable proof (None: the twin's rules)."""
    names_ = {None: RULES_FILE}
    names_.update({p.name: f"{p.name}.test.yaml" for p in suite.proofs if p.skipped is None})
    return names_


def suite_folder(suite: ProofSuite, directory: Path) -> Path:
    """Where a suite's files go: ``<id>`` for the default mode, ``<id>+<mode>`` otherwise (an
    SLO id never holds a ``+``)."""
    name = suite.slo.id if suite.mode == MODE_DEFAULT else f"{suite.slo.id}+{suite.mode}"
    return directory / name


def suite_paths(suites: Iterable[ProofSuite], directory: Path) -> list[Path]:
    """Every file that writing ``suites`` under ``directory`` creates or replaces."""
    return [
        suite_folder(suite, directory) / name
        for suite in suites
        for name in _file_names(suite).values()
    ]


def write_suite(suite: ProofSuite, directory: Path) -> dict[str, Path]:
    """Write the twin's rules and one test file per runnable proof under ``directory/<id>``.

    Each file is written atomically; test files of an earlier run into the same folder that
    this run does not write are removed. Raises OutputError naming the path on any OS error.
    """
    folder = suite_folder(suite, directory)
    files = _file_names(suite)
    try:
        for path in folder.glob("*.test.yaml"):
            if path.name not in files.values():
                path.unlink()
    except OSError as error:
        raise OutputError(f"{folder}: cannot clear old proofs: {error.strerror or error}") from None
    paths = {}
    for proof_name, file_name in files.items():
        proof = next((p for p in suite.proofs if p.name == proof_name), None)
        text = suite.rules_text if proof is None else promtool_test_text(suite, proof)
        write_atomic(folder / file_name, text)
        if proof is not None:
            paths[proof.name] = folder / file_name
    return paths


def _run_promtool(promtool: str, path: Path, timeout: float) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            [promtool, "test", "rules", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"promtool did not finish within {timeout:g}s"
    return done.returncode == 0, (done.stdout + done.stderr).strip()


Progress = Callable[[ProofResult, int, int], None]


def run_suites(
    suites: Iterable[ProofSuite],
    directory: Path,
    promtool: str = "promtool",
    workers: int = 2,
    timeout: float = 600,
    progress: Progress | None = None,
) -> list[ProofResult]:
    """Write every suite under ``directory``, run its proofs with promtool, return results.

    ``progress(result, done, total)`` is called as each proof ends (skipped ones first).
    """
    executable = promtool_path(promtool)
    jobs = []
    results: list[ProofResult | None] = []
    for suite in suites:
        paths = write_suite(suite, directory)
        for proof in suite.proofs:
            base = ProofResult(
                suite.slo.id, suite.slo.source, proof.name, proof.title, "", mode=suite.mode
            )
            if proof.skipped is not None:
                results.append(dataclasses.replace(base, status="skipped", detail=proof.skipped))
            else:
                jobs.append((len(results), base, paths[proof.name]))
                results.append(None)
    total, done = len(results), 0
    for result in results:
        if result is not None and progress is not None:
            done += 1
            progress(result, done, total)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            pool.submit(_run_promtool, executable, path, timeout): (index, base)
            for index, base, path in jobs
        }
        for future in as_completed(futures):
            index, base = futures[future]
            ok, output = future.result()
            status, detail = ("passed", "") if ok else ("failed", output)
            results[index] = dataclasses.replace(base, status=status, detail=detail)
            done += 1
            if progress is not None:
                progress(results[index], done, total)
    return [result for result in results if result is not None]
