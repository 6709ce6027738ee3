"""Save a screenshot of the lab's live SLO dashboard (docs/images/lab-dashboard.png, for README).

    .venv/bin/python scripts/screenshot-lab-dashboard.py [--run-dir DIR] [-o FILE]

Uses the lab running in the run directory, or starts one (1-day period, free ports, in a
temporary run directory) and stops it afterwards. It waits until every SLO has traffic and a
budget, opens the SLO overview in Debian's headless Chromium, waits until every panel has been
drawn, and saves the page. Nothing is timed; every wait is on a condition with a cap.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab import control, settings  # noqa: E402
from lab.procs import free_port  # noqa: E402
from lab.settings import Binaries, LabConfig, Ports, find_tool  # noqa: E402
from tests.browser import chromium, wait_for  # noqa: E402

TRAFFIC_CAP = 240.0
OUTPUT = ROOT / "docs" / "images" / "lab-dashboard.png"
PAGE = "/d/sre-slo-overview/slo-overview"


def _free_ports() -> Ports:
    ports: set[int] = set()
    while len(ports) < 10:
        ports.add(free_port())
    p = sorted(ports)
    return Ports(
        prometheus=p[0], alertmanager=p[1], node_exporter=p[2], supervisor=p[3],
        receiver=p[4], loadgen=p[5], dashboard=p[6], service=tuple(p[7:]),
    )  # fmt: skip


def _start(run_dir: Path) -> LabConfig:
    config = LabConfig(
        run_dir=run_dir,
        ports=_free_ports(),
        binaries=Binaries(
            prometheus=find_tool("prometheus"),
            alertmanager=find_tool("alertmanager"),
            node_exporter=find_tool("node_exporter"),
        ),
        specs=(ROOT / "slo_specs",),
        period="1d",
    )
    print(f"starting a lab in {run_dir}", file=sys.stderr)
    return control.up(config, on_step=lambda step: print(f"  {step}", file=sys.stderr)).config


def _wait_for_traffic(run_dir: Path) -> None:
    deadline = time.monotonic() + TRAFFIC_CAP
    while True:
        rows = control.status(run_dir).slos
        if rows and all(r.sli_5m is not None and r.budget_remaining is not None for r in rows):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"no traffic in every SLO within {TRAFFIC_CAP:.0f} s")
        time.sleep(2)


def _shoot(url: str, output: Path, profile: Path) -> None:
    with chromium(profile, width=1400, height=760) as browser:
        browser.get(url)
        wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready"))
        states = browser.execute_script(
            "return [...document.querySelectorAll('.panel')].map(p => p.dataset.state)"
        )
        if "error" in states or "loading" in states:
            raise SystemExit(f"a panel did not draw: {states}")
        output.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(output))


def main() -> None:
    """Start (or use) a lab, wait for traffic, save the screenshot, stop what was started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="Use the lab running here.")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lab-dashboard-") as tmp:
        started = None
        if args.run_dir is not None:
            run_dir = settings.run_dir_from(args.run_dir)
            config = control.require_running(run_dir)
        else:
            run_dir = Path(tmp) / "lab"
            config = started = _start(run_dir)
        try:
            _wait_for_traffic(run_dir)
            url = f"{config.url('dashboard')}{PAGE}"
            _shoot(url, args.output, Path(tmp) / "chromium")
            print(f"wrote {args.output} from {url}")
        finally:
            if started is not None:
                control.down(run_dir)


if __name__ == "__main__":
    main()
