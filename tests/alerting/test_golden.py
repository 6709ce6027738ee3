"""Golden files for the generated rules of every example, checked by promtool as well.

Run `pytest tests/alerting/test_golden.py --update-golden` after an intended output change and
review the diff of tests/alerting/golden/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerting import compile_specs, merge_rule_files
from alerting.alert_windows import read_windows
from alerting.loader import LoadOptions
from alerting.prometheus_rule import PROMETHEUS_RULE, choose, render
from tests.alerting.helpers import FIXTURES, GOLDEN, ROOT, run_promtool

EXAMPLES = sorted((ROOT / "slo_specs").glob("*.yaml")) + sorted(FIXTURES.glob("*.yaml"))
# Fixtures compiled with the project's own AlertWindows files as well (--windows-path).
WINDOWS = ROOT / "tests/alerting/alert_windows"
CUSTOM_WINDOWS = [FIXTURES / "ledger-14d.yaml", FIXTURES / "orders-7d.yaml"]
CRD = FIXTURES / "crd-payments.yaml"


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


def _check_golden(text: str, golden: Path, update_golden: bool) -> None:
    if update_golden:
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file yet: run pytest --update-golden ({golden})"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("spec", CUSTOM_WINDOWS, ids=[p.name for p in CUSTOM_WINDOWS])
def test_custom_windows_compile_to_their_golden_file_and_pass_promtool(
    spec: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    options = LoadOptions(windows=read_windows(WINDOWS))
    (rule_file,) = compile_specs([_relative(spec)], options=options)
    _check_golden(rule_file.text, GOLDEN / f"{spec.stem}.custom-windows.rules.yaml", update_golden)
    assert rule_file.text != compile_specs([_relative(spec)])[0].text
    target = tmp_path / "rules.yaml"
    target.write_text(rule_file.text, encoding="utf-8")
    result = run_promtool("check", "rules", target)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_crd_fixture_compiles_to_its_prometheus_rule_golden_file(
    update_golden: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    files = compile_specs([_relative(CRD)])
    chosen, objects = choose(files, "auto")
    assert chosen == PROMETHEUS_RULE
    (rule_file,) = files
    text = render(rule_file, objects[rule_file.source])
    _check_golden(text, GOLDEN / "crd-payments.prometheus-rule.yaml", update_golden)
    # Read back: one PrometheusRule per CRD document, whose groups are the rules file's, and
    # each one's spec is a rules file promtool accepts.
    (document,) = [d for d in yaml.safe_load_all(text) if d is not None]
    assert (document["apiVersion"], document["kind"]) == (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
    )
    assert document["spec"]["groups"] == rule_file.groups
    target = tmp_path / "spec.yaml"
    target.write_text(yaml.safe_dump(document["spec"], sort_keys=False), encoding="utf-8")
    result = run_promtool("check", "rules", target)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(group["rules"]) for group in document["spec"]["groups"])
    assert f"SUCCESS: {rules} rules found" in result.stdout
