"""Benchmark: the demo exchange under the lab's load generator, while Prometheus scrapes it.

Starts a full lab (3 replicas, supervisor, Prometheus, Alertmanager, node_exporter, receiver)
in a temporary run directory on free ports, with the lab's own load generator idle, then runs
the load generator at the target rate for a fixed time and prints:
- orders/s achieved, and client-side p50/p99/max latency of ``POST /orders``;
- the server-side view from Prometheus: the share of executions under 40 ms (the latency SLI)
  and the p99 estimated from the ``order_execution_seconds`` histogram.

    .venv/bin/python benchmarks/bench_lab_load.py [--rate 500] [--duration 30]

Target on the 2-core machine: 500 orders/s with p99 under 40 ms. This measures the service's
own path (HTTP, metrics, spans), so the replicas get a capacity far above the rate
(``--workers 1000 --service-time-ms 0``); the lab's default capacity (8 workers x 400 ms = 20
orders/s a replica, the TradeX model of docs/self-healing.md) would queue at 500 orders/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from lab import control
from lab.procs import free_port
from lab.settings import Binaries, Capacity, LabConfig, Ports, find_tool

ROOT = Path(__file__).resolve().parents[1]


def _ports(replicas: int) -> Ports:
    ports: set[int] = set()
    while len(ports) < 6 + replicas:
        ports.add(free_port())
    p = sorted(ports)
    return Ports(
        prometheus=p[0], alertmanager=p[1], node_exporter=p[2], supervisor=p[3],
        receiver=p[4], loadgen=p[5], service=tuple(p[6:]),
    )  # fmt: skip


def _query(prometheus: str, expr: str) -> float | None:
    body = httpx.get(
        f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10, trust_env=False
    ).json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description="Load the lab's demo exchange service.")
    parser.add_argument("--rate", type=float, default=500.0, help="orders per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--trace-ratio", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1000, help="orders at a time per replica")
    parser.add_argument(
        "--service-time-ms", type=float, default=0.0, help="time an order holds its worker"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmp:
        config = LabConfig(
            run_dir=Path(tmp) / "lab",
            ports=_ports(args.replicas),
            binaries=Binaries(
                prometheus=find_tool("prometheus"),
                alertmanager=find_tool("alertmanager"),
                node_exporter=find_tool("node_exporter"),
            ),
            specs=(ROOT / "slo_specs",),
            order_rate=0,
            trace_ratio=args.trace_ratio,
            capacity=Capacity(workers=args.workers, service_time_ms=args.service_time_ms),
        )
        control.up(config)
        try:
            summary_file = Path(tmp) / "summary.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lab.loadgen",
                    "--targets",
                    ",".join(config.replica_urls),
                    "--rate",
                    str(args.rate),
                    "--duration",
                    str(args.duration),
                    "--summary",
                    str(summary_file),
                ],
                check=True,
                stderr=subprocess.DEVNULL,
                timeout=args.duration + 60,
            )
            summary = json.loads(summary_file.read_text())
            prometheus = config.url("prometheus")
            window = f"{max(int(args.duration), 10)}s"
            fast = f'order_execution_seconds_bucket{{job="exchange",le="0.04"}}[{window}]'
            every = f'order_execution_seconds_count{{job="exchange"}}[{window}]'
            buckets = f'order_execution_seconds_bucket{{job="exchange"}}[{window}]'
            under_40ms = _query(prometheus, f"sum(increase({fast})) / sum(increase({every}))")
            p99_server = _query(
                prometheus, f"histogram_quantile(0.99, sum by (le) (rate({buckets})))"
            )
        finally:
            control.down(config.run_dir)

    print(f"target:            {args.rate:.0f} orders/s for {args.duration:.0f}s, "
          f"{args.replicas} replicas, trace ratio {args.trace_ratio}")  # fmt: skip
    print(f"achieved:          {summary['orders_per_second']} orders/s "
          f"({summary['ok']} ok, {summary['rejected']} rejected on purpose, "
          f"{summary['failed']} failed, {summary['errors']} errors, "
          f"{summary['skipped']} skipped)")  # fmt: skip
    print(f"client latency:    p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, "
          f"max {summary['max_ms']} ms")  # fmt: skip
    if under_40ms is not None:
        print(f"server (Prometheus): {under_40ms * 100:.2f}% of executions under 40 ms")
    if p99_server is not None:
        print(f"server p99 (histogram estimate): {p99_server * 1000:.1f} ms")


if __name__ == "__main__":
    main()
