"""The live page's renderer in a real browser (Debian's headless Chromium), on a model written
here with every panel type the builder uses, against a real Prometheus scraping itself.

PromQL's vector() gives series with known values whether or not anything was scraped, so each
panel's text, colours and canvas pixels are known in advance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from dashboards.live import app
from tests.browser import chromium, wait_for
from tests.dashboards.live_helpers import built, canvas_pixels, hex_rgb, prometheus, serving

GREEN, RED, ORANGE = "#73BF69", "#F2495C", "#FF9830"


def labelled(value: float, **labels: str) -> str:
    expr = f"vector({value})"
    for key, text in labels.items():
        expr = f'label_replace({expr}, "{key}", "{text}", "", "")'
    return expr


def at(x: int, y: int, w: int, h: int) -> dict[str, int]:
    return {"x": x, "y": y, "w": w, "h": h}


STEPS_RED_GREEN = {
    "mode": "absolute",
    "steps": [{"color": "red", "value": None}, {"color": "green", "value": 0.99}],
}
PANELS: list[dict[str, Any]] = [
    {"id": 100, "type": "row", "title": "Section of $job", "gridPos": at(0, 0, 24, 1)},
    {
        "id": 1, "type": "stat", "title": "SLI", "gridPos": at(0, 1, 6, 4),
        "fieldConfig": {"defaults": {"unit": "percentunit", "decimals": 2, "thresholds": STEPS_RED_GREEN}},
        "options": {"colorMode": "value"},
        "targets": [{"refId": "A", "expr": "vector(0.99912)", "instant": True}],
    },
    {
        "id": 2, "type": "stat", "title": "Nothing", "gridPos": at(6, 1, 6, 4),
        "fieldConfig": {"defaults": {"noValue": "no traffic"}},
        "targets": [{"refId": "A", "expr": "vector(1) > 2", "instant": True}],
    },
    {
        "id": 3, "type": "gauge", "title": "Budget", "gridPos": at(12, 1, 6, 4),
        "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1, "thresholds": STEPS_RED_GREEN}},
        "targets": [{"refId": "A", "expr": "vector(0.4)", "instant": True}],
    },
    {
        "id": 4, "type": "bargauge", "title": "Rates", "gridPos": at(18, 1, 6, 4),
        "fieldConfig": {"defaults": {"unit": "reqps", "decimals": 0, "min": 0, "max": 10}},
        "targets": [{"refId": "A", "expr": f"{labelled(3, job='a')} or {labelled(5, job='b')}", "instant": True, "legendFormat": "{{job}}"}],
    },
    {
        "id": 5, "type": "timeseries", "title": "Lines", "gridPos": at(0, 5, 12, 8),
        "fieldConfig": {
            "defaults": {
                "min": 0, "max": 4, "unit": "none",
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 3}]},
                "custom": {"thresholdsStyle": {"mode": "dashed"}, "lineWidth": 2},
            },
            "overrides": [{
                "matcher": {"id": "byFrameRefID", "options": "B"},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash"}},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                ],
            }],
        },
        "targets": [
            {"refId": "A", "expr": "vector(2)", "range": True, "legendFormat": "two"},
            {"refId": "B", "expr": "vector(1)", "range": True, "legendFormat": "one"},
        ],
    },
    {
        "id": 6, "type": "timeseries", "title": "Empty", "gridPos": at(12, 5, 12, 8),
        "fieldConfig": {"defaults": {"noValue": "no traffic", "unit": "percentunit"}},
        "targets": [{"refId": "A", "expr": "vector(1) > 2", "range": True}],
    },
    {
        "id": 7, "type": "state-timeline", "title": "Alerts", "gridPos": at(0, 13, 24, 4),
        "fieldConfig": {"defaults": {"mappings": [{"type": "value", "options": {
            "0": {"color": "green", "text": "ok"}, "1": {"color": "red", "text": "firing"}}}]}},
        "targets": [
            {"refId": "A", "expr": "vector(1)", "range": True, "legendFormat": "page"},
            {"refId": "B", "expr": "vector(0)", "range": True, "legendFormat": "ticket"},
        ],
    },
    {
        "id": 8, "type": "table", "title": "SLOs", "gridPos": at(0, 17, 24, 6),
        "fieldConfig": {
            "defaults": {"noValue": "no traffic"},
            "overrides": [
                {"matcher": {"id": "byName", "options": "slo"}, "properties": [
                    {"id": "links", "value": [{"title": "detail", "url": "/d/sre-test/x?var-slo=${__data.fields.slo}&var-job=$job"}]}]},
                {"matcher": {"id": "byName", "options": "Value #A"}, "properties": [
                    {"id": "unit", "value": "percentunit"}, {"id": "min", "value": 0}, {"id": "max", "value": 1},
                    {"id": "custom.cellOptions", "value": {"type": "gauge", "mode": "basic"}},
                    {"id": "thresholds", "value": STEPS_RED_GREEN}]},
                {"matcher": {"id": "byName", "options": "Value #B"}, "properties": [{"id": "decimals", "value": 1}]},
            ],
        },
        "targets": [
            {"refId": "A", "expr": f"{labelled(0.5, slo='alpha', service='x')} or {labelled(0.995, slo='beta', service='x')}", "instant": True, "format": "table"},
            {"refId": "B", "expr": f"{labelled(2.5, slo='alpha', service='x')} or {labelled(0, slo='beta', service='x')}", "instant": True, "format": "table"},
            {"refId": "C", "expr": "vector(1) > 2", "instant": True, "format": "table"},
        ],
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"service": True},
                "indexByName": {"slo": 0, "Value #B": 1, "Value #A": 2},
                "renameByName": {"slo": "SLO", "Value #A": "Budget", "Value #B": "Burn"},
            }},
        ],
        "options": {"sortBy": [{"displayName": "Burn", "desc": True}]},
    },
    {
        "id": 9, "type": "text", "title": "About", "gridPos": at(0, 23, 24, 5),
        "options": {"mode": "markdown", "content": (
            "Job **$job**, runbook [here](/runbooks/x.md), not [this](javascript:alert).\n\n"
            "| a | b \\| c |\n|---|---|\n| `x` | 1 \\(one\\) |\n<script>window.hacked = 1</script>\n"
        )},
    },
]  # fmt: skip
VARIABLES = {
    "list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus"},
        {"name": "job", "type": "query", "query": "label_values(up, job)"},
    ]
}
MODEL = built("test", "sre-test", "Renderer test", PANELS, templating=VARIABLES)
EXPECTED_STATES = {
    "1": "drawn", "2": "no-data", "3": "drawn", "4": "drawn", "5": "drawn", "6": "no-data",
    "7": "drawn", "8": "drawn", "9": "drawn",
}  # fmt: skip


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with (
        prometheus(tmp_path_factory.mktemp("prometheus")) as url,
        serving(app([MODEL], url)) as base,
    ):
        yield f"{base}/d/sre-test/renderer-test?refresh=5s"


def panel(browser: Any, panel_id: int) -> Any:
    return browser.find_element(By.CSS_SELECTOR, f'.panel[data-panel-id="{panel_id}"]')


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, page_url: str) -> Iterator[Any]:
    """One Chromium for the module's tests, on the test page once it has drawn."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as browser:
        browser.get(page_url)
        wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready"))
        yield browser


def test_every_panel_is_drawn_or_shows_its_no_value_text(loaded: Any, tmp_path: Path) -> None:
    states = {
        e.get_attribute("data-panel-id"): e.get_attribute("data-state")
        for e in loaded.find_elements(By.CSS_SELECTOR, ".panel")
    }
    loaded.save_screenshot(str(tmp_path / "renderer.png"))
    assert states == EXPECTED_STATES, [
        (e.get_attribute("data-panel-id"), e.get_attribute("data-error"))
        for e in loaded.find_elements(By.CSS_SELECTOR, ".panel[data-error]")
    ]
    assert panel(loaded, 2).find_element(By.CSS_SELECTOR, ".panel-body").text == "no traffic"
    assert panel(loaded, 6).find_element(By.CSS_SELECTOR, ".panel-body").text == "no traffic"
    text = loaded.find_element(By.TAG_NAME, "body").text
    for word in ("NaN", "undefined", "null", "Infinity"):
        assert word not in text
    assert loaded.find_element(By.CSS_SELECTOR, "h2.row-title").text == "Section of prometheus"


def test_a_stat_has_its_unit_decimals_and_threshold_colour(loaded: Any) -> None:
    value = panel(loaded, 1).find_element(By.CSS_SELECTOR, ".stat-value")
    assert value.text == "99.91%"
    assert value.value_of_css_property("color") == "rgba(115, 191, 105, 1)"


def test_a_gauge_and_bars_show_their_values(loaded: Any) -> None:
    assert panel(loaded, 3).find_element(By.CSS_SELECTOR, ".gauge-value").text == "40%"
    rows = panel(loaded, 4).find_elements(By.CSS_SELECTOR, ".bargauge-row")
    assert [r.text.split("\n") for r in rows] == [["a", "3 req/s"], ["b", "5 req/s"]]
    widths = [r.find_element(By.CSS_SELECTOR, ".bar-fill").get_attribute("style") for r in rows]
    assert "width: 30%" in widths[0] and "width: 50%" in widths[1]


def test_a_timeseries_draws_its_lines_overrides_and_threshold_line(loaded: Any) -> None:
    element = panel(loaded, 5)
    canvas = element.find_element(By.CSS_SELECTOR, "canvas")
    assert element.get_attribute("data-colors").split() == [GREEN, RED], "red is the override's"
    for colour in (GREEN, RED, ORANGE):  # series A, series B (fixed red), the threshold at 3
        assert canvas_pixels(loaded, canvas, hex_rgb(colour)) > 100, colour
    legend = [e.text for e in element.find_elements(By.CSS_SELECTOR, ".u-legend .u-label")]
    assert legend[-2:] == ["two", "one"]


def test_a_state_timeline_colours_by_value_mapping(loaded: Any) -> None:
    canvas = panel(loaded, 7).find_element(By.CSS_SELECTOR, "canvas")
    assert canvas_pixels(loaded, canvas, hex_rgb(RED)) > 1000
    assert canvas_pixels(loaded, canvas, hex_rgb(GREEN)) > 1000


def test_a_table_merges_organizes_sorts_and_links(loaded: Any) -> None:
    table = panel(loaded, 8)
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "th")]
    assert headers == ["SLO", "Burn", "Budget", "Value #C"]
    rows = [
        [td.text for td in tr.find_elements(By.CSS_SELECTOR, "td")]
        for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert rows == [
        ["alpha", "2.5", "50%", "no traffic"],
        ["beta", "0.0", "99.5%", "no traffic"],
    ], "sorted by Burn, descending; an empty query's cells read the no-value text"
    href = table.find_element(By.CSS_SELECTOR, "tbody tr a").get_attribute("href")
    assert href.endswith("/d/sre-test/x?var-slo=alpha&var-job=prometheus")
    fill = table.find_element(By.CSS_SELECTOR, "td.gauge-cell .bar-fill")
    assert "width: 50%" in fill.get_attribute("style")
    assert fill.value_of_css_property("background-color") == "rgba(242, 73, 92, 1)", (
        "red: below 99%"
    )


def test_markdown_is_rendered_safely(loaded: Any) -> None:
    text = panel(loaded, 9)
    assert "Job prometheus, runbook here, not this." in text.text
    links = [a.get_attribute("href") for a in text.find_elements(By.CSS_SELECTOR, "a")]
    assert len(links) == 1 and links[0].endswith("/runbooks/x.md"), "javascript: links are text"
    cells = [td.text for td in text.find_elements(By.CSS_SELECTOR, "table td, table th")]
    assert cells == ["a", "b | c", "x", "1 (one)"]
    assert loaded.execute_script("return window.hacked") is None


def test_a_variable_picker_lists_the_label_values(loaded: Any) -> None:
    select = loaded.find_element(By.CSS_SELECTOR, 'select[name="var-job"]')
    options = [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")]
    assert options == ["prometheus"]


def test_the_page_refreshes_itself_without_reloading(loaded: Any) -> None:
    loaded.execute_script("window.sameDocument = true")
    before = int(loaded.execute_script("return document.body.dataset.refreshes"))
    wait_for(
        loaded,
        lambda d: int(d.execute_script("return document.body.dataset.refreshes")) >= before + 2,
        what="two refreshes",
    )
    assert loaded.execute_script("return window.sameDocument") is True
    assert panel(loaded, 5).get_attribute("data-state") == "drawn"
