"""The `sre` command itself: version, help without `<bool>`, the last-resort error handling."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

SRE = [sys.executable, "-c", "from sre_platform.cli import main; main()"]


def sre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SRE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )


def test_version_prints_the_installed_version() -> None:
    result = sre("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"sre {version('sre-platform')} ")


@pytest.mark.parametrize(
    "verb",
    [
        pytest.param(["lab", "status"], id="lab status help"),
        pytest.param(["slo", "explain"], id="slo explain help"),
        pytest.param(["budget", "status"], id="budget status help"),
        pytest.param(["stack", "render"], id="stack render help"),
        pytest.param([], id="top-level help"),
    ],
)
def test_help_shows_flags_without_a_bool_metavar(verb: list[str]) -> None:
    result = sre(*verb, "--help")
    assert result.returncode == 0, result.stderr
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


def test_an_unknown_option_is_a_usage_error_with_exit_2() -> None:
    result = sre("slo", "validate", "--no-such-option")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_a_closed_pipe_ends_quietly() -> None:
    # `sre ... | head -c 1`: the reader leaves early; no traceback on stderr.
    with subprocess.Popen(
        [*SRE, "slo", "compile", "-i", "slo_specs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
    assert "Traceback" not in err


def test_error_messages_cannot_rewrite_the_terminal(tmp_path) -> None:
    # A file name is text from outside: its escape sequence is shown, not obeyed.
    missing = tmp_path / "spec\x1b[2Jx.yaml"
    result = sre("slo", "compile", "-i", str(missing))
    assert result.returncode == 1
    assert "\x1b" not in result.stderr
    assert "\\x1b[2Jx.yaml" in result.stderr
