"""What the `sre lab` verbs do: up, status, break, heal, down.

Results are dataclasses; nothing here prints. Odd states raise LabError with an answer a person
can act on (which port, which process, which command).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lab import configs, procs, settings
from lab.notifications import NOTIFICATIONS_FILE, Notification, read_notifications
from lab.settings import LabConfig
from lab.slo_status import SloRow, slo_rows
from sre_platform.errors import LabError

HEALTH_TIMEOUT = 90.0
LOG_TAIL_LINES = 15
DATA_DIR = "data"
# Start order; `down` stops in reverse. The load generator starts once the replicas answer.
START_ORDER = ("receiver", "node_exporter", "supervisor", "alertmanager", "prometheus", "loadgen")


@dataclass(frozen=True)
class Component:
    """A process the lab starts: how to run it and how to tell it is healthy."""

    name: str
    argv: tuple[str, ...]
    health_url: str
    url: str


@dataclass(frozen=True)
class UpResult:
    """What `up` did."""

    config: LabConfig
    already_running: bool
    cleaned_stale: tuple[str, ...]
    urls: dict[str, str]


@dataclass(frozen=True)
class DownResult:
    """What `down` did."""

    stopped: tuple[str, ...]
    stale: tuple[str, ...]
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


@dataclass(frozen=True)
class LabStatus:
    """Everything `sre lab status` shows."""

    running: bool
    prometheus_url: str
    alertmanager_url: str
    processes: tuple[ProcessStatus, ...]
    faults: tuple[dict[str, Any], ...]
    slos: tuple[SloRow, ...]
    notifications: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class BreakResult:
    """What a game-day fault did to each replica."""

    replicas: tuple[dict[str, Any], ...]


def components(config: LabConfig) -> dict[str, Component]:
    """Every process `up` starts for ``config``, by name."""
    run, ports, tools = config.run_dir, config.ports, config.binaries
    files = configs.files_of(run)
    py = sys.executable

    def local(port: int, path: str = "") -> str:
        return f"http://127.0.0.1:{port}{path}"

    supervisor = [py, "-m", "lab.supervisor", "--port", str(ports.supervisor)]
    supervisor += ["--replica-ports", ",".join(str(p) for p in ports.service)]
    supervisor += ["--run-dir", str(run), "--trace-ratio", str(config.trace_ratio)]
    if config.otlp_endpoint:
        supervisor += ["--otlp-endpoint", config.otlp_endpoint]
    loadgen = [py, "-m", "lab.loadgen", "--rate", str(config.order_rate)]
    loadgen += ["--targets", ",".join(config.replica_urls), "--port", str(ports.loadgen)]
    listed = [
        Component(
            "receiver",
            (
                py,
                "-m",
                "lab.receiver",
                "--port",
                str(ports.receiver),
                "--file",
                str(run / NOTIFICATIONS_FILE),
            ),
            local(ports.receiver, "/healthz"),
            local(ports.receiver),
        ),
        Component(
            "node_exporter",
            (tools.node_exporter, f"--web.listen-address=127.0.0.1:{ports.node_exporter}"),
            local(ports.node_exporter, "/metrics"),
            local(ports.node_exporter),
        ),
        Component(
            "supervisor",
            tuple(supervisor),
            local(ports.supervisor, "/healthz"),
            local(ports.supervisor),
        ),
        Component(
            "alertmanager",
            (
                tools.alertmanager,
                f"--config.file={files.alertmanager}",
                f"--storage.path={run / DATA_DIR / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
                "--cluster.listen-address=",
            ),
            local(ports.alertmanager, "/-/ready"),
            local(ports.alertmanager),
        ),
        Component(
            "prometheus",
            (
                tools.prometheus,
                f"--config.file={files.prometheus}",
                f"--storage.tsdb.path={run / DATA_DIR / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{ports.prometheus}",
            ),
            local(ports.prometheus, "/-/ready"),
            local(ports.prometheus),
        ),
        Component(
            "loadgen", tuple(loadgen), local(ports.loadgen, "/healthz"), local(ports.loadgen)
        ),
    ]
    return {component.name: component for component in listed}


def urls(config: LabConfig) -> dict[str, str]:
    """The URLs a person opens: Prometheus, Alertmanager, alerts, replicas, ..."""
    out = {
        "prometheus": config.url("prometheus"),
        "alertmanager": config.url("alertmanager"),
        "alerts": f"{config.url('prometheus')}/alerts",
        "supervisor": f"{config.url('supervisor')}/replicas",
        "node_exporter": f"{config.url('node_exporter')}/metrics",
        "receiver": config.url("receiver"),
        "loadgen": f"{config.url('loadgen')}/metrics",
    }
    out.update({f"replica-{i}": url for i, url in enumerate(config.replica_urls, start=1)})
    return out


# --- state of a run directory --------------------------------------------------------------
@dataclass(frozen=True)
class _Inspection:
    alive: tuple[procs.PidRecord, ...]
    dead: tuple[procs.PidRecord, ...]


def _inspect(run_dir: Path) -> _Inspection:
    records = procs.read_records(run_dir)
    alive = tuple(r for r in records if procs.is_alive(r))
    dead = tuple(r for r in records if r not in alive)
    return _Inspection(alive, dead)


def _stop_records(run_dir: Path, records: Sequence[procs.PidRecord]) -> tuple[str, ...]:
    order = {name: i for i, name in enumerate(START_ORDER)}
    ordered = sorted(records, key=lambda r: order.get(r.name, -1), reverse=True)
    for record in ordered:
        procs.stop(run_dir, record)
    return tuple(r.name for r in ordered)


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


def _client(timeout: float) -> httpx.Client:
    """An HTTP client for the lab's loopback services (never through a proxy from the env)."""
    return httpx.Client(timeout=timeout, trust_env=False)


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_healthy(
    client: httpx.Client,
    checks: dict[str, str],
    started: dict[str, procs.PidRecord],
    run_dir: Path,
    timeout: float,
) -> None:
    """Wait until every URL in ``checks`` answers 200; LabError naming the laggard otherwise."""
    waiting = dict(checks)
    deadline = time.monotonic() + timeout
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
        if waiting:
            time.sleep(0.2)


def _start(config: LabConfig, names: Sequence[str], started: dict[str, procs.PidRecord]) -> None:
    table = components(config)
    for name in names:
        component = table[name]
        procs.spawn(config.run_dir, name, list(component.argv))
        started[name] = next(r for r in procs.read_records(config.run_dir) if r.name == name)


def up(config: LabConfig, health_timeout: float = HEALTH_TIMEOUT) -> UpResult:
    """Start the lab described by ``config`` and wait until every part answers its health check.

    A lab already running in the run directory is reported, not started twice; leftovers of a
    lab that stopped uncleanly are stopped and cleaned first.
    """
    run_dir = config.run_dir
    state = _inspect(run_dir)
    saved = settings.load(run_dir)
    if state.alive and not state.dead and saved is not None:
        return UpResult(saved, True, (), urls(saved))
    cleaned = _stop_records(run_dir, state.alive + state.dead)
    problems = _port_problems(config)
    if problems:
        raise LabError("cannot start the lab:\n  " + "\n  ".join(problems))
    generated = configs.generate(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    configs.write(config, generated)
    settings.save(config)
    started: dict[str, procs.PidRecord] = {}
    try:
        with _client(2.0) as client:
            core = [name for name in START_ORDER if name != "loadgen"]
            _start(config, core, started)
            checks = {name: c.health_url for name, c in components(config).items() if name in core}
            checks.update(
                {f"replica-{i}": f"{u}/healthz" for i, u in enumerate(config.replica_urls, 1)}
            )
            _wait_healthy(client, checks, started, run_dir, health_timeout)
            _start(config, ["loadgen"], started)
            loadgen = {"loadgen": components(config)["loadgen"].health_url}
            _wait_healthy(client, loadgen, started, run_dir, health_timeout)
    except BaseException:
        _stop_records(run_dir, list(started.values()))
        raise
    return UpResult(config, False, cleaned, urls(config))


def down(run_dir: Path, purge: bool = False) -> DownResult:
    """Stop every process of the lab in ``run_dir``; with ``purge`` also delete its data."""
    state = _inspect(run_dir)
    stopped = _stop_records(run_dir, state.alive)
    stale = _stop_records(run_dir, state.dead)
    purged = False
    if purge and run_dir.is_dir():
        if not (run_dir / settings.STATE_FILE).is_file() and any(run_dir.iterdir()):
            raise LabError(f"{run_dir} does not look like a lab run directory; not deleting it")
        shutil.rmtree(run_dir)
        purged = True
    return DownResult(stopped, stale, purged)


def require_running(run_dir: Path) -> LabConfig:
    """The running lab's configuration, or LabError saying how to start one."""
    config = settings.load(run_dir)
    state = _inspect(run_dir)
    if config is None or not state.alive:
        raise LabError(f"no lab is running in {run_dir}: start one with `sre lab up`")
    return config


def status(run_dir: Path) -> LabStatus:
    """Processes, faults and the SLO table of the lab in ``run_dir``."""
    config = require_running(run_dir)
    records = {r.name: r for r in procs.read_records(run_dir)}
    table = components(config)
    problems: list[str] = []
    with _client(3.0) as client:
        processes = []
        for name in START_ORDER:
            record = records.get(name)
            alive = record is not None and procs.is_alive(record)
            healthy = alive and _healthy(client, table[name].health_url)
            processes.append(
                ProcessStatus(name, record.pid if record else None, alive, healthy, table[name].url)
            )
        replicas = _replicas(client, config)
        for replica in replicas:
            url = f"http://127.0.0.1:{replica['port']}"
            healthy = _healthy(client, f"{url}/healthz")
            name = f"replica-{replica['replica']}"
            processes.append(
                ProcessStatus(
                    name, replica["pid"], replica["running"], healthy, url, replica["restarts"]
                )
            )
        faults = tuple(_faults(client, config))
        try:
            slos = tuple(slo_rows(client, config.url("prometheus")))
        except LabError as exc:
            slos, problems = (), [str(exc)]
    running = all(p.alive for p in processes)
    return LabStatus(
        running=running,
        prometheus_url=config.url("prometheus"),
        alertmanager_url=config.url("alertmanager"),
        processes=tuple(processes),
        faults=faults,
        slos=slos,
        notifications=len(notifications(run_dir)),
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


def _faults(client: httpx.Client, config: LabConfig) -> list[dict[str, Any]]:
    out = []
    for index, url in enumerate(config.replica_urls, start=1):
        try:
            fault = client.get(f"{url}/admin/fault").json()
        except (httpx.HTTPError, ValueError):
            continue
        if fault["error_rate"] or fault["latency_ms"]:
            out.append({"replica": index, **fault})
    return out


def notifications(run_dir: Path) -> list[Notification]:
    """Every notification the local receiver recorded, oldest first."""
    return read_notifications(run_dir / NOTIFICATIONS_FILE)


def _each_replica(
    config: LabConfig, call: Callable[[httpx.Client, str], httpx.Response]
) -> tuple[dict[str, Any], ...]:
    results = []
    with _client(5.0) as client:
        for index, url in enumerate(config.replica_urls, start=1):
            try:
                response = call(client, url)
                response.raise_for_status()
                results.append({"replica": index, "ok": True, **response.json()})
            except (httpx.HTTPError, ValueError) as exc:
                results.append({"replica": index, "ok": False, "error": str(exc)})
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


def kill_replica(run_dir: Path, index: int, seconds: int | None) -> BreakResult:
    """Crash replica ``index``; with ``seconds`` the supervisor keeps it down that long."""
    config = require_running(run_dir)
    if not 1 <= index <= len(config.ports.service):
        raise LabError(f"--kill-replica: the lab has replicas 1 to {len(config.ports.service)}")
    url = config.replica_urls[index - 1]
    with _client(5.0) as client:
        try:
            if seconds is not None:
                hold = f"{config.url('supervisor')}/replicas/{index}/hold"
                client.post(hold, json={"seconds": seconds}).raise_for_status()
            client.post(f"{url}/admin/crash").raise_for_status()
        except httpx.HTTPError as exc:
            raise LabError(f"replica {index} at {url} did not take the crash: {exc}") from exc
    held = {"held_seconds": seconds} if seconds is not None else {}
    return BreakResult(({"replica": index, "ok": True, "status": "crashed", **held},))


def heal(run_dir: Path, settle: float = 15.0) -> BreakResult:
    """Restart any replica held down, wait (up to ``settle`` s) for it, clear every fault."""
    config = require_running(run_dir)
    with _client(5.0) as client:
        try:
            client.post(f"{config.url('supervisor')}/replicas/release").raise_for_status()
        except httpx.HTTPError as exc:
            raise LabError(f"the supervisor did not answer: {exc}") from exc
        deadline = time.monotonic() + settle
        health = [f"{url}/healthz" for url in config.replica_urls]
        while not all(_healthy(client, url) for url in health) and time.monotonic() < deadline:
            time.sleep(0.2)
    return BreakResult(_each_replica(config, lambda c, url: c.delete(f"{url}/admin/fault")))
