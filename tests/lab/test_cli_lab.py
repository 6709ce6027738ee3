"""`sre lab` in odd states: clear answers, right exit codes, hints that keep --run-dir.

Exit codes: 0 success, 1 an error (no lab running, a port in use, options a running lab does
not have), 2 a usage error (an option value the command cannot use).
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import procs, settings
from lab.control import START_ORDER
from lab.notifications import NOTIFICATIONS_FILE
from lab.settings import Binaries, LabConfig
from tests.lab.helpers import ROOT, lab_ports, port_options, sre

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


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
        pytest.param(["notifications"], id="notifications of a run dir where no lab ever ran"),
    ],
)
def test_verbs_that_need_a_lab_say_how_to_start_one_in_the_same_run_dir(
    tmp_path: Path, verb: list[str]
) -> None:
    run_dir = tmp_path / "lab"
    result = sre("lab", *verb, "--run-dir", str(run_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"in {run_dir}" in result.stderr
    assert f"`sre lab up --run-dir {run_dir}`" in result.stderr, result.stderr


def test_a_missing_binary_says_how_to_install_it(tmp_path: Path) -> None:
    result = sre(
        "lab", "up", "--run-dir", str(tmp_path / "lab"),
        "--prometheus-bin", str(tmp_path / "no-such-prometheus"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "not found" in result.stderr and "apt-get install prometheus" in result.stderr
    assert not (tmp_path / "lab").exists()


def test_a_port_in_use_is_named_with_its_holder_and_nothing_starts(tmp_path: Path) -> None:
    ports = lab_ports()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.prometheus))
        sock.listen()
        result = sre("lab", "up", "--run-dir", str(tmp_path / "lab"), *port_options(ports))
    assert result.returncode == 1
    assert f"port {ports.prometheus} (prometheus) is in use by pid" in result.stderr
    assert "--prometheus-port" in result.stderr
    assert procs.read_records(tmp_path / "lab").records == ()


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
            "--kill-replica goes alone; run `sre lab break --run-dir ",
            id="a kill cannot be mixed with other faults",
        ),
        pytest.param(
            ["up", "--period", "soon"], "--period: invalid duration", id="up with a bad period"
        ),
        pytest.param(
            ["up", "--replicas", "2", "--service-ports", "7001"],
            "lists 1 ports for 2 replicas",
            id="up with too few replica ports",
        ),
    ],
)
def test_usage_errors_get_clear_answers_and_exit_2(
    running_lab: Path, args: list[str], message: str
) -> None:
    result = sre("lab", *args, "--run-dir", str(running_lab))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_a_lab_killed_uncleanly_is_cleaned_up_by_down(tmp_path: Path) -> None:
    run_dir = tmp_path / "lab"
    record = procs.spawn(tmp_path / "scratch", "done", [sys.executable, "-c", "pass"])
    procs.stop(tmp_path / "scratch", record)
    stale = record.model_copy(update={"name": "prometheus", "argv": ("prometheus",)})
    procs.pid_file(run_dir, "prometheus").parent.mkdir(parents=True)
    procs.pid_file(run_dir, "prometheus").write_text(stale.model_dump_json())
    result = sre("lab", "down", "--run-dir", str(run_dir))
    assert result.returncode == 0
    assert "cleaned up prometheus, left over from a lab that stopped uncleanly" in result.stdout
    assert procs.read_records(run_dir).records == ()


def test_purge_refuses_a_directory_that_is_not_a_lab(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = sre("lab", "down", "--purge", "--run-dir", str(tmp_path))
    assert result.returncode == 1
    assert "does not look like a lab run directory" in result.stderr
    assert (tmp_path / "precious.txt").exists()


# --- a running lab: `up` again ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        pytest.param([], 0, "already running", id="up without options reports the running lab"),
        pytest.param(
            ["--period", "720h", "-i", "slo_specs"],
            0,
            "already running",
            id="the same options, spelled otherwise, are the same",
        ),
        pytest.param(
            ["--period", "1d"],
            1,
            "--period: running 30d, asked 1d",
            id="another period is named, with how to restart",
        ),
        pytest.param(
            ["--order-rate", "5", "--input", "tests"],
            1,
            "--order-rate: running 20, asked 5",
            id="every option that differs is named",
        ),
    ],
)
def test_up_on_a_running_lab_names_the_options_it_does_not_have(
    running_lab: Path, args: list[str], code: int, expected: str
) -> None:
    result = sre("lab", "up", "--run-dir", str(running_lab), *args)
    assert result.returncode == code, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr
    assert "the lab is already running" in result.stdout
    if code:
        restart = f"`sre lab down --run-dir {running_lab} && sre lab up --run-dir {running_lab} "
        assert restart + " ".join(args) + "`" in result.stderr, result.stderr
        if "--input" in args:
            assert f"--input: running {ROOT / 'slo_specs'}, asked {ROOT / 'tests'}" in (
                result.stderr
            )
    else:
        assert f"`sre lab status --run-dir {running_lab}`" in result.stdout


def test_up_json_on_a_running_lab(running_lab: Path) -> None:
    result = sre("lab", "up", "--run-dir", str(running_lab), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["already_running"] is True and data["period"] == "30d"
    assert data["run_dir"] == str(running_lab)
    assert set(data["links"]) >= {"prometheus", "alerts", "rules", "alertmanager", "supervisor"}
    assert data["amtool"].startswith("amtool --alertmanager.url=http://127.0.0.1:")
    assert data["differences"] == []


def test_down_json_lists_what_it_stopped(running_lab: Path) -> None:
    result = sre("lab", "down", "--run-dir", str(running_lab), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(data["stopped"]) == sorted(START_ORDER)
    assert (data["found"], data["unreadable"], data["refused"]) == ([], [], [])
    assert (data["purged"], data["data_kept"]) == (False, True)


def test_status_of_a_lab_with_every_process_down_exits_1_and_says_how_to_start(
    running_lab: Path,
) -> None:
    sre("lab", "down", "--run-dir", str(running_lab))
    result = sre("lab", "status", "--run-dir", str(running_lab))
    assert result.returncode == 1
    assert f"`sre lab up --run-dir {running_lab}`" in result.stderr


# --- notifications ----------------------------------------------------------------------------
RECORD = {
    "received_at": 1700000000.5,
    "hook": "page",
    "receiver": "page",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ExchangeOrderAPIAvailability", "sloth_severity": "page"},
            "annotations": {"runbook_url": "runbooks/slo-availability-burn.md", "title": "t"},
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
        }
    ],
    "commonLabels": {"alertname": "ExchangeOrderAPIAvailability", "sloth_slo": "order-api"},
    "commonAnnotations": {"runbook_url": "runbooks/slo-availability-burn.md"},
    "externalURL": "http://127.0.0.1:9093",
    "groupKey": '{}:{sloth_slo="order-api"}',
    "truncatedAlerts": 0,
    "version": "4",
}


def test_notifications_json_prints_each_record_whole(tmp_path: Path) -> None:
    run_dir = tmp_path / "lab"
    run_dir.mkdir()
    lines = [json.dumps(RECORD), "not json", json.dumps({**RECORD, "status": "resolved"})]
    (run_dir / NOTIFICATIONS_FILE).write_text("\n".join(lines) + "\n")
    result = sre("lab", "notifications", "--json", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert printed == [RECORD, {**RECORD, "status": "resolved"}]
    assert f"{run_dir / NOTIFICATIONS_FILE}:2: not a recorded notification" in result.stderr


def test_notifications_of_a_lab_that_ran_but_was_never_notified(running_lab: Path) -> None:
    result = sre("lab", "notifications", "--run-dir", str(running_lab))
    assert (result.returncode, result.stdout.strip()) == (0, "no notifications yet")


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def running_lab(tmp_path: Path) -> Iterator[Path]:
    """A run directory whose state says a lab runs: every component recorded, each a sleeper.

    Nothing answers on its ports: enough for the verbs that read state, not for HTTP.
    """
    run_dir = tmp_path / "lab"
    config = LabConfig(
        run_dir=run_dir,
        ports=lab_ports(),
        binaries=Binaries(
            prometheus=settings.find_tool("prometheus"),
            alertmanager=settings.find_tool("alertmanager"),
            node_exporter=settings.find_tool("node_exporter"),
        ),
        specs=(ROOT / "slo_specs",),
        started_at=1.0,
    )
    settings.save(config)
    for name in START_ORDER:
        procs.spawn(run_dir, name, SLEEP)
    yield run_dir
    for record in procs.read_records(run_dir).records:
        procs.stop(run_dir, record)
