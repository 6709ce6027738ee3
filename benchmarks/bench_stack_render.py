"""Benchmark: render every stack offline under Pulumi's mock runtime.

Prints, per stack, the wall time of one render in a warm process and the number of declared
resources, then the wall time of one cold `sre stack render --stack prod --json` process
(interpreter start, imports, config, SLO compile, program, JSON) — the figure the target is
about.

    .venv/bin/python benchmarks/bench_stack_render.py [--repeat 3]

Target: `sre stack render --stack prod` under 5 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _warm(repeat: int) -> None:
    started = time.perf_counter()
    from stacks.project import list_stacks
    from stacks.render import render_stack

    render_stack(ROOT, "dev")  # imports pulumi_aws and the compiler once
    print(f"first render in this process (imports included): {time.perf_counter() - started:.2f} s")
    print(f"{'stack':<10} {'resources':>9} {'best of ' + str(repeat):>12} {'median':>8}")
    for stack in list_stacks(ROOT):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            rendering = render_stack(ROOT, stack)
            times.append(time.perf_counter() - started)
        times.sort()
        median = times[len(times) // 2]
        print(f"{stack:<10} {len(rendering.resources):>9} {times[0]:>10.2f} s {median:>6.2f} s")


def _cold() -> None:
    sre = Path(sys.executable).with_name("sre")
    command = [str(sre), "stack", "render", "--stack", "prod", "--json"]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    elapsed = time.perf_counter() - started
    count = len(json.loads(result.stdout)["resources"])
    print(f"cold `sre stack render --stack prod --json`: {elapsed:.2f} s, {count} resources")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="renders per stack (default 3)")
    args = parser.parse_args()
    _warm(args.repeat)
    _cold()


if __name__ == "__main__":
    main()
