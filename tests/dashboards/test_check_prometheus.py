"""The NaN guards, proven on a real Prometheus (see conftest.py): the broker-login SLO has no
traffic, so its recorded ratios are NaN; its panels read "no traffic" (no series), and no panel
of any dashboard shows NaN. Without the guards the same panels would show NaN, and the check
says so."""

from __future__ import annotations

import copy
import json
import math
import re

import pytest

from dashboards.build import BuiltDashboard, dashboards_from_specs
from dashboards.check import NAN, NO_SERIES, NO_VALUES, check_dashboards
from dashboards.variables import resolve
from sre_platform.prometheus import Limits, open_client
from tests.dashboards.conftest import instant
from tests.dashboards.helpers import SPECS
from tests.lab.helpers import free_port, sre

pytestmark = pytest.mark.e2e

LOGIN = {"service": "exchange", "slo": "broker-login-availability"}
# The detail panels of an SLO without traffic: each has nothing to show but "no traffic".
NO_TRAFFIC_PANELS = {
    "SLI over the period",
    "Budget remaining",
    "Burn rate (5m)",
    "Burn rate (period)",
    "Error budget remaining",
}


def _client(url: str):  # type: ignore[no-untyped-def]
    return open_client(url, limits=Limits(timeout_seconds=120))


def test_an_slo_without_traffic_shows_no_traffic_and_no_panel_shows_nan(
    exchange_prometheus: str,
) -> None:
    report = check_dashboards(dashboards_from_specs([SPECS]), _client(exchange_prometheus))
    assert not [f for f in report.findings if f.problem == NAN], report.findings
    found = {(f.dashboard, f.panel, f.problem, tuple(f.variables.items())) for f in report.findings}
    assert found == {
        *(("SLO detail", title, NO_SERIES, tuple(LOGIN.items())) for title in NO_TRAFFIC_PANELS),
        # No node_exporter here: the host dashboard cannot choose a host (the lab has one).
        ("Hosts", "variable instance", NO_VALUES, ()),
    }
    # 5 overview panels, 13 detail panels with queries per SLO, 10 service panels, no host.
    assert report.panels_checked == 5 + 13 * 3 + 10


def test_without_the_guards_the_same_panels_would_show_nan_and_the_check_says_so(
    exchange_prometheus: str,
) -> None:
    detail = dashboards_from_specs([SPECS])[1]
    model = copy.deepcopy(detail.model)
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            target["expr"] = re.sub(r"\) (>= 0|<= 1)\b", ")", target["expr"])
    unguarded = BuiltDashboard(detail.name, detail.uid, detail.title, model)
    report = check_dashboards([unguarded], _client(exchange_prometheus))
    nan = {f.panel for f in report.findings if f.problem == NAN}
    assert nan | {"SLI over the period"} >= NO_TRAFFIC_PANELS
    assert all(f.variables == LOGIN for f in report.findings if f.problem == NAN)
    assert "SLI error ratio" in nan, "the SLI windows are NaN too without their guard"


def test_the_overview_table_has_a_row_per_slo_and_zero_alerts_for_a_quiet_slo(
    exchange_prometheus: str,
) -> None:
    (table,) = [
        p for p in dashboards_from_specs([SPECS])[0].model["panels"] if p["type"] == "table"
    ]
    columns = {t["refId"]: instant(exchange_prometheus, t["expr"]) for t in table["targets"]}
    slos = lambda ref: {s["metric"]["sloth_slo"]: float(s["value"][1]) for s in columns[ref]}  # noqa: E731
    assert set(slos("A")) == {"order-api-availability", "order-execution-latency", LOGIN["slo"]}
    assert slos("F") == dict.fromkeys(slos("A"), 0.0), "no alert fires: 0, not an empty cell"
    assert LOGIN["slo"] not in slos("E") and LOGIN["slo"] not in slos("C"), "no traffic: no cell"
    assert 0 < slos("E")["order-api-availability"] < 1
    assert all(not math.isnan(v) for ref in columns for v in slos(ref).values())


def test_the_alert_timeline_has_one_zero_series_per_severity_when_nothing_fires(
    exchange_prometheus: str,
) -> None:
    detail = dashboards_from_specs([SPECS])[1]
    (panel,) = [p for p in detail.model["panels"] if p["title"] == "Alert state"]
    for target in panel["targets"]:
        result = instant(exchange_prometheus, resolve(target["expr"], LOGIN))
        assert [float(s["value"][1]) for s in result] == [0.0], target["legendFormat"]


def test_sre_dashboards_check_names_each_empty_panel_and_exits_1(exchange_prometheus: str) -> None:
    result = sre("dashboards", "check", "-i", str(SPECS), "--prometheus", exchange_prometheus)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        'SLO detail: "Budget remaining" [service=exchange, slo=broker-login-availability]: '
        "no series" in result.stdout
    )
    assert "    max(slo:period_error_budget_remaining:ratio{" in result.stdout
    assert "6 empty or NaN" in result.stdout
    as_json = sre(
        "dashboards", "check", "-i", str(SPECS), "--prometheus", exchange_prometheus, "--json"
    )
    document = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and document["ok"] is False
    assert {f["problem"] for f in document["findings"]} == {NO_SERIES, NO_VALUES}
    assert document["queries_run"] >= document["panels_checked"] == 54


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["--prometheus", "http://127.0.0.1:{port}"], 4, "is unreachable",
            id="nothing listening is cannot decide",
        ),
        pytest.param(["--prometheus", "ftp://x"], 2, "not an http(s) URL", id="a bad URL is usage"),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:9", "--timeout", "0"], 2, "above 0",
            id="a zero timeout is usage",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:9", "--period", "2h"], 2, "--period 2h",
            id="a period under a day is usage",
        ),
    ],
)  # fmt: skip
def test_sre_dashboards_check_exit_codes(args: list[str], code: int, message: str) -> None:
    args = [a.replace("{port}", str(free_port())) for a in args]
    result = sre("dashboards", "check", "-i", str(SPECS), *args)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr
