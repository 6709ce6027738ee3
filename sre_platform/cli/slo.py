"""`sre slo ...`: compile, validate, test and explain SLO specs, and report on them from
Prometheus (`sre slo report`).

Exit codes: 0 success (warnings allowed), 1 a spec with errors, a failed proof or an output
that cannot be written, 2 an option value the command cannot use (`--period 2h`, a malformed
or reserved `--extra-label`), as click gives for an unknown option.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from alerting.alert_windows import read_windows
from alerting.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from alerting.compiler import check_inputs, compile_inputs, merge_rule_files, write_folder
from alerting.explain import Explanation, as_json, explain
from alerting.loader import LoadOptions, base_file, check_period
from alerting.names import MODES
from alerting.prometheus_rule import OUTPUT_FORMATS, choose
from alerting.prometheus_rule import render as render_prometheus_rule
from alerting.promql import LABEL_NAME
from alerting.proofs import (
    ProofResult,
    promtool_path,
    proof_suite,
    run_suites,
    suite_paths,
)
from alerting.validation import reserved_label_reason
from sre_platform.cli.output import print_json, progress
from sre_platform.cli.prometheus_options import check_timeout, check_url
from sre_platform.durations import format_duration, humanize, parse_duration
from sre_platform.errors import OutputError, Problem, PrometheusError, UsageError
from sre_platform.files import check_not_an_input, output_target, write_atomic
from sre_platform.text import printable

app = typer.Typer(help="Compile, validate, prove and explain SLO specs.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

InputsOption = typer.Option(
    ..., "--input", "-i", metavar="PATH", help="A spec file or a folder of specs (repeatable)."
)
PeriodOption = typer.Option("30d", "--period", help="Default SLO period, 1d to 90d.")
ExtraLabelOption = typer.Option(
    [], "--extra-label", help="k=v added to every generated rule (repeatable)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
WindowsPathOption = typer.Option(
    None,
    "--windows-path",
    "--slo-period-windows-path",
    help="A folder of Sloth AlertWindows files: each SLO uses the one whose sloPeriod is its "
    "period (they replace the default windows, as in Sloth).",
)
AllowUnknownOption = typer.Option(
    False,
    "--allow-unknown-fields",
    help="Unknown spec fields are warnings naming file and field, and are ignored.",
)


def load_options(windows_path: Path | None, allow_unknown_fields: bool) -> LoadOptions:
    """The spec-reading options; the AlertWindows files are read (SpecError if bad)."""
    windows = read_windows(windows_path) if windows_path is not None else None
    return LoadOptions(windows=windows, allow_unknown_fields=allow_unknown_fields)


STDOUT = "-"
ModeOption = typer.Option(
    "default",
    "--mode",
    help="Rules mode: default (Sloth's rules, byte for byte) or efficient (raw series read "
    "once per SLO, longer windows derived, event-weighted: docs/rule-cost.md).",
)


def _cache_dir(
    cache: Path | None, incremental: bool, output: Path | None, inputs: Sequence[Path]
) -> Path | None:
    """The compile cache folder of ``--cache`` / ``--incremental``; UsageError when both are
    given, when it is not a folder, or when it is the output or an input (or lies inside one)."""
    if cache is not None and incremental:
        raise UsageError(
            "--cache and --incremental: give one (--incremental is --cache .cache/sre-slo)"
        )
    folder = DEFAULT_CACHE_DIR if incremental else cache
    if folder is None:
        return None
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--cache {printable(str(folder))}: not a folder")
    if output is not None and str(output) != STDOUT and folder.resolve() == output.resolve():
        raise UsageError(f"--cache {printable(str(folder))}: is the --output")
    try:
        check_not_an_input([folder], inputs, "--cache")
    except OutputError as error:
        raise UsageError(str(error)) from None
    return folder


def checked_mode(mode: str, allowed: Sequence[str] = MODES) -> str:
    """``mode`` when it is one of ``allowed``; raise UsageError otherwise."""
    if mode not in allowed:
        raise UsageError(f"--mode {printable(mode)!r}: expected one of {', '.join(allowed)}")
    return mode


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """Turn ``k=v`` pairs into a dict; raise UsageError naming the bad pair."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        shown = printable(pair)
        if not sep or not key or not value:
            raise UsageError(f"--extra-label {shown!r}: expected key=value")
        if not LABEL_NAME.match(key) or key.startswith("__"):
            raise UsageError(f"--extra-label {shown!r}: invalid label name {printable(key)!r}")
        if reason := reserved_label_reason(key):
            raise UsageError(f"--extra-label {shown!r}: {reason}")
        labels[key] = value
    return labels


def checked_period(period: str) -> str:
    """``period`` when it is a usable default period; raise UsageError otherwise."""
    problem = check_period(period)
    if problem:
        raise UsageError(f"--period {printable(period)}: {problem.message}")
    return period


def _print_problems(problems: Sequence[Problem], omitted: dict[str, int]) -> None:
    """Every problem on stderr, and how many were left out of each file."""
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        err_console.print(Text.assemble((problem.severity, style), f": {printable(str(problem))}"))
    for name, count in omitted.items():
        err_console.print(f"... and {count:,} more problem(s) in {printable(name)}", markup=False)


def _problem_json(problem: Problem) -> dict[str, object]:
    file = base_file(problem) or None
    document = None
    if problem.file and " (document " in problem.file:
        document = int(problem.file.rsplit(" (document ", 1)[1].rstrip(")"))
    return {
        "file": file,
        "document": document,
        "slo": problem.slo,
        "field": problem.field,
        "message": problem.message,
        "severity": problem.severity,
    }


def _output_kind(output: Path | None) -> str:
    """``stdout``, ``folder`` (one file per spec) or ``file`` (one merged file).

    A path that exists and is not a folder is a file target (even without a suffix).
    """
    if output is None or str(output) == STDOUT:
        return "stdout"
    if output.is_dir() or str(output).endswith(("/", os.sep)):
        return "folder"
    if os.path.lexists(output) or output.suffix:
        return "file"
    return "folder"


def _file_target(output: Path) -> Path:
    """The regular file that writing ``output`` replaces (a link's target; the link stays).

    A device, a pipe, or a link into /proc (/dev/stdout, /dev/full, /proc/self/fd/1) is
    refused, never swapped for a file.
    """
    try:
        target = output_target(output)
        if target.exists() and not target.is_file():
            raise OutputError(f"{output}: cannot write: not a regular file")
    except OutputError:
        raise OutputError(
            f"--output {output}: not a regular file; to print the rules, leave out --output "
            "or give --output -"
        ) from None
    return target


@app.command("compile")
def compile_command(
    inputs: list[Path] = InputsOption,
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="A rules file (one merged file) or a folder (one file per spec). Default, or -: "
        "stdout.",
    ),
    period: str = PeriodOption,
    extra_label: list[str] = ExtraLabelOption,
    mode: str = ModeOption,
    windows_path: Path | None = WindowsPathOption,
    allow_unknown_fields: bool = AllowUnknownOption,
    output_format: str = typer.Option(
        "auto",
        "--output-format",
        help="rules (a Prometheus rules file) or prometheus-rule (a prometheus-operator "
        "PrometheusRule per Kubernetes CRD document); auto: prometheus-rule when every input "
        "is a sloth.slok.dev/v1 PrometheusServiceLevel, as Sloth does, else rules.",
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache",
        help="Incremental compile: reuse the rules of unchanged spec files from this folder "
        "(keyed by content, options and compiler; a damaged entry is ignored and rewritten).",
    ),
    incremental: bool = typer.Option(
        False, "--incremental", help="Same as --cache .cache/sre-slo."
    ),
) -> None:
    """Compile SLO specs into Prometheus recording and alerting rules."""
    labels = parse_labels(extra_label)
    mode = checked_mode(mode)
    cache_dir = _cache_dir(cache, incremental, output, inputs)
    if output_format not in OUTPUT_FORMATS:
        raise UsageError(
            f"--output-format {printable(output_format)!r}: expected one of "
            f"{', '.join(OUTPUT_FORMATS)}"
        )
    kind = _output_kind(output)
    target = _file_target(output) if kind == "file" and output is not None else None
    compilation = compile_inputs(
        inputs,
        checked_period(period),
        labels,
        jobs=os.cpu_count() or 1,
        mode=mode,
        cache_dir=cache_dir,
        options=load_options(windows_path, allow_unknown_fields),
    )
    _print_problems(compilation.problems, compilation.omitted)
    if not compilation.ok:
        raise typer.Exit(1)
    slos = f"{compilation.slo_count} SLO(s)"
    files = compilation.files
    chosen, objects = choose(files, output_format)
    if chosen != "rules":
        files = [
            dataclasses.replace(f, text=render_prometheus_rule(f, objects[f.source])) for f in files
        ]
    if kind == "folder":
        assert output is not None
        targets = write_folder(files, output, inputs)
        err_console.print(f"wrote {len(targets)} rules file(s) to {output} ({slos})", markup=False)
        return
    merged = merge_rule_files(files) if chosen == "rules" else "".join(f.text for f in files)
    if kind == "stdout":
        sys.stdout.write(merged)
        return
    assert output is not None and target is not None
    check_not_an_input([target], inputs, "--output")
    write_atomic(target, merged)
    err_console.print(f"wrote {output} ({slos})", markup=False)


app.command("generate", help="Alias of `compile`.")(compile_command)


@app.command("validate")
def validate_command(
    inputs: list[Path] = InputsOption,
    period: str = PeriodOption,
    extra_label: list[str] = ExtraLabelOption,
    windows_path: Path | None = WindowsPathOption,
    allow_unknown_fields: bool = AllowUnknownOption,
    as_json_output: bool = JsonOption,
) -> None:
    """Check specs as compile does and report every problem of every file at once (exit 1 on
    any error)."""
    labels = parse_labels(extra_label)
    compilation = compile_inputs(
        inputs,
        checked_period(period),
        labels,
        jobs=os.cpu_count() or 1,
        options=load_options(windows_path, allow_unknown_fields),
    )
    errors = sum(p.severity == "error" for p in compilation.problems)
    warnings = len(compilation.problems) - errors
    omitted = sum(compilation.omitted.values())
    if as_json_output:
        print_json(
            {
                "ok": compilation.ok,
                "files": compilation.file_count,
                "slos": compilation.slo_count,
                "errors": errors,
                "warnings": warnings,
                "omitted": compilation.omitted,
                "problems": [_problem_json(p) for p in compilation.problems],
            }
        )
    else:
        _print_problems(compilation.problems, compilation.omitted)
    if not compilation.ok:
        if not as_json_output:
            more = f" (and {omitted:,} more problem(s) not shown)" if omitted else ""
            err_console.print(
                f"{errors} error(s) in {compilation.file_count} file(s){more}", markup=False
            )
        raise typer.Exit(1)
    if not as_json_output:
        console.print(
            f"ok: {compilation.slo_count} SLO(s) in {compilation.file_count} file(s)",
            markup=False,
        )


@app.command("test")
def test_command(
    inputs: list[Path] = InputsOption,
    period: str = PeriodOption,
    keep: Path | None = typer.Option(
        None, "--keep", help="Write the twin rules and promtool tests here and keep them."
    ),
    windows_path: Path | None = WindowsPathOption,
    allow_unknown_fields: bool = AllowUnknownOption,
    as_json_output: bool = JsonOption,
    mode: str = typer.Option(
        "default",
        "--mode",
        help="Prove the rules of this mode: default, efficient, or all (both, in turn).",
    ),
) -> None:
    """Prove each SLO's alerts with promtool: outage pages, 0.99x burn is silent, blip resets."""
    modes = MODES if checked_mode(mode, (*MODES, "all")) == "all" else (mode,)
    result = check_inputs(
        inputs, checked_period(period), options=load_options(windows_path, allow_unknown_fields)
    )
    _print_problems(result.problems, result.omitted)
    if not result.ok:
        raise typer.Exit(1)
    promtool_path()
    with progress(f"proving the alerts of {len(result.slos)} SLO(s) with promtool") as update:

        def report(item: ProofResult, done: int, total: int) -> None:
            update(f"proof {done}/{total}: {item.slo_id} {item.proof} {item.status}")

        suites = [proof_suite(slo, one) for one in modes for slo in result.slos]
        if keep is not None:
            check_not_an_input([keep, *suite_paths(suites, keep)], inputs, "--keep")
            results = run_suites(suites, keep, progress=report)
        else:
            with tempfile.TemporaryDirectory(prefix="sre-slo-test-") as folder:
                results = run_suites(suites, Path(folder), progress=report)
    failed = [item for item in results if item.status == "failed"]
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    if as_json_output:
        print_json(
            {
                "ok": not failed,
                "slos": len(result.slos),
                "counts": counts,
                "results": [dataclasses.asdict(item) for item in results],
            }
        )
    else:
        _print_results(results, failed)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        console.print(f"{len(result.slos)} SLO(s): {summary}", markup=False)
    if failed:
        raise typer.Exit(1)


def _print_results(results: list[ProofResult], failed: list[ProofResult]) -> None:
    table = Table("SLO", "proof", "result", "what was proven (or why not)", box=None)
    styles = {"passed": "green", "failed": "bold red", "skipped": "yellow"}
    for item in results:
        what = item.detail if item.status == "skipped" else item.title
        proof = item.proof if item.mode == MODES[0] else f"{item.proof} ({item.mode})"
        table.add_row(item.slo_id, proof, Text(item.status, styles[item.status]), what)
    console.print(table)
    for item in failed:
        err_console.print(
            Text.assemble(
                ("FAILED", "bold red"),
                f" {item.source}: slo {item.slo_id}: proof {item.proof}"
                + ("" if item.mode == MODES[0] else f" ({item.mode} rules)")
                + f": {item.title}",
            )
        )
        err_console.print(item.detail, markup=False)


@app.command("explain")
def explain_command(
    inputs: list[Path] = InputsOption,
    period: str = PeriodOption,
    rate: float = typer.Option(
        100.0, "--rate", min=0.0, help="Events per second, for the budget in events."
    ),
    windows_path: Path | None = WindowsPathOption,
    allow_unknown_fields: bool = AllowUnknownOption,
    as_json_output: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Explain each SLO: error budget in time and events, alert tiers, time to detect burns."""
    result = check_inputs(
        inputs, checked_period(period), options=load_options(windows_path, allow_unknown_fields)
    )
    _print_problems(result.problems, result.omitted)
    if not result.ok:
        raise typer.Exit(1)
    explanations = [explain(slo, rate) for slo in result.slos]
    if as_json_output:
        print_json({"slos": [as_json(e) for e in explanations]})
        return
    for item in explanations:
        _print_explanation(item)


def _print_explanation(e: Explanation) -> None:
    console.print(
        f"[bold]{e.slo_id}[/] ({e.source}): objective {e.objective:g}% over "
        f"{format_duration(e.period_seconds)}; error budget {e.error_budget_ratio:.4g} = "
        f"[bold]{humanize(e.budget_seconds)}[/] of full outage = "
        f"[bold]{e.budget_events:,.0f}[/] failed events at {e.rate:g}/s",
        markup=True,
    )
    tiers = Table("tier", "long", "short", "factor", "threshold", "budget share", "state")
    for t in e.tiers:
        state = "can fire" if t.can_fire else ("disabled" if not t.enabled else "can never fire")
        tiers.add_row(
            t.label,
            format_duration(t.long_window),
            format_duration(t.short_window),
            f"{t.factor:.4g}",
            f"{t.threshold:.4%}",
            f"{t.budget_share:.0%}",
            state,
        )
    console.print(tiers)
    detections = Table("burn", "error ratio", "detected after", "by")
    for d in e.detections:
        when = humanize(d.seconds) if d.seconds is not None else f"never ({d.reason})"
        detections.add_row(d.burn_label, f"{d.error_ratio:.4%}", when, d.tier or "-")
    console.print(detections)


REPORT_TIMEOUT_SECONDS = 120.0


def _report_target(output: Path) -> Path:
    """The regular file ``--output`` names (refused early: a folder, a device, a pipe)."""
    target = output_target(output)
    if target.exists() and not target.is_file():
        raise OutputError(f"--output {output}: cannot write: not a regular file")
    return target


@app.command("report")
def report_command(
    prometheus: str = typer.Option(
        ...,
        "--prometheus",
        metavar="URL",
        callback=check_url,
        help="Prometheus base URL (the lab's http://127.0.0.1:9090) or an AMP workspace URL "
        "(signed with SigV4 from the standard AWS credential chain).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The HTML report to write."),
    period: str | None = typer.Option(
        None, "--period", help="Report over this period (1d to 90d). Default: each SLO's own."
    ),
    inputs: list[Path] = typer.Option(
        [],
        "--input",
        "-i",
        metavar="PATH",
        help="Spec files or folders (repeatable): only their SLOs, with descriptions and "
        "runbook links.",
    ),
    timeout: float = typer.Option(
        REPORT_TIMEOUT_SECONDS,
        "--timeout",
        metavar="SECONDS",
        callback=check_timeout,
        help="Deadline for everything read from Prometheus (exit 4 past it).",
    ),
    as_json_output: bool = typer.Option(
        False, "--json", help="Also print the report's data as JSON on stdout."
    ),
) -> None:
    """Write a self-contained HTML SLO report: attainment, budget spent, burn-down and page
    incidents of every SLO over its period. Exit 4 when Prometheus cannot answer."""
    # Imported here: the report and the Prometheus client (boto3) are this command's alone.
    from reports.render import render_html, report_document
    from reports.slo_report import collect, spec_info
    from sre_platform.prometheus import Limits, open_client

    period_seconds = parse_duration(checked_period(period)) if period is not None else None
    target = _report_target(output)
    check_not_an_input([target], inputs, "--output")
    specs = None
    if inputs:
        result = check_inputs(inputs)
        _print_problems(result.problems, result.omitted)
        if not result.ok:
            raise typer.Exit(1)
        specs = spec_info(result.slos)
    client = open_client(prometheus, limits=Limits(timeout_seconds=timeout))
    started = time.monotonic()
    with progress(f"Reading SLOs from {printable(prometheus)} (deadline {timeout:g} s)") as update:
        report = collect(client, time.time(), period_seconds, specs, update)
    if not any(slo.objective is not None for slo in report.slos):
        lookback = format_duration(period_seconds) if period_seconds else "90d"
        raise PrometheusError(
            printable(
                f"no SLO series (slo:objective:ratio) in {prometheus} over the last {lookback}"
            )
        )
    html = render_html(report)
    write_atomic(target, html)
    if as_json_output:
        print_json(report_document(report))
    err_console.print(
        f"wrote {output}: {len(report.slos)} SLO(s), {len(html.encode()) / 1024:.0f} KiB, "
        f"{report.queries} queries in {time.monotonic() - started:.1f} s",
        markup=False,
    )
