"""`sre stack render`: every resource of a stack, offline, as a table or as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sre_platform.cli import app
from stacks.render import mask_secrets, rpc
from tests.infra.conftest import PROJECT_DIR

runner = CliRunner()


def _render(*args: str):
    return runner.invoke(app, ["stack", "render", "--project-dir", str(PROJECT_DIR), *args])


def test_json_lists_every_resource_with_type_name_parent_and_inputs(renderings: dict) -> None:
    result = _render("--stack", "dev", "--format", "json")
    assert result.exit_code == 0, result.output
    resources = json.loads(result.output)
    assert len(resources) == len(renderings["dev"].resources)
    assert all(set(r) == {"type", "name", "parent", "inputs"} for r in resources)
    by_name = {r["name"]: r for r in resources}
    assert by_name["artifacts-bucket"]["type"] == "aws:s3/bucket:Bucket"
    assert by_name["artifacts-bucket"]["parent"] == "artifacts"
    assert by_name["artifacts"]["parent"] is None


def test_json_masks_secrets() -> None:
    resources = json.loads(_render("--stack", "prod", "--format", "json").output)
    provider = next(r for r in resources if r["type"] == "pulumi:providers:grafana")
    assert provider["inputs"]["auth"] == "[secret]"
    assert "glsa_" not in json.dumps(resources)


def test_the_table_names_every_resource_and_the_outputs() -> None:
    result = _render("--stack", "local")
    assert result.exit_code == 0, result.output
    assert "stack local:" in result.output and "resources" in result.output
    assert "aws:autoscaling/group:Group" in result.output
    assert "load_balancer_url: http://" in result.output


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


def test_an_unknown_stack_is_a_clear_error_listing_the_stacks(tmp_path: Path) -> None:
    sre = Path(sys.executable).with_name("sre")
    result = subprocess.run(
        [str(sre), "stack", "render", "--stack", "qa", "--project-dir", str(PROJECT_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "unknown stack 'qa'; the stacks are: dev, local, prod, staging" in result.stderr
    assert "Traceback" not in result.stderr
