"""What the `sre lab` verbs do: up, status, break, heal, notifications, down.

Results are dataclasses; nothing here prints. Odd states raise LabError with an answer a person
can act on (which port, which process, which command). Long steps report progress through an
optional ``on_step`` callback.

Only the lab's own processes are ever stopped: those `up` recorded (pid, start time and command
line all match, see lab.procs), and, when pid files are damaged or missing, the processes that
carry this run directory (by environment or command line) *and* have the command line of a lab
component.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lab import configs, procs, settings
from lab.notifications import NOTIFICATIONS_FILE, Recorded, read_notifications
from lab.settings import AUDIT_FILE, LabConfig
from lab.slo_status import OtherAlert, SloRow, other_alerts, slo_rows
from remediation.policy import load_policy
from remediation.store import FileAuditLog
from sre_platform.durations import parse_duration
from sre_platform.errors import LabError, UsageError
from sre_platform.tools import TOOL_NAMES

HEALTH_TIMEOUT = 120.0  # generous: a loaded 2-core machine starts the lab in 10-30 s
HEAL_SETTLE = 60.0  # how long `heal` waits for a restarted replica to answer
LOG_TAIL_LINES = 15
DATA_DIR = "data"
SWEEP_ROUNDS = 3  # a supervisor may restart a replica while it is being stopped
# Start order; `down` stops in reverse. The load generator starts once the replicas answer.
START_ORDER = ("receiver", "node_exporter", "supervisor", "remediator", "alertmanager")
START_ORDER += ("prometheus",)
START_ORDER += ("dashboard", "loadgen")
# Processes found by command line are stopped in this order (replicas after their supervisor).
SWEEP_ORDER = ("loadgen", "dashboard", "prometheus", "alertmanager", "remediator")
SWEEP_ORDER += ("supervisor", "replica")
SWEEP_ORDER += ("node_exporter", "receiver")
# `python -m <module>` command lines of the lab's own programs, by component.
LAB_MODULES = {
    "lab.receiver": "receiver",
    "lab.supervisor": "supervisor",
    "lab.loadgen": "loadgen",
    "lab.service": "replica",
    "dashboards.live": "dashboard",
    "lab.remediator": "remediator",
}
EXTERNAL_TOOLS = ("prometheus", "alertmanager", "node_exporter")

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default ``on_step``: say nothing."""


@dataclass(frozen=True)
class Component:
    """A process the lab starts: how to run it and how to tell it is healthy."""

    name: str
    argv: tuple[str, ...]
    health_url: str
    url: str  # the page `status` shows for it: one that opens (200)


@dataclass(frozen=True)
class WebPages:
    """Which web pages the lab's Prometheus and Alertmanager builds serve.

    Debian's Prometheus 2.x has only the classic UI under ``/classic`` (``/alerts`` is 404);
    upstream builds serve ``/alerts``. Debian's Alertmanager has no web UI at all.
    """

    prometheus_ui: str | None  # path prefix of Prometheus' pages: "", "/classic", None: none
    alertmanager_ui: bool


@dataclass(frozen=True)
class OptionDifference:
    """An option of `up` that differs from the running lab's."""

    option: str
    running: str
    asked: str


@dataclass(frozen=True)
class FoundProcess:
    """A lab process found by its command line and run directory (its pid file was no help)."""

    component: str
    pid: int
    command: str


@dataclass(frozen=True)
class Cleanup:
    """What stopping a lab's processes found and did."""

    stopped: tuple[str, ...] = ()  # recorded components that were running
    stale: tuple[str, ...] = ()  # recorded components that were gone (or their pid reused)
    found: tuple[FoundProcess, ...] = ()  # found by command line and stopped
    unreadable: tuple[str, ...] = ()  # damaged state files, each "<file>: <reason>"
    refused: tuple[str, ...] = ()  # recorded processes never signalled, and why


@dataclass(frozen=True)
class UpResult:
    """What `up` did, and the pages a person opens."""

    config: LabConfig
    already_running: bool
    differences: tuple[OptionDifference, ...]  # options asked that the running lab lacks
    cleanup: Cleanup
    links: dict[str, str]
    amtool: str


@dataclass(frozen=True)
class DownResult:
    """What `down` did."""

    run_dir: Path
    cleanup: Cleanup
    purged: bool


@dataclass(frozen=True)
class ProcessStatus:
    """One process of a running lab."""

    name: str
    pid: int | None
    alive: bool
    healthy: bool
    url: str
    restarts: int | None = None  # replicas only: restarts by the supervisor
    held_seconds_left: float | None = None  # replicas only: held down by a game-day fault
    version: str | None = None  # replicas only: the build it runs (lab.release)

    @property
    def as_expected(self) -> bool:
        """Running, or down because a game-day fault holds it down."""
        return self.alive or self.held_seconds_left is not None


@dataclass(frozen=True)
class ReplicaFault:
    """A replica's fault: error rate (0-1), extra latency, seconds left (None: until healed)."""

    replica: int
    error_rate: float
    latency_ms: float
    seconds_left: float | None


@dataclass(frozen=True)
class LabStatus:
    """Everything `sre lab status` shows."""

    running: bool  # every process runs, or is held down by a game-day fault
    run_dir: Path
    period: str
    started_at: float | None
    age_seconds: float | None
    prometheus_url: str
    alertmanager_url: str
    dashboard_url: str  # the live SLO page
    links: dict[str, str]
    amtool: str
    processes: tuple[ProcessStatus, ...]
    faults: tuple[ReplicaFault, ...]
    slos: tuple[SloRow, ...]
    other_alerts: tuple[OtherAlert, ...]  # firing alerts not about one SLO (the lab's own)
    notifications: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ReplicaOutcome:
    """What a fault or a heal did to one replica."""

    replica: int
    ok: bool
    error: str | None = None
    fault: ReplicaFault | None = None  # the fault it has now (break) or had (heal)
    restarted: bool = False  # heal: it was down and answers again


@dataclass(frozen=True)
class LoadChange:
    """The load generator's load factor (and shed fraction): set by break, or ended by heal."""

    factor: float
    seconds_left: float | None  # None: until healed
    shed_fraction: float
    base_rate: float

    @property
    def orders_per_second(self) -> float:
        """The order rate the factor gives."""
        return self.base_rate * self.factor


@dataclass(frozen=True)
class BreakResult:
    """What `break --error-rate/--latency-ms` or `heal` did to each replica (and, for heal, the
    load generator's load factor and shedding it ended)."""

    replicas: tuple[ReplicaOutcome, ...]
    load: LoadChange | None = None

    @property
    def ok(self) -> bool:
        """Every replica did what was asked."""
        return all(replica.ok for replica in self.replicas)


@dataclass(frozen=True)
class CrashResult:
    """What `break --kill-replica` did."""

    replica: int
    held_seconds: int | None  # None: the supervisor restarts it at once


# --- the processes of a lab ------------------------------------------------------------------
def _local(port: int, path: str = "") -> str:
    return f"http://127.0.0.1:{port}{path}"


def components(config: LabConfig) -> dict[str, Component]:
    """Every process `up` starts for ``config``, by name."""
    run, ports, tools = config.run_dir, config.ports, config.binaries
    files = configs.files_of(run)
    py = sys.executable

    supervisor = [py, "-m", "lab.supervisor", "--port", str(ports.supervisor)]
    supervisor += ["--replica-ports", ",".join(str(p) for p in ports.service)]
    supervisor += ["--run-dir", str(run), "--trace-ratio", str(config.trace_ratio)]
    if config.otlp_endpoint:
        supervisor += ["--otlp-endpoint", config.otlp_endpoint]
    supervisor += _capacity_args(config)
    loadgen = [py, "-m", "lab.loadgen", "--rate", str(config.order_rate)]
    loadgen += ["--targets", ",".join(config.replica_urls), "--port", str(ports.loadgen)]
    loadgen += ["--supervisor", _local(ports.supervisor)]
    receiver = [py, "-m", "lab.receiver", "--port", str(ports.receiver)]
    receiver += ["--file", str(run / NOTIFICATIONS_FILE)]
    dashboard = [py, "-m", "dashboards.live", "--port", str(ports.dashboard)]
    dashboard += ["--prometheus", _local(ports.prometheus), "--period", config.period]
    for spec in config.specs:
        dashboard += ["-i", str(spec)]
    listed = [
        Component(
            "remediator",
            tuple(remediator_argv(config)),
            _local(ports.remediator, "/healthz"),
            _local(ports.remediator, "/metrics"),
        ),
        Component(
            "receiver",
            tuple(receiver),
            _local(ports.receiver, "/healthz"),
            _local(ports.receiver, "/healthz"),
        ),
        Component(
            "node_exporter",
            (tools.node_exporter, f"--web.listen-address=127.0.0.1:{ports.node_exporter}"),
            _local(ports.node_exporter, "/metrics"),
            _local(ports.node_exporter, "/metrics"),
        ),
        Component(
            "supervisor",
            tuple(supervisor),
            _local(ports.supervisor, "/healthz"),
            _local(ports.supervisor, "/replicas"),
        ),
        Component(
            "alertmanager",
            (
                tools.alertmanager,
                f"--config.file={files.alertmanager}",
                f"--storage.path={run / DATA_DIR / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
                # Links in notifications (externalURL) open from this machine's browser.
                f"--web.external-url={_local(ports.alertmanager, '/')}",
                "--cluster.listen-address=",
            ),
            _local(ports.alertmanager, "/-/ready"),
            _local(ports.alertmanager),
        ),
        Component(
            "prometheus",
            (
                tools.prometheus,
                f"--config.file={files.prometheus}",
                f"--storage.tsdb.path={run / DATA_DIR / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{ports.prometheus}",
                # The alerts' generatorURL: 127.0.0.1, not the host name.
                f"--web.external-url={_local(ports.prometheus, '/')}",
            ),
            _local(ports.prometheus, "/-/ready"),
            _local(ports.prometheus),
        ),
        Component(
            "dashboard",
            tuple(dashboard),
            _local(ports.dashboard, "/healthz"),
            _local(ports.dashboard, "/"),
        ),
        Component(
            "loadgen",
            tuple(loadgen),
            _local(ports.loadgen, "/healthz"),
            _local(ports.loadgen, "/metrics"),
        ),
    ]
    return {component.name: component for component in listed}


def _capacity_args(config: LabConfig) -> list[str]:
    """The supervisor's options for the replicas' capacity and the scaling bound."""
    capacity, files = config.capacity, configs.files_of(config.run_dir)
    return [
        "--workers",
        str(capacity.workers),
        "--service-time-ms",
        str(capacity.service_time_ms),
        "--max-replicas",
        str(max(config.remediation.max_replicas, len(config.ports.service))),
        "--targets-file",
        str(files.exchange_targets),
    ]


def remediator_argv(config: LabConfig) -> list[str]:
    """The remediator's command line: webhooks, policy, and the autoscaler's target tracking."""
    ports, r = config.ports, config.remediation
    argv = [sys.executable, "-m", "lab.remediator", "--port", str(ports.remediator)]
    argv += ["--run-dir", str(config.run_dir), "--policy", str(r.policy.resolve())]
    argv += ["--supervisor", _local(ports.supervisor), "--loadgen", _local(ports.loadgen)]
    if not r.autoscale:
        return [*argv, "--no-autoscale"]
    return [
        *argv,
        "--target",
        str(r.target),
        "--min-replicas",
        str(len(ports.service)),
        "--max-replicas",
        str(max(r.max_replicas, len(ports.service))),
        "--scale-out-cooldown",
        str(r.scale_out_cooldown),
        "--scale-in-cooldown",
        str(r.scale_in_cooldown),
        "--scale-in-after",
        str(r.scale_in_after),
    ]


def component_of(argv: Sequence[str], binaries: dict[str, set[str]]) -> str | None:
    """Which lab component a command line is (``replica`` for a service replica), or None.

    ``binaries`` maps each external tool to the program names and paths it may run as.
    """
    python = Path(argv[0]).name.startswith("python")
    if python and len(argv) >= 3 and argv[1] == "-m" and argv[2] in LAB_MODULES:
        return LAB_MODULES[argv[2]]
    for tool, names in binaries.items():
        if argv[0] in names or Path(argv[0]).name in names:
            return tool
    return None


def _known_binaries(run_dir: Path, records: Sequence[procs.PidRecord]) -> dict[str, set[str]]:
    """The program names each external tool may run as in this run directory."""
    known = {tool: set(TOOL_NAMES[tool]) for tool in EXTERNAL_TOOLS}
    with contextlib.suppress(LabError):
        saved = settings.load(run_dir)
        if saved is not None:
            for tool in EXTERNAL_TOOLS:
                known[tool].add(getattr(saved.binaries, tool))
    for record in records:
        if record.name in known:
            known[record.name].add(record.argv[0])
    return known


# --- web pages ---------------------------------------------------------------------------------
def _client(timeout: float) -> httpx.Client:
    """An HTTP client for the lab's loopback services (never through a proxy from the env)."""
    return httpx.Client(timeout=timeout, trust_env=False)


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def web_pages(client: httpx.Client, config: LabConfig) -> WebPages:
    """Ask the running Prometheus and Alertmanager which web pages they serve."""
    prometheus = config.url("prometheus")
    prefix = next(
        (p for p in ("", "/classic") if _healthy(client, f"{prometheus}{p}/alerts")), None
    )
    # Upstream Alertmanager's UI is an Elm app served as /script.js; Debian's build has none.
    alertmanager_ui = _healthy(client, f"{config.url('alertmanager')}/script.js")
    return WebPages(prefix, alertmanager_ui)


def links(config: LabConfig, pages: WebPages) -> dict[str, str]:
    """The pages a person opens, by name: Prometheus' graph, alerts and rules, Alertmanager, ..."""
    prometheus = config.url("prometheus")
    alertmanager = config.url("alertmanager")
    if pages.prometheus_ui is None:
        graph, alerts, rules = (
            f"{prometheus}/api/v1/{p}" for p in ("query?query=up", "alerts", "rules")
        )
    else:
        graph, alerts, rules = (
            f"{prometheus}{pages.prometheus_ui}/{p}" for p in ("graph", "alerts", "rules")
        )
    out = {
        "dashboard": f"{config.url('dashboard')}/",
        "prometheus": graph,
        "alerts": alerts,
        "rules": rules,
        "alertmanager": alertmanager if pages.alertmanager_ui else f"{alertmanager}/api/v2/alerts",
        "supervisor": f"{config.url('supervisor')}/replicas",
        "node_exporter": f"{config.url('node_exporter')}/metrics",
        "loadgen": f"{config.url('loadgen')}/metrics",
        "remediator": f"{config.url('remediator')}/metrics",
    }
    out.update({f"replica-{i}": f"{url}/metrics" for i, url in enumerate(config.replica_urls, 1)})
    return out


def amtool_command(config: LabConfig) -> str:
    """The amtool command that lists the lab's alerts (Debian's Alertmanager has no web UI)."""
    return f"amtool --alertmanager.url={config.url('alertmanager')} alert query"


# --- stopping ----------------------------------------------------------------------------------
def _stop_everything(run_dir: Path, extra_unreadable: Sequence[str] = ()) -> Cleanup:
    """Stop every process of the lab in ``run_dir``: the recorded ones, then any found by
    command line; damaged pid files are reported and removed once their processes are stopped.
    """
    state = procs.read_records(run_dir)
    order = {name: i for i, name in enumerate(START_ORDER)}
    stopped, stale, refused = [], [], []
    for record in sorted(state.records, key=lambda r: order.get(r.name, -1), reverse=True):
        result = procs.stop(run_dir, record)
        if result.refused:
            refused.append(
                f"{procs.pid_file(run_dir, record.name)}: {result.refused}: not signalled"
            )
        elif result.stopped:
            stopped.append(record.name)
        else:
            stale.append(record.name)
    found = _sweep(run_dir, _known_binaries(run_dir, state.records))
    for damaged in state.unreadable:
        with contextlib.suppress(OSError):
            damaged.path.unlink()
    unreadable = (*extra_unreadable, *(str(u) for u in state.unreadable))
    return Cleanup(tuple(stopped), tuple(stale), tuple(found), unreadable, tuple(refused))


def _sweep(run_dir: Path, binaries: dict[str, set[str]]) -> list[FoundProcess]:
    """Stop the lab's processes that no pid record led to, found by command line and run dir."""
    found: list[FoundProcess] = []
    rank = {name: i for i, name in enumerate(SWEEP_ORDER)}
    for _ in range(SWEEP_ROUNDS):
        lab = []
        for candidate in procs.find_candidates(run_dir):
            component = component_of(candidate.argv, binaries)
            if component is not None:
                lab.append((component, candidate))
        if not lab:
            break
        for component, candidate in sorted(lab, key=lambda item: rank[item[0]]):
            process = procs.process_of_candidate(candidate)
            if process is not None and procs.stop_process(process, group=False).stopped:
                command = " ".join(candidate.argv)
                found.append(FoundProcess(component, candidate.pid, command))
    return found


# --- up ----------------------------------------------------------------------------------------
# LabConfig fields `up` compares with a running lab's, and the options that set them.
FIELD_OPTIONS: dict[str, str] = {
    "period": "--period",
    "order_rate": "--order-rate",
    "specs": "--input",
    "ports.service": "--replicas/--service-port/--service-ports",
    "ports.prometheus": "--prometheus-port",
    "ports.alertmanager": "--alertmanager-port",
    "ports.node_exporter": "--node-exporter-port",
    "ports.supervisor": "--supervisor-port",
    "ports.receiver": "--receiver-port",
    "ports.loadgen": "--loadgen-port",
    "ports.dashboard": "--dashboard-port",
    "ports.remediator": "--remediator-port",
    "capacity.workers": "--workers",
    "capacity.service_time_ms": "--service-time-ms",
    "remediation.policy": "--policy",
    "remediation.max_replicas": "--max-replicas",
    "remediation.autoscale": "--autoscale/--no-autoscale",
    "remediation.target": "--autoscale-target",
    "remediation.scale_out_cooldown": "--scale-out-cooldown",
    "remediation.scale_in_cooldown": "--scale-in-cooldown",
    "remediation.scale_in_after": "--scale-in-after",
    "scrape_interval": "--scrape-interval",
    "evaluation_interval": "--evaluation-interval",
    "otlp_endpoint": "--otlp-endpoint",
    "trace_ratio": "--trace-ratio",
    "binaries.prometheus": "--prometheus-bin",
    "binaries.alertmanager": "--alertmanager-bin",
    "binaries.node_exporter": "--node-exporter-bin",
}
_DURATIONS = {"period", "scrape_interval", "evaluation_interval"}


def _field(config: LabConfig, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def option_differences(
    running: LabConfig, asked: LabConfig, fields: Collection[str] | None = None
) -> tuple[OptionDifference, ...]:
    """The options of ``asked`` that differ from the ``running`` lab's (``fields``: the
    LabConfig fields to compare, by dotted path; every field of FIELD_OPTIONS by default).
    """
    out = []
    for path, option in FIELD_OPTIONS.items():
        if fields is not None and path not in fields:
            continue
        now, wanted = _field(running, path), _field(asked, path)
        same = (
            parse_duration(now) == parse_duration(wanted) if path in _DURATIONS else now == wanted
        )
        if not same:
            out.append(OptionDifference(option, _shown(now), _shown(wanted)))
    return tuple(out)


def _port_problems(config: LabConfig) -> list[str]:
    problems = []
    for name, port in config.ports.all().items():
        if procs.port_is_free(port):
            continue
        holder = procs.port_holder(port)
        who = f"pid {holder.pid} ({holder.command})" if holder else "another process"
        option = "--service-port" if name.startswith("replica-") else f"--{name}-port"
        option = option.replace("_", "-")
        problems.append(
            f"port {port} ({name}) is in use by {who}: stop it, or choose another port with "
            f"{option}"
        )
    return problems


def _log_tail(run_dir: Path, name: str) -> str:
    path = procs.log_file(run_dir, name)
    if not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return "\n".join(f"    {line}" for line in lines)


def _wait_healthy(
    client: httpx.Client,
    checks: dict[str, str],
    started: dict[str, procs.PidRecord],
    run_dir: Path,
    timeout: float,
    on_step: Step,
) -> None:
    """Wait until every URL in ``checks`` answers 200; LabError naming the laggard otherwise."""
    waiting = dict(checks)
    deadline = time.monotonic() + timeout
    shown: list[str] = []
    while waiting:
        waiting = {name: url for name, url in waiting.items() if not _healthy(client, url)}
        # Our own children: waitpid says for certain whether one has ended, and how.
        endings = {name: procs.ending(started[name].pid) for name in waiting if name in started}
        dead = [name for name, how in endings.items() if how]
        if dead or (waiting and time.monotonic() > deadline):
            name = (dead or list(waiting))[0]
            if dead:
                verb = f"exited ({endings[name]})"
            else:
                verb = f"did not answer {waiting[name]} within {timeout:.0f}s"
            raise LabError(
                f"{name} {verb}; the lab was stopped. Last lines of "
                f"{procs.log_file(run_dir, name)}:\n{_log_tail(run_dir, name)}"
            )
        if waiting and list(waiting) != shown:
            shown = list(waiting)
            on_step(f"waiting for {', '.join(shown)} to answer")
        if waiting:
            time.sleep(0.2)


def _start(config: LabConfig, names: Sequence[str], started: dict[str, procs.PidRecord]) -> None:
    table = components(config)
    for name in names:
        started[name] = procs.spawn(config.run_dir, name, table[name].argv)


def _running_lab(run_dir: Path) -> tuple[LabConfig | None, str | None, procs.Records]:
    """The saved configuration (or why it cannot be read) and the pid records of ``run_dir``."""
    try:
        saved, problem = settings.load(run_dir), None
    except LabError as exc:
        saved, problem = None, str(exc)
    return saved, problem, procs.read_records(run_dir)


def _all_running(records: procs.Records) -> bool:
    names = {record.name for record in records.records}
    return (
        not records.unreadable
        and names >= set(START_ORDER)
        and all(procs.is_alive(record) for record in records.records)
    )


def up(
    config: LabConfig,
    health_timeout: float = HEALTH_TIMEOUT,
    given: Collection[str] | None = None,
    on_step: Step = _quiet,
    on_cleanup: Callable[[Cleanup], None] | None = None,
) -> UpResult:
    """Start the lab described by ``config`` and wait until every part answers its health check.

    A lab already running in the run directory is reported, not started twice; the options of
    ``config`` that differ from the running lab's are listed (``given``: the fields the caller
    set, by dotted path; all by default). Leftovers of a lab that stopped uncleanly, or whose
    state files are damaged, are stopped and cleaned first; ``on_cleanup`` hears what that did
    as soon as it is done, so it is told even when the start fails after it.
    """
    run_dir = config.run_dir
    saved, saved_problem, records = _running_lab(run_dir)
    if saved is not None and _all_running(records):
        with _client(3.0) as client:
            pages = web_pages(client, saved)
        differences = option_differences(saved, config, given)
        return UpResult(
            saved, True, differences, Cleanup(), links(saved, pages), amtool_command(saved)
        )
    if records.records or records.unreadable or saved_problem or saved is not None:
        on_step("stopping what is left of an earlier lab")
    cleanup = _stop_everything(run_dir, (saved_problem,) if saved_problem else ())
    if on_cleanup is not None:
        on_cleanup(cleanup)
    problems = _port_problems(config)
    if problems:
        raise LabError("cannot start the lab:\n  " + "\n  ".join(problems))
    on_step("reading the remediation policy")
    load_policy(config.remediation.policy)
    on_step("compiling the SLO rules")
    generated = configs.generate(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    configs.write(config, generated)
    config = config.model_copy(update={"started_at": time.time()})
    settings.save(config)
    started: dict[str, procs.PidRecord] = {}
    try:
        with _client(2.0) as client:
            core = [name for name in START_ORDER if name != "loadgen"]
            on_step(f"starting {', '.join(core)}")
            _start(config, core, started)
            checks = {name: c.health_url for name, c in components(config).items() if name in core}
            checks.update(
                {f"replica-{i}": f"{u}/healthz" for i, u in enumerate(config.replica_urls, 1)}
            )
            _wait_healthy(client, checks, started, run_dir, health_timeout, on_step)
            on_step("starting the load generator")
            _start(config, ["loadgen"], started)
            loadgen = {"loadgen": components(config)["loadgen"].health_url}
            _wait_healthy(client, loadgen, started, run_dir, health_timeout, on_step)
            pages = web_pages(client, config)
    except BaseException:
        order = {name: i for i, name in enumerate(START_ORDER)}
        for record in sorted(started.values(), key=lambda r: order[r.name], reverse=True):
            procs.stop(run_dir, record)
        raise
    return UpResult(config, False, (), cleanup, links(config, pages), amtool_command(config))


# --- down --------------------------------------------------------------------------------------
def down(run_dir: Path, purge: bool = False) -> DownResult:
    """Stop every process of the lab in ``run_dir``; with ``purge`` also delete its data."""
    try:
        settings.load(run_dir)
        problem: tuple[str, ...] = ()
    except LabError as exc:
        problem = (str(exc),)
    cleanup = _stop_everything(run_dir, problem)
    purged = False
    if purge and run_dir.is_dir():
        if not (run_dir / settings.STATE_FILE).is_file() and any(run_dir.iterdir()):
            raise LabError(f"{run_dir} does not look like a lab run directory; not deleting it")
        if cleanup.refused:
            raise LabError(f"{run_dir} is kept: a process it names was not stopped")
        shutil.rmtree(run_dir)
        purged = True
    return DownResult(run_dir, cleanup, purged)


# --- status ------------------------------------------------------------------------------------
def require_running(run_dir: Path) -> LabConfig:
    """The running lab's configuration, or LabError saying how to start one."""
    config = settings.load(run_dir)
    records = procs.read_records(run_dir)
    if config is None or not any(procs.is_alive(r) for r in records.records):
        message = (
            f"no lab is running in {run_dir}: start one with `{settings.command(run_dir, 'up')}`"
        )
        if records.unreadable:
            damaged = ", ".join(str(u.path) for u in records.unreadable)
            message += (
                f"; damaged pid files ({damaged}): `{settings.command(run_dir, 'down')}` finds "
                "the lab's processes by command line and stops them"
            )
        raise LabError(message)
    return config


def status(run_dir: Path) -> LabStatus:
    """Processes, faults, the SLO table, the period and age of the lab in ``run_dir``."""
    config = require_running(run_dir)
    state = procs.read_records(run_dir)
    records = {r.name: r for r in state.records}
    problems = [
        f"{damaged}: `{settings.command(run_dir, 'down')}` stops its process"
        for damaged in state.unreadable
    ]
    table = components(config)
    with _client(3.0) as client:
        processes = []
        for name in START_ORDER:
            record = records.get(name)
            alive = record is not None and procs.is_alive(record)
            healthy = alive and _healthy(client, table[name].health_url)
            processes.append(
                ProcessStatus(name, record.pid if record else None, alive, healthy, table[name].url)
            )
        for replica in _replicas(client, config):
            url = f"http://127.0.0.1:{replica['port']}"
            processes.append(
                ProcessStatus(
                    name=f"replica-{replica['replica']}",
                    pid=replica["pid"],
                    alive=bool(replica["running"]),
                    healthy=_healthy(client, f"{url}/healthz"),
                    url=f"{url}/metrics",
                    restarts=replica["restarts"],
                    held_seconds_left=replica.get("held_seconds_left"),
                    version=replica.get("version"),
                )
            )
        faults = tuple(_faults(client, config))
        try:
            slos = tuple(slo_rows(client, config.url("prometheus")))
            others = tuple(other_alerts(client, config.url("prometheus")))
        except LabError as exc:
            slos, others = (), ()
            problems.append(str(exc))
        pages = web_pages(client, config)
    recorded = notifications(run_dir)
    problems += recorded.unreadable
    now = time.time()
    return LabStatus(
        running=all(p.as_expected for p in processes) and not state.unreadable,
        run_dir=run_dir,
        period=config.period,
        started_at=config.started_at,
        age_seconds=None if config.started_at is None else max(0.0, now - config.started_at),
        prometheus_url=config.url("prometheus"),
        alertmanager_url=config.url("alertmanager"),
        dashboard_url=f"{config.url('dashboard')}/",
        links=links(config, pages),
        amtool=amtool_command(config),
        processes=tuple(processes),
        faults=faults,
        slos=slos,
        other_alerts=others,
        notifications=len(recorded.notifications),
        problems=tuple(problems),
    )


def _replicas(client: httpx.Client, config: LabConfig) -> list[dict[str, Any]]:
    try:
        answer: list[dict[str, Any]] = client.get(f"{config.url('supervisor')}/replicas").json()
    except (httpx.HTTPError, ValueError):
        return [
            {"replica": i, "port": port, "pid": None, "running": False, "restarts": None}
            for i, port in enumerate(config.ports.service, start=1)
        ]
    return answer


def _fault(index: int, answer: dict[str, Any]) -> ReplicaFault:
    return ReplicaFault(
        replica=index,
        error_rate=float(answer.get("error_rate") or 0),
        latency_ms=float(answer.get("latency_ms") or 0),
        seconds_left=answer.get("seconds_left"),
    )


def replica_urls(client: httpx.Client, config: LabConfig) -> dict[int, str]:
    """The replicas the supervisor runs now (scaling changes them), by index: base URLs."""
    return {r["replica"]: f"http://127.0.0.1:{r['port']}" for r in _replicas(client, config)}


def _faults(client: httpx.Client, config: LabConfig) -> list[ReplicaFault]:
    out = []
    for index, url in replica_urls(client, config).items():
        try:
            fault = _fault(index, client.get(f"{url}/admin/fault").json())
        except (httpx.HTTPError, ValueError):
            continue
        if fault.error_rate or fault.latency_ms:
            out.append(fault)
    return out


# --- notifications -----------------------------------------------------------------------------
def notifications(run_dir: Path) -> Recorded:
    """Every notification the local receiver recorded, oldest first."""
    return read_notifications(run_dir / NOTIFICATIONS_FILE)


def recorded_notifications(run_dir: Path) -> Recorded:
    """The notifications of the lab in ``run_dir``; LabError when no lab ever ran there."""
    path = run_dir / NOTIFICATIONS_FILE
    if not path.exists() and not (run_dir / settings.STATE_FILE).exists():
        raise LabError(
            f"no lab has run in {run_dir}, so nothing was notified: start one with "
            f"`{settings.command(run_dir, 'up')}`"
        )
    return notifications(run_dir)


# --- faults ------------------------------------------------------------------------------------
def _each_replica(
    config: LabConfig, call: Callable[[httpx.Client, str], httpx.Response]
) -> tuple[ReplicaOutcome, ...]:
    results = []
    with _client(10.0) as client:
        for index, url in replica_urls(client, config).items():
            try:
                response = call(client, url)
                response.raise_for_status()
                results.append(ReplicaOutcome(index, True, fault=_fault(index, response.json())))
            except (httpx.HTTPError, ValueError) as exc:
                results.append(ReplicaOutcome(index, False, error=f"{url}: {exc}"))
    return tuple(results)


def inject(
    run_dir: Path, error_rate: float | None, latency_ms: float | None, seconds: int | None
) -> BreakResult:
    """Inject an error rate and/or latency into every replica, for ``seconds`` or until healed."""
    config = require_running(run_dir)
    body: dict[str, float] = {}
    if error_rate is not None:
        body["error_rate"] = error_rate
    if latency_ms is not None:
        body["latency_ms"] = latency_ms
    if seconds is not None:
        body["for_seconds"] = seconds
    return BreakResult(
        _each_replica(config, lambda c, url: c.post(f"{url}/admin/fault", json=body))
    )


def kill_replica(run_dir: Path, index: int, seconds: int | None) -> CrashResult:
    """Crash replica ``index``; with ``seconds`` the supervisor keeps it down that long."""
    config = require_running(run_dir)
    with _client(10.0) as client:
        urls = replica_urls(client, config)
        if index not in urls:
            raise UsageError(f"--kill-replica {index}: the lab has replicas 1 to {len(urls)}")
        url = urls[index]
        try:
            if seconds is not None:
                hold = f"{config.url('supervisor')}/replicas/{index}/hold"
                client.post(hold, json={"seconds": seconds}).raise_for_status()
            client.post(f"{url}/admin/crash").raise_for_status()
        except httpx.ConnectError as exc:
            raise LabError(
                f"replica {index} at {url} does not answer: it is down already "
                f"(`{settings.command(run_dir, 'status')}` shows it)"
            ) from exc
        except httpx.HTTPError as exc:
            raise LabError(f"replica {index} at {url} did not take the crash: {exc}") from exc
    return CrashResult(index, seconds)


def heal(run_dir: Path, settle: float = HEAL_SETTLE) -> BreakResult:
    """Restart any replica held down, wait (up to ``settle`` s) for it, clear every fault."""
    config = require_running(run_dir)
    with _client(10.0) as client:
        down = {r["replica"] for r in _replicas(client, config) if not r["running"]}
        had = {fault.replica: fault for fault in _faults(client, config)}
        try:
            client.post(f"{config.url('supervisor')}/replicas/release").raise_for_status()
        except httpx.HTTPError as exc:
            raise LabError(f"the supervisor did not answer: {exc}") from exc
        deadline = time.monotonic() + settle
        health = {i: f"{url}/healthz" for i, url in replica_urls(client, config).items()}
        while not all(_healthy(client, url) for url in health.values()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        back = {i for i in down if i in health and _healthy(client, health[i])}
    load = _reset_load(config)
    cleared = _each_replica(config, lambda c, url: c.delete(f"{url}/admin/fault"))
    outcomes = []
    for outcome in cleared:
        index = outcome.replica
        if index in down and index not in back:
            error = f"replica {index} did not answer {health.get(index)} within {settle:.0f}s"
            outcomes.append(ReplicaOutcome(index, False, error=error))
        else:
            outcomes.append(
                ReplicaOutcome(
                    index, outcome.ok, outcome.error, fault=had.get(index), restarted=index in down
                )
            )
    return BreakResult(tuple(outcomes), load)


# --- load (the TradeX spike) and remediation ----------------------------------------------------
def _reset_load(config: LabConfig) -> LoadChange | None:
    """End the load generator's load factor and shedding; what they were (None: no answer)."""
    with _client(10.0) as client:
        try:
            was = client.get(f"{config.url('loadgen')}/admin/load").json()
            shed = client.get(f"{config.url('loadgen')}/admin/shed").json()
            client.delete(f"{config.url('loadgen')}/admin/load").raise_for_status()
            client.delete(f"{config.url('loadgen')}/admin/shed").raise_for_status()
        except (httpx.HTTPError, ValueError):
            return None
    return LoadChange(
        float(was["factor"]), was["seconds_left"], float(shed["fraction"]), config.order_rate
    )


def load_factor(run_dir: Path, factor: float, seconds: int | None) -> LoadChange:
    """Multiply the load generator's order rate by ``factor`` for ``seconds`` or until healed."""
    config = require_running(run_dir)
    body: dict[str, float] = {"factor": factor}
    if seconds is not None:
        body["for_seconds"] = seconds
    with _client(10.0) as client:
        try:
            answer = client.post(f"{config.url('loadgen')}/admin/load", json=body)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise LabError(f"the load generator did not take the load factor: {exc}") from exc
    data = answer.json()
    return LoadChange(float(data["factor"]), data["seconds_left"], 0.0, config.order_rate)


def remediations(run_dir: Path) -> list[dict[str, Any]]:
    """Every remediation audit record of the lab in ``run_dir`` (the engine's and the
    autoscaler's), oldest first; LabError when no lab ever ran there."""
    if not (run_dir / settings.STATE_FILE).exists():
        raise LabError(
            f"no lab has run in {run_dir}, so nothing was remediated: start one with "
            f"`{settings.command(run_dir, 'up')}`"
        )
    return FileAuditLog(run_dir / AUDIT_FILE).records()
