"""Compiling in worker processes gives exactly what compiling in one process gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerting.compiler import PARALLEL_MIN_FILES, compile_inputs, merge_rule_files
from alerting.render import render_rules
from tests.alerting.helpers import FIXTURES, ROOT

SERVICE = """\
version: prometheus/v1
service: svc{index}
slos:
  - name: availability
    objective: 99.{index}
    sli:
      events:
        error_query: sum(rate(http_requests_total{{job="svc{index}",code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total{{job="svc{index}"}}[{{{{.window}}}}]))
    alerting:
      name: Svc{index}Availability
"""


@pytest.fixture
def many_specs(tmp_path: Path) -> Path:
    for index in range(PARALLEL_MIN_FILES + 2):
        (tmp_path / f"svc{index:02d}.yaml").write_text(SERVICE.format(index=index))
    return tmp_path


def test_two_workers_compile_the_same_files_as_one(many_specs: Path) -> None:
    serial = compile_inputs([many_specs, FIXTURES], jobs=1)
    parallel = compile_inputs([many_specs, FIXTURES], jobs=2)
    assert serial.ok and parallel.ok
    assert [f.source for f in parallel.files] == [f.source for f in serial.files]
    assert [f.text for f in parallel.files] == [f.text for f in serial.files]
    assert merge_rule_files(parallel.files) == merge_rule_files(serial.files)


def test_two_workers_report_the_same_problems_in_file_order(many_specs: Path) -> None:
    (many_specs / "svc03.yaml").write_text(
        SERVICE.format(index=3).replace("objective: 99.3", "objective: 0")
    )
    (many_specs / "svc07.yaml").write_text(SERVICE.format(index=1))  # the id of svc01 again
    serial = compile_inputs([many_specs], jobs=1)
    parallel = compile_inputs([many_specs], jobs=2)
    assert not parallel.ok and parallel.files == []
    assert [str(p) for p in parallel.problems] == [str(p) for p in serial.problems]
    assert any("already defined" in p.message for p in parallel.problems)


def test_a_merged_document_equals_rendering_every_group_at_once(many_specs: Path) -> None:
    files = compile_inputs([many_specs, ROOT / "slo_specs"]).files
    merged = merge_rule_files(files)
    groups = tuple(group for rule_file in files for group in rule_file.rule_groups)
    whole, parsed = render_rules(
        groups, merged.splitlines()[0:2] and [line[2:] for line in merged.splitlines()[:2]]
    )
    assert merged == whole
    assert yaml.safe_load(merged) == {"groups": parsed}
