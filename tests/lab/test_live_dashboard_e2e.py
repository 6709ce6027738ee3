"""The lab's live SLO dashboard for real: `sre lab up` serves it, every link the lab or the docs
print opens, and headless Chromium sees every SLO, every chart drawn, and a burning SLO after
`sre lab break --error-rate 1`.

One lab (1-day period, so alerts fire within minutes) serves the whole module; the tests run in
file order and the last one breaks the exchange. Every wait is on a condition with a generous
cap; nothing asserts a timing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By

from alerting.loader import load_specs
from lab import control
from lab.settings import Ports
from tests.browser import chromium, wait_for
from tests.dashboards.live_helpers import canvas_pixels, hex_rgb
from tests.lab.helpers import ROOT, lab_ports, port_options, sre
from tests.waiting import poll_until

pytestmark = pytest.mark.e2e

TRAFFIC_CAP = 180.0
BURN_CAP = 300.0
PAGE_CAP = 120.0
SLOS = sorted(
    (slo.service, slo.name) for spec in load_specs([ROOT / "slo_specs"], "1d") for slo in spec.slos
)
URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^\s)`'\"|<>]*)?")
CHARTS = ("timeseries", "state-timeline")


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30, trust_env=False, follow_redirects=True)


def _status(run_dir: Path) -> dict[str, Any]:
    result = sre("lab", "status", "--json", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Ports, dict[str, Any]]]:
    run_dir, ports = tmp_path_factory.mktemp("live") / "lab", lab_ports()
    try:
        up = sre(
            "lab", "up", "--run-dir", str(run_dir), "--period", "1d", "--json", *port_options(ports)
        )
        assert up.returncode == 0, up.stdout + up.stderr
        yield run_dir, ports, json.loads(up.stdout)
    finally:
        control.down(run_dir)


@pytest.fixture(scope="module")
def with_traffic(lab: tuple[Path, Ports, dict[str, Any]]) -> tuple[Path, Ports, dict[str, Any]]:
    """The lab once every SLO has an SLI over 5 minutes and a budget (its orders counted)."""
    run_dir = lab[0]

    def every_slo_measured() -> bool:
        rows = _status(run_dir)["slos"]
        return len(rows) == len(SLOS) and all(
            row["sli_5m"] is not None and row["budget_remaining"] is not None for row in rows
        )

    poll_until("traffic in every SLO", every_slo_measured, TRAFFIC_CAP, every=2)
    return lab


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile"), 1400, 1300) as driver:
        yield driver


def _open(browser: Any, url: str) -> dict[str, str]:
    """Load ``url``, wait until every panel has been drawn once; the panels' states by id."""
    browser.get(url)
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready"), PAGE_CAP)
    return {
        e.get_attribute("data-panel-id"): e.get_attribute("data-state")
        for e in browser.find_elements(By.CSS_SELECTOR, ".panel")
    }


def test_up_and_status_name_the_dashboard_and_it_answers(
    lab: tuple[Path, Ports, dict[str, Any]],
) -> None:
    run_dir, ports, up = lab
    url = f"http://127.0.0.1:{ports.dashboard}/"
    assert up["dashboard_url"] == url and up["links"]["dashboard"] == url
    assert _status(run_dir)["dashboard_url"] == url
    process = next(p for p in _status(run_dir)["processes"] if p["name"] == "dashboard")
    assert process["alive"] and process["healthy"]
    assert _get(f"{url}healthz").json() == {"status": "ok", "dashboards": 4}


def _printed_urls(run_dir: Path) -> set[str]:
    up = sre("lab", "up", "--run-dir", str(run_dir))
    status = sre("lab", "status", "--run-dir", str(run_dir))
    assert up.returncode == 0 and status.returncode == 0, up.stderr + status.stderr
    return {m.group(0) for m in URL.finditer(up.stdout + status.stdout)}


def _documented_urls(ports: Ports) -> dict[str, str]:
    """Every lab URL in README.md and docs/*.md, moved to this lab's ports: doc URL -> URL."""
    defaults = {port: name for name, port in Ports().all().items()}
    ours = ports.all()
    out = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in URL.finditer(doc.read_text(encoding="utf-8")):
            component = defaults.get(int(match.group(1)))
            if component is None:
                continue  # not a lab port (an OTLP collector's, say)
            path = (match.group(2) or "/").rstrip(".,:;")
            out[f"{doc.name}: {match.group(0)}"] = f"http://127.0.0.1:{ours[component]}{path}"
    return out


def test_every_link_the_lab_or_the_docs_print_opens(
    lab: tuple[Path, Ports, dict[str, Any]],
) -> None:
    run_dir, ports, _ = lab
    printed = _printed_urls(run_dir)
    assert f"http://127.0.0.1:{ports.dashboard}/" in printed
    documented = _documented_urls(ports)
    assert any("/classic/" in url for url in documented.values()), documented
    broken = {
        name: status
        for name, url in [*((u, u) for u in sorted(printed)), *documented.items()]
        if (status := _get(url).status_code) != 200
    }
    assert broken == {}, f"links that do not open: {broken}"


def test_the_slo_list_shows_every_slo(
    with_traffic: tuple[Path, Ports, dict[str, Any]], browser: Any, tmp_path: Path
) -> None:
    url = with_traffic[2]["dashboard_url"]
    started = time.monotonic()
    states = _open(browser, url)
    loaded = time.monotonic() - started
    browser.save_screenshot(str(tmp_path / "slo-list.png"))
    assert set(states.values()) == {"drawn"}, states
    rows = [
        tuple(td.text for td in tr.find_elements(By.CSS_SELECTOR, "td")[:2])
        for tr in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert sorted(rows) == SLOS
    bars = browser.find_elements(By.CSS_SELECTOR, "td.gauge-cell .bar-fill")
    assert len(bars) == len(SLOS), "a budget bar per SLO"
    assert "NaN" not in browser.find_element(By.TAG_NAME, "body").text
    first_draw = browser.execute_script("return document.body.dataset.firstDrawMs")
    print(f"SLO list: loaded and drawn in {loaded:.2f} s (first draw at {first_draw} ms)")


def _check_page(browser: Any, url: str, shot: Path) -> dict[str, str]:
    """Every panel drawn, or showing its own no-value text; every chart's canvas painted."""
    states = _open(browser, url)
    browser.save_screenshot(str(shot))
    model = json.loads(browser.execute_script(
        "return document.getElementById('dashboard-model').textContent"
    ))  # fmt: skip
    panels = {str(p["id"]): p for p in model["panels"] if p["type"] != "row"}
    assert states.keys() == panels.keys()
    assert "error" not in states.values(), [
        (e.get_attribute("data-panel-id"), e.get_attribute("data-error"))
        for e in browser.find_elements(By.CSS_SELECTOR, ".panel[data-error]")
    ]
    for panel_id, state in states.items():
        element = browser.find_element(By.CSS_SELECTOR, f'.panel[data-panel-id="{panel_id}"]')
        if state == "no-data":
            no_value = panels[panel_id].get("fieldConfig", {}).get("defaults", {}).get("noValue")
            assert element.find_element(By.CSS_SELECTOR, ".no-value").text == no_value, panel_id
        elif panels[panel_id]["type"] in CHARTS:
            canvas = element.find_element(By.CSS_SELECTOR, "canvas")
            colours = (element.get_attribute("data-colors") or "").split()
            painted = [canvas_pixels(browser, canvas, hex_rgb(c)) for c in colours] or [
                canvas_pixels(browser, canvas)
            ]
            assert sum(painted) > 0, (panel_id, colours)
    assert "NaN" not in browser.find_element(By.TAG_NAME, "body").text
    return states


def test_the_overview_and_every_slo_detail_page_draw_every_chart(
    with_traffic: tuple[Path, Ports, dict[str, Any]], browser: Any, tmp_path: Path
) -> None:
    base = with_traffic[2]["dashboard_url"].rstrip("/")
    overview = _check_page(browser, f"{base}/d/sre-slo-overview/slo-overview", tmp_path / "o.png")
    assert set(overview.values()) == {"drawn"}, overview
    links = sorted(
        {a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")}
    )
    assert len(links) == len(SLOS), "every SLO links to its detail"
    for index, link in enumerate(links):
        assert link.startswith(f"{base}/d/sre-slo-detail/"), link
        states = _check_page(browser, link, tmp_path / f"detail-{index}.png")
        charts = [
            state
            for panel_id, state in states.items()
            if browser.find_element(
                By.CSS_SELECTOR, f'.panel[data-panel-id="{panel_id}"]'
            ).get_attribute("data-type")
            in CHARTS
        ]
        assert charts and set(charts) == {"drawn"}, (link, states)
    for path in ("/d/sre-exchange-service/exchange-service", "/d/sre-hosts/hosts"):
        _check_page(browser, f"{base}{path}", tmp_path / f"{path.rsplit('/', 1)[1]}.png")


_ROW = """
for (const tr of document.querySelectorAll("tbody tr")) {
  const cells = [...tr.querySelectorAll("td")];
  if (cells.length > 1 && cells[1].textContent === arguments[0]) {
    return Object.fromEntries(cells.map((td) => [td.dataset.column, td.dataset.value ?? null]));
  }
}
return {};
"""


def _row(browser: Any, slo: str) -> dict[str, str | None]:
    """The SLO list's row of ``slo``: column -> raw value (read at once: the page redraws it)."""
    row: dict[str, str | None] = browser.execute_script(_ROW, slo)
    return row


def test_a_burning_slo_shows_on_the_slo_list_without_a_reload(
    with_traffic: tuple[Path, Ports, dict[str, Any]], browser: Any, tmp_path: Path
) -> None:
    run_dir, _, up = with_traffic
    _open(browser, f"{up['dashboard_url']}?refresh=5s")
    browser.execute_script("window.sameDocument = true")
    assert float(_row(browser, "order-api-availability")["Burn rate (5m)"] or 0) < 1

    broken = sre("lab", "break", "--error-rate", "1", "--run-dir", str(run_dir))
    assert broken.returncode == 0, broken.stderr

    def burning() -> bool:
        row = _row(browser, "order-api-availability")
        return (
            float(row.get("Burn rate (5m)") or 0) > 1 and float(row.get("Alerts firing") or 0) >= 1
        )

    poll_until("the burning SLO on the SLO list", burning, BURN_CAP, every=2)
    browser.save_screenshot(str(tmp_path / "burning.png"))
    assert browser.execute_script("return window.sameDocument") is True, "refreshed in place"
