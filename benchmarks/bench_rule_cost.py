"""Benchmark: what the default (Sloth) and the efficient rules cost a real Prometheus, side by side.

One run, on Debian's Prometheus 2.42 (127.0.0.1 only, every process started here stopped here):
1. writes three days of counters for ``--slos`` SLOs, each reading ``--series`` raw series
   (routes x {200, 500}) with a day/night shape: ten times the traffic by day, and by night a
   twenty times higher error ratio, so the period SLI's bias shows;
2. backfills them with ``promtool tsdb create-blocks-from openmetrics``;
3. starts a Prometheus on the raw data and backfills, with ``promtool tsdb create-blocks-from
   rules``, what each mode's rules read from history: the default mode's
   ``slo:sli_error:ratio_rate5m`` (its period SLI averages it) and the efficient mode's event-rate
   recordings;
4. starts two Prometheus, one per mode, each on the raw blocks plus its mode's backfill, with its
   compiled rules evaluated every minute, and measures:
   - samples touched per evaluation cycle: every rule's expression run through
     /api/v1/query?stats=all at the end of the data (``totalQueryableSamples``), per rule and
     summed;
   - rule group evaluation time: /api/v1/rules ``evaluationTime``, summed over the SLO's groups,
     the best of the evaluations seen (``--cycles``);
   - every SLI window's value in both modes at the end of the data, and the period SLI of each
     against the exact ratio of the raw counters (computed here from the generated increments).

    .venv/bin/python benchmarks/bench_rule_cost.py [--slos 2] [--series 100] [--cycles 2]

Targets: the efficient mode reads at least 10x fewer samples, and its SLI windows of 1h and
more are within 5% of the default's on the same data (the period excepted: there the modes
differ on purpose, the default averaging 5m ratios).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerting import compile_specs  # noqa: E402
from alerting.names import MODE_DEFAULT, MODE_EFFICIENT, MODES  # noqa: E402

STEP = 60  # seconds between raw samples, and between rule evaluations
DAYS = 3
METRIC = "bench_http_requests_total"
DAY = 86400


def spec(slos: int) -> dict[str, object]:
    """One prometheus/v1 spec: an events SLO per synthetic service, 30-day period."""
    return {
        "version": "prometheus/v1",
        "service": "bench",
        "slos": [
            {
                "name": f"svc{i}-availability",
                "objective": 99.5,
                "sli": {
                    "events": {
                        "error_query": f'sum(rate({METRIC}{{job="svc{i}",code="500"}}'
                        "[{{.window}}]))",
                        "total_query": f'sum(rate({METRIC}{{job="svc{i}"}}[{{{{.window}}}}]))',
                    }
                },
                "alerting": {"name": f"BenchSvc{i}Availability"},
            }
            for i in range(slos)
        ],
    }


def day_share(t: float) -> float:
    """0 at midnight, 1 at noon."""
    return (1 - math.cos(2 * math.pi * (t % DAY) / DAY)) / 2


def write_openmetrics(
    path: Path, slos: int, series: int, end: int
) -> dict[int, tuple[float, float]]:
    """Three days of counters ending at ``end``; return each SLO's exact (errors, requests)
    increase over the data."""
    routes = series // 2
    start = end - DAYS * DAY
    totals: dict[int, tuple[float, float]] = {}
    lines: list[str] = []
    with path.open("w", encoding="utf-8") as out:
        for slo in range(slos):
            errors_sum = requests_sum = 0.0
            for route in range(routes):
                weight = 0.5 + route / routes  # routes differ in traffic
                for code in ("200", "500"):
                    labels = f'{{job="svc{slo}",route="/r{route}",code="{code}"}}'
                    value = 1000.0
                    for t in range(start, end + 1, STEP):
                        if t > start:
                            share = day_share(t - STEP / 2)
                            rate = weight * (1 + 9 * share)  # requests/s: 10x by day
                            ratio = 0.001 + 0.019 * (1 - share)  # errors: 2% at night
                            part = ratio if code == "500" else 1 - ratio
                            step_events = rate * part * STEP
                            value += step_events
                            requests_sum += step_events
                            if code == "500":
                                errors_sum += step_events
                        lines.append(f"{METRIC}{labels} {value:.6f} {t}\n")
                    out.write("".join(lines))
                    lines.clear()
            totals[slo] = (errors_sum, requests_sum)
        out.write("# EOF\n")
    return totals


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*command: str | Path, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextmanager
def prometheus(data: Path, rules: Path | None, log: Path) -> Iterator[str]:
    """A Prometheus on 127.0.0.1 over ``data`` evaluating ``rules`` every STEP; its URL."""
    port = free_port()
    config = data.parent / f"{data.name}.prometheus.yml"
    document: dict[str, object] = {"global": {"evaluation_interval": f"{STEP}s"}}
    if rules is not None:
        document["rule_files"] = [str(rules)]
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=30d",
                f"--web.listen-address=127.0.0.1:{port}",
                "--query.max-samples=100000000",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"prometheus did not start: see {log}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def api(url: str, path: str, **params: str) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{query}", timeout=120) as answer:
        document = json.load(answer)
    if document.get("status") != "success":
        raise SystemExit(f"{path}: {document}")
    return document["data"]


def query(url: str, expr: str, at: int) -> tuple[list[dict], int]:
    """The result of ``expr`` at ``at`` and the samples it touched."""
    data = api(url, "/api/v1/query", query=expr, time=str(at), stats="all")
    return data["result"], int(data["stats"]["samples"]["totalQueryableSamples"])


def rule_files(workdir: Path, slos: int) -> dict[str, Path]:
    """Each mode's compiled rules, and the backfill rules (what each mode reads from history)."""
    spec_path = workdir / "bench.yaml"
    spec_path.write_text(yaml.safe_dump(spec(slos), sort_keys=False), encoding="utf-8")
    files = {}
    for mode in MODES:
        (rule_file,) = compile_specs([spec_path], mode=mode)
        files[mode] = workdir / f"{mode}.rules.yaml"
        files[mode].write_text(rule_file.text, encoding="utf-8")
        wanted = (
            {"slo:sli_error:ratio_rate5m"}
            if mode == MODE_DEFAULT
            else {"slo:sli_error:events_rate5m", "slo:sli_total:events_rate5m"}
        )
        groups = [
            {"name": f"backfill-{group['name']}", "rules": rules}
            for group in rule_file.groups
            if (rules := [r for r in group["rules"] if r.get("record") in wanted])
        ]
        files[f"{mode}-backfill"] = workdir / f"{mode}.backfill.yaml"
        files[f"{mode}-backfill"].write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    return files


def evaluation_times(url: str, cycles: int, since: float) -> dict[str, float]:
    """Per group: the smallest evaluationTime of ``cycles`` evaluations after ``since``."""
    best: dict[str, float] = {}
    seen: dict[str, set[str]] = {}
    deadline = time.monotonic() + STEP * (cycles + 2)
    while time.monotonic() < deadline:
        for group in api(url, "/api/v1/rules")["groups"]:
            last = group.get("lastEvaluation", "")
            if not last or last.startswith("0001") or _epoch(last) < since:
                continue
            seen.setdefault(group["name"], set()).add(last)
            value = float(group["evaluationTime"])
            best[group["name"]] = min(value, best.get(group["name"], value))
        if seen and all(len(v) >= cycles for v in seen.values()) and len(seen) >= 3:
            break
        time.sleep(2)
    return best


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")[:26] + "+00:00").timestamp()


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description="Rule cost of the default and efficient modes.")
    parser.add_argument("--slos", type=int, default=2)
    parser.add_argument("--series", type=int, default=100, help="raw series per SLO (even)")
    parser.add_argument("--cycles", type=int, default=2, help="rule evaluations to wait for")
    parser.add_argument("--keep", type=Path, help="keep the data and logs in this folder")
    args = parser.parse_args()
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        raise SystemExit("needs Debian's prometheus and promtool")
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-rule-cost-"))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    try:
        measure(workdir, args)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"done in {time.monotonic() - began:.0f}s; load average {os.getloadavg()[0]:.2f}")


def measure(workdir: Path, args: argparse.Namespace) -> None:
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    end = int(time.time()) // STEP * STEP
    start = end - DAYS * DAY
    openmetrics = workdir / "raw.om"
    exact = write_openmetrics(openmetrics, args.slos, args.series, end)
    raw_blocks = workdir / "raw-blocks"
    run("promtool", "tsdb", "create-blocks-from", "openmetrics", openmetrics, raw_blocks)
    openmetrics.unlink()
    files = rule_files(workdir, args.slos)
    data = {mode: workdir / f"data-{mode}" for mode in MODES}
    for mode in MODES:
        shutil.copytree(raw_blocks, data[mode])
    with prometheus(raw_blocks, None, workdir / "raw.log") as url:
        for mode in MODES:
            run(
                "promtool", "tsdb", "create-blocks-from", "rules",
                f"--url={url}", f"--start={start}", f"--end={end}",
                f"--eval-interval={STEP}s", f"--output-dir={workdir / f'backfill-{mode}'}",
                files[f"{mode}-backfill"],
            )  # fmt: skip
    for mode in MODES:
        for block in (workdir / f"backfill-{mode}").iterdir():
            if block.is_dir():
                shutil.copytree(block, data[mode] / block.name)
    print(
        f"data: {args.slos} SLO(s) x {args.series} raw series, {DAYS} days at {STEP}s "
        f"(ready {time.time() - end:.0f}s after its last sample)"
    )
    with (
        prometheus(data[MODE_DEFAULT], files[MODE_DEFAULT], workdir / "default.log") as d_url,
        prometheus(data[MODE_EFFICIENT], files[MODE_EFFICIENT], workdir / "eff.log") as e_url,
    ):
        since = time.time()
        urls = {MODE_DEFAULT: d_url, MODE_EFFICIENT: e_url}
        report(urls, files, end, exact, args, since)


def report(
    urls: dict[str, str],
    files: dict[str, Path],
    end: int,
    exact: dict[int, tuple[float, float]],
    args: argparse.Namespace,
    since: float,
) -> None:
    samples: dict[str, dict[str, int]] = {}
    values: dict[str, dict[str, float]] = {}
    for mode in MODES:
        document = yaml.safe_load(files[mode].read_text(encoding="utf-8"))
        samples[mode], values[mode] = {}, {}
        for group in document["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule["alert"]
                result, touched = query(urls[mode], rule["expr"], end)
                slo = rule.get("labels", {}).get("sloth_slo") or group["name"]
                key = f"{name}"
                samples[mode][key] = samples[mode].get(key, 0) + touched
                if name.startswith("slo:sli_error:ratio_rate") and result:
                    values[mode][f"{slo} {rule['labels']['sloth_window']}"] = float(
                        result[0]["value"][1]
                    )
    print("\nsamples touched per evaluation cycle (all SLOs), per rule:")
    print(f"{'rule':48} {'default':>12} {'efficient':>12}")
    names = list(dict.fromkeys([*samples[MODE_DEFAULT], *samples[MODE_EFFICIENT]]))
    for name in names:
        print(
            f"{name:48} {samples[MODE_DEFAULT].get(name, 0):>12,} "
            f"{samples[MODE_EFFICIENT].get(name, 0):>12,}"
        )
    total = {mode: sum(samples[mode].values()) for mode in MODES}
    ratio = total[MODE_DEFAULT] / max(1, total[MODE_EFFICIENT])
    verdict = "meets" if ratio >= 10 else "misses"
    print(
        f"{'total':48} {total[MODE_DEFAULT]:>12,} {total[MODE_EFFICIENT]:>12,}  "
        f"-> {ratio:.1f}x fewer ({verdict} the 10x target)"
    )
    print("\nSLI windows at the end of the data (error ratio):")
    print(f"{'SLO window':34} {'default':>12} {'efficient':>12} {'difference':>11}")
    worst = 0.0
    for key, default in values[MODE_DEFAULT].items():
        efficient = values[MODE_EFFICIENT].get(key, float("nan"))
        diff = (efficient - default) / default if default else float("nan")
        window = key.rsplit(" ", 1)[1]
        if window not in ("5m", "30m", "30d"):
            worst = max(worst, abs(diff))
        print(f"{key:34} {default:>12.6f} {efficient:>12.6f} {diff:>+10.2%}")
    verdict = "meets" if worst <= 0.05 else "misses"
    print(f"largest difference, windows 1h to 3d: {worst:.2%} ({verdict} the 5% target)")
    print("\nperiod SLI (30d window over the 3 days of data) against the raw counters:")
    print(f"{'SLO':22} {'exact':>10} {'default':>10} {'(bias)':>9} {'efficient':>10} {'(bias)':>9}")
    for slo, (errors, requests) in exact.items():
        truth = errors / requests
        name = f"svc{slo}-availability"
        d = values[MODE_DEFAULT].get(f"{name} 30d", float("nan"))
        e = values[MODE_EFFICIENT].get(f"{name} 30d", float("nan"))
        print(
            f"{name:22} {truth:>10.6f} {d:>10.6f} {(d - truth) / truth:>+9.1%} "
            f"{e:>10.6f} {(e - truth) / truth:>+9.1%}"
        )
    print(f"\nrule group evaluation time (/api/v1/rules, best of {args.cycles} evaluations):")
    times = {mode: evaluation_times(urls[mode], args.cycles, since) for mode in MODES}
    for kind in ("sli-recordings", "meta-recordings", "alerts"):
        row = [
            sum(v for g, v in times[mode].items() if f"-slo-{kind}-" in g) * 1000 for mode in MODES
        ]
        print(f"{kind:48} {row[0]:>10.2f}ms {row[1]:>10.2f}ms")
    row = [sum(times[mode].values()) * 1000 for mode in MODES]
    speedup = row[0] / max(row[1], 1e-9)
    print(f"{'all groups':48} {row[0]:>10.2f}ms {row[1]:>10.2f}ms  -> {speedup:.1f}x")


if __name__ == "__main__":
    main()
