"""Process management: start detached children, record them, find them again, stop them.

Each component runs in a session (and process group) of its own, so it outlives the CLI that
started it and `down` can stop it with everything it spawned. A pid file records the pid and
the command line; a pid whose command line no longer matches is stale (the lab was killed
uncleanly and the number reused, or the process is gone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from sre_platform.files import write_atomic

PIDS_DIR = "pids"
LOGS_DIR = "logs"


class PidRecord(BaseModel):
    """What a pid file holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    pid: int
    argv: tuple[str, ...]
    started_at: float


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port, as far as /proc tells."""

    pid: int
    command: str


def pid_file(run_dir: Path, name: str) -> Path:
    """Where the pid record of component ``name`` lives."""
    return run_dir / PIDS_DIR / f"{name}.json"


def log_file(run_dir: Path, name: str) -> Path:
    """Where the output of component ``name`` goes."""
    return run_dir / LOGS_DIR / f"{name}.log"


def spawn(run_dir: Path, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start ``argv`` detached in its own session, output to its log; record and return the pid."""
    log = log_file(run_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=run_dir,
            env={**os.environ, **(env or {})},
            close_fds=True,
        )
    record = PidRecord(name=name, pid=proc.pid, argv=tuple(argv), started_at=time.time())
    write_atomic(pid_file(run_dir, name), record.model_dump_json() + "\n")
    return proc.pid


def read_records(run_dir: Path) -> list[PidRecord]:
    """Every pid record in the run directory (unreadable ones are dropped as stale)."""
    records = []
    for path in sorted((run_dir / PIDS_DIR).glob("*.json")):
        try:
            records.append(PidRecord.model_validate_json(path.read_text(encoding="utf-8")))
        except (ValidationError, OSError):
            path.unlink(missing_ok=True)
    return records


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    if state in ("Z", "X"):
        _reap(pid)
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


# How our own children ended, when this process reaped them (for error messages).
_ENDINGS: dict[int, str] = {}


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            code = os.waitstatus_to_exitcode(status)
            _ENDINGS[pid] = f"exit code {code}" if code >= 0 else f"signal {-code}"


def ending(pid: int) -> str | None:
    """How child ``pid`` ended ("exit code 1", "signal 9", or "ended"); None while it runs."""
    _reap(pid)
    if pid in _ENDINGS:
        return _ENDINGS[pid]
    return None if Path(f"/proc/{pid}").exists() else "ended"


def is_alive(record: PidRecord) -> bool:
    """True when the recorded process still runs the recorded command line."""
    return _cmdline(record.pid) == record.argv


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, grace: float = 10.0) -> None:
    """SIGTERM process group ``pgid``, wait up to ``grace`` seconds, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pgid)
        if not group_members(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        _reap(pgid)
        time.sleep(0.05)


def stop(run_dir: Path, record: PidRecord) -> None:
    """Stop a recorded component with its whole process group and remove its pid file."""
    if group_members(record.pid) or is_alive(record):
        stop_group(record.pid)
    pid_file(run_dir, record.name).unlink(missing_ok=True)


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` (and it can be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def port_holder(port: int) -> PortHolder | None:
    """The process listening on ``port``, if /proc lets us see it (our own user's processes)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in inodes:
                argv = _cmdline(int(entry.name)) or ("?",)
                return PortHolder(int(entry.name), " ".join(argv))
    return None


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
