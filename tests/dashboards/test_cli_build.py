"""`sre dashboards build`: one file per dashboard, atomic, never into an input, bad specs named
by file and field; and the burn factor lines of several periods evaluated by promtool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dashboards.build import build_dashboards, dashboards_from_specs
from dashboards.variables import resolve
from tests.alerting.helpers import run_promtool
from tests.dashboards.helpers import ROOT, SPECS, all_targets, slos_of, spec_document, write_spec
from tests.lab.helpers import sre


def test_build_writes_one_file_per_dashboard_equal_to_the_builder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = sre("dashboards", "build", "-i", str(SPECS), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote 4 dashboard(s)" in result.stderr and result.stdout == ""
    for built in dashboards_from_specs([SPECS]):
        assert (out / f"{built.name}.json").read_text(encoding="utf-8") == built.json_text()
    assert sorted(p.name for p in out.iterdir()) == [
        "exchange-service.json",
        "hosts.json",
        "slo-detail.json",
        "slo-overview.json",
    ]


def test_build_replaces_files_keeping_their_mode_and_follows_the_period(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    old = out / "slo-detail.json"
    old.write_text("{}", encoding="utf-8")
    old.chmod(0o600)
    result = sre("dashboards", "build", "-i", str(SPECS), "-o", str(out), "--period", "1d")
    assert result.returncode == 0, result.stderr
    assert old.stat().st_mode & 0o777 == 0o600
    detail = json.loads(old.read_text(encoding="utf-8"))
    (burn_down,) = [p for p in detail["panels"] if p["title"] == "Error budget remaining"]
    assert burn_down["timeFrom"] == "1d"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        pytest.param("{specs}", "is also an input", id="the input folder itself"),
        pytest.param("{specs}/out", "is inside the input folder", id="a folder inside the input"),
        pytest.param("{file}", "not a folder", id="an existing file"),
    ],
)
def test_build_refuses_an_output_it_must_not_write(
    tmp_path: Path, output: str, message: str
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "exchange.yaml").write_text(
        (SPECS / "exchange.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "file").write_text("keep", encoding="utf-8")
    target = output.format(specs=specs, file=tmp_path / "file")
    result = sre("dashboards", "build", "-i", str(specs), "-o", target)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in specs.iterdir()) == ["exchange.yaml"]
    assert (tmp_path / "file").read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"objective": "high"}, 'slo "a": objective:', id="an objective not a number"),
        pytest.param({"objetive": 99}, 'slo "a": objetive: unknown field', id="an unknown field"),
        pytest.param({"period": "2h"}, 'slo "a": period', id="a period under a day"),
    ],
)
def test_a_bad_spec_is_named_by_file_and_field_and_nothing_is_written(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    document = spec_document("payments", [{"name": "a"}])
    document["slos"][0].update(change)
    spec = write_spec(tmp_path / "bad.yaml", document)
    out = tmp_path / "out"
    result = sre("dashboards", "build", "-i", str(spec), "-o", str(out))
    assert result.returncode == 1, result.stderr
    assert f"{spec}" in result.stderr and field in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_a_bad_period_option_is_a_usage_error(tmp_path: Path) -> None:
    result = sre("dashboards", "build", "-i", str(SPECS), "-o", str(tmp_path), "--period", "91d")
    assert result.returncode == 2 and "--period 91d" in result.stderr


def _threshold_test(tmp_path: Path) -> Path:
    """A promtool unit test evaluating the page factor lines of a dashboard of SLOs of 1d, 25h
    and 30d, once per SLO, at the chosen SLO's slo:time_period:days."""
    spec = write_spec(
        tmp_path / "periods.yaml",
        spec_document("s", [{"name": "day", "period": "1d"}, {"name": "odd", "period": "25h"}]),
        spec_document("t", [{"name": "month"}]),
    )
    detail = build_dashboards(slos_of(spec))[1]
    lines = {
        t["legendFormat"]: t["expr"]
        for panel, t in all_targets(detail.model)
        if t["legendFormat"] in {"page quick factor", "page slow factor"}
    }
    days = {("s", "day"): 1, ("s", "odd"): 25 / 24, ("t", "month"): 30}
    expected = {  # the window catalog's factors (alerting/windows.py)
        ("s", "day"): {"page quick factor": 14.4, "page slow factor": 6},
        ("s", "odd"): {"page quick factor": 15, "page slow factor": 6.25},
        ("t", "month"): {"page quick factor": 14.4, "page slow factor": 6},
    }
    series = [
        {
            "series": f'slo:time_period:days{{sloth_service="{svc}", sloth_slo="{slo}"}}',
            "values": f"{value!r}x3",
        }
        for (svc, slo), value in days.items()
    ]
    tests = [
        {
            "expr": resolve(lines[legend], {"service": svc, "slo": slo}),
            "eval_time": "1m",
            "exp_samples": [{"labels": "{}", "value": factor}],
        }
        for (svc, slo), factors in expected.items()
        for legend, factor in factors.items()
    ]
    unit = {"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}]}
    path = tmp_path / "factors.test.yaml"
    path.write_text(yaml.safe_dump(unit), encoding="utf-8")
    return path


def test_each_slo_gets_the_burn_factor_of_its_own_period_from_promtool(tmp_path: Path) -> None:
    result = run_promtool("test", "rules", _threshold_test(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_build_takes_custom_alert_windows_as_compile_does(tmp_path: Path) -> None:
    fixture = ROOT / "tests" / "alerting" / "fixtures" / "ledger-14d.yaml"
    windows = ROOT / "tests" / "alerting" / "alert_windows"
    out = tmp_path / "out"
    result = sre(
        "dashboards", "build", "-i", str(fixture), "-o", str(out), "--windows-path", str(windows)
    )
    assert result.returncode == 0, result.stderr
    detail = json.loads((out / "slo-detail.json").read_text(encoding="utf-8"))
    (panel,) = [p for p in detail["panels"] if p["title"] == "Burn rate, page windows"]
    factor = next(t["expr"] for t in panel["targets"] if t["legendFormat"] == "page quick factor")
    assert factor.endswith("== 14) + 13.44"), factor
    default = sre("dashboards", "build", "-i", str(fixture), "-o", str(tmp_path / "default"))
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "default" / "slo-detail.json").read_text(encoding="utf-8") != (
        out / "slo-detail.json"
    ).read_text(encoding="utf-8")
