"""The GitHub workflows (they run on GitHub, not here): structure, commands, order, approvals."""

from __future__ import annotations

import re
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


STICKY = "marocchino/sticky-pull-request-comment@"


def _comment_steps(workflow: dict, job: str) -> list[dict]:
    return [s for s in _steps(workflow, job) if str(s.get("uses", "")).startswith(STICKY)]


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
    assert "comment-on-pr" not in step["with"]  # the sticky comment step posts it
    assert step["with"]["policyPacks"] == "policy"
    (comment,) = _comment_steps(PULL_REQUEST, "preview")
    assert comment["with"]["path"] == "preview.md"


def test_pull_requests_post_the_error_budget_status_next_to_the_previews() -> None:
    (status,) = [r for r in _runs(PULL_REQUEST, "budget-status") if "sre budget status" in r]
    assert '.venv/bin/sre budget status --prometheus "$AMP_QUERY_URL"' in status
    (comment,) = _comment_steps(PULL_REQUEST, "budget-status")
    assert comment["with"]["path"] == "budget-status.md"


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


def _step(workflow: dict, job: str, name: str) -> dict:
    (step,) = [s for s in _steps(workflow, job) if s.get("name") == name]
    return step


def _run_step(step: dict, tmp_path: Path, code: int, env: dict[str, str]) -> tuple[int, str]:
    """Run a step's script as GitHub does (bash -eo pipefail) in a folder whose `.venv/bin/sre`
    records its arguments and exits ``code``; return the script's exit code and output."""
    sre = tmp_path / ".venv" / "bin" / "sre"
    sre.parent.mkdir(parents=True, exist_ok=True)
    sre.write_text(
        "#!/bin/bash\n"
        'printf "%s\\n" "$@" > "$(dirname "$0")/args"\n'
        "echo 'what sre prints'\n"
        "echo 'Reading error budgets from URL (deadline 60 s) ...' >&2\n"
        "echo 'error: what went wrong' >&2\n"
        f"exit {code}\n"
    )
    sre.chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stdout + result.stderr


GATE_ENV = {"AMP_QUERY_URL": "https://aps.example/ws-1/", "OVERRIDE_REASON": ""}


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize(
    ("code", "message"),
    [
        pytest.param(
            0, "Error budget gate: the release may go ahead.", id="exit 0 lets prod go up"
        ),
        pytest.param(
            3, "::error title=Error budget gate: frozen::", id="exit 3 stops prod as frozen"
        ),
        pytest.param(
            4,
            "::error title=Error budget gate: cannot decide::",
            id="exit 4 stops prod as cannot decide, not as frozen",
        ),
        pytest.param(
            2,
            "::error title=Error budget gate: bad command line::",
            id="exit 2 stops prod as a bug in the workflow",
        ),
        pytest.param(
            1,
            "::error title=Error budget gate: error::",
            id="exit 1 stops prod as a broken policy or setup",
        ),
    ],
)
def test_the_gate_step_stops_prod_with_a_message_per_exit_code(
    tmp_path: Path, code: int, message: str
) -> None:
    step = _step(DEPLOY, "prod", "Error budget gate")
    returned, output = _run_step(step, tmp_path, code, GATE_ENV)
    assert returned == code
    assert message in output
    assert sum("::error" in line for line in output.splitlines()) == (code != 0)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_the_gate_step_passes_the_override_reason_as_one_argument(tmp_path: Path) -> None:
    step = _step(DEPLOY, "prod", "Error budget gate")
    reason = "P0 INC-42: matching down; $(rm -rf /) `x`"
    returned, _ = _run_step(step, tmp_path, 0, {**GATE_ENV, "OVERRIDE_REASON": reason})
    assert returned == 0
    args = (tmp_path / ".venv" / "bin" / "args").read_text().splitlines()
    assert args == [
        "budget",
        "gate",
        "--prometheus",
        GATE_ENV["AMP_QUERY_URL"],
        "--policy",
        "ops/error-budget-policy.yaml",
        "--timeout",
        "60",
        "--override-reason",
        reason,
    ]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize(
    ("code", "expected", "absent"),
    [
        pytest.param(
            0,
            ["what sre prints"],
            ["error: what went wrong", "Cannot read"],
            id="exit 0 posts the table alone",
        ),
        pytest.param(
            4,
            ["Cannot read the error budgets (exit 4)", "error: what went wrong"],
            ["what sre prints", "Reading error budgets"],
            id="exit 4 posts why AMP could not be read",
        ),
        pytest.param(
            1,
            ["sre budget status failed (exit 1)", "error: what went wrong"],
            ["Reading error budgets"],
            id="exit 1 posts the error",
        ),
    ],
)
def test_the_pull_request_status_comment_says_what_happened(
    tmp_path: Path, code: int, expected: list[str], absent: list[str]
) -> None:
    step = _step(PULL_REQUEST, "budget-status", "Error budget status")
    returned, _ = _run_step(step, tmp_path, code, {"AMP_QUERY_URL": "https://aps.example/"})
    assert returned == code
    comment = (tmp_path / "budget-status.md").read_text()
    assert comment.startswith("### Error budget status\n")
    for text in expected:
        assert text in comment
    for text in absent:
        assert text not in comment


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


# Sticky comments, permissions, stack creation (review findings #8, #15, #19)

WORKFLOW_FILES = {"pull-request": PULL_REQUEST, "deploy": DEPLOY}
SECRETS_PROVIDER = "awskms://alias/sre-platform-pulumi?region=${{ vars.AWS_REGION }}"


def _instances(workflow: dict, job: str) -> list[dict[str, str]]:
    """The matrix values each run of ``job`` gets (one empty run without a matrix)."""
    matrix = workflow["jobs"][job].get("strategy", {}).get("matrix", {})
    runs: list[dict[str, str]] = [{}]
    for key, values in matrix.items():
        runs = [{**run, key: str(value)} for run in runs for value in values]
    return runs


def _expand(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"${{{{ matrix.{key} }}}}", value)
    return text


def test_every_pr_comment_is_sticky_under_a_header_of_its_own() -> None:
    headers = [
        _expand(step["with"]["header"], values)
        for workflow in WORKFLOW_FILES.values()
        for job in workflow["jobs"]
        for step in _comment_steps(workflow, job)
        for values in _instances(workflow, job)
    ]
    assert sorted(headers) == sorted(
        ["error-budget-status"] + [f"pulumi-preview-{stack}" for stack in CLOUD_STACKS]
    )
    assert len(set(headers)) == len(headers)  # no comment can take over another's


@pytest.mark.parametrize("workflow", WORKFLOW_FILES.values(), ids=WORKFLOW_FILES)
def test_nothing_comments_on_a_pr_but_the_sticky_steps(workflow: dict) -> None:
    text = yaml.safe_dump(workflow)
    assert "gh pr comment" not in text and "--edit-last" not in text
    for job in workflow["jobs"]:
        for step in _pulumi_steps(workflow, job):
            assert not step["with"].get("comment-on-pr"), job
        for step in _comment_steps(workflow, job):
            assert re.fullmatch(rf"{re.escape(STICKY)}v\d+", step["uses"]), step["uses"]


@pytest.mark.parametrize("workflow", WORKFLOW_FILES.values(), ids=WORKFLOW_FILES)
def test_workflow_permissions_are_read_only_and_each_job_asks_for_what_it_uses(
    workflow: dict,
) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        uses = [str(s.get("uses", "")) for s in job["steps"]]
        assumes_role = any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
        comments = any(u.startswith(STICKY) for u in uses)
        expected = {"contents": "read"}
        if assumes_role:
            expected["id-token"] = "write"
        if comments:
            expected["pull-requests"] = "write"
        assert job.get("permissions", workflow["permissions"]) == expected, name


def test_the_jobs_that_run_third_party_installs_cannot_mint_aws_tokens() -> None:
    for workflow in WORKFLOW_FILES.values():
        assert "id-token" not in workflow["jobs"]["test"].get("permissions", {})
        assert "permissions" not in workflow["jobs"]["test"]  # the read-only default


@pytest.mark.parametrize("workflow", WORKFLOW_FILES.values(), ids=WORKFLOW_FILES)
def test_a_missing_stack_is_created_with_the_kms_secrets_provider(workflow: dict) -> None:
    steps = [s for job in workflow["jobs"] for s in _pulumi_steps(workflow, job)]
    assert steps
    for step in steps:
        assert step["with"]["upsert"] is True
        assert step["with"]["secrets-provider"] == SECRETS_PROVIDER
    assert "PULUMI_CONFIG_PASSPHRASE" not in yaml.safe_dump(workflow)


def test_the_secrets_provider_is_documented_as_the_workflows_use_it() -> None:
    docs = (PROJECT_DIR / "docs" / "stacks.md").read_text()
    assert "awskms://alias/sre-platform-pulumi?region=" in docs
    assert "upsert" in docs and "sticky" in docs


def _write_preview(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    step = _step(PULL_REQUEST, "preview", "Write the preview comment")
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "STACK": "prod", "RUN_URL": "https://run/1", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    comment = tmp_path / "preview.md"
    return result.returncode, comment.read_text() if comment.exists() else ""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize(
    ("outcome", "preview", "expected", "absent"),
    [
        pytest.param(
            "success",
            "Previewing update (prod)\nResources:\n    3 to create\n",
            ["### Pulumi preview: prod\n", "```\nPreviewing update (prod)\n", "3 to create\n```"],
            ["did not succeed", "job log"],
            id="a preview is posted whole under its stack's heading",
        ),
        pytest.param(
            "failure",
            "",
            ["### Pulumi preview: prod\n", "did not succeed (failure): see the job log"],
            ["```"],
            id="a failed preview says so instead of leaving the last one standing",
        ),
        pytest.param(
            "success",
            "x" * 70_000 + "\nResources: 3 to create\n",
            ["[... the first 10023 characters are in the job log]", "Resources: 3 to create\n```"],
            [],
            id="a preview over GitHub's comment size keeps its end",
        ),
    ],
)
def test_the_preview_comment_says_what_happened(
    tmp_path: Path, outcome: str, preview: str, expected: list[str], absent: list[str]
) -> None:
    returned, comment = _write_preview(tmp_path, {"OUTCOME": outcome, "PREVIEW": preview})
    assert returned == 0
    assert len(comment) < 65_536
    for text in expected:
        assert text in comment
    for text in absent:
        assert text not in comment
