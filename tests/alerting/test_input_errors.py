"""Bad input in the issue-12 formats: AlertWindows files, Sloth CRDs and OpenSLO documents are
refused with a problem naming the file, the SLO (where there is one) and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.alert_windows import read_windows
from alerting.loader import LoadOptions, read_specs
from sre_platform.errors import SpecError
from tests.alerting.helpers import FIXTURES, ROOT

WINDOWS_7D = (ROOT / "tests/alerting/alert_windows/7d.yaml").read_text(encoding="utf-8")
OPENSLO = (FIXTURES / "openslo-checkout.yaml").read_text(encoding="utf-8")
CRD_HEAD = """\
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: pay}
spec:
"""
CRD_SLO = """\
    - name: req
      objective: 99
      sli:
        events:
          errorQuery: sum(rate(e[{{.window}}]))
          totalQuery: sum(rate(t[{{.window}}]))
      alerting:
        name: PayRequests
"""
CRD = CRD_HEAD + "  service: pay\n  slos:\n" + CRD_SLO
RATIO_METRICS = """\
      ratioMetrics:
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(checkout_requests_total{code!~"5.."}[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(checkout_requests_total[{{.window}}]))
"""


BAD_WINDOWS = [
    pytest.param(
        WINDOWS_7D.replace("  sloPeriod: 7d\n", ""),
        "spec.sloPeriod",
        "field required",
        id="a file without sloPeriod is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("sloPeriod: 7d", "sloPeriod: 2h"),
        "spec.sloPeriod",
        "the SLO period must be between 1d and 90d",
        id="a period shorter than a day is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("shortWindow: 5m", "shortWindow: 5 minutes"),
        "spec.page.quick.shortWindow",
        "invalid duration '5 minutes'",
        id="a malformed short window is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("longWindow: 3d", "longWindow: 3days"),
        "spec.ticket.slow.longWindow",
        "invalid duration '3days'",
        id="a malformed long window is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("shortWindow: 5m, longWindow: 1h", "shortWindow: 2h, longWindow: 1h"),
        "spec.page.quick.shortWindow",
        "must not be longer than longWindow",
        id="a short window longer than its long window is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("longWindow: 3d", "longWindow: 8d"),
        "spec.ticket.slow.longWindow",
        "must not be longer than sloPeriod",
        id="a long window longer than the period is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("errorBudgetPercent: 10,", "errorBudgetPercent: 0,"),
        "spec.page.quick.errorBudgetPercent",
        "must be greater than 0 and at most 100",
        id="a budget share of zero is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("errorBudgetPercent: 50,", "errorBudgetPercent: 101,"),
        "spec.ticket.slow.errorBudgetPercent",
        "must be greater than 0 and at most 100",
        id="a budget share above 100 percent is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("errorBudgetPercent: 50,", "errorBudgetPercent: '50',"),
        "spec.ticket.slow.errorBudgetPercent",
        "valid number",
        id="a budget share written as text is refused",
    ),
    pytest.param(
        WINDOWS_7D.split("  ticket:")[0],
        "spec.ticket",
        "field required",
        id="a file without ticket windows is refused",
    ),
    pytest.param(
        WINDOWS_7D.replace("  sloPeriod: 7d\n", "  sloPeriod: 7d\n  slo_period: 7d\n"),
        "spec.slo_period",
        "unknown field; did you mean sloPeriod?",
        id="an unknown field gets a suggestion",
    ),
    pytest.param(
        WINDOWS_7D.replace("kind: AlertWindows", "kind: AlertWindow"),
        "kind",
        "'AlertWindows'",
        id="a wrong kind is refused",
    ),
    pytest.param(
        WINDOWS_7D + "---\n" + WINDOWS_7D,
        None,
        "an AlertWindows file holds one mapping",
        id="two documents in one file are refused",
    ),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD_WINDOWS)
def test_bad_alert_windows_files_name_file_and_field(
    tmp_path: Path, text: str, field: str | None, message: str
) -> None:
    path = tmp_path / "windows.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        read_windows(tmp_path)
    assert any(
        message in p.message and p.file == path.as_posix() and p.field == field
        for p in raised.value.problems
    ), raised.value.problems


def test_two_files_for_one_period_that_differ_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(WINDOWS_7D, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        WINDOWS_7D.replace("slow: {errorBudgetPercent: 15", "slow: {errorBudgetPercent: 16")
    )
    with pytest.raises(SpecError) as raised:
        read_windows(tmp_path)
    (problem,) = raised.value.problems
    assert (problem.file, problem.field) == ((tmp_path / "b.yaml").as_posix(), "spec.sloPeriod")
    assert problem.message == (
        f"sloPeriod 1w is already defined, differently, in {(tmp_path / 'a.yaml').as_posix()}"
    )


def test_two_identical_files_for_one_period_are_one_catalog(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(WINDOWS_7D, encoding="utf-8")
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "b.yml").write_text(WINDOWS_7D, encoding="utf-8")
    assert list(read_windows(tmp_path)) == [7 * 86400]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda root: None, "no .yaml or .yml AlertWindows files", id="an empty folder"
        ),
        pytest.param(
            lambda root: (root / "w.yaml").write_text("a: [", encoding="utf-8"),
            "invalid YAML",
            id="invalid YAML",
        ),
    ],
)
def test_unusable_windows_folders_are_refused(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    with pytest.raises(SpecError) as raised:
        read_windows(tmp_path)
    assert any(message in p.message for p in raised.value.problems), raised.value.problems


def test_a_period_without_a_windows_file_names_file_slo_and_field(tmp_path: Path) -> None:
    spec = FIXTURES / "ledger-14d.yaml"
    (tmp_path / "7d.yaml").write_text(WINDOWS_7D, encoding="utf-8")
    result = read_specs([spec], options=LoadOptions(windows=read_windows(tmp_path)))
    (problem,) = result.problems
    assert (problem.file, problem.slo, problem.field) == (
        spec.as_posix(),
        "writes-availability",
        "period",
    )
    assert problem.message.startswith(
        "no AlertWindows file in --windows-path has sloPeriod 2w (periods there: 1w)"
    )


BAD_CRDS = [
    pytest.param(
        CRD.replace("kind: PrometheusServiceLevel", "kind: ServiceLevel"),
        None,
        "apiVersion",
        "unsupported spec format: sloth.slok.dev/v1/ServiceLevel; supported:",
        id="a CRD of another kind is an unsupported format",
    ),
    pytest.param(
        CRD.replace("sloth.slok.dev/v1", "sloth.slok.dev/v2"),
        None,
        "apiVersion",
        "unsupported spec format: sloth.slok.dev/v2/PrometheusServiceLevel; supported:",
        id="a CRD of another apiVersion is an unsupported format",
    ),
    pytest.param(
        CRD.replace("  service: pay\n", ""),
        None,
        "spec.service",
        "field required",
        id="a CRD without spec.service is refused",
    ),
    pytest.param(
        CRD.replace("metadata: {name: pay}\n", ""),
        None,
        "metadata",
        "field required",
        id="a CRD without metadata is refused",
    ),
    pytest.param(
        CRD.replace(
            "        events:\n          errorQuery: sum(rate(e[{{.window}}]))\n"
            "          totalQuery: sum(rate(t[{{.window}}]))\n",
            "        latency: {histogram: h, threshold: 0.1}\n",
        ),
        "req",
        "sli.latency",
        "latency SLIs are an extension of sre-platform's prometheus/v1 specs, which Sloth's "
        "CRD does not have",
        id="our latency SLI extension is refused in a CRD with its reason",
    ),
    pytest.param(
        CRD + "      period: 7d\n",
        "req",
        "period",
        "a per-SLO period is an extension of sre-platform's prometheus/v1 specs",
        id="our per-SLO period extension is refused in a CRD with its reason",
    ),
    pytest.param(
        CRD.replace("  service: pay\n", "  version: prometheus/v1\n  service: pay\n"),
        None,
        "spec.version",
        "a CRD has no version: its apiVersion says it",
        id="a version in a CRD's spec is refused with its reason",
    ),
    pytest.param(
        CRD + "        page_alert: {disable: true}\n",
        "req",
        "alerting.page_alert",
        "unknown field; did you mean pageAlert?",
        id="a prometheus/v1 spelling in a CRD gets the CRD's name",
    ),
    pytest.param(
        CRD.replace("totalQuery", "totalquery"),
        "req",
        "sli.events.totalquery",
        "did you mean totalQuery?",
        id="a misspelt CRD field gets the CRD's name",
    ),
    pytest.param(
        CRD.replace(
            "  service: pay\n", "  service: pay\n  sloPlugins: {chain: [{id: x, junk: 1}]}\n"
        ),
        None,
        "spec.sloPlugins",
        "plugins are not supported",
        id="a CRD's sloPlugins are refused with the plugin message",
    ),
]


BAD_OPENSLO = [
    pytest.param(
        OPENSLO.replace("source: prometheus", "source: datadog", 1),
        "checkout-availability-0",
        "spec.objectives[0].ratioMetrics.good.source",
        "must be prometheus or sloth",
        id="an unsupported metric source is refused",
    ),
    pytest.param(
        OPENSLO.replace("queryType: promql", "queryType: sql", 1),
        "checkout-availability-0",
        "spec.objectives[0].ratioMetrics.good.queryType",
        "must be promql",
        id="a query type other than promql is refused",
    ),
    pytest.param(
        OPENSLO + "    - count: 7\n      unit: Day\n      isRolling: true\n",
        None,
        "spec.timeWindows",
        "only one time window is supported",
        id="several time windows are refused",
    ),
    pytest.param(
        OPENSLO.replace(
            "      isRolling: true\n",
            "      isRolling: false\n"
            "      calendar: {startTime: '2024-01-01 00:00:00', timeZone: UTC}\n",
        ),
        None,
        "spec.timeWindows[0].calendar",
        "calendar-aligned time windows are not supported",
        id="a calendar time window is refused",
    ),
    pytest.param(
        OPENSLO.replace("      isRolling: true\n", "      isRolling: false\n"),
        None,
        "spec.timeWindows[0].isRolling",
        "calendar-aligned time windows are not supported",
        id="a time window that is not rolling is refused",
    ),
    pytest.param(
        OPENSLO.replace("unit: Day", "unit: Week"),
        None,
        "spec.timeWindows[0].unit",
        "only time windows in days are supported",
        id="a time window in weeks is refused",
    ),
    pytest.param(
        OPENSLO.replace(RATIO_METRICS + "      target: 0.995\n", "      target: 0.995\n", 1),
        "checkout-availability-0",
        "spec.objectives[0].ratioMetrics",
        "field required: only ratioMetrics objectives are supported",
        id="an objective without ratioMetrics is refused",
    ),
    pytest.param(
        OPENSLO.replace("      target: 0.999\n", ""),
        "checkout-availability-1",
        "spec.objectives[1].target",
        "field required",
        id="an objective without a target is refused",
    ),
    pytest.param(
        OPENSLO.replace("  service: checkout\n", ""),
        None,
        "spec.service",
        "field required",
        id="an OpenSLO SLO without a service is refused",
    ),
    pytest.param(
        OPENSLO.replace("budgetingMethod:", "budgetingMethods:"),
        None,
        "spec.budgetingMethods",
        "unknown field; did you mean budgetingMethod?",
        id="a misspelt OpenSLO field gets OpenSLO's name",
    ),
]


@pytest.mark.parametrize(("text", "slo", "field", "message"), BAD_CRDS + BAD_OPENSLO)
def test_bad_crd_and_openslo_documents_name_file_slo_and_field(
    tmp_path: Path, text: str, slo: str | None, field: str, message: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    result = read_specs([path])
    assert not result.ok
    assert any(
        message in p.message and (p.file, p.slo, p.field) == (path.as_posix(), slo, field)
        for p in result.problems
    ), result.problems


def test_the_good_documents_of_the_tables_are_accepted(tmp_path: Path) -> None:
    """The tables' bases are valid: each case fails for its own change only."""
    for name, text in (("crd.yaml", CRD), ("openslo.yaml", OPENSLO), ("w/7d.yaml", WINDOWS_7D)):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert read_specs([tmp_path / "crd.yaml", tmp_path / "openslo.yaml"]).problems == []
    assert list(read_windows(tmp_path / "w")) == [7 * 86400]


@pytest.mark.parametrize("allow_unknown_fields", [False, True], ids=["strict", "lenient"])
def test_a_plugin_block_gets_only_the_plugin_message(
    tmp_path: Path, allow_unknown_fields: bool
) -> None:
    """Nothing inside a plugin block is read: its unknown fields never hide the plugin message,
    and --allow-unknown-fields does not let a plugin through."""
    path = tmp_path / "spec.yaml"
    path.write_text(
        CRD.replace("  service: pay\n", "  service: pay\n  sloPlugins: {chain: [{bogus: 1}]}\n")
        + "      plugins: {chain: [{id: x, junk: 2}]}\n",
        encoding="utf-8",
    )
    result = read_specs([path], options=LoadOptions(allow_unknown_fields=allow_unknown_fields))
    assert [(p.severity, p.slo, p.field) for p in result.problems] == [
        ("error", "req", "plugins"),
        ("error", None, "spec.sloPlugins"),
    ]
    assert all("plugins are not supported" in p.message for p in result.problems)
