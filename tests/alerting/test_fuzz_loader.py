"""Property-based fuzzing of the spec loader: any file ends in SLOs or clean problems.

Whatever a file holds (random YAML-ish text, random nested documents, or a valid spec with a
field dropped, renamed or retyped), checking it as compile does either gives the validated SLOs,
whose compiled rules promtool accepts, or problems that each name that file. Any exception,
and any rule file that fails its own checks ("cannot compile"), is a bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alerting.compiler import check_inputs, compile_files, merge_rule_files
from alerting.explain import explain
from alerting.proofs import proof_suite
from tests.alerting.helpers import FIXTURES, ROOT, run_promtool

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID_SPECS = [
    ROOT / "slo_specs" / "exchange.yaml",
    FIXTURES / "payments-sloth-style.yaml",
    FIXTURES / "periods.yaml",
]
VALID_DOCUMENTS = [
    doc for path in VALID_SPECS for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
]
# Names the loader knows, so mutations land on meaningful keys as often as on noise.
KNOWN_KEYS = sorted(
    {
        "version",
        "service",
        "labels",
        "slos",
        "name",
        "objective",
        "description",
        "sli",
        "events",
        "error_query",
        "total_query",
        "raw",
        "error_ratio_query",
        "latency",
        "histogram",
        "selector",
        "threshold",
        "alerting",
        "annotations",
        "page_alert",
        "ticket_alert",
        "disable",
        "period",
        "plugin",
        "slo_plugins",
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["prometheus/v1", "30d", "7d", "0", "{{.window}}", "99.9", "", "1y"]),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12), st.integers(0, 5))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)
YAML_TOKENS = [*"abc019:-_ \n\t{}[]'\"#&*!|>,.?%@`\\", "---", "\n  ", "slos:", "- name: "]
yamlish_text = st.lists(st.sampled_from(YAML_TOKENS), max_size=120).map("".join)


def path_to_a_node(document: Any, choices: list[int]) -> list[Any]:
    """A path of keys/indexes from the root into ``document``, steered by ``choices``."""
    path: list[Any] = []
    node = document
    for choice in choices:
        if isinstance(node, dict) and node:
            key = sorted(node, key=str)[choice % len(node)]
        elif isinstance(node, list) and node:
            key = choice % len(node)
        else:
            break
        path.append(key)
        node = node[key]
    return path


def mutate(document: Any, path: list[Any], kind: str, value: Any, new_key: str) -> Any:
    """Drop, rename or retype the node at ``path`` (a deep copy is changed)."""
    copy = yaml.safe_load(yaml.safe_dump(document))
    if not path:
        return value
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if kind == "drop":
        del parent[last]
    elif kind == "rename" and isinstance(parent, dict):
        parent[new_key] = parent.pop(last)
    else:
        parent[last] = value
    return copy


def assert_model_or_clean_error(path: Path) -> None:
    result = check_inputs([path])
    assert not any(p.message.startswith("cannot compile") for p in result.problems), [
        str(p) for p in result.problems
    ]
    if not result.ok:
        event("a clean problem list")
        for problem in result.problems:
            assert problem.file is not None
            assert problem.file.startswith(path.as_posix()), problem
            assert problem.message
        return
    event("SLOs loaded, compiled and accepted by promtool")
    assert [spec_file.path for spec_file in result.files] == [path.as_posix()]
    for slo in result.slos:  # whatever loads, explain and the proofs can handle
        explain(slo, rate=1.0)
        proof_suite(slo)
    rules = path.with_name("rules.yaml")
    rules.write_text(merge_rule_files(compile_files(result.files)), encoding="utf-8")
    checked = run_promtool("check", "rules", rules)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "spec.yaml"


@FUZZ
@given(text=yamlish_text)
def test_any_yamlish_text_loads_or_fails_cleanly(text: str, spec_path: Path) -> None:
    spec_path.write_text(text, encoding="utf-8")
    assert_model_or_clean_error(spec_path)


@FUZZ
@given(docs=st.lists(documents, min_size=1, max_size=3))
def test_any_nested_documents_load_or_fail_cleanly(docs: list[Any], spec_path: Path) -> None:
    spec_path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    assert_model_or_clean_error(spec_path)


@FUZZ
@given(
    document=st.sampled_from(VALID_DOCUMENTS),
    choices=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
    kind=st.sampled_from(["drop", "rename", "retype"]),
    value=documents,
    new_key=keys.map(str),
    mutations=st.integers(min_value=1, max_value=3),
)
def test_a_mutated_valid_spec_loads_or_fails_cleanly(
    document: Any,
    choices: list[int],
    kind: str,
    value: Any,
    new_key: str,
    mutations: int,
    spec_path: Path,
) -> None:
    for round_ in range(mutations):
        path = path_to_a_node(document, choices[round_:])
        document = mutate(document, path, kind, value, new_key)
    spec_path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert_model_or_clean_error(spec_path)


@FUZZ
@given(
    document=st.sampled_from(VALID_DOCUMENTS),
    cut=st.integers(min_value=0, max_value=4000),
)
def test_a_truncated_valid_spec_loads_or_fails_cleanly(
    document: Any, cut: int, spec_path: Path
) -> None:
    text = yaml.safe_dump(document)
    spec_path.write_text(text[: cut % (len(text) + 1)], encoding="utf-8")
    assert_model_or_clean_error(spec_path)
