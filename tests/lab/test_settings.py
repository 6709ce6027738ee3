"""The lab's configuration: ports, replica ports, tools, and the saved state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from lab import settings
from lab.settings import LabConfig, Ports
from sre_platform.errors import LabError, ToolMissingError, UsageError
from tests.lab.helpers import ROOT


@pytest.mark.parametrize(
    ("first", "replicas", "explicit", "expected"),
    [
        pytest.param(8081, 3, None, (8081, 8082, 8083), id="replicas take consecutive ports"),
        pytest.param(9000, 1, None, (9000,), id="one replica takes the first port"),
        pytest.param(8081, 2, "7001, 7005", (7001, 7005), id="explicit ports win"),
    ],
)
def test_service_ports(
    first: int, replicas: int, explicit: str | None, expected: tuple[int, ...]
) -> None:
    assert settings.service_ports(first, replicas, explicit) == expected


@pytest.mark.parametrize(
    ("explicit", "message"),
    [
        pytest.param("7001,x", "expected ports like", id="a port that is not a number"),
        pytest.param("7001", "lists 1 ports for 2 replicas", id="too few ports for the replicas"),
    ],
)
def test_bad_service_ports_are_usage_errors(explicit: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings.service_ports(8081, 2, explicit)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"prometheus": 8081}, id="a component on a replica's port"),
        pytest.param({"service": (8081, 8081)}, id="two replicas on one port"),
        pytest.param({"service": ()}, id="no replica at all"),
        pytest.param({"loadgen": 70000}, id="a port out of range"),
    ],
)
def test_conflicting_ports_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Ports(**change)  # type: ignore[arg-type]


def test_a_missing_tool_says_how_to_install_it() -> None:
    with pytest.raises(ToolMissingError, match="apt-get install prometheus-alertmanager"):
        settings.find_tool("alertmanager", "/nowhere/alertmanager")


def test_the_saved_configuration_reads_back(lab_config: LabConfig) -> None:
    settings.save(lab_config)
    assert settings.load(lab_config.run_dir) == lab_config


def test_no_saved_configuration_reads_as_none(tmp_path: Path) -> None:
    assert settings.load(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b'{"run_dir": "/x", "ports": {"prometheus": "a"}}',
            "ports.prometheus: Input should be a valid integer",
            id="a field of the wrong type is named",
        ),
        pytest.param(b"{not json", "not a lab state file: Invalid JSON", id="garbage"),
        pytest.param(b"\xff\xfe\x00", "not UTF-8 text", id="bytes that are not UTF-8"),
        pytest.param(b"", "not a lab state file", id="an empty file"),
        pytest.param(b"[1, 2]", "not a lab state file", id="JSON that is not an object"),
    ],
)
def test_a_damaged_state_file_is_named_with_how_to_start_over(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / settings.STATE_FILE
    path.write_bytes(content)
    with pytest.raises(LabError) as caught:
        settings.load(tmp_path)
    assert str(caught.value).startswith(f"{path}: {message}")
    restart = f"sre lab down --run-dir {tmp_path} && sre lab up --run-dir {tmp_path}"
    assert restart in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        pytest.param("folder", "is a folder", id="a folder"),
        pytest.param("fifo", "not a regular file", id="a named pipe (reading would block)"),
        pytest.param("device", "not a regular file", id="a link to /dev/zero (endless)"),
    ],
)
def test_a_state_file_that_is_not_a_regular_file_is_named(
    tmp_path: Path, kind: str, message: str
) -> None:
    path = tmp_path / settings.STATE_FILE
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(LabError, match=f"lab.json: .*{message}"):
        settings.load(tmp_path)


@pytest.mark.parametrize(
    ("run_dir", "args", "expected"),
    [
        pytest.param(".lab", (), "sre lab status", id="the default run dir is not repeated"),
        pytest.param(
            "/srv/lab", ("--json",), "sre lab status --run-dir /srv/lab --json", id="another is"
        ),
        pytest.param(
            "/srv/my lab", (), "sre lab status --run-dir '/srv/my lab'", id="quoted for a shell"
        ),
    ],
)
def test_hints_name_the_run_directory_when_it_is_not_the_default(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    run_dir: str,
    args: tuple[str, ...],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(settings.RUN_DIR_ENV, raising=False)
    directory = settings.run_dir_from(Path(run_dir))
    assert settings.command(directory, "status", *args) == expected


def test_the_run_directory_comes_from_the_option_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.RUN_DIR_ENV, str(tmp_path / "env"))
    assert settings.run_dir_from(tmp_path / "opt") == tmp_path / "opt"
    assert settings.run_dir_from(None) == tmp_path / "env"
    monkeypatch.delenv(settings.RUN_DIR_ENV)
    assert settings.run_dir_from(None) == Path(".lab").resolve()


def test_the_remediator_is_given_the_policy_as_an_absolute_path(
    lab_config: LabConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It runs in the run directory: a relative default policy path would not be found there.
    from lab.control import components

    monkeypatch.chdir(ROOT)
    argv = components(lab_config)["remediator"].argv
    policy = Path(argv[argv.index("--policy") + 1])
    assert policy.is_absolute() and policy.is_file()
