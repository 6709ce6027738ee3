"""Benchmark: building the four dashboards, for the shipped specs and for 1,000 SLOs.

Measures, best of ``--repeat``:
- in process, the shipped specs (slo_specs/, 3 SLOs): loading the specs, then building;
- in process, ``--slos`` generated SLOs (default 1,000, 10 services, periods 1d/7d/30d in turn):
  loading, building, and writing the JSON text, with each dashboard's size and panel count;
- the command line, cold: ``sre dashboards build -i slo_specs -o DIR`` in a fresh process.

    .venv/bin/python benchmarks/bench_dashboards.py [--slos 1000] [--repeat 5]

Wall times on a loaded machine are not the code's: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from alerting.loader import load_specs
from dashboards.build import build_dashboards

ROOT = Path(__file__).resolve().parents[1]
PERIODS = ("1d", "7d", "30d")
T = TypeVar("T")


def best(repeat: int, work: Callable[[], T]) -> tuple[float, T]:
    """The shortest wall time of ``repeat`` runs of ``work``, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    assert result is not None
    return min(times), result


def spec(service: int, count: int) -> dict[str, object]:
    """A prometheus/v1 document of ``count`` events SLOs."""
    return {
        "version": "prometheus/v1",
        "service": f"svc{service}",
        "slos": [
            {
                "name": f"slo{i}",
                "objective": 99.9,
                "period": PERIODS[i % len(PERIODS)],
                "description": f"SLO {i} of service {service}.",
                "sli": {
                    "events": {
                        "error_query": 'sum(rate(http_total{code=~"5.."}[{{.window}}]))',
                        "total_query": "sum(rate(http_total[{{.window}}]))",
                    }
                },
                "alerting": {"name": "Burn", "annotations": {"runbook_url": "runbooks/x.md"}},
            }
            for i in range(count)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    shipped = ROOT / "slo_specs"
    load_s, files = best(args.repeat, lambda: load_specs([shipped]))
    slos = [slo for f in files for slo in f.slos]
    build_s, built = best(args.repeat, lambda: build_dashboards(slos))
    shown = f"load {load_s * 1000:.1f} ms, build {build_s * 1000:.1f} ms"
    print(f"shipped specs ({len(slos)} SLOs): {shown}")

    with tempfile.TemporaryDirectory() as folder:
        per_service = max(1, args.slos // 10)
        path = Path(folder) / "many.yaml"
        documents = [spec(s, per_service) for s in range(args.slos // per_service)]
        path.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
        load_s, files = best(args.repeat, lambda: load_specs([path]))
        many = [slo for f in files for slo in f.slos]
        build_s, built = best(args.repeat, lambda: build_dashboards(many))
        text_s, texts = best(args.repeat, lambda: [b.json_text() for b in built])
        print(
            f"{len(many)} SLOs, periods {'/'.join(PERIODS)}: load {load_s:.2f} s, "
            f"build {build_s * 1000:.0f} ms, JSON text {text_s * 1000:.0f} ms"
        )
        for item, text in zip(built, texts, strict=True):
            print(f"  {item.name}: {len(item.model['panels'])} panels, {len(text) / 1024:.0f} kB")

        sre = Path(sys.executable).with_name("sre")
        out = Path(folder) / "out"
        cold_s, _ = best(
            args.repeat,
            lambda: subprocess.run(
                [str(sre), "dashboards", "build", "-i", str(shipped), "-o", str(out)],
                check=True,
                capture_output=True,
            ),
        )
        print(f"sre dashboards build -i slo_specs (cold process): {cold_s:.2f} s")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
