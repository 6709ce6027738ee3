"""`sre slo report` against a real Prometheus holding a known week (see conftest.py), run as
the real console script: every figure is checked against the history that was written."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reports.conftest import MINUTE, History

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SRE = Path(sys.executable).with_name("sre")


def sre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SRE), "slo", "report", *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def report(url: str, output: Path, *args: str) -> dict:
    result = sre("--prometheus", url, "-o", str(output), "--json", *args)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    return {slo["slo_id"]: slo | {"_end": document["end"]} for slo in document["slos"]}


def integral(error, start: float, end: float) -> float:
    """What the report integrates: one sample a minute in (start, end], each standing for 60 s."""
    first = int(start) // MINUTE * MINUTE + MINUTE
    return sum(e for t in range(first, int(end) + 1, MINUTE) if (e := error(t)) is not None) * 60


@pytest.fixture(scope="module")
def week(prometheus_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return report(prometheus_url, tmp_path_factory.mktemp("week") / "report.html")


@pytest.fixture(scope="module")
def day(prometheus_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return report(prometheus_url, tmp_path_factory.mktemp("day") / "report.html", "--period", "1d")


def test_every_slo_is_reported_over_its_own_period(week: dict) -> None:
    assert sorted(week) == ["shop-availability", "shop-checkout", "shop-latency"]
    for slo in week.values():
        assert slo["period"] == "1w"
        assert slo["window_end"] - slo["window_start"] == 7 * 86400
        assert 0 < len(slo["chart"]) <= 1000 or slo["no_traffic"]


def test_attainment_and_budget_spent_match_the_history(week: dict, history: History) -> None:
    slo = week["shop-availability"]
    spent = integral(history.availability_error, slo["window_start"], slo["window_end"])
    assert slo["budget_spent"] == pytest.approx(spent / (0.001 * 7 * 86400), rel=1e-3)
    assert slo["budget_spent"] == pytest.approx(0.915, abs=0.005)
    assert slo["sli"] == pytest.approx(1 - spent / (7 * 86400), abs=1e-6)
    assert slo["met"] is True
    assert slo["chart"][-1][1] == pytest.approx(1 - slo["budget_spent"], abs=1e-9)


def test_page_incidents_start_end_and_cost(week: dict, history: History) -> None:
    incidents = week["shop-availability"]["incidents"]
    # The ticket and the pending page alerts are not incidents.
    assert [(i["start"], i["end"], i["ongoing"]) for i in incidents] == [
        (*history.incident_1, False),
        (*history.incident_2, False),
    ]
    budget = 0.001 * 7 * 86400
    assert incidents[0]["budget_cost"] == pytest.approx(0.05 * 7200 / budget, rel=1e-3)
    assert incidents[1]["budget_cost"] == pytest.approx(0.01 * 7200 / budget, rel=1e-3)


def test_an_ongoing_page_and_data_that_starts_late(week: dict, history: History) -> None:
    slo = week["shop-latency"]
    [incident] = slo["incidents"]
    assert incident["ongoing"] is True and incident["end"] is None
    assert incident["start"] == history.latency_page_start
    seconds = slo["window_end"] - history.latency_page_start
    assert incident["budget_cost"] == pytest.approx(0.2 * seconds / (0.01 * 7 * 86400), rel=1e-3)
    spent = integral(history.latency_error, slo["window_start"], slo["window_end"])
    assert slo["budget_spent"] == pytest.approx(spent / (0.01 * 7 * 86400), rel=1e-3)
    assert slo["met"] is False
    assert any("later than the period's start" in note for note in slo["notes"])
    assert slo["chart"][0][0] >= history.latency_start


def test_an_slo_without_traffic_says_so(week: dict) -> None:
    slo = week["shop-checkout"]
    assert slo["no_traffic"] is True
    assert (slo["sli"], slo["budget_spent"], slo["chart"], slo["incidents"]) == (None, None, [], [])


def test_period_option_and_an_incident_that_began_before_the_window(
    day: dict, history: History
) -> None:
    slo = day["shop-availability"]
    assert slo["period"] == "1d"
    [incident] = slo["incidents"]
    assert incident["began_before_window"] is True
    assert incident["end"] == history.incident_2[1]
    in_window = history.incident_2[1] - slo["window_start"]
    assert incident["budget_cost"] == pytest.approx(0.01 * in_window / 86.4, rel=1e-2)
    assert day["shop-latency"]["budget_spent"] > 1  # overspent: a negative budget left


def test_html_shows_every_slo_no_traffic_and_never_nan(prometheus_url: str, tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    result = sre("--prometheus", prometheus_url, "-o", str(output))
    assert result.returncode == 0, result.stderr
    html = output.read_text(encoding="utf-8")
    for text in (
        "shop / availability",
        "shop / latency",
        "shop / checkout",
        "no traffic",
        "ongoing",
        "missed",
        "met",
    ):
        assert text in html
    assert "NaN" not in html.replace("(the ratio is 0/0)", "")
    assert "<script src" not in html and "<link" not in html  # nothing to fetch
    assert "uPlot" in html
    assert "wrote" in result.stderr and "queries" in result.stderr


def test_specs_restrict_the_report_and_add_descriptions(
    prometheus_url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            version: prometheus/v1
            service: shop
            slos:
              - name: availability
                objective: 99.9
                description: Shop pages served without a server error.
                sli:
                  raw:
                    error_ratio_query: sum(rate(errors[{{.window}}])) / sum(rate(requests[{{.window}}]))
                alerting:
                  name: ShopAvailability
                  annotations:
                    runbook_url: https://runbooks.example.com/shop-availability
              - name: search
                objective: 99
                description: Searches answered.
                sli:
                  raw:
                    error_ratio_query: sum(rate(search_errors[{{.window}}])) / sum(rate(searches[{{.window}}]))
                alerting:
                  page_alert: {disable: true}
                  ticket_alert: {disable: true}
            """
        ),
        encoding="utf-8",
    )
    output = tmp_path / "report.html"
    result = sre("--prometheus", prometheus_url, "-i", str(spec), "-o", str(output), "--json")
    assert result.returncode == 0, result.stderr
    slos = {s["slo_id"]: s for s in json.loads(result.stdout)["slos"]}
    assert sorted(slos) == ["shop-availability", "shop-search"]
    assert slos["shop-availability"]["description"] == "Shop pages served without a server error."
    assert slos["shop-availability"]["runbook"] == "https://runbooks.example.com/shop-availability"
    assert "no SLO series in Prometheus" in slos["shop-search"]["notes"][0]
    assert 'href="https://runbooks.example.com/shop-availability"' in output.read_text()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_unreachable_prometheus_exits_4_and_keeps_the_old_report(tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    output.write_text("last week's report", encoding="utf-8")
    result = sre("--prometheus", _closed_port_url(), "-o", str(output), "--timeout", "10")
    assert result.returncode == 4, result.stderr
    assert "unreachable" in result.stderr
    assert output.read_text(encoding="utf-8") == "last week's report"
    assert list(tmp_path.iterdir()) == [output]  # no temporary file left behind


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["--prometheus", "ftp://x", "-o", "r.html"],
            2,
            "http(s) URL",
            id="a URL that is not http is a usage error",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:1", "-o", "r.html", "--period", "2h"],
            2,
            "--period 2h",
            id="a period under a day is a usage error",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:1", "-o", "r.html", "--timeout", "0"],
            2,
            "--timeout",
            id="a zero timeout is a usage error",
        ),
        pytest.param(["--prometheus", "http://127.0.0.1:1"], 2, "--output", id="-o is required"),
    ],
)
def test_usage_errors_exit_2(args: list[str], code: int, message: str) -> None:
    result = sre(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_output_over_an_input_spec_is_refused(prometheus_url: str, tmp_path: Path) -> None:
    spec = ROOT / "slo_specs" / "exchange.yaml"
    before = spec.read_bytes()
    result = sre("--prometheus", prometheus_url, "-i", str(spec), "-o", str(spec))
    assert result.returncode == 1
    assert "is also an input" in result.stderr
    assert spec.read_bytes() == before


def test_a_bad_spec_is_named_with_its_field(prometheus_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "version: prometheus/v1\nservice: shop\nslos:\n  - name: x\n    objective: lots\n"
    )
    result = sre("--prometheus", prometheus_url, "-i", str(spec), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 1
    assert "bad.yaml" in result.stderr and "objective" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_a_prometheus_without_slo_series_exits_4(prometheus_url: str, tmp_path: Path) -> None:
    # A period of one day before any SLO existed: nothing to report (checked with --period,
    # the discovery's lookback, on an empty Prometheus below).
    empty = tmp_path / "empty"
    empty.mkdir()
    from tests.budget.conftest import running_prometheus

    with running_prometheus(empty, "# EOF\n") as url:
        result = sre("--prometheus", url, "-o", str(tmp_path / "r.html"))
    assert result.returncode == 4, result.stderr
    assert "no SLO series" in result.stderr
    assert not (tmp_path / "r.html").exists()
