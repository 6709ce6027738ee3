"""Issue 12 inputs: Sloth's pairs 2 (custom windows) and 3 (OpenSLO) read in place, the CRD,
Sloth's typing, unknown formats, suggestions and --allow-unknown-fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from alerting.alert_windows import read_windows
from alerting.compiler import compile_specs
from alerting.loader import LoadOptions, read_specs
from alerting.spec import go_float32_text
from tests.alerting.helpers import ROOT

SLOTH = ROOT.parent / "shared" / "conformance" / "sloth"
needs_pairs = pytest.mark.skipif(not SLOTH.exists(), reason="../shared/conformance is absent")


def _sloth(path: Path) -> dict:
    text = re.sub(r'\{\{"(\{\{[^}]*\}\})"\}\}', r"\1", path.read_text(encoding="utf-8"))
    (document,) = [d for d in yaml.safe_load_all(text.replace("{{ .version }}", "v")) if d]
    return _without_version(document)


def _without_version(document: dict) -> dict:
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.get("labels", {}).pop("sloth_version", None)
    return document


@needs_pairs
@pytest.mark.parametrize(
    ("spec", "expected", "period", "windows"),
    [
        pytest.param(
            "pair2-custom-windows-7d/in-base.yaml",
            "pair2-custom-windows-7d/out-base-custom-windows-7d.yaml.tpl",
            "7d",
            "pair2-custom-windows-7d/windows",
            id="pair2: custom 7d AlertWindows give Sloth's rules",
        ),
        pytest.param(
            "pair3-openslo/in-openslo.yaml",
            "pair3-openslo/out-openslo.yaml.tpl",
            "30d",
            None,
            id="pair3: an OpenSLO spec gives Sloth's rules",
        ),
    ],
)
def test_sloth_pairs_match_rule_for_rule(
    spec: str, expected: str, period: str, windows: str | None
) -> None:
    options = LoadOptions(windows=read_windows(SLOTH / windows) if windows else None)
    (rule_file,) = compile_specs([SLOTH / spec], period, options=options)
    assert _without_version({"groups": rule_file.groups}) == _sloth(SLOTH / expected)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.2, "0.2"), (90.0, "90"), (1e6, "1e+06"), (99.9, "99.9"), (3.14159265, "3.1415927")],
)
def test_floats_are_written_as_sloths_reader_writes_them(value: float, text: str) -> None:
    assert go_float32_text(value) == text


def test_typed_label_values_and_dashed_alert_names_are_accepted() -> None:
    (spec_file,) = read_specs([ROOT / "tests/alerting/fixtures/crd-payments.yaml"]).files
    slo = spec_file.slos[0]
    assert slo.labels["tier"] == "1" and slo.labels["generated"] == "true"
    assert slo.alerting.page.labels["le"] == "0.2"
    assert slo.alerting.name == "slo_payments-requests_availability_fail"


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\n",
            "apiVersion",
            "unsupported spec format: v1/ConfigMap; supported:",
            id="an unknown kind is an unsupported format",
        ),
        pytest.param(
            "version: prometheus/v1\nservice: a\nslos:\n- name: b\n  objective: 99\n"
            "  sli: {events: {error_query: 'sum(rate(x[{{.window}}]))', total_query: 'sum(rate(y[{{.window}}]))'}}\n"
            "  alerting: {name: A, pageAlert: {}}\n",
            "alerting.pageAlert",
            "did you mean page_alert?",
            id="a camelCase key gets a suggestion",
        ),
        pytest.param(
            "version: prometheus/v1\nservice: a\nslos:\n- name: b\n  objective: 99\n"
            "  plugins: {chain: []}\n  sli: {events: {error_query: x, total_query: y}}\n",
            None,
            "plugins are not supported",
            id="the plugins key of an SLO is refused with the plugin message",
        ),
    ],
)
def test_bad_inputs_name_file_and_field(
    tmp_path: Path, text: str, field: str | None, message: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    problems = read_specs([path]).problems
    assert any(
        message in p.message and p.file == path.as_posix() and (field is None or p.field == field)
        for p in problems
    ), problems


def test_allow_unknown_fields_warns_and_ignores(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "version: prometheus/v1\nservice: a\nslos:\n- name: b\n  objective: 99\n  owner: x\n"
        "  sli: {events: {error_query: 'sum(rate(x[{{.window}}]))', total_query: 'sum(rate(y[{{.window}}]))'}}\n"
        "  alerting: {name: A}\n",
        encoding="utf-8",
    )
    assert not read_specs([path]).ok
    result = read_specs([path], options=LoadOptions(allow_unknown_fields=True))
    assert result.ok and [(p.severity, p.slo, p.field) for p in result.problems] == [
        ("warning", "b", "owner")
    ]


def test_exponent_numbers_are_numbers_as_in_sloths_yaml_reader(tmp_path: Path) -> None:
    """PyYAML (YAML 1.1) leaves ``1e6`` and ``1.0e6`` as text; go-yaml, Sloth's reader, reads
    numbers, which Sloth writes as ``1e+06``. Quoted, they stay text in both."""
    path = tmp_path / "spec.yaml"
    path.write_text(
        "version: prometheus/v1\nservice: a\n"
        "labels: {plain: 1e6, dotted: 1.0e6, small: 2.5E-5, quoted: '1e6', word: 1e6x}\n"
        "slos:\n- name: b\n  objective: 99.9e0\n"
        "  sli: {events: {error_query: 'sum(rate(x[{{.window}}]))', total_query: 'sum(rate(y[{{.window}}]))'}}\n"
        "  alerting: {name: A}\n",
        encoding="utf-8",
    )
    (spec_file,) = read_specs([path]).files
    (slo,) = spec_file.slos
    assert dict(slo.labels) == {
        "plain": "1e+06",
        "dotted": "1e+06",
        "small": "2.5e-05",
        "quoted": "1e6",
        "word": "1e6x",
    }
    assert slo.objective == 99.9
