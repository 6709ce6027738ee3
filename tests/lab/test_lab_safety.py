"""`sre lab down` and `up` stop the lab's own processes and nothing else, whatever the pid files say.

Real processes pose as what a run directory's pid files may name: a bystander that leads its
own session (as a daemon whose pid was reused would), the caller's own process group, a lab
process whose pid file was damaged. A process is the lab's only when its pid, start time and
command line match what `up` recorded; a damaged pid file is reported by name and its process is
found by its command line and run directory instead.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from lab import control, procs
from lab.notifications import NOTIFICATIONS_FILE
from tests.lab.helpers import ROOT, SRE, sre

BYSTANDER = [sys.executable, "-c", "import time; time.sleep(600)"]
START_CAP = 60.0


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not the lab's, leading a session and process group of its own."""
    proc = subprocess.Popen(BYSTANDER, start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _write(run_dir: Path, name: str, content: bytes) -> Path:
    path = procs.pid_file(run_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _record(name: str, pid: int, argv: list[str], **extra: float) -> bytes:
    return json.dumps({"name": name, "pid": pid, "argv": argv, "started_at": 0, **extra}).encode()


def _sre_alone(*args: str) -> subprocess.CompletedProcess[str]:
    """`sre` in a session of its own: a signal to "its own group" cannot reach the tests."""
    return subprocess.run(
        [SRE, *args], cwd=ROOT, capture_output=True, text=True, timeout=180, start_new_session=True
    )


def _start_time(pid: int) -> float:
    return psutil.Process(pid).create_time()


@pytest.mark.parametrize(
    "what",
    [
        pytest.param("other-program", id="a reused pid that runs another program is not signalled"),
        pytest.param(
            "same-command-later",
            id="a reused pid that runs the recorded command line but started later is not signalled",
        ),
        pytest.param(
            "no-start-time",
            id="an older lab's pid file (wall-clock start only) naming a process started later",
        ),
    ],
)
def test_down_never_signals_a_process_whose_pid_was_reused(
    tmp_path: Path, bystander: subprocess.Popen[bytes], what: str
) -> None:
    run_dir = tmp_path / "lab"
    pid = bystander.pid
    if what == "other-program":
        content = _record(
            "prometheus", pid, ["/usr/bin/prometheus", f"--config.file={run_dir}/config/p.yml"],
            create_time=_start_time(pid),
        )  # fmt: skip
    elif what == "same-command-later":
        content = _record("receiver", pid, BYSTANDER, create_time=_start_time(pid) - 100)
    else:
        content = _record("receiver", pid, BYSTANDER)
    _write(run_dir, "prometheus", content)
    result = _sre_alone("lab", "down", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert bystander.poll() is None, "the bystander was signalled"
    assert procs.read_records(run_dir).records == ()


def test_up_cleaning_up_never_signals_a_process_whose_pid_was_reused(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    """`up` cleans a stale run directory before it starts; a reused pid is left alone there too."""
    run_dir = tmp_path / "lab"
    _write(run_dir, "prometheus", _record("prometheus", bystander.pid, ["/usr/bin/prometheus"]))
    port = procs.free_port()
    with _listener(port):
        result = _sre_alone("lab", "up", "--run-dir", str(run_dir), "--prometheus-port", str(port))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} (prometheus) is in use" in result.stderr
    assert bystander.poll() is None, "the bystander was signalled"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"{not json", "not a pid record", id="garbage"),
        pytest.param(b"\xff\xfe\x00garbage", "not a pid record", id="bytes that are not UTF-8"),
        pytest.param(b"", "not a pid record", id="an empty file"),
        pytest.param(
            _record("receiver", 0, ["x"], create_time=1.0), "pid", id="pid 0 (the caller's group)"
        ),
        pytest.param(_record("receiver", 1, ["x"], create_time=1.0), "pid", id="pid 1 (init)"),
        pytest.param(_record("receiver", -1, ["x"], create_time=1.0), "pid", id="a negative pid"),
        pytest.param(
            _record("loadgen", 4242, ["x"], create_time=1.0),
            "names loadgen",
            id="a record of another component",
        ),
    ],
)
def test_a_damaged_pid_file_is_reported_and_its_process_still_stopped(
    tmp_path: Path, bystander: subprocess.Popen[bytes], content: bytes, reason: str
) -> None:
    assert procs.refusal_to_signal(0) and procs.refusal_to_signal(1), "the guard comes first"
    run_dir = tmp_path / "lab"
    port = procs.free_port()
    receiver = _start_receiver(run_dir, port)
    path = _write(run_dir, "receiver", content)

    result = _sre_alone("lab", "down", "--run-dir", str(run_dir))

    assert result.returncode == 0, result.stdout + result.stderr
    assert str(path) in result.stderr and reason in result.stderr, result.stderr
    assert "found by command line" in result.stdout, result.stdout
    assert _gone(receiver), "the lab's receiver still runs"
    assert procs.port_is_free(port)
    assert bystander.poll() is None, "the bystander was signalled"
    assert not path.exists(), "the damaged pid file is removed once its process is stopped"


def test_up_cleaning_up_a_lab_with_damaged_state_finds_its_process_by_command_line(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    """`up` after an unclean stop whose pid file and lab.json are garbage: both are named, the
    lab's leftover process is stopped, the bystander is not (a port held elsewhere then stops
    `up` before it starts anything)."""
    run_dir = tmp_path / "lab"
    port = procs.free_port()
    receiver = _start_receiver(run_dir, port)
    pid_path = _write(run_dir, "receiver", b"\x00garbage")
    (run_dir / "lab.json").write_bytes(b"{")
    busy = procs.free_port()
    with _listener(busy):
        result = _sre_alone("lab", "up", "--run-dir", str(run_dir), "--prometheus-port", str(busy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {busy} (prometheus) is in use" in result.stderr
    assert str(pid_path) in result.stderr and str(run_dir / "lab.json") in result.stderr
    assert "found by command line" in result.stdout, result.stdout
    assert _gone(receiver), "the leftover receiver still runs"
    assert bystander.poll() is None, "the bystander was signalled"


def test_a_pid_file_naming_the_callers_own_group_is_refused(tmp_path: Path) -> None:
    """A pid file that names the caller (pid, start time and command line all match) is refused.

    The caller here is a small wrapper in a session of its own that writes such a pid file about
    itself and then runs `sre lab down`: the wrapper must survive and say so.
    """
    run_dir = tmp_path / "lab"
    wrapper = (
        "import json, os, subprocess, sys, psutil\n"
        "me = psutil.Process()\n"
        "path = sys.argv[1]\n"
        "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "record = {'name': 'receiver', 'pid': me.pid, 'argv': me.cmdline(), 'started_at': 0,\n"
        "          'create_time': me.create_time()}\n"
        "open(path, 'w').write(json.dumps(record))\n"
        "done = subprocess.run(sys.argv[2:], capture_output=True, text=True)\n"
        "print(json.dumps({'code': done.returncode, 'out': done.stdout, 'err': done.stderr}))\n"
    )
    path = procs.pid_file(run_dir, "receiver")
    result = subprocess.run(
        [sys.executable, "-c", wrapper, str(path), SRE, "lab", "down", "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=180, start_new_session=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, f"the caller was killed ({result.returncode}): {result.stderr}"
    down = json.loads(result.stdout)
    assert down["code"] == 1, down
    assert "caller's own" in down["err"] and str(path) in down["err"], down["err"]


def test_a_stopped_lab_component_whose_pid_file_is_fine_is_stopped(tmp_path: Path) -> None:
    """The ordinary case: a process `up` recorded is the lab's, and `down` stops it."""
    run_dir = tmp_path / "lab"
    port = procs.free_port()
    record = procs.spawn(run_dir, "receiver", _receiver_argv(run_dir, port))
    _wait_answering(port)
    result = sre("lab", "down", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "stopped: receiver" in result.stdout
    assert _gone_pid(record.pid)
    assert procs.port_is_free(port)


def _receiver_argv(run_dir: Path, port: int) -> list[str]:
    notifications = run_dir / NOTIFICATIONS_FILE
    return [sys.executable, "-m", "lab.receiver", "--port", str(port), "--file", str(notifications)]


def _start_receiver(run_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """The lab's receiver as `up` starts it, but without the pid file `up` writes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        _receiver_argv(run_dir, port),
        cwd=run_dir,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_answering(port, proc)
    return proc


def _wait_answering(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_CAP
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2, trust_env=False).is_success:
                return
        except httpx.HTTPError:
            pass
        assert proc is None or proc.poll() is None, "the receiver exited"
        assert time.monotonic() < deadline, f"nothing answered on port {port}"
        time.sleep(0.2)


def _gone(proc: subprocess.Popen[bytes]) -> bool:
    """True once ``proc`` has ended (it is reaped here); kills it for the next test otherwise."""
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True


def _gone_pid(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@contextlib.contextmanager
def _listener(port: int) -> Iterator[None]:
    """A socket listening on 127.0.0.1:``port`` while the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


BINARIES = {
    "prometheus": {"prometheus"},
    "alertmanager": {"prometheus-alertmanager", "alertmanager"},
    "node_exporter": {"prometheus-node-exporter", "/opt/bin/nodex"},
}


@pytest.mark.parametrize(
    ("argv", "component"),
    [
        pytest.param(
            [sys.executable, "-m", "lab.receiver", "--port", "1"], "receiver", id="receiver"
        ),
        pytest.param(
            [sys.executable, "-m", "lab.service", "--port", "1"], "replica", id="a replica"
        ),
        pytest.param(["/usr/bin/prometheus", "--config.file=x"], "prometheus", id="prometheus"),
        pytest.param(["/usr/bin/prometheus-alertmanager"], "alertmanager", id="Debian's name"),
        pytest.param(["/opt/bin/nodex", "--x"], "node_exporter", id="a binary given by path"),
        pytest.param([sys.executable, "-c", "import lab.receiver"], None, id="python -c is not"),
        pytest.param([sys.executable, "-m", "lab.other"], None, id="another module is not"),
        pytest.param(["/bin/bash", "-m", "lab.receiver"], None, id="the shape, but not Python"),
        pytest.param(["sleep", "600"], None, id="anything else is not"),
    ],
)
def test_the_labs_command_lines_are_recognised_and_nothing_else(
    argv: list[str], component: str | None
) -> None:
    assert control.component_of(argv, BINARIES) == component
