"""Benchmark: SLO compile plus validation, end to end, on 2,000 SLOs in 100 spec files.

Writes one spec file per service into a temporary folder (events, raw and latency SLIs in
turn, a few objectives, every fifth SLO with its own period), then measures:
- in process: compile_inputs, the command line's own path (YAML, spec models, validation,
  generation, Jinja2 rendering, parse-back and PromQL checks), with one process and with
  ``--jobs`` worker processes (default: the CPU count), each run in a fresh interpreter after
  its imports, so no cache is warm (the compiler memoises formatting and PromQL parses); best
  of ``--repeat`` runs;
- the command line, cold: ``sre slo compile -i DIR -o FILE`` in a fresh process each time
  (interpreter start-up, imports and the merged output file included), default and efficient
  mode, best of ``--repeat``, with its CPU time (user + system, workers included), and
  ``sre slo compile --help`` (start-up and imports alone) beside it;
- the command line, incremental (``--cache DIR``): the first run (empty cache: compiles and
  fills it), a run with nothing changed, and a run after one spec file changed (a different
  edit each time, so that file is always compiled again).

    .venv/bin/python benchmarks/bench_compile.py [--services 100] [--slos 20] [--jobs N] [--profile]

Target on the 2-core machine: at least 1,000 SLOs/s cold, whole process. Wall times on a
loaded machine are not the code's: the load average is printed at the start and the end, and
CPU time beside each wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from alerting.compiler import compile_inputs
from alerting.names import GROUP_SLI

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1000.0
OBJECTIVES = (99.9, 99.5, 99, 99.95, 95)
PERIODS = ("7d", "28d", "90d", "1d")


def slo(service: int, index: int) -> dict[str, object]:
    """One SLO of a synthetic service; the SLI kind rotates through events, raw and latency."""
    job = f'job="svc{service}"'
    kind = index % 3
    if kind == 0:
        sli: dict[str, object] = {
            "events": {
                "error_query": f'sum(rate(http_requests_total{{{job},route="/r{index}",'
                'code=~"5.."}[{{.window}}]))',
                "total_query": f'sum(rate(http_requests_total{{{job},route="/r{index}"}}'
                "[{{.window}}]))",
            }
        }
    elif kind == 1:
        sli = {
            "raw": {
                "error_ratio_query": f'sum(rate(jobs_failed_total{{{job},queue="q{index}"}}'
                f'[{{{{.window}}}}])) / sum(rate(jobs_total{{{job},queue="q{index}"}}'
                "[{{.window}}]))"
            }
        }
    else:
        sli = {
            "latency": {
                "histogram": "request_duration_seconds",
                "selector": f'{{{job}, route="/r{index}"}}',
                "threshold": [0.05, 0.1, 0.25, 1][index % 4],
            }
        }
    spec: dict[str, object] = {
        "name": f"slo-{index}",
        "objective": OBJECTIVES[index % len(OBJECTIVES)],
        "description": f"Synthetic SLO {index} of service {service}.",
        "labels": {"kind": ("events", "raw", "latency")[kind]},
        "sli": sli,
        "alerting": {
            "name": f"Svc{service}Slo{index}",
            "labels": {"category": "bench"},
            "annotations": {"runbook_url": f"runbooks/svc{service}.md"},
            "page_alert": {"labels": {"team": f"team{service % 7}"}},
            "ticket_alert": {"labels": {"team": f"team{service % 7}-backlog"}},
        },
    }
    if index % 5 == 4:
        spec["period"] = PERIODS[(service + index) % len(PERIODS)]
    return spec


def write_specs(folder: Path, services: int, per_service: int) -> None:
    """One prometheus/v1 file per service."""
    for service in range(services):
        document = {
            "version": "prometheus/v1",
            "service": f"svc{service}",
            "labels": {"owner": f"owner{service % 11}"},
            "slos": [slo(service, index) for index in range(per_service)],
        }
        path = folder / f"svc{service:03d}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def compile_in_process(folder: Path, jobs: int) -> tuple[int, float]:
    """Read, validate and compile every spec with ``jobs`` processes; return SLOs and seconds."""
    start = time.perf_counter()
    compilation = compile_inputs([folder], jobs=jobs)
    seconds = time.perf_counter() - start
    if not compilation.ok:
        raise SystemExit("\n".join(str(p) for p in compilation.problems))
    slos = sum(
        group.name.startswith(GROUP_SLI)
        for rule_file in compilation.files
        for group in rule_file.rule_groups
    )
    return slos, seconds


def compile_fresh(folder: Path, jobs: int) -> tuple[int, float, float]:
    """``compile_in_process`` in a fresh interpreter: cold caches, then warm ones."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(folder), "--jobs", str(jobs)],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    cold, warm = (line.split() for line in done.stdout.splitlines())
    return int(cold[0]), float(cold[1]), float(warm[1])


SRE = [sys.executable, "-c", "from sre_platform.cli import main; main()"]


def run_cli(*args: str | Path) -> tuple[float, float]:
    """Run ``sre ARGS`` in a fresh interpreter; return its wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([*SRE, *map(str, args)], check=True, cwd=ROOT, capture_output=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The fastest wall time, and the smallest CPU time, of some runs."""
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


def line(label: str, slos: int, figures: tuple[float, float], count: int) -> str:
    wall, cpu = figures
    rate = slos / wall
    verdict = "meets" if rate >= TARGET else "misses"
    return (
        f"{label:34} {wall:6.3f}s wall ({rate:7,.0f} SLOs/s, {verdict} {TARGET:,.0f}), "
        f"{cpu:6.3f}s CPU, best of {count}"
    )


def command_line(folder: Path, tmp: Path, slos: int, repeat: int) -> None:
    """Cold and incremental runs of the command line, printed side by side."""
    output = tmp / "rules.yaml"
    compile_args = ["slo", "compile", "-i", folder, "-o", output]
    startup = best([run_cli("slo", "compile", "--help") for _ in range(repeat)])
    print(f"{'start-up alone (--help)':34} {startup[0]:6.3f}s wall, {startup[1]:6.3f}s CPU")
    cold = best([run_cli(*compile_args) for _ in range(repeat)])
    print(line("cold, default mode", slos, cold, repeat))
    size = output.stat().st_size / 1e6
    efficient = best([run_cli(*compile_args, "--mode", "efficient") for _ in range(repeat)])
    print(line("cold, efficient mode", slos, efficient, repeat))
    first, unchanged, one_changed = [], [], []
    victim = sorted(folder.glob("*.yaml"))[len(list(folder.glob("*.yaml"))) // 2]
    original = victim.read_text(encoding="utf-8")
    for index in range(repeat):
        cache = tmp / f"cache-{index}"
        first.append(run_cli(*compile_args, "--cache", cache))
        unchanged.append(run_cli(*compile_args, "--cache", cache))
        victim.write_text(original.replace("Synthetic SLO", f"Edit {index} of SLO"), "utf-8")
        one_changed.append(run_cli(*compile_args, "--cache", cache))
        victim.write_text(original, encoding="utf-8")
    print(line("--cache, first run (fills it)", slos, best(first), repeat))
    print(line("--cache, nothing changed", slos, best(unchanged), repeat))
    print(line("--cache, one file changed", slos, best(one_changed), repeat))
    print(f"(each run writes {size:.1f} MB of rules)")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description="Time SLO compile plus validation.")
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--slos", type=int, default=20, help="SLOs per service")
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs (best is kept)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's hot spots")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(*compile_in_process(args.child, args.jobs))
        print(*compile_in_process(args.child, args.jobs))
        return

    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        folder = Path(tmp) / "specs"
        folder.mkdir()
        write_specs(folder, args.services, args.slos)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"specs: {args.services * args.slos} SLOs in {args.services} files; load {load}")
        for jobs in sorted({1, args.jobs}):
            runs = [compile_fresh(folder, jobs) for _ in range(max(1, args.repeat))]
            count, cold, _ = min(runs, key=lambda run: run[1])
            warm = min(run[2] for run in runs)
            rate = count / cold
            verdict = "meets" if rate >= TARGET else "misses"
            print(
                f"in process, {jobs} process(es): {cold:.3f}s cold, best of {len(runs)}: "
                f"{rate:,.0f} SLOs/s ({verdict} the {TARGET:,.0f} SLOs/s target); warm caches "
                f"{count / warm:,.0f} "
                "SLOs/s (an upper bound, not the figure)"
            )
        if not args.no_cli:
            command_line(folder, Path(tmp), args.services * args.slos, max(1, args.repeat))
        print(f"load at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(compile_in_process, folder, 1)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
