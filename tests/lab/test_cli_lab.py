"""`sre lab` in odd states: clear answers, right exit codes, nothing started by mistake."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import procs, settings
from lab.procs import PidRecord
from lab.settings import Binaries, LabConfig
from sre_platform.files import write_atomic
from tests.lab.helpers import lab_ports, port_options, sre


def test_down_with_nothing_running_says_so_and_succeeds(tmp_path: Path) -> None:
    result = sre("lab", "down", "--run-dir", str(tmp_path / "lab"))
    assert result.returncode == 0
    assert "no lab is running" in result.stdout


@pytest.mark.parametrize(
    "verb",
    [
        pytest.param(["status"], id="status"),
        pytest.param(["break", "--error-rate", "1"], id="break"),
        pytest.param(["heal"], id="heal"),
    ],
)
def test_verbs_that_need_a_running_lab_say_how_to_start_one(
    tmp_path: Path, verb: list[str]
) -> None:
    result = sre("lab", *verb, "--run-dir", str(tmp_path / "lab"))
    assert result.returncode == 2
    assert "no lab is running" in result.stderr and "sre lab up" in result.stderr


def test_a_missing_binary_says_how_to_install_it(tmp_path: Path) -> None:
    result = sre(
        "lab", "up", "--run-dir", str(tmp_path / "lab"),
        "--prometheus-bin", str(tmp_path / "no-such-prometheus"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "not found" in result.stderr and "apt-get install prometheus" in result.stderr
    assert not (tmp_path / "lab").exists()


def test_a_port_in_use_is_named_with_its_holder_and_nothing_starts(tmp_path: Path) -> None:
    ports = lab_ports()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.prometheus))
        sock.listen()
        result = sre("lab", "up", "--run-dir", str(tmp_path / "lab"), *port_options(ports))
    assert result.returncode == 2
    assert f"port {ports.prometheus} (prometheus) is in use by pid {os.getpid()}" in result.stderr
    assert "--prometheus-port" in result.stderr
    assert procs.read_records(tmp_path / "lab") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["break"], "say what to break", id="break without a fault is refused"),
        pytest.param(
            ["break", "--error-rate", "1", "--for", "soon"],
            "--for: invalid duration",
            id="a bad duration names the option",
        ),
        pytest.param(
            ["break", "--kill-replica", "9"],
            "replicas 1 to 3",
            id="a replica that does not exist is refused",
        ),
        pytest.param(
            ["break", "--kill-replica", "1", "--error-rate", "1"],
            "--kill-replica goes alone",
            id="a kill cannot be mixed with other faults",
        ),
    ],
)
def test_bad_break_requests_get_clear_answers(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run_dir = _fake_running_lab(tmp_path)
    result = sre("lab", *args, "--run-dir", str(run_dir))
    assert result.returncode == 2
    assert message in result.stderr


def test_a_lab_killed_uncleanly_is_cleaned_up_by_down(tmp_path: Path) -> None:
    run_dir = tmp_path / "lab"
    dead = _dead_pid(tmp_path / "scratch")
    stale = PidRecord(name="prometheus", pid=dead, argv=("prometheus",), started_at=0)
    write_atomic(procs.pid_file(run_dir, "prometheus"), stale.model_dump_json())
    result = sre("lab", "down", "--run-dir", str(run_dir))
    assert result.returncode == 0
    assert "uncleanly: prometheus" in result.stdout
    assert procs.read_records(run_dir) == []


def test_purge_refuses_a_directory_that_is_not_a_lab(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = sre("lab", "down", "--purge", "--run-dir", str(tmp_path))
    assert result.returncode == 2
    assert "does not look like a lab run directory" in result.stderr
    assert (tmp_path / "precious.txt").exists()


def _dead_pid(scratch: Path) -> int:
    """The pid of a process that has exited."""
    pid = procs.spawn(scratch, "done", [sys.executable, "-c", "pass"])
    procs.stop_group(pid)
    return pid


def _fake_running_lab(tmp_path: Path) -> Path:
    """A run directory whose state says a lab runs, with one live (sleeping) process."""
    run_dir = tmp_path / "lab"
    config = LabConfig(
        run_dir=run_dir,
        ports=lab_ports(),
        binaries=Binaries(prometheus="p", alertmanager="a", node_exporter="n"),
    )
    settings.save(config)
    procs.spawn(run_dir, "receiver", [sys.executable, "-c", "import time; time.sleep(60)"])
    return run_dir


@pytest.fixture(autouse=True)
def _stop_leftovers(tmp_path: Path) -> Iterator[None]:
    yield
    for record in procs.read_records(tmp_path / "lab"):
        procs.stop(tmp_path / "lab", record)
