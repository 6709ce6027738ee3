"""Issue 12 inputs through the `sre` console script: --output-format, --windows-path and its
Sloth alias, --allow-unknown-fields and did-you-mean, custom windows in `test` and `explain`,
exit codes, and messages naming file and field without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.alerting.helpers import ROOT, run_sre

CRD = "tests/alerting/fixtures/crd-payments.yaml"
PLAIN = "slo_specs/exchange.yaml"
WINDOWS = "tests/alerting/alert_windows"
ORDERS_7D = "tests/alerting/fixtures/orders-7d.yaml"
LEDGER_14D = "tests/alerting/fixtures/ledger-14d.yaml"

UNKNOWN_FIELDS = """\
version: prometheus/v1
service: shop
slos:
  - name: checkout
    objective: 99
    owner: team-x
    sli:
      events:
        error_query: sum(rate(shop_errors_total[{{.window}}]))
        total_query: sum(rate(shop_requests_total[{{.window}}]))
    alerting:
      name: ShopCheckout
      pageAlert:
        labels: {severity: critical}
"""


def _documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def test_auto_output_of_a_crd_is_a_prometheus_rule_with_slothss_metadata() -> None:
    result = run_sre("slo", "compile", "-i", CRD)
    assert result.returncode == 0, result.stderr
    (document,) = _documents(result.stdout)
    assert (document["apiVersion"], document["kind"]) == (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
    )
    assert document["metadata"] == {
        "name": "payments-slos",
        "namespace": "monitoring",
        "labels": {
            "team": "payments",
            "app.kubernetes.io/component": "SLO",
            "app.kubernetes.io/managed-by": "sloth",
        },
        "annotations": {"owner": "payments@example.com"},
    }
    names = [group["name"] for group in document["spec"]["groups"]]
    assert "sloth-slo-alerts-payments-requests-availability" in names


def test_rules_output_of_a_crd_is_a_plain_rules_file_with_the_same_groups() -> None:
    rules = run_sre("slo", "compile", "-i", CRD, "--output-format", "rules")
    auto = run_sre("slo", "compile", "-i", CRD)
    assert rules.returncode == 0, rules.stderr
    (plain,) = _documents(rules.stdout)
    (wrapped,) = _documents(auto.stdout)
    assert list(plain) == ["groups"]
    assert plain["groups"] == wrapped["spec"]["groups"]


def test_prometheus_rule_output_to_a_folder_writes_one_file_per_crd_spec(tmp_path: Path) -> None:
    result = run_sre(
        "slo", "compile", "-i", CRD, "--output-format", "prometheus-rule", "-o", f"{tmp_path}/k8s/"
    )
    assert result.returncode == 0, result.stderr
    (written,) = (tmp_path / "k8s").iterdir()
    assert written.name == "crd-payments.rules.yaml"
    assert _documents(written.read_text())[0]["kind"] == "PrometheusRule"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(
            ["-i", PLAIN, "--output-format", "prometheus-rule"],
            f"error: {PLAIN}: --output-format prometheus-rule needs Kubernetes metadata",
            id="prometheus-rule for a prometheus/v1 spec is an error naming the file",
        ),
        pytest.param(
            ["-i", CRD, "-i", PLAIN],
            f"error: {PLAIN}: the inputs mix Kubernetes PrometheusServiceLevel documents with "
            "other formats: choose --output-format rules",
            id="a CRD mixed with prometheus/v1 in auto is an error naming the choice",
        ),
        pytest.param(
            ["-i", CRD, "-i", "tests/alerting/fixtures/openslo-checkout.yaml"],
            "choose --output-format rules",
            id="a CRD mixed with OpenSLO in auto is the same error",
        ),
    ],
)
def test_an_output_format_the_inputs_cannot_have_exits_1_and_writes_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    target = tmp_path / "rules.yaml"
    result = run_sre("slo", "compile", *args, "-o", target)
    assert result.returncode == 1, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_mixed_inputs_compile_with_output_format_rules() -> None:
    result = run_sre("slo", "compile", "-i", CRD, "-i", PLAIN, "--output-format", "rules")
    assert result.returncode == 0, result.stderr
    names = [group["name"] for group in yaml.safe_load(result.stdout)["groups"]]
    assert "sloth-slo-alerts-payments-requests-availability" in names
    assert "sloth-slo-alerts-exchange-order-api-availability" in names


def test_an_unknown_output_format_is_a_usage_error() -> None:
    result = run_sre("slo", "compile", "-i", CRD, "--output-format", "k8s")
    assert result.returncode == 2
    assert "--output-format 'k8s': expected one of auto, rules, prometheus-rule" in result.stderr


@pytest.mark.parametrize("spec", [ORDERS_7D, LEDGER_14D], ids=["7d windows", "14d windows"])
def test_the_sloth_flag_name_is_an_alias_of_windows_path(spec: str) -> None:
    ours = run_sre("slo", "compile", "-i", spec, "--windows-path", WINDOWS)
    sloths = run_sre("slo", "compile", "-i", spec, "--slo-period-windows-path", WINDOWS)
    default = run_sre("slo", "compile", "-i", spec)
    assert ours.returncode == sloths.returncode == default.returncode == 0, ours.stderr
    assert ours.stdout == sloths.stdout
    assert ours.stdout != default.stdout  # the custom windows were used


def test_a_period_without_an_alert_windows_file_exits_1_naming_file_slo_and_field() -> None:
    result = run_sre("slo", "validate", "-i", PLAIN, "--windows-path", WINDOWS)
    assert result.returncode == 1
    assert (
        f'error: {PLAIN}: slo "order-api-availability": period: no AlertWindows file in '
        "--windows-path has sloPeriod 30d (periods there: 1w, 2w)"
    ) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_alert_windows_file_exits_1_naming_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "7d.yaml").write_text(
        (ROOT / WINDOWS / "7d.yaml").read_text().replace("longWindow: 1h", "longWindow: 1x")
    )
    result = run_sre("slo", "compile", "-i", ORDERS_7D, "--windows-path", tmp_path)
    assert result.returncode == 1
    assert f"error: {tmp_path}/7d.yaml: spec.page.quick.longWindow:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_windows_folder_exits_1() -> None:
    result = run_sre("slo", "compile", "-i", ORDERS_7D, "--windows-path", "no/such/folder")
    assert result.returncode == 1
    assert "error: no/such/folder: --windows-path: no such folder" in result.stderr


def test_unknown_fields_are_errors_with_a_suggestion(tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(UNKNOWN_FIELDS)
    result = run_sre("slo", "validate", "-i", spec)
    assert result.returncode == 1
    assert (
        f'error: {spec}: slo "checkout": alerting.pageAlert: unknown field (not part of '
        "prometheus/v1 or its documented extensions); did you mean page_alert?"
    ) in result.stderr
    assert f'error: {spec}: slo "checkout": owner: unknown field' in result.stderr
    compiled = run_sre("slo", "compile", "-i", spec)
    assert compiled.returncode == 1 and compiled.stdout == ""


@pytest.mark.parametrize("verb", ["validate", "compile"])
def test_allow_unknown_fields_warns_on_stderr_naming_file_and_field(
    tmp_path: Path, verb: str
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(UNKNOWN_FIELDS)
    result = run_sre("slo", verb, "-i", spec, "--allow-unknown-fields")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f'warning: {spec}: slo "checkout": alerting.pageAlert: unknown field, ignored '
        "(--allow-unknown-fields); did you mean page_alert?",
        f'warning: {spec}: slo "checkout": owner: unknown field, ignored (--allow-unknown-fields)',
    ]
    assert "warning" not in result.stdout
    if verb == "compile":  # the ignored block is gone: no severity label from it
        assert "severity: critical" not in result.stdout


def test_allow_unknown_fields_in_validate_json_gives_warnings(tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(UNKNOWN_FIELDS)
    result = run_sre("slo", "validate", "-i", spec, "--allow-unknown-fields", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] and report["errors"] == 0
    assert [(p["severity"], p["slo"], p["field"]) for p in report["problems"]] == [
        ("warning", "checkout", "alerting.pageAlert"),
        ("warning", "checkout", "owner"),
    ]


def test_allow_unknown_fields_does_not_let_a_plugin_through(tmp_path: Path) -> None:
    spec = tmp_path / "plugin.yaml"
    spec.write_text(
        UNKNOWN_FIELDS.replace(
            "      events:\n",
            "      plugin: {id: sloth-common/availability, junk: 1}\n      events:\n",
        )
    )
    result = run_sre("slo", "validate", "-i", spec, "--allow-unknown-fields")
    assert result.returncode == 1
    assert f'error: {spec}: slo "checkout": sli.plugin: plugins are not supported' in result.stderr


def test_explain_shows_the_custom_windows_and_factors() -> None:
    result = run_sre("slo", "explain", "-i", ORDERS_7D, "--windows-path", WINDOWS, "--json")
    assert result.returncode == 0, result.stderr
    (slo,) = json.loads(result.stdout)["slos"]
    tiers = [
        (t["tier"], t["long_window"], t["short_window"], t["factor"], t["budget_share"])
        for t in slo["tiers"]
    ]
    # errorBudgetPercent x 168h / 100 / long window, as Sloth computes it.
    assert tiers == [
        ("page quick", "1h", "5m", pytest.approx(16.8), 0.1),
        ("page slow", "6h", "30m", pytest.approx(4.2), 0.15),
        ("ticket quick", "1d", "2h", pytest.approx(1.75), 0.25),
        ("ticket slow", "3d", "6h", pytest.approx(7 / 6), 0.5),
    ]
    text = run_sre("slo", "explain", "-i", ORDERS_7D, "--slo-period-windows-path", WINDOWS)
    assert "│ page quick   │ 1h   │ 5m    │ 16.8   │" in text.stdout


def test_slo_test_proves_the_alerts_of_custom_windows(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    result = run_sre(
        "slo", "test", "-i", ORDERS_7D, "--windows-path", WINDOWS, "--keep", keep, "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["counts"] == {"passed": 3, "failed": 0, "skipped": 0}
    titles = {item["proof"]: item["title"] for item in report["results"]}
    # The proofs are built from the custom catalog (3d ticket-slow window, factor 16.8 pages),
    # not the default 7d one (a 16h48m ticket-slow window).
    assert "past the 3d ticket-slow long window" in titles["steady-burn"]
    rules = (keep / "orders-submit-availability" / "rules.yaml").read_text()
    assert "> (16.8 * 0.005)" in rules


def test_every_fixture_validates_with_its_custom_windows() -> None:
    result = run_sre(
        "slo", "validate", "-i", ORDERS_7D, "-i", LEDGER_14D, "--windows-path", WINDOWS
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 2 SLO(s) in 2 file(s)"
