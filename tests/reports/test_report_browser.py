"""The HTML report in Debian's headless Chromium, opened from a file:// URL with no network:
every SLO appears, every chart has drawn (DOM and non-blank canvas pixels), and a screenshot is
saved under the test's tmp dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SRE = Path(sys.executable).with_name("sre")

# Counts canvas pixels that are neither transparent nor white: a drawn chart has many.
INK = """
const canvas = arguments[0];
const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
let ink = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) ink++;
}
return ink;
"""


def test_report_opens_offline_and_draws_every_chart(
    prometheus_url: str, tmp_path: Path, browser
) -> None:
    output = tmp_path / "report.html"
    result = subprocess.run(
        [str(SRE), "slo", "report", "--prometheus", prometheus_url, "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    browser.get(output.as_uri())
    wait_for(
        browser, lambda d: d.execute_script("return document.body.dataset.ready"), what="report"
    )
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#summary-table .slo-row')].map(r => r.dataset.sloId)"
    )
    assert rows == ["shop-availability", "shop-checkout", "shop-latency"]
    sections = browser.execute_script(
        "return [...document.querySelectorAll('section.slo')].map(s => s.dataset.sloId)"
    )
    assert sections == rows
    charts = browser.find_elements("css selector", ".chart")
    assert len(charts) == 2  # the SLO without traffic has a "no traffic" box instead
    wait_for(
        browser,
        lambda d: all(c.get_attribute("data-drawn") == "true" for c in charts),
        what="every chart",
    )
    for chart in charts:
        canvas = chart.find_element("css selector", "canvas")
        assert browser.execute_script(INK, canvas) > 1000
    checkout = browser.find_element("css selector", "section[data-slo-id='shop-checkout']")
    assert "no traffic" in checkout.text
    assert "NaN" not in browser.find_element("tag name", "body").text
    browser.set_window_size(1300, 2400)
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
