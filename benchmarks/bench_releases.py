"""Safe releases in the lab: a good canary is promoted, a bad one (20% errors) is rolled back
before the order API's page fires and spends less than 2% of a 30-day budget; blue/green too.

Starts its own default lab (30-day period, 3 replicas, 20 orders/s) on free ports in a temporary
folder, waits for traffic, then releases in turn:
  1. canary v2 (good)                         -> promoted, exit 0
  2. blue/green v3 (good)                     -> promoted, exit 0
  3. canary v4 --inject error-rate=0.2        -> rolled back, exit 3 (once the lab is 5 min old)
  4. blue/green v5 --inject error-rate=0.2    -> switched back, exit 3
and after the bad ones watches Prometheus for the order API's page for six minutes more (the
page's shortest window is 5 minutes: errors a release left behind could still fire it).

Run: .venv/bin/python benchmarks/bench_releases.py   (about 15 minutes)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab import control  # noqa: E402
from tests.lab.helpers import lab_ports, port_options  # noqa: E402

SRE = str(Path(sys.executable).parent / "sre")
PAGE = "ExchangeOrderAPIAvailability"
MATURE_SECONDS = 300.0
WATCH_SECONDS = 360.0


def sre(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SRE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    return list(answer.json()["data"]["result"])


def page_fired_since(prometheus: str, since: float) -> bool:
    window = max(10, int(time.time() - since) + 1)
    expr = (
        f'max_over_time(ALERTS{{alertname="{PAGE}",alertstate="firing",'
        f'sloth_severity="page"}}[{window}s])'
    )
    return bool(query(prometheus, expr))


def deploy(run_dir: Path, *args: str) -> dict[str, Any]:
    done = sre("lab", "deploy", "--run-dir", str(run_dir), "--json", *args)
    if not done.stdout.strip():
        raise SystemExit(f"deploy {args} failed: {done.stderr}")
    result = json.loads(done.stdout)
    result["exit"] = done.returncode
    return result


def report(name: str, result: dict[str, Any], prometheus: str) -> None:
    last = result["looks"][-1] if result["looks"] else None
    print(f"\n{name}: {result['outcome']} (exit {result['exit']}): {result['reason']}")
    print(
        f"  analysis {result['analysis_seconds']} s, whole release {result['release_seconds']} s, "
        f"looks {len(result['looks'])}"
    )
    if last:
        for metric in ("errors", "latency"):
            c = last[metric]
            print(
                f"  {metric:<8} new {c['canary']['bad']}/{c['canary']['total']}, "
                f"baseline {c['baseline']['bad']}/{c['baseline']['total']}, "
                f"p={c['test']['p_value']:.3g}, regressed={c['regressed']}"
            )
    for spent in result["budget"]:
        print(
            f"  budget spent: {spent['slo']} {spent['budget_spent'] * 100:.4f}% of the "
            f"{spent['period']} budget ({spent['bad']:.0f} bad of {spent['total']:.0f})"
        )
    print(f"  pages fired during the release: {result['pages_fired'] or 'none'}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-releases-") as folder:
        run_dir = Path(folder) / "lab"
        ports = lab_ports()
        prometheus = f"http://127.0.0.1:{ports.prometheus}"
        up = sre("lab", "up", "--run-dir", str(run_dir), *port_options(ports), timeout=300)
        if up.returncode:
            raise SystemExit(up.stderr)
        try:
            time.sleep(30)  # traffic and a few scrapes before the first release
            results = {}
            results["canary good"] = deploy(run_dir, "--version", "v2")
            results["blue-green good"] = deploy(
                run_dir, "--version", "v3", "--strategy", "blue-green"
            )
            while (control.status(run_dir).age_seconds or 0) < MATURE_SECONDS:
                time.sleep(5)
            bad_started = time.time()
            results["canary bad (error-rate=0.2)"] = deploy(
                run_dir, "--version", "v4", "--inject", "error-rate=0.2"
            )
            results["blue-green bad (error-rate=0.2)"] = deploy(
                run_dir, "--version", "v5", "--strategy", "blue-green", "--inject", "error-rate=0.2"
            )
            bad_ended = time.time()
            for name, result in results.items():
                report(name, result, prometheus)
            while time.time() < bad_ended + WATCH_SECONDS:
                time.sleep(10)
            fired = page_fired_since(prometheus, bad_started)
            versions = {p.name: p.version for p in control.status(run_dir).processes if p.version}
            notified = [
                n
                for n in control.notifications(run_dir).notifications
                if n.alertname == PAGE
                and n.labels.get("sloth_severity") == "page"
                and n.status == "firing"
                and n.received_at >= bad_started
            ]
            print(
                f"\n{PAGE} page fired from the first bad release until {WATCH_SECONDS:.0f} s "
                f"after the last: {'YES' if fired else 'no'}"
            )
            print(f"page notifications received for {PAGE} since then: {len(notified)}")
            print(f"replicas at the end: {versions}")
        finally:
            sre("lab", "down", "--run-dir", str(run_dir), timeout=300)


if __name__ == "__main__":
    main()
