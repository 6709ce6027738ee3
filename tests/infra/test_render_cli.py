"""`sre stack render`: every resource of a stack, offline, as a table or as JSON."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sre_platform.cli import app
from stacks.render import Rendering, mask_secrets, render_stack, rpc
from tests.infra.conftest import PROJECT_DIR

runner = CliRunner()
SRE = Path(sys.executable).with_name("sre")
CAP = 120  # seconds: a generous cap for one cold `sre` process on a busy machine
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _render(*args: str):
    return runner.invoke(app, ["stack", "render", "--project-dir", str(PROJECT_DIR), *args])


def _sre(*args: str, project: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SRE), "stack", "render", "--project-dir", str(project), *args],
        capture_output=True,
        text=True,
        timeout=CAP,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's Pulumi files and SLO specs."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    shutil.copytree(PROJECT_DIR / "slo_specs", tmp_path / "slo_specs")
    shutil.copytree(PROJECT_DIR / "ops", tmp_path / "ops")  # the remediation policy
    return tmp_path


def test_json_holds_the_stack_its_resources_with_protect_and_its_outputs(renderings: dict) -> None:
    result = _render("--stack", "prod", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    rendering: Rendering = renderings["prod"]
    assert set(document) == {"stack", "resources", "outputs"}
    assert document["stack"] == "prod"
    assert document["outputs"] == dict(rendering.outputs)
    resources = document["resources"]
    assert len(resources) == len(rendering.resources)
    assert all(set(r) == {"type", "name", "parent", "protect", "inputs"} for r in resources)
    protected = {r["name"] for r in resources if r["protect"]}
    assert protected == {r.name for r in rendering.resources if r.protect}
    assert protected  # prod protects its data buckets
    by_name = {r["name"]: r for r in resources}
    assert by_name["artifacts-bucket"]["type"] == "aws:s3/bucket:Bucket"
    assert by_name["artifacts-bucket"]["parent"] == "artifacts"
    assert by_name["artifacts"]["parent"] is None


def test_json_masks_secrets() -> None:
    document = json.loads(_render("--stack", "prod", "--json").stdout)
    provider = next(r for r in document["resources"] if r["type"] == "pulumi:providers:grafana")
    assert provider["inputs"]["auth"] == "[secret]"
    assert "glsa_" not in json.dumps(document)


def test_the_older_format_json_spelling_prints_the_same_json_and_is_not_advertised() -> None:
    older = _render("--stack", "dev", "--format", "json")
    assert older.exit_code == 0, older.output
    assert json.loads(older.stdout) == json.loads(_render("--stack", "dev", "--json").stdout)
    assert "--format" not in _render("--help").stdout
    assert _render("--stack", "dev", "--format", "yaml").exit_code == 2


def test_the_table_names_every_resource_and_the_outputs() -> None:
    result = _render("--stack", "local")
    assert result.exit_code == 0, result.output
    assert "stack local:" in result.stdout and "resources" in result.stdout
    assert "aws:autoscaling/group:Group" in result.stdout
    assert "load_balancer_url: http://" in result.stdout


def test_a_piped_table_is_as_wide_as_its_longest_row(renderings: dict) -> None:
    result = _render("--stack", "prod")
    longest = max((r.type for r in renderings["prod"].resources), key=len)
    assert any(longest in line for line in result.stdout.splitlines())
    assert "…" not in result.stdout


def test_on_a_terminal_the_table_fits_the_terminal() -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [str(SRE), "stack", "render", "--stack", "dev", "--project-dir", str(PROJECT_DIR)],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**env, "TERM": "xterm"},
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + CAP
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process has closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=CAP) == 0
    lines = ANSI.sub("", output.decode("utf-8")).splitlines()
    assert any("stack dev:" in line for line in lines)
    assert max(len(line) for line in lines if "│" in line) <= 80


def test_progress_goes_to_stderr_and_stdout_stays_json() -> None:
    result = _sre("--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    assert "rendering stack dev under Pulumi's mock runtime" in result.stderr
    assert json.loads(result.stdout)["stack"] == "dev"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param(
            {"a": 1.0, "b": 2.5}, {"a": 1, "b": 2.5}, id="whole numbers read back as ints"
        ),
        pytest.param(
            {"x": [{rpc._special_sig_key: rpc._special_secret_sig, "value": "s3cr3t"}]},
            {"x": ["[secret]"]},
            id="a secret nested in a list is masked",
        ),
    ],
)
def test_mask_secrets(value: object, masked: object) -> None:
    assert mask_secrets(value) == masked


LISTED = "the stacks are: dev, local, prod, staging"
USAGE = [
    pytest.param(
        ["--stack", "qa"],
        ["unknown stack 'qa' (no Pulumi.qa.yaml in ", LISTED],
        id="an unknown stack lists the stacks there are",
    ),
    pytest.param(
        ["--stack", "../../etc/x"],
        ["invalid stack name '../../etc/x': a stack name is lowercase letters, digits", LISTED],
        id="a stack name that is a path is refused",
    ),
    pytest.param(
        ["--stack", "dev", "--project-dir", "/"],
        ["/ is not a Pulumi project (no Pulumi.yaml)"],
        id="a folder without Pulumi.yaml is refused",
    ),
]


@pytest.mark.parametrize(("args", "expected"), USAGE)
def test_a_bad_stack_or_folder_is_a_usage_error(args: list[str], expected: list[str]) -> None:
    result = _sre(*args)
    assert result.returncode == 2, result.stderr
    assert all(text in result.stderr for text in expected), result.stderr
    assert "Traceback" not in result.stderr


def _edit(project: Path, old: str, new: str) -> None:
    path = project / "Pulumi.dev.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_service_aws_cannot_use_is_one_line_not_four_tracebacks(project: Path) -> None:
    _edit(project, "service: exchange", 'service: "Exchange Svc"')
    result = _sre("--stack", "dev", project=project)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "has risen" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Pulumi.dev.yaml: sre-platform:tags.service: must be a lowercase name: letters, "
        "digits and '-', starting with a letter, at most 63 characters (it names AWS resources "
        "and goes into the instances' user data)"
    ]


def test_every_problem_of_the_file_is_printed_once(project: Path) -> None:
    _edit(project, "min_size: 1", "min_size: 5")
    _edit(project, "log_retention_days: 7", "log_retention_days: 10")
    _edit(project, "owner: sre-team", "owner: " + "x" * 100_000)
    result = _sre("--stack", "dev", project=project)
    assert result.returncode == 1
    fields = [
        line.split(": ")[2] for line in result.stderr.splitlines() if line.startswith("error:")
    ]
    assert fields == [
        "sre-platform:tags.owner",
        "sre-platform:observability.log_retention_days",
        "sre-platform:fleet.max_size",
        "sre-platform:fleet.desired_capacity",
    ]
    assert len(result.stderr) < 2000  # the 100,000-character value is not echoed


def test_a_yaml_bomb_in_the_stack_file_is_refused_quickly(project: Path) -> None:
    lines = ['    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = project / "Pulumi.dev.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "  sre-platform:bomb:\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    result = _sre("--stack", "dev", project=project)  # before the fix: no end within the cap
    assert result.returncode == 1
    assert "Pulumi.dev.yaml: YAML expands to more than 2,000,000 nodes" in result.stderr


def test_a_stack_renders_after_asyncio_run_left_the_thread_without_an_event_loop(
    project_dir: Path,
) -> None:
    # `asyncio.run` (the budget gate's client uses it) ends by unsetting the thread's loop;
    # Pulumi's runtime then found none ("There is no current event loop").
    async def nothing() -> None:
        return None

    asyncio.run(nothing())
    assert render_stack(project_dir, "dev").resources
