"""The project's files: stack names stay file names of the project, every config file is read
within limits, and the folders config names stay inside the project, offline and under the
program that `pulumi up` runs."""

from __future__ import annotations

import copy
import os
import re
import runpy
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest

from sre_platform.errors import InputFileError, SreError, StackConfigError, UsageError
from stacks.config import decode_config_value, parse_settings
from stacks.project import check_project, list_stacks, read_stack_config, stack_file
from stacks.render import run_mocked, run_program
from tests.infra.conftest import PROJECT_DIR


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's Pulumi files and SLO specs, in tmp_path/project."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_DIR / name, root / name)
    shutil.copytree(PROJECT_DIR / "slo_specs", root / "slo_specs")
    shutil.copytree(PROJECT_DIR / "ops", root / "ops")  # the remediation policy
    return root


BAD_NAMES = [
    pytest.param("../outside", id="a relative path"),
    pytest.param("x/../../outside", id="a path through a folder named like a stack file"),
    pytest.param("/etc/passwd", id="an absolute path"),
    pytest.param("Dev", id="capitals"),
    pytest.param("dev_1", id="an underscore"),
    pytest.param("dev.old", id="a dot"),
    pytest.param("1dev", id="a leading digit (user data takes names starting with a letter)"),
    pytest.param("", id="empty"),
    pytest.param("d" * 64, id="longer than 63 characters"),
    pytest.param("dev\x1b[2J", id="a terminal escape"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_stack_name_outside_a_z_0_9_dash_is_a_usage_error(project: Path, name: str) -> None:
    (project / "Pulumi.x").mkdir()
    outside = project.parent / "outside.yaml"
    outside.write_text("config:\n  aws:region: us-east-1\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        read_stack_config(project, name)
    message = str(caught.value)
    assert message.startswith("invalid stack name ")
    assert "lowercase letters, digits and '-'" in message
    assert message.endswith("the stacks are: dev")
    assert "\x1b" not in message


def test_only_files_with_valid_names_are_stacks(project: Path) -> None:
    for odd in ("Pulumi.Dev.yaml", "Pulumi.a_b.yaml", "Pulumi..yaml"):
        (project / odd).write_text("config: {}\n", encoding="utf-8")
    assert list_stacks(project) == ["dev"]


def test_an_unknown_stack_lists_the_stacks_there_are(project: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown stack 'qa' \(no Pulumi\.qa\.yaml in .*\); "):
        stack_file(PROJECT_DIR, "qa")
    with pytest.raises(UsageError, match=r"the stacks are: dev, local, prod, staging$"):
        stack_file(PROJECT_DIR, "qa")
    with pytest.raises(UsageError, match=r"the stacks are: none$"):
        stack_file(tmp_path, "dev")


def test_the_program_refuses_a_stack_name_pulumi_would_allow() -> None:
    config = read_stack_config(PROJECT_DIR, "dev")
    with pytest.raises(StackConfigError, match=r"Pulumi\.Dev_1\.yaml: invalid stack name 'Dev_1'"):
        run_program("Dev_1", config, PROJECT_DIR)


def _bomb(levels: int = 9) -> str:
    lines = ['    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"    l{i}: &l{i} [{refs}]")
    return "  sre-platform:bomb:\n" + "\n".join(lines) + "\n"


# What a config file may not be; each case is a Pulumi.dev.yaml written as (bytes or text).
BAD_FILES = [
    pytest.param(
        lambda dev: dev + _bomb(),
        "YAML expands to more than 2,000,000 nodes",
        id="a billion-laughs alias bomb is refused before it expands",
    ),
    pytest.param(
        lambda dev: dev + "  sre-platform:padding: " + "x" * (17 * 1024 * 1024) + "\n",
        "larger than 16,777,216 bytes",
        id="a 17 MiB file is refused unread",
    ),
    pytest.param(
        lambda dev: dev.encode("utf-8") + b"  sre-platform:x: \xff\xfe\n",
        "not UTF-8 text",
        id="bytes that are not UTF-8 are named",
    ),
    pytest.param(
        lambda dev: dev + "  sre-platform:fleet: {min_size: [\n",
        "invalid YAML",
        id="invalid YAML names the file and line",
    ),
    pytest.param(
        lambda dev: dev + "  sre-platform:deep: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "exceeded maximum nesting depth",
        id="nesting 100,000 levels deep is refused, not a recursion error",
    ),
    pytest.param(
        lambda dev: "- config\n",
        "expected a mapping at the top, found a list",
        id="a list at the top is refused",
    ),
    pytest.param(
        lambda dev: "config: [a, b]\n",
        "config: must be a mapping",
        id="a config section that is not a mapping is refused",
    ),
    pytest.param(
        lambda dev: dev + "---\nconfig: {}\n",
        "expected one YAML document, found several",
        id="a second document is refused",
    ),
]


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_a_stack_file_that_cannot_be_read_safely_is_named(
    project: Path, content: Any, expected: str
) -> None:
    path = project / "Pulumi.dev.yaml"
    data = content(path.read_text(encoding="utf-8"))
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    with pytest.raises(SreError) as caught:
        read_stack_config(project, "dev")
    assert "Pulumi.dev.yaml" in str(caught.value)
    assert expected in str(caught.value)


def _folder(path: Path) -> None:
    path.mkdir()


SPECIAL_FILES = [
    pytest.param(_folder, "is a folder, not a file", id="a folder"),
    pytest.param(os.mkfifo, "is not a regular file", id="a FIFO (reading it would block)"),
    pytest.param(
        lambda path: os.symlink("/dev/zero", path),
        "is not a regular file",
        id="a link to a device that never ends",
    ),
]


@pytest.mark.parametrize(("make", "expected"), SPECIAL_FILES)
@pytest.mark.parametrize("name", ["Pulumi.dev.yaml", "Pulumi.yaml"])
def test_a_project_file_that_is_not_a_regular_file_is_named(
    project: Path, name: str, make: Any, expected: str
) -> None:
    (project / name).unlink()
    make(project / name)
    with pytest.raises(InputFileError, match=re.escape(f"{name}: {expected}")):
        check_project(project)
        read_stack_config(project, "dev")


PROJECT_FILES = [
    pytest.param(None, UsageError, "is not a Pulumi project (no Pulumi.yaml)", id="no Pulumi.yaml"),
    pytest.param(
        "name: other\nruntime: python\n",
        StackConfigError,
        "Pulumi.yaml: name: must be 'sre-platform'",
        id="another project's Pulumi.yaml",
    ),
    pytest.param(
        "name: sre-platform\n" + _bomb().replace("  sre-platform:bomb:", "bomb:"),
        InputFileError,
        "YAML expands to more than",
        id="an alias bomb in Pulumi.yaml",
    ),
]


@pytest.mark.parametrize(("text", "error", "expected"), PROJECT_FILES)
def test_the_project_folder_must_hold_this_projects_pulumi_yaml(
    project: Path, text: str | None, error: type[Exception], expected: str
) -> None:
    path = project / "Pulumi.yaml"
    if text is None:
        path.unlink()
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(error, match=re.escape(expected)):
        check_project(project)


def _specs(project: Path, specs_dir: str) -> dict[str, Any]:
    config = copy.deepcopy(read_stack_config(project, "dev"))
    config["sre-platform:slo"] = {**config["sre-platform:slo"], "specs_dir": specs_dir}
    return config


def _prepare(project: Path, case: str) -> str:
    """Make what ``case`` needs in ``project``; return the specs_dir it sets."""
    outside = project.parent / "elsewhere"
    shutil.copytree(project / "slo_specs", outside)
    if case == "link-out":
        os.symlink(outside, project / "linked")
        return "linked"
    if case == "link-in":
        os.symlink(project / "slo_specs", project / "linked")
        return "linked"
    if case == "file":
        (project / "a-file").write_text("x", encoding="utf-8")
        return "a-file"
    return case.replace("{outside}", str(outside)).replace("{project}", str(project))


SPECS_DIRS = [
    pytest.param("../elsewhere", "must be a folder inside the project", id="a parent folder"),
    pytest.param("{outside}", "must be a folder inside the project", id="an absolute path out"),
    pytest.param("link-out", "must be a folder inside the project", id="a symlink out"),
    pytest.param("slo_specs/../../elsewhere", "must be a folder inside", id="a path back out"),
    pytest.param(".", "must be a folder inside the project", id="the project itself"),
    pytest.param("missing", "is not one", id="a folder that does not exist"),
    pytest.param("file", "is not one", id="a file"),
    pytest.param("slo\x00specs", "is not a usable path", id="a NUL byte"),
]


@pytest.mark.parametrize(("case", "expected"), SPECS_DIRS)
def test_specs_dir_must_stay_inside_the_project(project: Path, case: str, expected: str) -> None:
    config = _specs(project, _prepare(project, case))
    with pytest.raises(StackConfigError) as caught:
        run_program("dev", config, project)  # the program `pulumi up` runs, under mocks
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("Pulumi.dev.yaml", "sre-platform:slo.specs_dir")
    assert expected in problem.message


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("slo_specs", id="relative"),
        pytest.param("{project}/slo_specs", id="absolute, inside"),
        pytest.param("link-in", id="a symlink that stays inside"),
    ],
)
def test_specs_dir_inside_the_project_is_used(project: Path, case: str) -> None:
    settings = parse_settings("dev", _specs(project, _prepare(project, case)), project_dir=project)
    assert settings.specs_path == (project / "slo_specs").resolve()


DEEP = [
    pytest.param("[" * 65 + "]" * 65, id="65 levels, deeper than a config file may be"),
    pytest.param("[" * 100_000 + "]" * 100_000, id="100,000 levels, past Python's recursion"),
]


@pytest.mark.parametrize("raw", DEEP)
def test_a_value_from_the_engine_nested_too_deeply_is_named(raw: str) -> None:
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        decode_config_value(raw)
    config = {**read_stack_config(PROJECT_DIR, "dev"), "sre-platform:fleet": raw}
    from stacks.program import main

    with pytest.raises(StackConfigError, match=r"Pulumi\.dev\.yaml: sre-platform:fleet: nested"):
        run_mocked(lambda: main(PROJECT_DIR), "dev", config)


def _run_main(config: dict[str, Any]) -> Any:
    """Run __main__.py, the file `pulumi up` runs, under the mock runtime."""
    return run_mocked(lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")), "dev", config)


def test_the_pulumi_entry_point_finds_its_project_from_any_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # `pulumi up -C` or a `main:` setting can start it elsewhere
    resources, _ = _run_main(read_stack_config(PROJECT_DIR, "dev"))
    assert any(r.type == "aws:amp/ruleGroupNamespace:RuleGroupNamespace" for r in resources)


def test_the_pulumi_entry_point_reports_every_problem_as_one_message() -> None:
    config = copy.deepcopy(read_stack_config(PROJECT_DIR, "dev"))
    config["sre-platform:fleet"] = {"min_size": 3, "max_size": 2, "desired_capacity": 2}
    config["sre-platform:tags"] = {"service": "exchange", "owner": "x" * 100_000}
    with pytest.raises(pulumi.RunError) as caught:
        _run_main(config)
    assert str(caught.value).splitlines() == [
        "Pulumi.dev.yaml: sre-platform:tags.owner: a tag value has at most 256 characters in "
        "AWS, this one has 100,000",
        "Pulumi.dev.yaml: sre-platform:fleet.max_size: must be at least fleet.min_size (3)",
        "Pulumi.dev.yaml: sre-platform:fleet.desired_capacity: must be between fleet.min_size "
        "(3) and fleet.max_size (2)",
    ]
