"""The supervisor restarts replicas that die, counts it, and honours game-day holds."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lab.service import parse_args
from lab.supervisor import (
    MAX_BACKOFF,
    MIN_BACKOFF,
    STABLE_AFTER,
    Supervisor,
    next_backoff,
    service_command,
)
from lab.supervisor import parse_args as supervisor_args

WAIT = 20.0  # generous cap for anything the supervisor should do "soon"


def _sleeper(index: int, port: int) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(120)"]


async def _until(check: Callable[[], bool], cap: float = WAIT) -> None:
    deadline = time.monotonic() + cap
    while not check():
        assert time.monotonic() < deadline, "the supervisor did not get there in time"
        await asyncio.sleep(0.05)


def _pid(supervisor: Supervisor, index: int) -> int | None:
    process = supervisor.replicas[index - 1].process
    return process.pid if process and process.returncode is None else None


def _restarts(supervisor: Supervisor, index: int) -> float | None:
    return supervisor.registry.get_sample_value(
        "lab_supervisor_restarts_total", {"replica": str(index)}
    )


def _with_supervisor(
    tmp_path: Path, replicas: int, body: Callable[[Supervisor], Awaitable[None]]
) -> Supervisor:
    supervisor = Supervisor(_sleeper, range(1, replicas + 1), tmp_path, CollectorRegistry())

    async def main() -> None:
        await supervisor.start()
        try:
            await _until(lambda: all(_pid(supervisor, i) for i in range(1, replicas + 1)))
            await body(supervisor)
        finally:
            await supervisor.stop()

    asyncio.run(main())
    return supervisor


def test_a_crashed_replica_is_restarted_and_counted(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def body(supervisor: Supervisor) -> None:
        first = _pid(supervisor, 2)
        assert first is not None
        assert _restarts(supervisor, 2) == 0
        os.kill(first, signal.SIGKILL)
        await _until(lambda: _pid(supervisor, 2) not in (None, first))
        seen["restarts"] = _restarts(supervisor, 2)
        seen["others"] = (_restarts(supervisor, 1), _restarts(supervisor, 3))
        seen["up"] = supervisor.registry.get_sample_value(
            "lab_supervisor_replica_up", {"replica": "2"}
        )

    _with_supervisor(tmp_path, 3, body)
    assert seen == {"restarts": 1, "others": (0, 0), "up": 1}


def test_a_held_replica_stays_down_until_released(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def body(supervisor: Supervisor) -> None:
        first = _pid(supervisor, 1)
        assert first is not None
        supervisor.hold(1, 3600)
        os.kill(first, signal.SIGKILL)
        await _until(lambda: _pid(supervisor, 1) is None)
        await asyncio.sleep(MIN_BACKOFF * 3)
        seen["while_held"] = _pid(supervisor, 1)
        supervisor.release()
        await _until(lambda: _pid(supervisor, 1) is not None)
        seen["restarts"] = _restarts(supervisor, 1)

    _with_supervisor(tmp_path, 1, body)
    assert seen == {"while_held": None, "restarts": 1}


def test_stopping_the_supervisor_leaves_no_replica_running(tmp_path: Path) -> None:
    pids: list[int] = []

    async def body(supervisor: Supervisor) -> None:
        pids.extend(p for i in (1, 2) if (p := _pid(supervisor, i)))

    _with_supervisor(tmp_path, 2, body)
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(
    ("previous", "ran_for", "expected"),
    [
        pytest.param(MIN_BACKOFF, 0.1, MIN_BACKOFF * 2, id="a quick crash doubles the backoff"),
        pytest.param(MAX_BACKOFF, 0.1, MAX_BACKOFF, id="the backoff never exceeds its cap"),
        pytest.param(MAX_BACKOFF, STABLE_AFTER, MIN_BACKOFF, id="a stable run resets the backoff"),
    ],
)
def test_restart_backoff(previous: float, ran_for: float, expected: float) -> None:
    assert next_backoff(previous, ran_for) == expected


def _talker(index: int, port: int) -> list[str]:
    code = (
        "import sys, time; print('Traceback: boom', file=sys.stderr, flush=True); time.sleep(120)"
    )
    return [sys.executable, "-c", code]


def test_a_replicas_printed_output_goes_to_its_crash_file_not_its_log(tmp_path: Path) -> None:
    """The replica rotates its own log file; the supervisor must not hold that file open."""
    supervisor = Supervisor(_talker, [1], tmp_path, CollectorRegistry())

    async def main() -> None:
        await supervisor.start()
        try:
            out = tmp_path / "replica-1.out"
            await _until(lambda: out.is_file() and "boom" in out.read_text())
        finally:
            await supervisor.stop()

    asyncio.run(main())
    assert not (tmp_path / "replica-1.log").exists()


def _pairs(argv: list[str]) -> dict[str, str]:
    return {flag: value for flag, value in itertools.pairwise(argv) if flag[:2] == "--"}


def test_each_replica_logs_and_traces_to_its_own_rotated_files(tmp_path: Path) -> None:
    argv = service_command(tmp_path, None, 0.5, max_bytes=2048, backups=2)(2, 8082)
    assert argv[:3] == [sys.executable, "-m", "lab.service"]
    assert _pairs(argv) == {
        "--port": "8082",
        "--replica": "2",
        "--traces-file": str(tmp_path / "traces" / "replica-2.jsonl"),
        "--log-file": str(tmp_path / "logs" / "replica-2.log"),
        "--rotate-max-bytes": "2048",
        "--rotate-backups": "2",
        "--trace-ratio": "0.5",
    }


def test_the_service_takes_the_command_line_the_supervisor_gives_it(tmp_path: Path) -> None:
    argv = service_command(tmp_path, None, 1.0, max_bytes=2048, backups=2)(1, 8081)
    args = parse_args(argv[3:])
    assert (args.log_file, args.rotate_max_bytes, args.rotate_backups) == (
        tmp_path / "logs" / "replica-1.log",
        2048,
        2,
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param(
            ["--rotate-backups", "0"],
            "--rotate-backups: must be at least 1, got 0",
            id="the supervisor refuses a rotation without backups before any replica starts",
        ),
        pytest.param(
            ["--rotate-max-bytes", "1k"],
            "--rotate-max-bytes: expected a whole number, got '1k'",
            id="the supervisor refuses a cap that is not a number",
        ),
    ],
)
def test_a_rotation_that_would_not_cap_the_files_is_refused(
    tmp_path: Path, option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--port", "1", "--replica-ports", "2,3", "--run-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        supervisor_args([*base, *option])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_the_supervisor_passes_its_rotation_on_to_every_replica(tmp_path: Path) -> None:
    base = ["--port", "1", "--replica-ports", "2,3", "--run-dir", str(tmp_path)]
    args = supervisor_args([*base, "--rotate-max-bytes", "4096", "--rotate-backups", "5"])
    assert (args.rotate_max_bytes, args.rotate_backups) == (4096, 5)
