"""Every validation rule: a bad spec is refused with a problem naming file, SLO and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.loader import load_specs, read_specs
from alerting.model import EventsSLI, LatencySLI, RawSLI
from sre_platform.errors import SpecError
from tests.alerting.helpers import FIXTURES, write_spec

GOOD_SLI = """\
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
"""


def slo(
    extra: str = "",
    *,
    name: str = "orders",
    objective: str = "99.9",
    sli: str = GOOD_SLI,
    alerting: str = "    alerting:\n      name: OrdersAlert\n",
) -> str:
    return f"  - name: {name}\n    objective: {objective}\n{sli}{alerting}{extra}"


BAD_SPECS = [
    pytest.param(
        slo(sli="    sli:\n      events:\n        error_query: sum(rate(x[{{.window}}]))\n"),
        "orders",
        "sli.events.total_query",
        "field required",
        id="a missing total query is a required field",
    ),
    pytest.param(
        slo("    objectve: 99\n"),
        "orders",
        "objectve",
        "unknown field",
        id="a typo in a field name is an unknown field",
    ),
    pytest.param(
        slo(
            alerting="    alerting:\n      name: OrdersAlert\n      page_alert:\n        disabled: true\n"
        ),
        "orders",
        "alerting.page_alert.disabled",
        "unknown field",
        id="an unknown alert field is refused",
    ),
    pytest.param(
        slo(name="Orders API"),
        "Orders API",
        "name",
        "must be letters",
        id="a name with a space is refused",
    ),
    pytest.param(
        slo(objective="0"),
        "orders",
        "objective",
        "greater than 0",
        id="an objective of zero is refused",
    ),
    pytest.param(
        slo(objective="100.5"),
        "orders",
        "objective",
        "at most 100",
        id="an objective above 100 is refused",
    ),
    pytest.param(
        slo(sli="    sli: {}\n"),
        "orders",
        "sli",
        "exactly one of events, raw or latency",
        id="an SLO without an SLI kind is refused",
    ),
    pytest.param(
        slo(sli=GOOD_SLI + "      raw:\n        error_ratio_query: x[{{.window}}]\n"),
        "orders",
        "sli",
        "found: events, raw",
        id="two SLI kinds are refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      plugin:\n        id: sloth-common/availability\n"),
        "orders",
        "sli.plugin",
        "plugins are not supported (a Sloth SLI plugin)",
        id="a Sloth SLI plugin is refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      plugin:\n        id: x\n        optionz: {a: 1}\n"),
        "orders",
        "sli.plugin",
        "plugins are not supported (a Sloth SLI plugin)",
        id="an unknown field inside an SLI plugin gets the plugin message",
    ),
    pytest.param(
        slo("    slo_plugins:\n      chain: []\n"),
        "orders",
        "slo_plugins",
        "plugins are not supported (Sloth SLO plugins)",
        id="Sloth SLO plugins are refused",
    ),
    pytest.param(
        slo("    plugins:\n      chain: [{id: x, priority: 1, bogus: 2}]\n"),
        "orders",
        "plugins",
        "plugins are not supported (Sloth SLO plugins)",
        id="an unknown field inside an SLO's plugins gets the plugin message",
    ),
    pytest.param(
        slo(sli="    sli:\n      raw:\n        error_ratio_query: sum(rate(x[5m]))\n"),
        "orders",
        "sli.raw.error_ratio_query",
        "{{.window}} placeholder",
        id="a query without the window placeholder is refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      raw:\n        error_ratio_query: sum(rate(x[{{.window}}])\n"),
        "orders",
        "sli.raw.error_ratio_query",
        "invalid PromQL",
        id="a query that is not PromQL is refused",
    ),
    pytest.param(
        slo(
            sli="    sli:\n      events:\n        error_query: sum(rate(x[{{.window}}]))\n"
            "        total_query: sum(rate(x[{{.window}}]))\n"
        ),
        "orders",
        "sli.events",
        "must differ",
        id="identical error and total queries are refused",
    ),
    pytest.param(
        slo(alerting="    alerting: {}\n"),
        "orders",
        "alerting.name",
        "required unless both",
        id="alerts need a name unless both are disabled",
    ),
    pytest.param(
        slo(alerting="    alerting:\n      name: ' '\n"),
        "orders",
        "alerting.name",
        "must not be empty",
        id="an alert name of only spaces is refused (any other text is a valid alert name)",
    ),
    pytest.param(
        slo("    labels:\n      2team: x\n"),
        "orders",
        "labels.2team",
        "invalid label name",
        id="a label name starting with a digit is refused",
    ),
    pytest.param(
        slo("    labels:\n      team: ''\n"),
        "orders",
        "labels.team",
        "must not be empty",
        id="an empty label value is refused",
    ),
    pytest.param(
        slo("    labels:\n      sloth_slo: x\n"),
        "orders",
        "labels.sloth_slo",
        "reserved",
        id="a label the compiler sets is reserved",
    ),
    pytest.param(
        slo(
            alerting="    alerting:\n      name: A\n      page_alert:\n        labels:\n          bad-name: x\n"
        ),
        "orders",
        "alerting.page_alert.labels.bad-name",
        "invalid label name",
        id="alert label names are checked too",
    ),
    pytest.param(
        slo(sli="    sli:\n      latency:\n        histogram: h\n        threshold: 0\n"),
        "orders",
        "sli.latency.threshold",
        "greater than 0",
        id="a latency threshold of zero is refused",
    ),
    pytest.param(
        slo(
            sli="    sli:\n      latency:\n        histogram: h\n        selector: 'job=\"x\"'\n        threshold: 1\n"
        ),
        "orders",
        "sli.latency.selector",
        "in braces",
        id="a latency selector without braces is refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      latency:\n        histogram: h-1\n        threshold: 1\n"),
        "orders",
        "sli.latency.histogram",
        "metric name",
        id="a histogram name must be a metric name",
    ),
    pytest.param(
        slo("    period: 120d\n"),
        "orders",
        "period",
        "between 1d and 90d",
        id="a period beyond 90 days is refused",
    ),
    pytest.param(
        slo("    period: monthly\n"),
        "orders",
        "period",
        "invalid duration",
        id="a period that is not a duration is refused",
    ),
    pytest.param(
        slo() + slo(),
        "orders",
        "name",
        "duplicate SLO name",
        id="two SLOs with one name in a service are refused",
    ),
    pytest.param(
        slo(objective="high"),
        "orders",
        "objective",
        "must be a number",
        id="an objective that is not a number is refused",
    ),
    pytest.param(
        slo(objective="true"),
        "orders",
        "objective",
        "must be a number",
        id="an objective of true is refused, not read as 1%",
    ),
    pytest.param(
        slo(objective="'99.9'"),
        "orders",
        "objective",
        "must be a number",
        id="an objective in quotes is text and refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      raw:\n        error_ratio_query: '{{.window}}'\n"),
        "orders",
        "sli.raw.error_ratio_query",
        "whole range of a range selector",
        id="a query that is only the window placeholder is refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      raw:\n        error_ratio_query: 'x > {{.window}}'\n"),
        "orders",
        "sli.raw.error_ratio_query",
        "whole range of a range selector",
        id="the window placeholder used as a number is refused",
    ),
    pytest.param(
        slo(sli="    sli:\n      raw:\n        error_ratio_query: 'x[{{.window}}]'\n"),
        "orders",
        "sli.raw.error_ratio_query",
        "range vector",
        id="a query that returns a range vector is refused",
    ),
    pytest.param(
        slo(
            sli="    sli:\n      raw:\n        error_ratio_query: 'mad_over_time(x[{{.window}}])'\n"
        ),
        "orders",
        "sli.raw.error_ratio_query",
        "not known to Prometheus 2.42",
        id="a function Prometheus 2.42 lacks is refused",
    ),
    pytest.param(
        slo(
            sli='    sli:\n      latency:\n        histogram: h\n        selector: \'{"a.b"="c"}\'\n        threshold: 1\n'
        ),
        "orders",
        "sli.latency.selector",
        "quoted label",
        id="a quoted label name in a latency selector is refused",
    ),
    pytest.param(
        slo(
            alerting="    alerting:\n      name: A\n      annotations:\n        summary: '{{ $labels.x '\n"
        ),
        "orders",
        "alerting.annotations.summary",
        "not a valid Go template",
        id="an annotation that is not a Go template is refused",
    ),
    pytest.param(
        slo(
            alerting="    alerting:\n      name: A\n      page_alert:\n        annotations:\n          runbook: '{{ nosuch }}'\n"
        ),
        "orders",
        "alerting.page_alert.annotations.runbook",
        'function "nosuch" not defined',
        id="an unknown template function in a page annotation is refused",
    ),
    pytest.param(
        slo(alerting="    alerting:\n      name: A\n      labels:\n        team: '{{ end }}'\n"),
        "orders",
        "alerting.labels.team",
        "not a valid Go template",
        id="an alert label is a Go template too",
    ),
    pytest.param(
        slo(alerting="    alerting:\n      name: A\n      labels:\n        sloth_severity: x\n"),
        "orders",
        "alerting.labels.sloth_severity",
        "reserved",
        id="a sloth label on an alert is reserved",
    ),
    pytest.param(
        slo(alerting="    alerting:\n      name: A\n      labels:\n        alertname: x\n"),
        "orders",
        "alerting.labels.alertname",
        "Prometheus sets alertname",
        id="alertname on an alert is reserved",
    ),
    pytest.param(
        slo("    labels:\n      sloth_team: x\n"),
        "orders",
        "labels.sloth_team",
        "reserved",
        id="every sloth_ label is reserved",
    ),
    pytest.param(
        slo(alerting="    alerting:\n      name: A\n      page_alert:\n        disable: 'yes'\n"),
        "orders",
        "alerting.page_alert.disable",
        "true or false",
        id="a flag in quotes is refused",
    ),
]


@pytest.mark.parametrize(("body", "slo_name", "field", "message"), BAD_SPECS)
def test_bad_specs_are_refused_with_file_slo_and_field(
    tmp_path: Path, body: str, slo_name: str | None, field: str | None, message: str
) -> None:
    path = write_spec(tmp_path, body)
    with pytest.raises(SpecError) as caught:
        load_specs([path])
    matching = [
        p
        for p in caught.value.errors
        if p.file == path.as_posix()
        and p.slo == slo_name
        and p.field == field
        and message in p.message
    ]
    assert matching, "\n".join(map(str, caught.value.problems))


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    first = write_spec(
        tmp_path, slo(objective="0") + slo(name="b", alerting="    alerting: {}\n"), "a.yaml"
    )
    second = write_spec(tmp_path, slo("    unknown: 1\n"), "b.yaml")
    result = read_specs([first, second])
    fields = sorted((p.file, p.slo, p.field) for p in result.problems)
    assert fields == [
        (first.as_posix(), "b", "alerting.name"),
        (first.as_posix(), "orders", "objective"),
        (second.as_posix(), "orders", "unknown"),
    ]


def test_problem_text_names_file_slo_and_field(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path, slo(sli="    sli:\n      events:\n        error_query: x[{{.window}}]\n")
    )
    result = read_specs([path])
    assert (
        str(result.problems[0])
        == f'{path.as_posix()}: slo "orders": sli.events.total_query: field required'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "version: prometheus/v1\nservice: [unclosed\n",
            "invalid YAML",
            id="broken YAML names the line",
        ),
        pytest.param(
            "- just\n- a list\n",
            "must be a mapping",
            id="a document that is not a mapping is refused",
        ),
        pytest.param("# only a comment\n", "no spec documents", id="an empty file is refused"),
        pytest.param(
            'version: prometheus/v1\nservice: "\\ud800"\nslos: []\n',
            "invalid Unicode character escape",
            id="an escape that is not Unicode text is refused",
        ),
        pytest.param(
            b"version: prometheus/v1\nservice: caf\xe9\n",
            "not UTF-8",
            id="a file that is not UTF-8 is refused",
        ),
        pytest.param(
            "version: prometheus/v2\nservice: a\nslos: []\n",
            "unsupported spec format: version prometheus/v2; supported: version: prometheus/v1",
            id="another spec version is an unsupported format",
        ),
    ],
)
def test_unreadable_documents_are_clean_errors(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    result = read_specs([path])
    assert not result.ok
    assert any(message in p.message and p.file == path.as_posix() for p in result.problems)


def test_a_missing_input_is_reported(tmp_path: Path) -> None:
    result = read_specs([tmp_path / "nope.yaml"])
    assert [p.message for p in result.problems] == ["no such file or folder"]


def test_slo_ids_must_be_unique_across_inputs(tmp_path: Path) -> None:
    first = write_spec(tmp_path, slo(), "a.yaml")
    second = write_spec(tmp_path, slo(), "b.yaml")
    result = read_specs([first, second])
    assert [(p.file, p.field) for p in result.problems if "already defined" in p.message] == [
        (second.as_posix(), "name")
    ]


def test_alerts_that_can_never_fire_are_warned_about(tmp_path: Path) -> None:
    path = write_spec(tmp_path, slo(objective="90"))
    result = read_specs([path])
    assert result.ok
    warnings = [p for p in result.problems if p.severity == "warning"]
    assert [w.field for w in warnings] == ["alerting.page_alert"]
    assert "page quick tier can never fire" in warnings[0].message


def test_a_folder_input_reads_every_spec_and_multi_document_files() -> None:
    files = load_specs([FIXTURES])
    slos = {slo.id: slo for spec_file in files for slo in spec_file.slos}
    assert set(slos) >= {"payments-charge-success", "payments-refund-ratio", "ledger-writes"}
    assert isinstance(slos["payments-charge-success"].sli, EventsSLI)
    assert isinstance(slos["payments-refund-ratio"].sli, RawSLI)
    assert isinstance(slos["search-quarterly-latency"].sli, LatencySLI)
    assert slos["search-weekly-availability"].period_seconds == 7 * 86400
    assert slos["search-default-period"].period_seconds == 30 * 86400


def test_the_cli_period_is_the_default_and_the_slo_period_wins() -> None:
    slos = {
        s.name: s for f in load_specs([FIXTURES / "periods.yaml"], period="28d") for s in f.slos
    }
    assert slos["default-period"].period_seconds == 28 * 86400
    assert slos["weekly-availability"].period_seconds == 7 * 86400


def test_labels_merge_extra_then_service_then_slo() -> None:
    (spec_file,) = [
        f
        for f in load_specs(
            [FIXTURES / "payments-sloth-style.yaml"], extra_labels={"env": "prod", "team": "x"}
        )
    ]
    charge = spec_file.slos[0]
    assert dict(charge.labels) == {"env": "prod", "journey": "checkout", "team": "payments"}


def test_slo_ids_must_be_unique_across_documents_of_one_file(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    document = "version: prometheus/v1\nservice: exchange\nslos:\n" + slo()
    path.write_text(document + "---\n" + document, encoding="utf-8")
    result = read_specs([path])
    assert not result.ok
    assert any("already defined" in p.message for p in result.problems)


def test_one_pass_reports_field_and_query_problems_of_the_same_slo(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        slo(
            "    objectve: 99\n",
            sli="    sli:\n      events:\n        error_query: '{{.window}}'\n"
            "        total_query: sum(rate(x[{{.window}}])\n",
            alerting="    alerting:\n      name: A\n      annotations:\n        s: '{{ if . }}'\n",
        ),
    )
    result = read_specs([path])
    assert sorted((p.field, p.message.split(":")[0]) for p in result.problems) == [
        ("alerting.annotations.s", "not a valid Go template (as Prometheus parses it)"),
        (
            "objectve",
            "unknown field (not part of prometheus/v1 or its documented extensions); "
            "did you mean objective?",
        ),
        (
            "sli.events.error_query",
            "{{.window}} must be the whole range of a range selector or subquery, e.g. rate(x[{{.window}}])",
        ),
        ("sli.events.total_query", "invalid PromQL"),
    ]
    assert all(p.slo == "orders" for p in result.problems)


def test_a_document_without_service_still_has_its_slos_checked(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("version: prometheus/v1\nslos:\n" + slo(objective="101"), encoding="utf-8")
    fields = sorted(p.field for p in read_specs([path]).problems)
    assert fields == ["objective", "service"]


def test_a_100_percent_objective_is_a_warning_that_says_what_happens(tmp_path: Path) -> None:
    result = read_specs([write_spec(tmp_path, slo(objective="100"))])
    assert result.ok
    (warning,) = [p for p in result.problems if p.severity == "warning"]
    assert warning.field == "objective"
    assert "no error budget" in warning.message and "first failed request" in warning.message
