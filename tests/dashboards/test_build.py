"""The builder's output is valid Grafana dashboard JSON that keeps the model contract
(notes: COMMON10.md): schema version, unique ids, a grid without overlap, PromQL that parses,
variables that resolve, deterministic text, golden files of the shipped specs.

Run `pytest tests/dashboards/test_build.py --update-golden` after an intended change and
review the diff of tests/dashboards/golden/.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from alerting.alert_windows import read_windows
from alerting.loader import LoadOptions, load_specs
from alerting.windows import catalog_for
from dashboards.build import BuiltDashboard, DataSource, build_dashboards, dashboards_from_specs
from dashboards.variables import parse_label_values, references, resolve
from tests.dashboards.helpers import (
    GOLDEN,
    ROOT,
    SPECS,
    all_panels,
    all_targets,
    slos_of,
    spec_document,
    write_spec,
)

SHIPPED = dashboards_from_specs([SPECS])
NAMES = ["slo-overview", "slo-detail", "exchange-service", "hosts"]
PANEL_TYPES = {"stat", "bargauge", "gauge", "timeseries", "state-timeline", "table", "text", "row"}
UNITS = {"percentunit", "s", "reqps", "ops", "short", "percent", "bytes", "Bps", "none"}
SAMPLE_VALUES = {"service": "exchange", "slo": "order-api-availability", "instance": "h:9100"}


def _many(tmp_path: Path) -> list[BuiltDashboard]:
    """Dashboards of SLOs with three periods, two services, odd text in descriptions."""
    spec = write_spec(
        tmp_path / "many.yaml",
        spec_document(
            "payments",
            [
                {"name": "a", "period": "1d"},
                {"name": "b", "period": "25h", "description": "pipes | and <b>html</b> *stars*"},
                {"name": "c", "runbook": "https://runbooks.example.com/c"},
            ],
        ),
        spec_document("search", [{"name": "d", "objective": 99}]),
    )
    return build_dashboards(slos_of(spec))


def _cases(tmp_path: Path) -> list[BuiltDashboard]:
    return [*SHIPPED, *_many(tmp_path)]


def _overlap(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def test_the_four_dashboards_have_stable_names_uids_and_titles() -> None:
    assert [(d.name, d.uid, d.title) for d in SHIPPED] == [
        ("slo-overview", "sre-slo-overview", "SLO overview"),
        ("slo-detail", "sre-slo-detail", "SLO detail"),
        ("exchange-service", "sre-exchange-service", "Exchange service"),
        ("hosts", "sre-hosts", "Hosts"),
    ]
    assert all(d.model["uid"] == d.uid and d.model["title"] == d.title for d in SHIPPED)


def test_every_dashboard_has_the_sdk_schema_version_and_the_datasource_variable(
    tmp_path: Path,
) -> None:
    for built in _cases(tmp_path):
        assert built.model["schemaVersion"] == 41, built.name
        variables = built.model["templating"]["list"]
        assert variables[0]["type"] == "datasource" and variables[0]["name"] == "datasource"
        assert variables[0]["query"] == "prometheus"


def test_panel_ids_are_unique_integers_and_every_panel_has_a_known_type(tmp_path: Path) -> None:
    for built in _cases(tmp_path):
        panels = list(all_panels(built.model))
        ids = [p["id"] for p in panels]
        assert all(isinstance(i, int) for i in ids), built.name
        assert len(ids) == len(set(ids)), f"{built.name}: duplicate panel ids {ids}"
        assert {p["type"] for p in panels} <= PANEL_TYPES, built.name
        assert all(p.get("title") for p in panels), built.name
        assert all(isinstance(p.get("targets"), list) for p in panels if p["type"] != "row")


def test_panels_lie_inside_24_columns_and_never_overlap(tmp_path: Path) -> None:
    for built in _cases(tmp_path):
        positions = [(p["title"], p["gridPos"]) for p in all_panels(built.model)]
        for title, pos in positions:
            assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["y"] >= 0, title
            assert pos["x"] + pos["w"] <= 24, f"{built.name}: {title} crosses column 24"
        for i, (title, pos) in enumerate(positions):
            for other, other_pos in positions[i + 1 :]:
                assert not _overlap(pos, other_pos), f"{built.name}: {title} overlaps {other}"


def test_every_target_has_a_unique_ref_id_and_reads_the_datasource_variable(
    tmp_path: Path,
) -> None:
    for built in _cases(tmp_path):
        for panel in all_panels(built.model):
            refs = [t["refId"] for t in panel.get("targets", [])]
            assert all(refs) and len(refs) == len(set(refs)), (built.name, panel["title"])
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            if panel["type"] == "row":
                assert not panel.get("targets"), "a row is a section header only"


def test_every_expr_parses_as_promql_before_and_after_substitution(tmp_path: Path) -> None:
    for built in _cases(tmp_path):
        for panel, target in all_targets(built.model):
            for expr in (target["expr"], resolve(target["expr"], SAMPLE_VALUES)):
                try:
                    promql_parser.parse(expr)
                except ValueError as error:
                    pytest.fail(f"{built.name}: {panel['title']}: {error}: {expr}")


def test_no_grafana_macro_is_used_so_plain_substitution_runs_every_query(tmp_path: Path) -> None:
    for built in _cases(tmp_path):
        for panel, target in all_targets(built.model):
            assert "$__" not in target["expr"], (built.name, panel["title"])


def test_every_variable_referenced_is_defined_before_use_and_every_query_resolves(
    tmp_path: Path,
) -> None:
    for built in _cases(tmp_path):
        defined: list[str] = []
        for variable in built.model["templating"]["list"]:
            if variable["type"] == "query":
                query = parse_label_values(variable["query"])
                assert set(references(query.selector)) <= set(defined), variable["name"]
                promql_parser.parse(resolve(query.selector, SAMPLE_VALUES))
                assert variable["datasource"]["uid"] == "${datasource}"
            defined.append(variable["name"])
        texts = [t["expr"] for _, t in all_targets(built.model)]
        texts += [p.get("options", {}).get("content", "") for p in all_panels(built.model)]
        for panel in all_panels(built.model):
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                for prop in override["properties"]:
                    if prop["id"] == "links":
                        texts += [link["url"] for link in prop["value"]]
        used = {name for text in texts for name in references(text)}
        grafana_own = {name for name in used if name.startswith("__")}
        assert used - grafana_own <= set(defined), f"{built.name}: undefined {used - set(defined)}"
        for text in texts:
            resolved = resolve(text, dict.fromkeys(defined, "x"))
            assert not set(references(resolved)) - grafana_own, (built.name, resolved)


def test_units_are_among_the_contracts_units(tmp_path: Path) -> None:
    for built in _cases(tmp_path):
        for panel in all_panels(built.model):
            defaults = panel.get("fieldConfig", {}).get("defaults", {})
            if "unit" in defaults:
                assert defaults["unit"] in UNITS, (built.name, panel["title"], defaults["unit"])


def test_the_overview_has_one_table_linking_each_row_to_the_detail() -> None:
    overview = SHIPPED[0].model
    tables = [p for p in overview["panels"] if p["type"] == "table"]
    assert len(tables) == 1
    (table,) = tables
    assert all(t["instant"] and t["format"] == "table" for t in table["targets"])
    assert [t["id"] for t in table["transformations"]] == ["merge", "organize"]
    rename = table["transformations"][1]["options"]["renameByName"]
    assert rename["sloth_service"] == "Service" and rename["sloth_slo"] == "SLO"
    assert set(rename) >= {f"Value #{t['refId']}" for t in table["targets"]}
    by_name = {o["matcher"]["options"]: o["properties"] for o in table["fieldConfig"]["overrides"]}
    (links,) = [p["value"] for p in by_name["sloth_slo"] if p["id"] == "links"]
    assert links[0]["url"] == (
        "/d/sre-slo-detail/slo-detail?var-service=${__data.fields.sloth_service}"
        "&var-slo=${__data.fields.sloth_slo}"
    )
    budget = {p["id"]: p["value"] for p in by_name[f"Value #{table['targets'][3]['refId']}"]}
    assert budget["custom.cellOptions"] == {"type": "gauge", "mode": "basic"}
    assert rename["Value #D"] == "Budget remaining"


def test_the_detail_chooses_service_then_slo_from_the_recorded_series() -> None:
    variables = {v["name"]: v for v in SHIPPED[1].model["templating"]["list"]}
    assert variables["service"]["query"] == "label_values(slo:objective:ratio, sloth_service)"
    assert variables["slo"]["query"] == (
        'label_values(slo:objective:ratio{sloth_service="$service"}, sloth_slo)'
    )


def _panel(built: BuiltDashboard, title: str) -> Mapping[str, Any]:
    (panel,) = [p for p in all_panels(built.model) if p["title"] == title]
    return panel


@pytest.mark.parametrize(
    ("dashboard", "title", "legends"),
    [
        pytest.param(
            1,
            "SLI error ratio",
            [
                "error ratio 5m",
                "error ratio 1h",
                "error ratio 6h",
                "error ratio 1d",
                "error budget",
            ],
            id="the SLI over 5m 1h 6h 1d with the error budget line",
        ),
        pytest.param(
            1,
            "Burn rate, page windows",
            [
                "1h (quick long)",
                "5m (quick short)",
                "6h (slow long)",
                "30m (slow short)",
                "page quick factor",
                "page slow factor",
            ],
            id="the page windows of 30 days with both factors",
        ),
        pytest.param(
            1,
            "Burn rate, ticket windows",
            [
                "1d (quick long)",
                "2h (quick short)",
                "3d (slow long)",
                "6h (slow short)",
                "ticket quick factor",
                "ticket slow factor",
            ],
            id="the ticket windows of 30 days with both factors",
        ),
        pytest.param(1, "Alert state", ["page", "ticket"], id="one state series per severity"),
        pytest.param(2, "Order execution latency", ["p50", "p90", "p99"], id="latency quantiles"),
        pytest.param(
            2, "Orders", ["placed", "rejected", "failed"], id="orders placed rejected failed"
        ),
    ],
)
def test_panels_show_the_series_the_issue_asks_for(
    dashboard: int, title: str, legends: list[str]
) -> None:
    panel = _panel(SHIPPED[dashboard], title)
    assert [t["legendFormat"] for t in panel["targets"]] == legends


def test_the_factor_lines_are_the_window_catalogs_and_drawn_dashed() -> None:
    panel = _panel(SHIPPED[1], "Burn rate, page windows")
    exprs = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    assert exprs["page quick factor"].endswith("== 30) + 14.4")
    assert exprs["page slow factor"].endswith("== 30) + 6")
    dashed = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]}
    assert dashed == {"E", "F"}


def test_the_latency_panel_draws_the_spec_threshold_as_a_dashed_line() -> None:
    panel = _panel(SHIPPED[2], "Order execution latency")
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["thresholds"]["steps"][1]["value"] == 0.04
    assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_the_burn_down_spans_the_slo_period() -> None:
    assert _panel(SHIPPED[1], "Error budget remaining")["timeFrom"] == "30d"
    one_day = build_dashboards(slos_of(SPECS, "1d"))
    assert _panel(one_day[1], "Error budget remaining")["timeFrom"] == "1d"
    assert (
        _panel(build_dashboards(slos_of(SPECS), 7 * 86400)[1], "Error budget remaining")["timeFrom"]
        == "1w"
    )


def test_slos_of_several_periods_get_each_periods_windows_guarded_by_its_period(
    tmp_path: Path,
) -> None:
    detail = _many(tmp_path)[1]
    panel = _panel(detail, "Burn rate, page windows")
    legends = [t["legendFormat"] for t in panel["targets"]]
    assert "2m (quick long) 1d SLO" in legends and "1h (quick long) 30d SLO" in legends
    guarded = [t for t in panel["targets"] if "SLO" in t["legendFormat"]]
    assert all("and on () (max(slo:time_period:days" in t["expr"] for t in guarded)
    factor = next(t for t in panel["targets"] if t["legendFormat"] == "page quick factor")
    # 25h: the 1h window scales to 2m05s, floored to 2m, so the factor is 0.02 * 25h / 2m = 15.
    assert " == 1.0416666666666667) + 15 or " in factor["expr"]


def test_descriptions_and_runbooks_are_escaped_markdown(tmp_path: Path) -> None:
    content = _panel(_many(tmp_path)[1], "Descriptions and runbooks")["options"]["content"]
    assert "pipes \\| and \\<b\\>html\\</b\\> \\*stars\\*" in content
    assert "[https://runbooks.example.com/c](https://runbooks.example.com/c)" in content
    assert "`runbooks/x.md`" in content
    shipped = _panel(SHIPPED[1], "Descriptions and runbooks")["options"]["content"]
    assert shipped.count("\n| exchange |") == 3


def test_json_text_is_sorted_indented_and_ends_with_a_newline() -> None:
    for built in SHIPPED:
        text = built.json_text()
        assert text.endswith("}\n") and json.loads(text) == built.model
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_two_builds_are_byte_identical_whatever_the_order_of_the_slos(tmp_path: Path) -> None:
    slos = slos_of(SPECS)
    shuffled = list(slos)
    random.Random(7).shuffle(shuffled)
    first = [d.json_text() for d in build_dashboards(slos)]
    assert first == [d.json_text() for d in build_dashboards(slos)]
    assert first == [d.json_text() for d in build_dashboards(shuffled)]


def test_another_datasource_type_is_used_everywhere() -> None:
    amp = DataSource(type="grafana-amazonprometheus-datasource", default="amp-uid")
    for built in build_dashboards(slos_of(SPECS), datasource=amp):
        text = built.json_text()
        assert '"type": "prometheus"' not in text, built.name
        variable = built.model["templating"]["list"][0]
        assert variable["query"] == amp.type
        assert variable["current"] == {"selected": True, "text": "amp-uid", "value": "amp-uid"}


def test_a_thousand_slos_build_one_table_row_each_and_stay_valid(tmp_path: Path) -> None:
    documents = [
        spec_document(f"svc{s}", [{"name": f"slo{i}"} for i in range(100)]) for s in range(10)
    ]
    built = build_dashboards(slos_of(write_spec(tmp_path / "big.yaml", *documents)))
    overview, detail = built[0].model, built[1].model
    assert len([p for p in overview["panels"] if p["type"] == "table"]) == 1
    assert detail["panels"][-1]["options"]["content"].count("\n| svc") == 1000
    assert max(p["gridPos"]["h"] for p in all_panels(detail)) <= 24


@pytest.mark.parametrize("name", NAMES)
def test_shipped_specs_build_their_golden_file(name: str, update_golden: bool) -> None:
    (built,) = [d for d in SHIPPED if d.name == name]
    golden = GOLDEN / f"{name}.json"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(built.json_text(), encoding="utf-8")
    assert golden.exists(), f"no golden file yet: run pytest --update-golden ({golden})"
    assert built.json_text() == golden.read_text(encoding="utf-8")


def test_golden_files_are_the_only_files_in_the_golden_folder() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(f"{n}.json" for n in NAMES)


@pytest.mark.parametrize(
    ("expr", "values", "expected"),
    [
        pytest.param("x{a=\"$service\"}", {"service": "s"}, 'x{a="s"}', id="plain reference"),
        pytest.param("x{a=\"${slo}\"}", {"slo": "o"}, 'x{a="o"}', id="braced reference"),
        pytest.param("$serviceX", {"service": "s"}, "$serviceX", id="a longer name is another"),
        pytest.param(
            "${__data.fields.sloth_slo}", {"slo": "o"}, "${__data.fields.sloth_slo}",
            id="grafana's own references stay",
        ),
        pytest.param("$a-$b", {"a": "1", "b": "2"}, "1-2", id="several references"),
        pytest.param("$a", {"a": "$b", "b": "2"}, "$b", id="values are not substituted again"),
    ],
)  # fmt: skip
def test_resolve_substitutes_dashboard_variables(
    expr: str, values: dict[str, str], expected: str
) -> None:
    assert resolve(expr, values) == expected


@pytest.mark.parametrize(
    ("query", "selector", "label"),
    [
        pytest.param("label_values(up, job)", "up", "job", id="metric and label"),
        pytest.param(
            'label_values(m{a="$x", b=~"y,z"}, l)', 'm{a="$x", b=~"y,z"}', "l",
            id="a selector with commas",
        ),
        pytest.param("label_values(job)", "", "job", id="label only"),
    ],
)  # fmt: skip
def test_label_values_queries_are_read_as_selector_and_label(
    query: str, selector: str, label: str
) -> None:
    parsed = parse_label_values(query)
    assert (parsed.selector, parsed.label) == (selector, label)


def test_anything_but_label_values_is_refused() -> None:
    with pytest.raises(ValueError, match="not a label_values"):
        parse_label_values("query_result(up)")


def test_the_first_panel_is_not_moved_by_the_sdk() -> None:
    for built in SHIPPED:
        first = built.model["panels"][0]["gridPos"]
        assert (first["x"], first["y"]) == (0, 0)
        assert re.fullmatch(r"sre-[a-z-]+", built.uid)


def test_custom_alert_windows_give_the_burn_chart_their_windows_and_factors() -> None:
    windows = read_windows(ROOT / "tests" / "alerting" / "alert_windows")
    files = load_specs(
        [ROOT / "tests" / "alerting" / "fixtures" / "ledger-14d.yaml"],
        options=LoadOptions(windows=windows),
    )
    slos = [slo for spec_file in files for slo in spec_file.slos]
    custom = windows[14 * 86400].page_quick
    assert custom.factor != catalog_for(14 * 86400).page_quick.factor
    panel = _panel(build_dashboards(slos)[1], "Burn rate, page windows")
    exprs = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    assert exprs["page quick factor"].endswith(f"== 14) + {custom.factor!r}")
    assert "1h (quick long)" in exprs and "5m (quick short)" in exprs
