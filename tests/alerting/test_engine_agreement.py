"""Validation equals what the engine accepts: promtool (Debian's Prometheus 2.42) is the
reference for every verdict.

- Go templates: Prometheus parses every alert label and annotation as a Go template; our
  parser's verdict must equal promtool's for each case of a table and for generated texts.
- PromQL: promql-parser follows a newer Prometheus; what 2.42 refuses must be refused too.
- Any spec that validate accepts compiles to rules that `promtool check rules` accepts
  (property-based: specs built from valid and hostile parts).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alerting.compiler import compile_inputs, merge_rule_files
from alerting.gotemplate import prometheus_template_error
from alerting.promql import syntax_error
from tests.alerting.helpers import run_promtool, write_spec

TEMPLATES = [
    pytest.param("no template at all", id="plain text is fine"),
    pytest.param("{{ $labels.instance }} is down", id="a label of the alert"),
    pytest.param("{{ $value | humanizePercentage }}", id="the value through a function"),
    pytest.param("{{ $externalLabels.env }} {{ $externalURL }}", id="the other variables"),
    pytest.param("{{ $labels.x ", id="an unclosed action is refused"),
    pytest.param("{{ nosuch $value }}", id="an unknown function is refused"),
    pytest.param("{{ $nosuch }}", id="an undefined variable is refused"),
    pytest.param("{{ end }}", id="an end without a block is refused"),
    pytest.param("{{ if $value }}high", id="an if without end is refused"),
    pytest.param("{{ if gt $value 1.0 }}a{{ else if . }}b{{ else }}c{{ end }}", id="else if"),
    pytest.param("{{ with . }}a{{ else with . }}b{{ end }}", id="else with is Go 1.23"),
    pytest.param("{{ range $i, $e := . }}{{ $i }}{{ break }}{{ end }}", id="range variables"),
    pytest.param("{{ break }}", id="break outside range is refused"),
    pytest.param("{{ range . }}{{ end }}{{ $e }}", id="a range variable ends with it"),
    pytest.param("{{ $x := 1 }}{{ $x }}", id="a declared variable"),
    pytest.param("{{ $a, $b := 1 }}", id="two declarations outside range are refused"),
    pytest.param("{{}}", id="an empty action is refused"),
    pytest.param("{{ . | 1 }}", id="a number as a later pipeline stage is refused"),
    pytest.param('{{ "x".Y }}', id="a field of a string is refused"),
    pytest.param("{{/* a comment */}}", id="a comment"),
    pytest.param("{{ /* a comment */ }}", id="a comment needs to touch the delimiters"),
    pytest.param("{{/* unclosed", id="an unclosed comment is refused"),
    pytest.param("a {{- $value -}} b", id="trim markers"),
    pytest.param("{{-3}}", id="a negative number, not a trim marker"),
    pytest.param('{{ "unterminated }}', id="an unterminated string is refused"),
    pytest.param('{{ "\\q" }}', id="an unknown escape is refused"),
    pytest.param("{{ 'ab' }}", id="a character constant of two characters is refused"),
    pytest.param("{{ 0x1F }} {{ 1_000 }} {{ 1e3 }} {{ 1+2i }}", id="Go number literals"),
    pytest.param("{{ 08 }}", id="a bad octal number is refused"),
    pytest.param("{{ 1e400 }}", id="a float out of range is refused"),
    pytest.param("{{ 18446744073709551616 }}", id="an integer out of range is refused"),
    pytest.param('{{ define "x" }}a{{ end }}{{ template "x" . }}', id="define and template"),
    pytest.param('{{ define "x" }}{{ $labels }}{{ end }}', id="a define has its own scope"),
    pytest.param('{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}', id="two defines"),
    pytest.param('{{ define "__alert_A" }}a{{ end }}', id="a define named like the alert's own"),
    pytest.param('{{ block "b" . }}x{{ end }}', id="block"),
    pytest.param('{{ block "b" }}x{{ end }}', id="a block without pipeline is refused"),
    pytest.param("{{ template x }}", id="a template name must be a string"),
    pytest.param("{{ ( }}", id="an unclosed parenthesis is refused"),
    pytest.param("{{ ) }}", id="an unexpected parenthesis is refused"),
    pytest.param("{{ toTime 1 | humanizeTimestamp }} {{ stripPort $labels.i }}", id="2.42 fns"),
    pytest.param("{{ now }}", id="a function of a later Prometheus is refused"),
    pytest.param("{{ $labels.x\n| printf `%s` }}", id="an action over two lines"),
    pytest.param("{{ \x01 }}", id="a control character in an action is refused"),
    pytest.param('{{ query "up" | first | value | humanize }}', id="query pipeline"),
]


@pytest.fixture(scope="module")
def promtool_template_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """promtool's error (or None) for every template of the table, from one rules file."""
    texts = [param.values[0] for param in TEMPLATES]
    return promtool_template_errors(tmp_path_factory.mktemp("templates"), texts)


def promtool_template_errors(folder: Path, texts: list[str]) -> dict[str, str | None]:
    groups = [
        {
            "name": f"g{index}",
            "rules": [{"alert": "A", "expr": "vector(1)", "annotations": {"text": text}}],
        }
        for index, text in enumerate(texts)
    ]
    path = folder / "templates.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    output = result.stdout + result.stderr
    errors = dict(re.findall(r'group "g(\d+)".*annotation "text": (.*)', output))
    assert result.returncode == (1 if errors else 0), output
    return {text: errors.get(str(index)) for index, text in enumerate(texts)}


@pytest.mark.parametrize("text", TEMPLATES)
def test_a_go_template_is_refused_exactly_when_promtool_refuses_it(
    text: str, promtool_template_verdicts: dict[str, str | None]
) -> None:
    ours = prometheus_template_error(text, "A")
    theirs = promtool_template_verdicts[text]
    assert (ours is None) == (theirs is None), f"ours: {ours}; promtool: {theirs}"


ACTION_WORDS = [
    *" .|(),=$'\"`-",
    ":=",
    ".X",
    "$labels",
    "$value",
    "$x",
    "if",
    "else",
    "end",
    "range",
    "with",
    "break",
    "define",
    "template",
    "block",
    "nil",
    "true",
    '"s"',
    "`r`",
    "'c'",
    "1",
    "-1",
    "0x1F",
    "1e3",
    "08",
    "1_0",
    "humanize",
    "printf",
    "nosuch",
    "/*",
    "*/",
    "\n",
]
actions = st.builds(
    lambda left, words, right: left + "".join(words) + right,
    st.sampled_from(["{{", "{{ ", "{{- ", "{{-"]),
    st.lists(st.sampled_from(ACTION_WORDS), max_size=8),
    st.sampled_from(["}}", " }}", " -}}", "-}}", ""]),
)
template_texts = st.lists(
    st.one_of(actions, st.sampled_from(["text", " ", "\n", "{{", "}}"])), min_size=1, max_size=4
).map("".join)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(template_texts, min_size=20, max_size=40, unique=True))
def test_generated_go_templates_get_promtools_verdict(texts: list[str], tmp_path_factory) -> None:
    verdicts = promtool_template_errors(tmp_path_factory.mktemp("generated"), texts)
    for text in texts:
        ours = prometheus_template_error(text, "A")
        assert (ours is None) == (verdicts[text] is None), (text, ours, verdicts[text])


QUERIES = [
    pytest.param("sum(rate(x[5m]))", id="a plain rate"),
    pytest.param("(5m)", id="a duration alone is refused"),
    pytest.param("x > 5m", id="a duration as a number is refused"),
    pytest.param("x offset 5m", id="a duration after offset"),
    pytest.param("x offset -5m", id="a negative offset"),
    pytest.param("x offset 5", id="a number after offset is refused"),
    pytest.param("rate(x[5m] offset 1h)", id="an offset after a range"),
    pytest.param("offset - 5m", id="a metric named offset minus a duration is refused"),
    pytest.param("x @ 5m", id="a duration after @ is refused"),
    pytest.param("sum(rate(x[5m:1m]))", id="a subquery"),
    pytest.param("holt_winters(x[5m], 0.5, 0.5)", id="a function 2.42 has"),
    pytest.param("mad_over_time(x[5m])", id="a function of a later Prometheus is refused"),
    pytest.param("limitk(2, x)", id="an aggregation of a later Prometheus is refused"),
    pytest.param('x{"a.b"="c"}', id="a quoted label name is refused"),
    pytest.param('sum by ("a") (x)', id="a quoted grouping label is refused"),
    pytest.param('{"metric.name"}', id="a quoted metric name is refused"),
    pytest.param('x{a="b", c=~"d.*"}', id="label matchers"),
    pytest.param("x # a comment", id="a comment"),
    pytest.param("x{a='\\d'}", id="a bad escape is refused"),
]


@pytest.fixture(scope="module")
def promtool_query_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    texts = [param.values[0] for param in QUERIES]
    groups = [
        {"name": f"g{i}", "rules": [{"record": "r", "expr": text}]} for i, text in enumerate(texts)
    ]
    path = tmp_path_factory.mktemp("queries") / "queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    refused = {int(i) for i in re.findall(r'group "g(\d+)"', result.stdout + result.stderr)}
    return {text: index not in refused for index, text in enumerate(texts)}


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_is_refused_exactly_when_promtool_refuses_it(
    query: str, promtool_query_verdicts: dict[str, bool]
) -> None:
    assert (syntax_error(query) is None) == promtool_query_verdicts[query], syntax_error(query)


selectors = st.builds(
    lambda name, matchers: name + matchers,
    st.sampled_from(["x", "up", "a:b", "offset", "sum", "", "nan"]),
    st.sampled_from(["", '{a="b"}', "{a=~'b.*'}", '{"a.b"="c"}', '{a="b",}', "{}", "{a=`5m`}"]),
)
durations = st.sampled_from(["5m", "1h", "1d2h", "0s", "5M", "1ms"])
queries = st.recursive(
    st.one_of(
        selectors,
        st.sampled_from(["1", "0.5", "1e3", "0x1F", "Inf", "5m", '"s"']),
        st.builds(lambda s, d: f"{s}[{d}]", selectors, durations),
    ),
    lambda inner: st.one_of(
        st.builds(
            lambda f, a: f"{f}({a})",
            st.sampled_from(["rate", "abs", "vector", "holt_winters", "mad_over_time", "sort"]),
            inner,
        ),
        st.builds(
            lambda agg, mod, a: f"{agg}{mod}({a})",
            st.sampled_from(["sum", "topk", "limitk", "count_values", "quantile"]),
            st.sampled_from(["", " by (a)", ' by ("a")', " without (a)"]),
            inner,
        ),
        st.builds(
            lambda a, op, b: f"{a} {op} {b}",
            inner,
            st.sampled_from(["+", "/", "> bool", "and", "* on(a) group_left", '* on("a")']),
            inner,
        ),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda a, d: f"({a})[{d}:]", inner, durations),
        st.builds(lambda a, o: f"{a} offset {o}", selectors, st.sampled_from(["5m", "-5m", "5"])),
        st.builds(lambda a, o: f"{a} @ {o}", selectors, st.sampled_from(["5", "5m", "start()"])),
        st.builds(lambda a: f"{a} # note", inner),
    ),
    max_leaves=6,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(queries, min_size=30, max_size=60, unique=True))
def test_generated_queries_get_promtools_verdict(texts: list[str], tmp_path_factory) -> None:
    groups = [
        {"name": f"g{i}", "rules": [{"record": "r", "expr": text}]} for i, text in enumerate(texts)
    ]
    path = tmp_path_factory.mktemp("generated-queries") / "queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    refused = {int(i) for i in re.findall(r'group "g(\d+)"', result.stdout + result.stderr)}
    for index, text in enumerate(texts):
        assert (syntax_error(text) is None) == (index not in refused), (text, syntax_error(text))


# --- specs: whatever validate accepts, promtool accepts -----------------------------------

SLO_TEMPLATE = """\
  - name: orders
    objective: {objective}
    sli:
      raw:
        error_ratio_query: {query}
    alerting:
      name: OrdersAlert
      labels:
        team: {label}
      annotations:
        summary: {annotation}
      page_alert:
        annotations:
          runbook_url: {page_annotation}
"""


def quoted(text: str) -> str:
    return yaml.safe_dump(text, default_style='"', width=1 << 20).strip().removesuffix("...")


def compile_and_check(tmp_path: Path, body: str) -> tuple[bool, str]:
    """(validate accepted it, promtool's verdict on the compiled file or '')."""
    spec = write_spec(tmp_path, body)
    compilation = compile_inputs([spec])
    if not compilation.ok:
        return False, ""
    rules = tmp_path / "rules.yaml"
    rules.write_text(merge_rule_files(compilation.files), encoding="utf-8")
    result = run_promtool("check", "rules", rules)
    return True, "" if result.returncode == 0 else result.stdout + result.stderr


QUERY_PARTS = [
    "sum(rate(x[{{.window}}]))",
    "sum(rate(x{a='b'}[{{.window}}])) / sum(rate(y[{{.window}}]))",
    "{{.window}}",
    "x > {{.window}}",
    "rate(x[{{ .window }}]) # note",
    "rate(x[{{.window}}:1m])",
    "mad_over_time(x[{{.window}}])",
    'x{"a"="b"}[{{.window}}]',
    "rate(x[{{.window}}]",
    "x[{{.window}}]",
    "vector({{.window}})",
    "rate(x[1{{.window}}])",
]
TEXT_PARTS = [
    "plain",
    "{{ $labels.sloth_slo }} burns",
    "{{ $labels.x ",
    "{{ nosuch }}",
    "{{ $value | humanize }}",
    "{{ if . }}x",
    "1e5",
    "2024-01-01",
    "yes",
    "a: b",
    "#hash",
    "- dash",
    "\x00nul",
    "tab\there",
    "{{/* c */}}",
    "multi\nline",
]
OBJECTIVES = ["99.9", "1e-300", "100", "0.0001", "99.99999999", "1e-3", "50"]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    objective=st.sampled_from(OBJECTIVES),
    query=st.one_of(st.sampled_from(QUERY_PARTS[:2]), st.sampled_from(QUERY_PARTS)),
    label=st.one_of(st.just("plain"), st.sampled_from(TEXT_PARTS)),
    annotation=st.one_of(st.just("plain"), st.sampled_from(TEXT_PARTS)),
    page_annotation=st.one_of(st.sampled_from(TEXT_PARTS), st.text(min_size=1, max_size=12)),
)
def test_any_spec_validate_accepts_passes_promtool(
    tmp_path: Path, objective: str, query: str, label: str, annotation: str, page_annotation: str
) -> None:
    body = SLO_TEMPLATE.format(
        objective=objective,
        query=quoted(query),
        label=quoted(label),
        annotation=quoted(annotation),
        page_annotation=quoted(page_annotation),
    )
    accepted, refusal = compile_and_check(tmp_path, body)
    event("validate accepted it" if accepted else "validate refused it")
    assert not refusal, f"validate accepted it, promtool refused it:\n{body}\n{refusal}"


AGREED = [
    pytest.param(
        "1e-300", "sum(rate(x[{{.window}}]))", id="an objective of 1e-300 compiles as validated"
    ),
    pytest.param(
        "99.9", "sum(rate(x[{{.window}}])) # errors only", id="a query with a # comment compiles"
    ),
    pytest.param("1e-3", "sum(rate(x[{{.window}}]))", id="an objective written 1e-3 is a number"),
]


@pytest.mark.parametrize(("objective", "query"), AGREED)
def test_validate_and_compile_agree_and_promtool_accepts(
    tmp_path: Path, objective: str, query: str
) -> None:
    body = SLO_TEMPLATE.format(
        objective=objective,
        query=quoted(query),
        label="x",
        annotation="x",
        page_annotation="x",
    )
    accepted, refusal = compile_and_check(tmp_path, body)
    assert accepted
    assert not refusal
