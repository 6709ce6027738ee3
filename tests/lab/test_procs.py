"""Process management: detached children, who a pid really is, guarded signals, port holders."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
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
CAP = 30.0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[PidRecord]:
    """A spawned, recorded process (stopped afterwards)."""
    record = procs.spawn(tmp_path, "sleeper", SLEEP)
    yield record
    procs.stop(tmp_path, record)


def test_a_spawned_process_is_recorded_with_its_start_time_and_stopped_with_its_children(
    tmp_path: Path,
) -> None:
    record = procs.spawn(tmp_path, "family", FAMILY)
    (read,) = procs.read_records(tmp_path).records
    assert read == record
    assert (record.name, record.argv) == ("family", tuple(FAMILY))
    assert record.create_time == psutil.Process(record.pid).create_time()
    assert os.getpgid(record.pid) == record.pid, "the child leads a session and group of its own"
    assert psutil.Process(record.pid).environ()[procs.RUN_DIR_MARKER] == str(tmp_path.resolve())
    deadline = time.monotonic() + CAP
    while len(procs.group_members(record.pid)) < 2:
        assert time.monotonic() < deadline, "the grandchild never started"
        time.sleep(0.05)
    members = procs.group_members(record.pid)
    assert procs.is_alive(record)
    result = procs.stop(tmp_path, record)
    assert (result.stopped, result.refused) == (True, None)
    assert all(_gone(member) for member in members)
    assert procs.read_records(tmp_path).records == ()


@pytest.mark.parametrize(
    ("change", "alive"),
    [
        pytest.param({}, True, id="pid, start time and command line match: alive"),
        pytest.param({"argv": ("prometheus", "--other")}, False, id="another command line"),
        pytest.param({"create_time": -5.0}, False, id="an earlier process with the same pid"),
        pytest.param({"create_time": +5.0}, False, id="a later process with the same pid"),
    ],
)
def test_a_pid_is_the_labs_only_with_its_recorded_start_time_and_command_line(
    sleeper: PidRecord, change: dict[str, object], alive: bool
) -> None:
    if "create_time" in change:
        change = {"create_time": sleeper.create_time + float(change["create_time"])}  # type: ignore[arg-type]
    record = sleeper.model_copy(update=change)
    assert procs.is_alive(record) is alive
    assert (procs.process_of(record) is not None) is alive


@pytest.mark.parametrize(
    ("offset", "alive"),
    [
        pytest.param(0.5, True, id="its wall-clock start is the process's: alive"),
        pytest.param(-60.0, False, id="the process started a minute later: another process"),
    ],
)
def test_an_older_labs_pid_file_without_a_start_time_is_checked_against_its_wall_clock(
    sleeper: PidRecord, offset: float, alive: bool
) -> None:
    """Labs started before start times were recorded keep working with `down` after an update."""
    legacy = json.loads(sleeper.model_dump_json(exclude={"create_time"}))
    legacy["started_at"] = sleeper.create_time + offset
    record = PidRecord.model_validate(legacy)
    assert record.create_time is None
    assert procs.is_alive(record) is alive


def test_a_dead_pid_is_stale_and_stopping_it_signals_nothing(tmp_path: Path) -> None:
    record = procs.spawn(tmp_path, "sleeper", SLEEP)
    procs.stop(tmp_path, record)
    assert not procs.is_alive(record)
    assert procs.stop(tmp_path, record).stopped is False


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("fifo", id="a named pipe (reading would block)"),
        pytest.param("device", id="a link to /dev/zero (reading would never end)"),
        pytest.param("folder", id="a folder"),
    ],
)
def test_a_pid_file_that_is_not_a_regular_file_is_listed_not_read(
    tmp_path: Path, kind: str
) -> None:
    path = procs.pid_file(tmp_path, "x")
    path.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    (damaged,) = procs.read_records(tmp_path).unreadable
    assert damaged.path == path
    assert "not a regular file" in damaged.reason or "folder" in damaged.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"{not json", "invalid JSON", id="garbage"),
        pytest.param(b"\xff\xfe\x00", "not UTF-8", id="bytes that are not UTF-8"),
        pytest.param(b"x" * 70_000, "larger than", id="a file far too large for a pid record"),
        pytest.param(b"", "invalid JSON", id="an empty file"),
        pytest.param(b"[]", "not a pid record", id="JSON that is not an object"),
        pytest.param(
            json.dumps({"name": "x", "pid": 0, "argv": ["a"], "started_at": 0, "create_time": 1}),
            "pid: Input should be greater than 1",
            id="pid 0",
        ),
        pytest.param(
            json.dumps({"name": "x", "pid": 1, "argv": ["a"], "started_at": 0, "create_time": 1}),
            "pid: Input should be greater than 1",
            id="pid 1",
        ),
        pytest.param(
            json.dumps(
                {"name": "x", "pid": 2**40, "argv": ["a"], "started_at": 0, "create_time": 1}
            ),
            "pid: Input should be less than",
            id="a pid beyond any system's range",
        ),
        pytest.param(
            json.dumps({"name": "y", "pid": 77, "argv": ["a"], "started_at": 0, "create_time": 1}),
            "it names y",
            id="the record of another component",
        ),
    ],
)
def test_a_damaged_pid_file_is_listed_by_name_and_kept(
    tmp_path: Path, content: bytes | str, reason: str
) -> None:
    path = procs.pid_file(tmp_path, "x")
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    records = procs.read_records(tmp_path)
    assert records.records == ()
    (damaged,) = records.unreadable
    assert damaged.path == path and reason in damaged.reason
    assert path.exists(), "reading never deletes: `down` does, once the process is stopped"


@pytest.mark.parametrize(
    ("pid", "reason"),
    [
        pytest.param(0, "never signalled", id="pid 0 (the caller's group for kill)"),
        pytest.param(1, "never signalled", id="pid 1 (init)"),
        pytest.param(-1, "never signalled", id="pid -1 (every process)"),
        pytest.param(os.getpid(), "this process", id="the caller itself"),
        pytest.param(-(2**40), "never signalled", id="a negative pid beyond any range"),
        pytest.param(os.getppid(), "caller's own", id="the caller's parent, in its group"),
    ],
)
def test_signals_to_the_caller_its_group_session_or_init_are_refused(pid: int, reason: str) -> None:
    refusal = procs.refusal_to_signal(pid)
    assert refusal is not None and reason in refusal


def test_a_process_in_a_session_of_its_own_may_be_signalled(sleeper: PidRecord) -> None:
    assert procs.refusal_to_signal(sleeper.pid) is None


def test_a_record_of_the_callers_own_process_is_never_stopped(tmp_path: Path) -> None:
    """A pid file that matches this very process (pid, start time, command line) is refused."""
    me = psutil.Process()
    record = PidRecord(
        name="me",
        pid=me.pid,
        argv=tuple(me.cmdline()),
        started_at=0,
        create_time=me.create_time(),
    )
    assert procs.is_alive(record)
    result = procs.stop(tmp_path, record, grace=0.1)
    assert result.stopped is False and result.refused and "this process" in result.refused


def test_processes_pointing_at_a_run_directory_are_found_others_are_not(
    tmp_path: Path, sleeper: PidRecord
) -> None:
    run_dir = tmp_path / "lab"
    named = subprocess.Popen(
        [*SLEEP, f"--file={run_dir}/notifications.jsonl"], start_new_session=True
    )
    elsewhere = subprocess.Popen([*SLEEP, f"{tmp_path}/lab2/x"], start_new_session=True)
    try:
        marked = procs.spawn(run_dir, "marked", SLEEP)
        found = {candidate.pid for candidate in procs.find_candidates(run_dir)}
        assert {named.pid, marked.pid} <= found
        assert elsewhere.pid not in found and sleeper.pid not in found
        assert os.getpid() not in found
        procs.stop(run_dir, marked)
    finally:
        for proc in (named, elsewhere):
            proc.kill()
            proc.wait()


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
    record = procs.spawn(tmp_path, "short", [sys.executable, "-c", code])
    deadline = time.monotonic() + CAP
    while procs.ending(record.pid) is None:
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.05)
    assert procs.ending(record.pid) == expected


def test_a_running_child_has_not_ended(sleeper: PidRecord) -> None:
    assert procs.ending(sleeper.pid) is None
