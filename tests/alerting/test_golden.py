"""Golden files for the generated rules of every example, checked by promtool as well.

Run `pytest tests/alerting/test_golden.py --update-golden` after an intended output change and
review the diff of tests/alerting/golden/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting import compile_specs, merge_rule_files
from tests.alerting.helpers import FIXTURES, GOLDEN, ROOT, run_promtool

EXAMPLES = sorted((ROOT / "slo_specs").glob("*.yaml")) + sorted(FIXTURES.glob("*.yaml"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_compiles_to_its_golden_file(
    spec: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    (rule_file,) = compile_specs([_relative(spec)])
    golden = GOLDEN / f"{spec.stem}.rules.yaml"
    if update_golden:
        golden.write_text(rule_file.text, encoding="utf-8")
    assert golden.exists(), f"no golden file yet: run pytest --update-golden ({golden})"
    assert rule_file.text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_compiling_twice_gives_byte_identical_output(spec: Path) -> None:
    assert compile_specs([spec])[0].text == compile_specs([spec])[0].text


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_promtool_accepts_every_generated_rules_file(spec: Path, tmp_path: Path) -> None:
    (rule_file,) = compile_specs([spec])
    target = tmp_path / "rules.yaml"
    target.write_text(rule_file.text, encoding="utf-8")
    result = run_promtool("check", "rules", target)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_all_examples_merged_into_one_file(tmp_path: Path) -> None:
    target = tmp_path / "all.yaml"
    target.write_text(merge_rule_files(compile_specs(EXAMPLES)), encoding="utf-8")
    result = run_promtool("check", "rules", target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
