"""Process management: detached children, stale pid files, port holders, group stops."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from lab import procs
from lab.procs import PidRecord

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]
# A parent that starts a grandchild in its own process group, then sleeps.
FAMILY = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)",
]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_a_spawned_process_is_recorded_alive_and_stopped_with_its_children(
    tmp_path: Path,
) -> None:
    pid = procs.spawn(tmp_path, "family", FAMILY)
    try:
        (record,) = procs.read_records(tmp_path)
        assert (record.name, record.pid, record.argv) == ("family", pid, tuple(FAMILY))
        assert os.getpgid(pid) == pid, "the child leads a session and group of its own"
        deadline = time.monotonic() + 10
        while len(procs.group_members(pid)) < 2:
            assert time.monotonic() < deadline, "the grandchild never started"
            time.sleep(0.05)
        members = procs.group_members(pid)
        assert procs.is_alive(record)
    finally:
        procs.stop_group(pid)
    assert all(_gone(member) for member in members)
    procs.stop(tmp_path, record)
    assert procs.read_records(tmp_path) == []


@pytest.mark.parametrize(
    ("argv_of_record", "alive"),
    [
        pytest.param(tuple(SLEEP), True, id="the recorded command line still runs"),
        pytest.param(("prometheus", "--other"), False, id="a reused pid runs something else"),
    ],
)
def test_a_pid_is_alive_only_with_its_recorded_command_line(
    tmp_path: Path, argv_of_record: tuple[str, ...], alive: bool
) -> None:
    pid = procs.spawn(tmp_path, "sleeper", SLEEP)
    try:
        record = PidRecord(name="sleeper", pid=pid, argv=argv_of_record, started_at=0)
        assert procs.is_alive(record) is alive
    finally:
        procs.stop_group(pid)


def test_a_dead_pid_is_stale(tmp_path: Path) -> None:
    pid = procs.spawn(tmp_path, "sleeper", SLEEP)
    procs.stop_group(pid)
    (record,) = procs.read_records(tmp_path)
    assert not procs.is_alive(record)


def test_an_unreadable_pid_file_is_dropped(tmp_path: Path) -> None:
    path = procs.pid_file(tmp_path, "broken")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert procs.read_records(tmp_path) == []
    assert not path.exists()


def test_the_holder_of_a_port_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not procs.port_is_free(port)
        holder = procs.port_holder(port)
    assert holder is not None and holder.pid == os.getpid()
    assert "pytest" in holder.command or "python" in holder.command


def test_a_free_port_has_no_holder() -> None:
    port = procs.free_port()
    assert procs.port_is_free(port)
    assert procs.port_holder(port) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("import sys; sys.exit(3)", "exit code 3", id="an exit code is reported"),
        pytest.param(
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
            "signal 9",
            id="a kill by signal is reported",
        ),
    ],
)
def test_how_a_child_ended_is_known(tmp_path: Path, code: str, expected: str) -> None:
    pid = procs.spawn(tmp_path, "short", [sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while procs.ending(pid) is None:
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.05)
    assert procs.ending(pid) == expected


def test_a_running_child_has_not_ended(tmp_path: Path) -> None:
    pid = procs.spawn(tmp_path, "sleeper", SLEEP)
    try:
        assert procs.ending(pid) is None
    finally:
        procs.stop_group(pid)
