"""The GitHub workflows (they run on GitHub, not here): structure, commands, order, approvals."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import PROJECT_DIR, STACKS

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
CLOUD_STACKS = ["dev", "staging", "prod"]  # promotion order; local is the emulator


def test_the_workflows_cover_every_stack_but_the_emulator() -> None:
    assert sorted([*CLOUD_STACKS, "local"]) == STACKS


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as true
    return document


PULL_REQUEST = _load("pull-request.yml")
DEPLOY = _load("deploy.yml")


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _pulumi_steps(workflow: dict, job: str) -> list[dict]:
    return [
        s for s in _steps(workflow, job) if str(s.get("uses", "")).startswith("pulumi/actions@")
    ]


def _runs(workflow: dict, job: str) -> list[str]:
    return [s["run"] for s in _steps(workflow, job) if "run" in s]


def _all_runs(workflow: dict) -> list[str]:
    return [run for job in workflow["jobs"] for run in _runs(workflow, job)]


@pytest.mark.parametrize("workflow", [PULL_REQUEST, DEPLOY], ids=["pull-request", "deploy"])
def test_every_job_checks_out_installs_with_make_and_has_a_timeout(workflow: dict) -> None:
    for name, job in workflow["jobs"].items():
        steps = job["steps"]
        assert steps[0]["uses"].startswith("actions/checkout@"), name
        assert "make install" in _runs(workflow, name), name
        assert job["timeout-minutes"] > 0, name
        assert all("@v" in s["uses"] for s in steps if "uses" in s), name


@pytest.mark.parametrize("workflow", [PULL_REQUEST, DEPLOY], ids=["pull-request", "deploy"])
def test_tests_run_before_any_stack_is_touched(workflow: dict) -> None:
    assert _runs(workflow, "test") == ["make install", "make test"]
    for name, job in workflow["jobs"].items():
        if name != "test":
            assert job.get("needs"), name


def test_pull_requests_preview_every_cloud_stack_and_comment() -> None:
    assert set(PULL_REQUEST["on"]) == {"pull_request"}
    preview = PULL_REQUEST["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == CLOUD_STACKS
    (step,) = _pulumi_steps(PULL_REQUEST, "preview")
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"
    assert PULL_REQUEST["permissions"]["pull-requests"] == "write"


def test_pull_requests_post_the_error_budget_status_next_to_the_previews() -> None:
    (status,) = [r for r in _runs(PULL_REQUEST, "budget-status") if "sre budget status" in r]
    assert '.venv/bin/sre budget status --prometheus "$AMP_QUERY_URL"' in status
    assert any("gh pr comment" in r for r in _runs(PULL_REQUEST, "budget-status"))


def test_main_deploys_dev_then_staging_then_prod_behind_environments() -> None:
    assert DEPLOY["on"]["push"]["branches"] == ["main"]
    jobs = DEPLOY["jobs"]
    assert [jobs[s]["needs"] for s in CLOUD_STACKS] == ["test", "dev", "staging"]
    for stack in CLOUD_STACKS:
        assert jobs[stack]["environment"] == stack
        (step,) = _pulumi_steps(DEPLOY, stack)
        assert step["with"]["command"] == "up"
        assert step["with"]["stack-name"] == stack
        assert step["with"]["policyPacks"] == "policy"
    assert DEPLOY["concurrency"]["cancel-in-progress"] is False


def test_the_budget_gate_runs_right_before_prod_goes_up() -> None:
    steps = _steps(DEPLOY, "prod")
    gate = next(i for i, s in enumerate(steps) if "sre budget gate" in s.get("run", ""))
    up = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("pulumi/actions@"))
    assert gate < up
    assert '--prometheus "$AMP_QUERY_URL"' in steps[gate]["run"]
    assert "ops/error-budget-policy.yaml" in steps[gate]["run"]
    assert (PROJECT_DIR / "ops" / "error-budget-policy.yaml").is_file()
    assert not any("sre budget gate" in r for s in ("dev", "staging") for r in _runs(DEPLOY, s))


@pytest.mark.parametrize("workflow", [PULL_REQUEST, DEPLOY], ids=["pull-request", "deploy"])
def test_run_scripts_take_github_values_from_env_only(workflow: dict) -> None:
    assert all("${{" not in run for run in _all_runs(workflow))


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize("workflow", [PULL_REQUEST, DEPLOY], ids=["pull-request", "deploy"])
def test_run_scripts_are_valid_bash(workflow: dict, tmp_path: Path) -> None:
    for index, run in enumerate(_all_runs(workflow)):
        script = tmp_path / f"step-{index}.sh"
        script.write_text(run)
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
