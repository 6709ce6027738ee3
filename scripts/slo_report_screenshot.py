"""Regenerate docs/images/slo-report.png: the SLO report of the test suite's known week
(tests/reports/conftest.py), backfilled into a throwaway Debian Prometheus on 127.0.0.1,
rendered by `sre slo report` and shot in headless Chromium.

    .venv/bin/python scripts/slo_report_screenshot.py [--output docs/images/slo-report.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chromium, wait_for  # noqa: E402
from tests.budget.conftest import running_prometheus  # noqa: E402
from tests.reports.conftest import DAY, MINUTE, History, openmetrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "slo-report.png")
    args = parser.parse_args()
    now = int(time.time()) // MINUTE * MINUTE
    history = History(now=now, start=now - 8 * DAY, stop=now + 2 * 3600)
    with tempfile.TemporaryDirectory(prefix="sre-report-shot-") as folder:
        root = Path(folder)
        with running_prometheus(root, openmetrics(history)) as url:
            report = root / "report.html"
            subprocess.run(
                [
                    str(Path(sys.executable).with_name("sre")),
                    "slo",
                    "report",
                    "--prometheus",
                    url,
                    "-o",
                    str(report),
                ],
                check=True,
                cwd=ROOT,
            )
        with chromium(root / "profile", 1200, 2300) as driver:
            driver.get(report.as_uri())
            wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready"))
            args.output.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.output))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
