"""Process management: start detached children, record them, find them again, stop them safely.

Each component runs in a session (and process group) of its own, so it outlives the CLI that
started it and `down` can stop it with everything it spawned. A pid file records the pid, the
process's start time and its command line: a process is the lab's only while all three match,
since a pid is reused by anything once the lab's process is gone. Spawned processes also carry
``SRE_LAB_RUN_DIR`` in their environment (their children inherit it), so a lab whose pid files
are lost or damaged is still found by command line and run directory (`find_candidates`).

No signal ever goes to pid 0 or 1, to this process, or to anything in the caller's own process
group or session (`refusal_to_signal`), and a process group is signalled only while its leader
is the recorded process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sre_platform.errors import InputFileError, field_path
from sre_platform.files import write_atomic
from sre_platform.yamlfile import YamlLimits, read_text

PIDS_DIR = "pids"
LOGS_DIR = "logs"
RUN_DIR_MARKER = "SRE_LAB_RUN_DIR"  # environment variable every spawned process carries
START_TIME_TOLERANCE = 0.01  # seconds; the kernel counts start times in clock ticks
LEGACY_START_TOLERANCE = 5.0  # seconds between a fork and `up` writing the wall clock down
STOP_GRACE = 10.0  # SIGTERM, then SIGKILL after this many seconds
KILL_WAIT = 5.0
PID_FILE_LIMITS = YamlLimits(max_bytes=64 * 1024)  # a pid record is a few hundred bytes


class PidRecord(BaseModel):
    """What a pid file holds: who the process is, so a reused pid is never taken for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    pid: int = Field(gt=1, lt=2**31)
    argv: tuple[str, ...] = Field(min_length=1)
    started_at: float  # wall clock right after `up` started it
    # The process's start time as psutil reports it; None in pid files of labs started before
    # it was recorded, which are checked against ``started_at`` instead.
    create_time: float | None = None

    @property
    def start_time(self) -> tuple[float, float]:
        """The recorded start time and how far the process's own may be from it."""
        if self.create_time is None:
            return self.started_at, LEGACY_START_TOLERANCE
        return self.create_time, START_TIME_TOLERANCE


@dataclass(frozen=True)
class UnreadableFile:
    """A state file that could not be used, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Records:
    """The pid files of a run directory: the readable records and the ones that are not."""

    records: tuple[PidRecord, ...]
    unreadable: tuple[UnreadableFile, ...]


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port."""

    pid: int
    command: str


@dataclass(frozen=True)
class Candidate:
    """A running process that points at a run directory (by environment or command line)."""

    pid: int
    argv: tuple[str, ...]
    create_time: float


@dataclass(frozen=True)
class Stopped:
    """What stopping one process (or process group) did."""

    pid: int
    stopped: bool  # False: it was not running (any more)
    refused: str | None = None  # why it was not signalled, when it was not


def pid_file(run_dir: Path, name: str) -> Path:
    """Where the pid record of component ``name`` lives."""
    return run_dir / PIDS_DIR / f"{name}.json"


def log_file(run_dir: Path, name: str) -> Path:
    """Where the output of component ``name`` goes."""
    return run_dir / LOGS_DIR / f"{name}.log"


def spawn(
    run_dir: Path, name: str, argv: Sequence[str], env: dict[str, str] | None = None
) -> PidRecord:
    """Start ``argv`` detached in its own session, output to its log; record and return it."""
    log = log_file(run_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    marker = {RUN_DIR_MARKER: str(run_dir.resolve())}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=run_dir,
            env={**os.environ, **(env or {}), **marker},
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:  # it ended at once; `ending` says how
        create_time = 0.0
    record = PidRecord(
        name=name,
        pid=proc.pid,
        argv=tuple(argv),
        started_at=time.time(),
        create_time=create_time,
    )
    write_atomic(pid_file(run_dir, name), record.model_dump_json() + "\n")
    return record


def read_records(run_dir: Path) -> Records:
    """Every pid record in the run directory; damaged pid files are listed, never deleted here."""
    records: list[PidRecord] = []
    unreadable: list[UnreadableFile] = []
    for path in sorted((run_dir / PIDS_DIR).glob("*.json")):
        try:
            record = PidRecord.model_validate_json(read_text(path, PID_FILE_LIMITS))
        except InputFileError as exc:
            unreadable.append(UnreadableFile(path, f"not a pid record: {exc.message}"))
            continue
        except ValidationError as exc:
            unreadable.append(UnreadableFile(path, _validation_reason(exc)))
            continue
        if record.name != path.stem:
            reason = f"not a pid record of {path.stem}: it names {record.name}"
            unreadable.append(UnreadableFile(path, reason))
            continue
        records.append(record)
    return Records(tuple(records), tuple(unreadable))


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    message = first["msg"].replace("Invalid JSON", "invalid JSON")
    where = field_path(first["loc"])
    return f"not a pid record ({where}: {message})" if where else f"not a pid record ({message})"


def process_of(record: PidRecord) -> psutil.Process | None:
    """The live process ``record`` describes: same pid, start time and command line, or None."""
    start, tolerance = record.start_time
    return _verified(record.pid, start, tolerance, record.argv)


def _verified(
    pid: int, start: float, tolerance: float, argv: Sequence[str]
) -> psutil.Process | None:
    if pid <= 1:
        return None
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if abs(process.create_time() - start) > tolerance:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                _reap(pid)
                return None
            if tuple(process.cmdline()) != tuple(argv):
                return None
    except psutil.Error:
        return None
    return process


def is_alive(record: PidRecord) -> bool:
    """True when the recorded process still runs (pid, start time and command line match)."""
    return process_of(record) is not None


# The children this process started, kept so their exit status is ours to read (a Popen that
# is garbage collected reaps its child itself, and the exit status would be lost).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is a child of this process that has ended."""
    child = _CHILDREN.get(pid)
    if child is not None:
        child.poll()


def ending(pid: int) -> str | None:
    """How child ``pid`` ended ("exit code 1", "signal 9", or "ended"); None while it runs."""
    child = _CHILDREN.get(pid)
    if child is not None:
        code = child.poll()
        if code is None:
            return None
        return f"exit code {code}" if code >= 0 else f"signal {-code}"
    try:
        running = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        running = False
    return None if running else "ended"


def refusal_to_signal(pid: int) -> str | None:
    """Why ``pid`` must never be signalled by the lab, or None when it may be."""
    if pid <= 1:
        return f"pid {pid} is never signalled"
    if pid == os.getpid():
        return f"pid {pid} is this process"
    try:
        pgid, sid = os.getpgid(pid), os.getsid(pid)
    except (OSError, OverflowError):
        return None  # no such process: nothing will be signalled anyway
    if pgid == os.getpgrp():
        return f"pid {pid} is in the caller's own process group"
    if sid == os.getsid(0):
        return f"pid {pid} is in the caller's own session"
    return None


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid``."""
    members = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError):
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


def _family(process: psutil.Process) -> list[psutil.Process]:
    """``process``, its descendants, and the live members of the group it leads."""
    family = {process.pid: process}
    with contextlib.suppress(psutil.Error):
        family.update({child.pid: child for child in process.children(recursive=True)})
    if _leads_group(process):
        for pid in group_members(process.pid):
            with contextlib.suppress(psutil.Error):
                family.setdefault(pid, psutil.Process(pid))
    return list(family.values())


def _leads_group(process: psutil.Process) -> bool:
    try:
        return os.getpgid(process.pid) == process.pid and process.is_running()
    except (OSError, psutil.Error):
        return False


def stop_process(process: psutil.Process, group: bool, grace: float = STOP_GRACE) -> Stopped:
    """Stop ``process`` (an identity-checked psutil handle) and, with ``group``, its family.

    SIGTERM first, SIGKILL after ``grace`` seconds. The group is signalled as a whole only while
    ``process`` leads it; every other signal goes through psutil, which checks that the pid
    still belongs to the process it was taken for.
    """
    refusal = refusal_to_signal(process.pid)
    if refusal:
        return Stopped(process.pid, False, refusal)
    if not process.is_running():
        return Stopped(process.pid, False)
    family = _family(process) if group else [process]
    family = [member for member in family if refusal_to_signal(member.pid) is None]
    _signal(process, family, signal.SIGTERM, group)
    alive = _wait_gone(family, grace)
    if alive:
        _signal(process, alive, signal.SIGKILL, group)
        _wait_gone(alive, KILL_WAIT)
    return Stopped(process.pid, True)


def _wait_gone(processes: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every one of ``processes`` has ended (a zombie has); return the others."""
    deadline = time.monotonic() + timeout
    alive = list(processes)
    while True:
        for process in alive:
            _reap(process.pid)
        alive = [process for process in alive if _still_running(process)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _still_running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(
    leader: psutil.Process, members: Iterable[psutil.Process], sig: signal.Signals, group: bool
) -> None:
    if group and _leads_group(leader):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, sig)
    for member in members:
        with contextlib.suppress(psutil.Error):
            member.send_signal(sig)


def stop(run_dir: Path, record: PidRecord, grace: float = STOP_GRACE) -> Stopped:
    """Stop a recorded component with its process group, if it still is the recorded process.

    The pid file goes unless the process was refused a signal (it then stays for a person to
    look at).
    """
    process = process_of(record)
    result = Stopped(record.pid, False) if process is None else stop_process(process, True, grace)
    if result.refused is None:
        pid_file(run_dir, record.name).unlink(missing_ok=True)
    return result


def find_candidates(run_dir: Path) -> list[Candidate]:
    """Running processes that point at ``run_dir``: they carry its marker in their environment,
    or one of their arguments is the run directory or a path inside it.

    Whether a candidate is one of the lab's components is the caller's decision (by the command
    line's shape); this process and its own group and session are never candidates.
    """
    root = str(run_dir.resolve())
    found = []
    for process in psutil.process_iter(["cmdline", "create_time", "status"]):
        info = process.info
        argv = tuple(info["cmdline"] or ())
        if not argv or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if refusal_to_signal(process.pid):
            continue
        if _names_run_dir(argv, root) or _marked(process, root):
            found.append(Candidate(process.pid, argv, info["create_time"]))
    return found


def _names_run_dir(argv: Sequence[str], root: str) -> bool:
    for arg in argv[1:]:
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        if value == root or value.startswith(root + os.sep):
            return True
    return False


def _marked(process: psutil.Process, root: str) -> bool:
    try:
        return process.environ().get(RUN_DIR_MARKER) == root
    except psutil.Error:
        return False


def process_of_candidate(candidate: Candidate) -> psutil.Process | None:
    """The candidate's process if it still runs with the same start time and command line."""
    return _verified(candidate.pid, candidate.create_time, START_TIME_TOLERANCE, candidate.argv)


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` (and it can be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_holder(port: int) -> PortHolder | None:
    """The process listening on ``port``, when the system lets us see it."""
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.Error:
        return None
    for connection in connections:
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid
        ):
            try:
                command = " ".join(psutil.Process(connection.pid).cmdline()) or "?"
            except psutil.Error:
                command = "?"
            return PortHolder(connection.pid, command)
    return None


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
