"""Safe releases in the lab: a canary or a blue/green deploy that promotes or rolls itself back.

A version is the demo service's own code run with a ``version`` label (``--version``) and, for a
game day, a defect built in (``--defect-error-rate`` / ``--defect-latency-ms``). Every replica
exports ``exchange_build_info{version}``; joined on ``instance`` it splits the order API's
requests and the order latency histogram by version, so Prometheus compares the two sides.

- canary: replica 1 is drained (the load generator follows the supervisor's in-service list),
  restarted with the new build and put back; the analysis (lab.canary) then compares its SLIs
  with the other replicas' every scrape interval and promotes (every other replica in turn:
  drain, new build, healthy, back in service) or rolls back (the canary is drained at once, so
  the bleeding stops, then restarted on the old build).
- blue-green: a green replica set starts beside blue (lab.builds' extra replicas), each health
  checked; the load generator's targets switch to green in one supervisor call (blue drained),
  the analysis compares green now with blue's last minutes before the switch... (see
  ``deploy_blue_green``).

Every release is recorded as events on the supervisor (``lab_release_events_total``,
``lab_release_event_timestamp_seconds``); its state lives in ``<run dir>/release.json``.
``rollback(run_dir)`` is the entry point the remediator calls for ``rollback_release``. Nothing
here prints; results are dataclasses; steps are reported through ``on_step``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from lab import control
from lab.builds import ReplicaBuild
from lab.canary import AnalysisPolicy, Comparison, Counts, Decision, Verdict, compare, decide
from lab.settings import LabConfig
from sre_platform.durations import parse_duration
from sre_platform.errors import LabError, PrometheusError, UsageError
from sre_platform.files import write_atomic
from sre_platform.prometheus import Limits, PrometheusClient, quote

STATE_FILE = "release.json"
LOCK_FILE = "release.lock"
EXIT_ROLLED_BACK = 3  # like the gate's "frozen": the release did not go out
EXIT_INCONCLUSIVE = 4  # like the gate's "cannot decide": rolled back without evidence either way
DRAIN_SECONDS = 2.0  # the load generator re-reads the in-service list every second
READY_CAP = 120.0  # a restarted replica answers within this (generous on a busy machine)
QUERY_TIMEOUT = 15.0
BUILD_INFO = 'exchange_build_info{job="exchange"}'
# The order API and latency SLIs of slo_specs/exchange.yaml, as counters split by version.
ORDER_API_ERRORS = 'exchange_http_requests_total{job="exchange",route=~"/orders.*",code=~"5.."}'
ORDER_API_TOTAL = 'exchange_http_requests_total{job="exchange",route=~"/orders.*"}'
ORDERS_TOTAL = 'order_execution_seconds_count{job="exchange"}'
ORDERS_FAST = 'order_execution_seconds_bucket{job="exchange",le="0.04"}'
AVAILABILITY_SLO = "order-api-availability"
LATENCY_SLO = "order-execution-latency"

Step = Callable[[str], None]
DEFAULT_POLICY = AnalysisPolicy()


def _quiet(_: str) -> None:
    """The default ``on_step``: say nothing."""


class Strategy(StrEnum):
    """How a release reaches the fleet."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"


class Outcome(StrEnum):
    """How a release ended."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Look:
    """One look of the analysis: when, what it said, and both metrics compared."""

    elapsed_seconds: float
    verdict: str
    errors: Comparison
    latency: Comparison


@dataclass(frozen=True)
class BudgetSpent:
    """What a release window cost one SLO: bad and total events, and the share of the SLO's
    whole-period error budget that is (bad ratio x window / (budget x period))."""

    slo: str
    objective: float
    bad: float
    total: float
    window_seconds: float
    period: str
    budget_spent: float  # fraction of the period's budget


@dataclass(frozen=True)
class ReleaseResult:
    """What a release did, with the evidence of its decision."""

    version: str
    previous: str
    strategy: str
    outcome: str
    reason: str
    looks: tuple[Look, ...]
    analysis_seconds: float
    release_seconds: float
    started_at: float
    ended_at: float
    budget: tuple[BudgetSpent, ...]
    pages_fired: tuple[str, ...]  # page alerts that fired during the release window
    replicas: dict[str, str]  # replica -> version, at the end
    policy: AnalysisPolicy = field(default_factory=AnalysisPolicy)

    @property
    def exit_code(self) -> int:
        """0 promoted, 3 rolled back on a regression (or on request), 4 inconclusive."""
        if self.outcome == Outcome.PROMOTED:
            return 0
        return EXIT_INCONCLUSIVE if self.outcome == Outcome.INCONCLUSIVE else EXIT_ROLLED_BACK

    @property
    def decision(self) -> Look | None:
        """The last look: the one that decided."""
        return self.looks[-1] if self.looks else None


@dataclass(frozen=True)
class RollbackResult:
    """What ``rollback`` did (the remediator's ``rollback_release``)."""

    changed: bool
    before: str | None  # the version rolled back from
    after: str | None  # the version the fleet runs now
    detail: str


# --- PromQL (pure) -----------------------------------------------------------------------------
def by_version(counter: str, window_seconds: int, offset_seconds: int = 0) -> str:
    """``counter``'s increase over the window (ending ``offset_seconds`` ago), summed by the
    ``version`` of each replica."""
    offset = f" offset {offset_seconds}s" if offset_seconds else ""
    return (
        f"sum by (version) (increase({counter}[{window_seconds}s]{offset}) "
        f"* on (instance) group_left (version) {BUILD_INFO}{offset})"
    )


def window_of(seconds: float) -> int:
    """A query window in whole seconds covering ``seconds`` (at least 10 s)."""
    return max(10, math.ceil(seconds))


def counts_of(samples: dict[str, float], version: str) -> float:
    """The count of ``version`` from a by-version answer (0 when absent)."""
    return samples.get(version, 0.0)


def comparisons(
    answers: dict[str, dict[str, float]], canary: str, baseline: str, policy: AnalysisPolicy
) -> tuple[Comparison, Comparison]:
    """Errors and latency compared from the four by-version answers (``errors``, ``requests``,
    ``orders``, ``fast``), counts rounded to whole events."""

    def side(bad: float, total: float) -> Counts:
        total_n = max(0, round(total))
        return Counts(min(total_n, max(0, round(bad))), total_n)

    def pair(version: str) -> tuple[Counts, Counts]:
        errors = side(answers["errors"].get(version, 0), answers["requests"].get(version, 0))
        orders = answers["orders"].get(version, 0)
        slow = side(orders - answers["fast"].get(version, 0), orders)
        return errors, slow

    c_errors, c_slow = pair(canary)
    b_errors, b_slow = pair(baseline)
    return (
        compare("errors", c_errors, b_errors, policy.error_tolerance, policy),
        compare("latency", c_slow, b_slow, policy.latency_tolerance, policy),
    )


# --- the lab's parts ---------------------------------------------------------------------------
class Fleet:
    """The supervisor's replicas and builds, and Prometheus, seen from a release."""

    def __init__(self, config: LabConfig, client: httpx.Client) -> None:
        self.config = config
        self.client = client
        self.supervisor = config.url("supervisor")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self.client.request(method, f"{self.supervisor}{path}", json=body)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LabError(f"the supervisor at {self.supervisor} did not do {path}: {exc}") from exc

    def replicas(self) -> list[dict[str, Any]]:
        """The supervisor's replicas (index, port, running, version, in_service)."""
        return list(self.call("GET", "/replicas"))

    def fleet_build(self) -> ReplicaBuild:
        """The build replicas start with."""
        return ReplicaBuild.model_validate(self.call("GET", "/builds")["fleet"])

    def set_fleet_build(self, build: ReplicaBuild) -> None:
        """The build replicas start with from now on (scaled-out ones too)."""
        self.call("POST", "/builds/fleet", build.model_dump())

    def service(self, take_out: Sequence[int] = (), put_in: Sequence[int] = ()) -> None:
        """Take replicas out of service and put others in, in one step."""
        body = {"take_out": list(take_out), "put_in": list(put_in)}
        self.call("POST", "/replicas/service", body)

    def event(self, version: str, previous: str, strategy: str, outcome: str) -> None:
        """Record a release event (Prometheus scrapes it from the supervisor)."""
        body = {"version": version, "previous": previous, "strategy": strategy}
        self.call("POST", "/releases/events", {**body, "outcome": outcome})

    def replace(self, index: int, build: ReplicaBuild, port: int) -> None:
        """Restart replica ``index`` with ``build`` and wait until it answers with it."""
        self.call("POST", f"/replicas/{index}/build", build.model_dump())
        self.wait_ready(index, port, build.version)

    def wait_ready(self, index: int, port: int, version: str) -> None:
        """Wait until replica ``index`` answers its health check as ``version``."""
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + READY_CAP
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if self.client.get(url).json().get("version") == version:
                    return
            time.sleep(0.2)
        raise LabError(f"replica {index} did not answer {url} as {version} in {READY_CAP}s")

    def roll(self, index: int, port: int, build: ReplicaBuild) -> None:
        """Drain replica ``index``, give it ``build``, put it back once it answers."""
        self.service(take_out=[index])
        time.sleep(DRAIN_SECONDS)  # the load balancer's deregistration delay
        self.replace(index, build, port)
        self.service(put_in=[index])

    def prometheus(self) -> PrometheusClient:
        """A Prometheus client for one look (its own deadline)."""
        return PrometheusClient(self.config.url("prometheus"), limits=Limits(QUERY_TIMEOUT))

    def by_version(self, counter: str, window: int, offset: int = 0) -> dict[str, float]:
        """``counter``'s increase over ``window`` seconds (ending ``offset`` ago), by version."""
        samples = self.prometheus().query(by_version(counter, window, offset))
        return {s.labels.get("version", ""): s.value for s in samples if not math.isnan(s.value)}

    def wait_scraped(self, version: str, port: int) -> None:
        """Wait until Prometheus has scraped replica ``port`` as ``version``."""
        expr = (
            f'exchange_build_info{{job="exchange",version={quote(version)},'
            f'instance="127.0.0.1:{port}"}}'
        )
        deadline = time.monotonic() + READY_CAP
        while time.monotonic() < deadline:
            with contextlib.suppress(PrometheusError):
                if self.prometheus().query(expr):
                    return
            time.sleep(0.5)
        raise LabError(f"Prometheus did not scrape 127.0.0.1:{port} as {version} in {READY_CAP}s")


# --- the release's state -----------------------------------------------------------------------
def _state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def read_state(run_dir: Path) -> dict[str, Any]:
    """The last release's state (empty when there was none; a damaged file is named)."""
    path = _state_path(run_dir)
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: not a release state file: {exc}") from exc
    if not isinstance(state, dict):
        raise LabError(f"{path}: not a release state file: expected an object")
    return state


def _write_state(run_dir: Path, state: dict[str, Any]) -> None:
    write_atomic(_state_path(run_dir), json.dumps(state, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _release_lock(run_dir: Path) -> Iterator[None]:
    """One release at a time per lab (a second `deploy` is refused, not queued)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            state = read_state(run_dir)
            raise LabError(
                f"a release of {state.get('version', '?')} is in progress in {run_dir} "
                f"(pid {state.get('pid', '?')}); wait for it to end"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def in_progress(run_dir: Path) -> bool:
    """True while a `sre lab deploy` holds this lab's release lock (its process is alive)."""
    path = run_dir / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _rollback_requested(run_dir: Path, version: str) -> bool:
    state = read_state(run_dir)
    return bool(state.get("rollback_requested")) and state.get("version") == version


# --- deploy ------------------------------------------------------------------------------------
def parse_inject(text: str | None) -> tuple[float, float]:
    """``error-rate=R`` or ``latency-ms=L`` (or both, comma-separated) -> (rate, latency ms)."""
    rate, latency = 0.0, 0.0
    if not text:
        return rate, latency
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if key.strip() == "error-rate" and 0 <= number <= 1:
            rate = number
        elif key.strip() == "latency-ms" and 0 <= number <= 600_000:
            latency = number
        else:
            raise UsageError(
                f"--inject: expected error-rate=R (0..1) or latency-ms=L (0..600000), got {part!r}"
            )
    return rate, latency


def deploy(
    run_dir: Path,
    build: ReplicaBuild,
    strategy: Strategy = Strategy.CANARY,
    policy: AnalysisPolicy = DEFAULT_POLICY,
    on_step: Step = _quiet,
) -> ReleaseResult:
    """Release ``build`` to the lab in ``run_dir`` with ``strategy``; promote or roll back."""
    config = control.require_running(run_dir)
    with _release_lock(run_dir), httpx.Client(timeout=READY_CAP, trust_env=False) as client:
        fleet = Fleet(config, client)
        previous = fleet.fleet_build()
        replicas = fleet.replicas()
        if previous.version == build.version and all(
            r.get("version") == build.version for r in replicas
        ):
            raise UsageError(f"--version {build.version}: every replica runs it already")
        started = time.time()
        _write_state(
            run_dir,
            {
                "version": build.version,
                "previous": previous.version,
                "build": build.model_dump(),
                "previous_build": previous.model_dump(),
                "strategy": str(strategy),
                "state": "in_progress",
                "pid": os.getpid(),
                "started_at": started,
            },
        )
        fleet.event(build.version, previous.version, str(strategy), "started")
        try:
            if strategy is Strategy.BLUE_GREEN:
                outcome, reason, looks, analysis = deploy_blue_green(
                    run_dir, fleet, build, previous, policy, on_step
                )
            else:
                outcome, reason, looks, analysis = _deploy_canary(
                    run_dir, fleet, build, previous, replicas, policy, on_step
                )
        except BaseException:
            _restore(run_dir, fleet, build, previous, on_step)
            raise
        fleet.event(build.version, previous.version, str(strategy), str(outcome))
        ended = time.time()
        on_step("reading what the release cost")
        budget, pages = _cost(fleet, config, started, ended)
        result = ReleaseResult(
            version=build.version,
            previous=previous.version,
            strategy=str(strategy),
            outcome=str(outcome),
            reason=reason,
            looks=tuple(looks),
            analysis_seconds=round(analysis, 1),
            release_seconds=round(ended - started, 1),
            started_at=started,
            ended_at=ended,
            budget=budget,
            pages_fired=pages,
            replicas={f"replica-{r['replica']}": str(r.get("version")) for r in fleet.replicas()},
            policy=policy,
        )
        current = build if outcome is Outcome.PROMOTED else previous
        _write_state(
            run_dir,
            {
                "version": build.version,
                "previous": previous.version,
                "build": build.model_dump(),
                "previous_build": previous.model_dump(),
                "current": current.version,
                "current_build": current.model_dump(),
                "strategy": str(strategy),
                "state": str(outcome),
                "started_at": started,
                "ended_at": ended,
                "exit_code": result.exit_code,
            },
        )
        return result


def _restore(
    run_dir: Path, fleet: Fleet, build: ReplicaBuild, previous: ReplicaBuild, on_step: Step
) -> None:
    """After a release failed half-way: every replica back on ``previous`` (best effort)."""
    state = read_state(run_dir)
    with contextlib.suppress(LabError):
        fleet.set_fleet_build(previous)
        for replica in fleet.replicas():
            if replica.get("version") != previous.version or not replica.get("in_service", True):
                on_step(
                    f"the release failed: replica {replica['replica']} back on {previous.version}"
                )
                fleet.roll(replica["replica"], replica["port"], previous)
        fleet.event(build.version, previous.version, state.get("strategy", "canary"), "rolled_back")
    _write_state(run_dir, {**state, "state": "failed", "current": previous.version})


def _analyse(
    run_dir: Path,
    fleet: Fleet,
    canary: str,
    baseline: str,
    policy: AnalysisPolicy,
    on_step: Step,
    baseline_before: bool = False,
) -> tuple[Decision | None, list[Look], float, str | None]:
    """Look every interval until a verdict; returns the decision, the looks, the seconds it
    took, and a reason when it stopped without one (rollback requested, Prometheus failing).

    ``baseline_before``: the baseline is the window of the same length just before the analysis
    began (blue/green: blue served everything until the switch), not the same window."""
    looks: list[Look] = []
    began = time.monotonic()
    while True:
        next_look = time.monotonic() + policy.interval_seconds
        elapsed = time.monotonic() - began
        if _rollback_requested(run_dir, canary):
            return None, looks, elapsed, "rollback requested (the remediator or a person)"
        window = window_of(elapsed)
        try:
            answers = {
                name: _merge(
                    fleet.by_version(counter, window),
                    fleet.by_version(counter, window, window) if baseline_before else {},
                    baseline,
                )
                for name, counter in (
                    ("errors", ORDER_API_ERRORS),
                    ("requests", ORDER_API_TOTAL),
                    ("orders", ORDERS_TOTAL),
                    ("fast", ORDERS_FAST),
                )
            }
        except PrometheusError as exc:
            if elapsed >= policy.max_seconds:
                return None, looks, elapsed, f"Prometheus gave no answer: {exc}"
            time.sleep(max(0.0, next_look - time.monotonic()))
            continue
        errors, latency = comparisons(answers, canary, baseline, policy)
        decision = decide((errors, latency), elapsed, policy)
        looks.append(Look(round(elapsed, 1), str(decision.verdict), errors, latency))
        on_step(
            f"analysis {elapsed:.0f}s: {canary} {errors.canary.bad}/{errors.canary.total} errors, "
            f"{latency.canary.bad}/{latency.canary.total} slow; {baseline} "
            f"{errors.baseline.bad}/{errors.baseline.total}, "
            f"{latency.baseline.bad}/{latency.baseline.total}: {decision.verdict}"
        )
        if decision.verdict is not Verdict.WAIT:
            return decision, looks, elapsed, None
        time.sleep(max(0.0, next_look - time.monotonic()))


def _merge(now: dict[str, float], before: dict[str, float], baseline: str) -> dict[str, float]:
    """The answers of the analysis window, with the baseline's from the window before when
    there is one."""
    if not before:
        return now
    return {**now, baseline: before.get(baseline, 0.0)}


def _outcome(decision: Decision | None, stopped: str | None) -> tuple[Outcome, str]:
    if decision is None:
        prometheus = stopped is not None and stopped.startswith("Prometheus")
        return (Outcome.INCONCLUSIVE if prometheus else Outcome.ROLLED_BACK), stopped or ""
    if decision.verdict is Verdict.PROMOTE:
        return Outcome.PROMOTED, decision.reason
    if decision.verdict is Verdict.INCONCLUSIVE:
        return Outcome.INCONCLUSIVE, decision.reason
    return Outcome.ROLLED_BACK, decision.reason


def _deploy_canary(
    run_dir: Path,
    fleet: Fleet,
    build: ReplicaBuild,
    previous: ReplicaBuild,
    replicas: list[dict[str, Any]],
    policy: AnalysisPolicy,
    on_step: Step,
) -> tuple[Outcome, str, list[Look], float]:
    if len(replicas) < 2:
        raise LabError("a canary needs at least two replicas (one canary, one baseline)")
    canary, rest = replicas[0], replicas[1:]
    on_step(f"canary: replica {canary['replica']} on {build.version}")
    fleet.roll(canary["replica"], canary["port"], build)
    fleet.wait_scraped(build.version, canary["port"])
    decision, looks, analysis, stopped = _analyse(
        run_dir, fleet, build.version, previous.version, policy, on_step
    )
    outcome, reason = _outcome(decision, stopped)
    if outcome is Outcome.PROMOTED:
        for replica in rest:
            on_step(f"promoting: replica {replica['replica']} on {build.version}")
            fleet.roll(replica["replica"], replica["port"], build)
        fleet.set_fleet_build(build)
    else:
        on_step(f"rolling back: replica {canary['replica']} to {previous.version}")
        fleet.service(take_out=[canary["replica"]])  # the bleeding stops here
        fleet.replace(canary["replica"], previous, canary["port"])
        fleet.service(put_in=[canary["replica"]])
    return outcome, reason, looks, analysis


def deploy_blue_green(
    run_dir: Path,
    fleet: Fleet,
    build: ReplicaBuild,
    previous: ReplicaBuild,
    policy: AnalysisPolicy,
    on_step: Step,
) -> tuple[Outcome, str, list[Look], float]:
    """Blue/green: green starts beside blue, answers its health check and is scraped; the load
    generator's targets then switch to green in one step (blue drained, still running); green's
    SLIs over the analysis window are compared with blue's over the same length just before the
    switch. Promoted: blue stops. Rolled back: the targets switch back to blue in one step,
    then green stops."""
    blue = [r for r in fleet.replicas() if r.get("in_service", True)]
    on_step(f"green: {len(blue)} replicas of {build.version} beside blue")
    answer = fleet.call(
        "POST", "/releases/green", {"replicas": len(blue), "build": build.model_dump()}
    )
    green_ids = set(answer["added"])
    green = [r for r in fleet.replicas() if r["replica"] in green_ids]
    try:
        for replica in green:
            fleet.wait_ready(replica["replica"], replica["port"], build.version)
            fleet.wait_scraped(build.version, replica["port"])
    except LabError:
        fleet.call("POST", "/releases/retire", {"replicas": sorted(green_ids)})
        raise
    blue_ids = [r["replica"] for r in blue]
    on_step(f"switch: the load generator's targets to green ({build.version})")
    fleet.service(take_out=blue_ids, put_in=sorted(green_ids))
    decision, looks, analysis, stopped = _analyse(
        run_dir, fleet, build.version, previous.version, policy, on_step, baseline_before=True
    )
    outcome, reason = _outcome(decision, stopped)
    if outcome is Outcome.PROMOTED:
        fleet.set_fleet_build(build)
        on_step(f"promoted: blue ({previous.version}) stops")
        fleet.call("POST", "/releases/retire", {"replicas": blue_ids})
    else:
        on_step(f"switch back: the targets to blue ({previous.version})")
        fleet.service(take_out=sorted(green_ids), put_in=blue_ids)
        fleet.call("POST", "/releases/retire", {"replicas": sorted(green_ids)})
    return outcome, reason, looks, analysis


# --- what a release cost -----------------------------------------------------------------------
def _cost(
    fleet: Fleet, config: LabConfig, started: float, ended: float
) -> tuple[tuple[BudgetSpent, ...], tuple[str, ...]]:
    """Budget each exchange SLO spent over the release window, and the pages that fired."""
    window = window_of(time.time() - started)
    seconds = ended - started
    period = parse_duration(config.period)
    out = []
    try:
        prometheus = fleet.prometheus()

        def value(expr: str) -> float:
            samples = prometheus.query(expr)
            return samples[0].value if samples and not math.isnan(samples[0].value) else 0.0

        for slo, bad_expr, total_expr in (
            (
                AVAILABILITY_SLO,
                f"sum(increase({ORDER_API_ERRORS}[{window}s]))",
                f"sum(increase({ORDER_API_TOTAL}[{window}s]))",
            ),
            (
                LATENCY_SLO,
                f"sum(increase({ORDERS_TOTAL}[{window}s])) - "
                f"sum(increase({ORDERS_FAST}[{window}s]))",
                f"sum(increase({ORDERS_TOTAL}[{window}s]))",
            ),
        ):
            objective = value(f'max(slo:objective:ratio{{sloth_slo="{slo}"}})')
            bad, total = max(0.0, value(bad_expr)), value(total_expr)
            ratio = bad / total if total else 0.0
            spent = ratio * seconds / ((1 - objective) * period) if objective < 1 else 0.0
            out.append(
                BudgetSpent(slo, objective, bad, total, round(seconds, 1), config.period, spent)
            )
        firing = 'ALERTS{alertstate="firing",sloth_severity="page"}'
        pages = prometheus.query(  # pages that fired during the release, not before it
            f"max by (alertname) (max_over_time({firing}[{window}s])) "
            f"unless max by (alertname) ({firing} offset {window}s)"
        )
    except PrometheusError:
        return tuple(out), ()
    return tuple(out), tuple(sorted(s.labels.get("alertname", "") for s in pages))


# --- rollback (the remediator's entry point) ---------------------------------------------------
def rollback(run_dir: Path, on_step: Step = _quiet) -> RollbackResult:
    """Roll the lab in ``run_dir`` back to the build before its last release.

    A release still running (its `deploy` holds the lock) is asked to roll back: it does so at
    its next look, within one scrape interval. Otherwise every replica not on the previous
    build is rolled back here, one at a time (drain, old build, healthy, back in service), and
    a ``rollback`` event is recorded. With nothing to roll back (no release, or the last one
    not live) nothing changes.
    """
    config = control.require_running(run_dir)
    state = read_state(run_dir)
    if not state:
        return RollbackResult(False, None, None, "no release to roll back")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_release_lock(run_dir))
        except LabError:
            _write_state(run_dir, {**read_state(run_dir), "rollback_requested": True})
            version, previous = state.get("version"), state.get("previous")
            return RollbackResult(
                True, version, previous, f"asked the release of {version} in progress to roll back"
            )
        if state.get("state") not in (Outcome.PROMOTED, "in_progress"):
            current = state.get("current") or state.get("previous")
            return RollbackResult(
                False, current, current, f"the last release ({state.get('version')}) is not live"
            )
        client = stack.enter_context(httpx.Client(timeout=READY_CAP, trust_env=False))
        fleet = Fleet(config, client)
        previous = ReplicaBuild.model_validate(state["previous_build"])
        fleet.set_fleet_build(previous)
        for replica in fleet.replicas():
            if replica.get("version") != previous.version:
                on_step(f"rolling back: replica {replica['replica']} to {previous.version}")
                fleet.roll(replica["replica"], replica["port"], previous)
        fleet.event(previous.version, state["version"], "rollback", "rolled_back")
        _write_state(
            run_dir,
            {
                **state,
                "state": Outcome.ROLLED_BACK.value,
                "current": previous.version,
                "current_build": previous.model_dump(),
                "rolled_back_at": time.time(),
            },
        )
    return RollbackResult(
        True,
        state["version"],
        previous.version,
        f"rolled back {state['version']} to {previous.version}",
    )
