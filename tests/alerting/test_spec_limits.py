"""Hostile or runaway spec files get a quick, short answer: limits on size, documents, alias
expansion and SLOs per file, and at most MAX_PROBLEMS_PER_FILE problems printed per file.

No timing is asserted: the answer is short because it stops early, which the output shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alerting.loader import MAX_PROBLEMS_PER_FILE, MAX_SLOS_PER_FILE, read_specs
from tests.alerting.helpers import ROOT

SRE = [sys.executable, "-c", "from sre_platform.cli import main; main()"]
HEAD = "version: prometheus/v1\nservice: svc\nslos:\n"
BAD_SLO = """\
  - &bad
    name: a
    objectve: 99
    objective: true
    sli:
      raw:
        error_ratio_query: "{{.window}}"
    alerting:
      name: bad-name
      annotations: {summary: "{{ $labels.x "}
"""


def sre(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SRE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def good_slo(index: int) -> str:
    return (
        f"  - name: s{index}\n    objective: 99.9\n    sli:\n      raw:\n"
        f'        error_ratio_query: sum(rate(x{{i="{index}"}}[{{{{.window}}}}]))\n'
        f"    alerting:\n      name: S{index}\n"
    )


def test_300_kb_of_aliases_get_one_short_error(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    body = "  - *bad\n" * ((300_000 - len(HEAD + BAD_SLO)) // 9)
    path.write_text(HEAD + BAD_SLO + body, encoding="utf-8")
    result = sre("slo", "validate", "-i", path)
    assert result.returncode == 1
    assert f"SLOs in one file, more than the {MAX_SLOS_PER_FILE:,} allowed" in result.stderr
    assert len(result.stderr) < 1000, result.stderr[:2000]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param(
            HEAD.replace("slos:\n", "")
            + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9)
            )
            + "slos: [*a8]\n",
            "expands to more than",
            id="a billion laughs is refused before it expands",
        ),
        pytest.param(
            "---\nversion: prometheus/v1\n" * 1001,
            "YAML documents in one file",
            id="too many documents are refused",
        ),
        pytest.param("[" * 100 + "]" * 100, "nested deeper", id="deep nesting is refused"),
    ],
)
def test_yaml_beyond_the_limits_is_refused_naming_the_file(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    result = read_specs([path])
    assert [(p.file, needle in p.message) for p in result.problems] == [(path.as_posix(), True)]


def test_slos_per_file_are_counted_across_documents(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    half = MAX_SLOS_PER_FILE // 2 + 1
    first = HEAD + "".join(good_slo(i) for i in range(half))
    second = HEAD.replace("svc", "other") + "".join(good_slo(i) for i in range(half))
    path.write_text(first + "---\n" + second, encoding="utf-8")
    (problem,) = read_specs([path]).problems
    assert problem.message.startswith(f"{2 * half:,} SLOs in one file")


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + "".join(good_slo(i) for i in range(MAX_SLOS_PER_FILE)), encoding="utf-8")
    result = read_specs([path])
    assert result.ok and len(result.slos) == MAX_SLOS_PER_FILE


def test_problems_are_capped_per_file_with_a_count_of_the_rest(tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text(HEAD + "".join(good_slo(i).replace("99.9", "0") for i in range(50)))
    one = tmp_path / "one.yaml"
    one.write_text(HEAD.replace("svc", "one") + good_slo(0).replace("99.9", "101"))
    result = sre("slo", "validate", "-i", many, "-i", one)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert sum(line.startswith(f"error: {many}") for line in lines) == MAX_PROBLEMS_PER_FILE
    assert f"... and {50 - MAX_PROBLEMS_PER_FILE} more problem(s) in {many}" in lines
    assert sum(line.startswith(f"error: {one}") for line in lines) == 1
    as_json = json.loads(sre("slo", "validate", "-i", many, "--json").stdout)
    assert as_json["omitted"] == {many.as_posix(): 50 - MAX_PROBLEMS_PER_FILE}
    assert len(as_json["problems"]) == MAX_PROBLEMS_PER_FILE
