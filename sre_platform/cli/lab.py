"""`sre lab ...`: the local lab: up, status, break, heal, deploy, notifications,
remediations, down.

Self-healing (docs/self-healing.md): `up` also starts the remediator (port 8094,
`--remediator-port`: Alertmanager's remediation webhooks acted on under `--policy`, and an
autoscaler on in-flight orders per replica: `--autoscale/--no-autoscale`, `--autoscale-target`,
`--max-replicas`, `--scale-out-cooldown`, `--scale-in-cooldown`, `--scale-in-after`) and gives
replicas a finite capacity (`--workers`, `--service-time-ms`); `break --load-factor F` multiplies
the order rate (4: the TradeX spike); `remediations [--json]` lists what acted and why.

Exit codes: 0 success; 1 an error (no lab running, a port in use, `up` asked for options the
running lab does not have, a process of the lab down that no game-day fault holds down, a pid
file naming a process that must not be signalled); 2 a usage error; `deploy` adds 3 (rolled
back) and 4 (rolled back without a verdict).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab import control, release, settings
from lab.builds import ReplicaBuild
from lab.canary import AnalysisPolicy
from lab.control import BreakResult, CrashResult, DownResult, LabStatus, ReplicaFault, UpResult
from lab.settings import Binaries, Capacity, LabConfig, Ports, Remediation
from sre_platform.cli.output import print_json, progress
from sre_platform.durations import humanize, parse_duration
from sre_platform.errors import LabError, UsageError

app = typer.Typer(
    help="The local lab: the SLO rules, alert routing and demo exchange service, running.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RunDirOption = typer.Option(
    None,
    "--run-dir",
    help=f"Run directory (pids, configs, logs, data); default ${settings.RUN_DIR_ENV} or .lab.",
)
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")

# `up` options -> the LabConfig field each sets (to compare with a running lab's).
UP_FIELDS = {
    "replicas": "ports.service",
    "service_port": "ports.service",
    "service_ports": "ports.service",
    "prometheus_port": "ports.prometheus",
    "alertmanager_port": "ports.alertmanager",
    "node_exporter_port": "ports.node_exporter",
    "supervisor_port": "ports.supervisor",
    "receiver_port": "ports.receiver",
    "loadgen_port": "ports.loadgen",
    "dashboard_port": "ports.dashboard",
    "remediator_port": "ports.remediator",
    "workers": "capacity.workers",
    "service_time_ms": "capacity.service_time_ms",
    "policy": "remediation.policy",
    "max_replicas": "remediation.max_replicas",
    "autoscale": "remediation.autoscale",
    "autoscale_target": "remediation.target",
    "scale_out_cooldown": "remediation.scale_out_cooldown",
    "scale_in_cooldown": "remediation.scale_in_cooldown",
    "scale_in_after": "remediation.scale_in_after",
    "order_rate": "order_rate",
    "inputs": "specs",
    "period": "period",
    "scrape_interval": "scrape_interval",
    "evaluation_interval": "evaluation_interval",
    "otlp_endpoint": "otlp_endpoint",
    "trace_ratio": "trace_ratio",
    "prometheus_bin": "binaries.prometheus",
    "alertmanager_bin": "binaries.alertmanager",
    "node_exporter_bin": "binaries.node_exporter",
}


def _duration(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def _percent(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _hint(run_dir: Path, *commands: tuple[str, ...]) -> str:
    """Commands a person copies next, each keeping ``--run-dir`` when it matters."""
    return ", ".join(f"`{settings.command(run_dir, verb, *args)}`" for verb, *args in commands)


# --- up ----------------------------------------------------------------------------------------
def _given_options(ctx: typer.Context) -> tuple[set[str], list[str]]:
    """The LabConfig fields the options on the command line (or environment) set, and those
    options again as words for a restart command (command line only; the environment stays).
    """
    fields: set[str] = set()
    words: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        # By name: typer carries its own copy of click's ParameterSource.
        where = source.name if source is not None else "DEFAULT"
        if name not in UP_FIELDS or where not in ("COMMANDLINE", "ENVIRONMENT"):
            continue
        fields.add(UP_FIELDS[name])
        if where == "COMMANDLINE":
            option = max(param.opts, key=len)
            value = ctx.params[name]
            for item in value if isinstance(value, list | tuple) else [value]:
                words += [option, f"{item:g}" if isinstance(item, float) else str(item)]
    return fields, words


def _up_json(result: UpResult) -> dict[str, Any]:
    config = result.config
    return {
        "run_dir": str(config.run_dir),
        "already_running": result.already_running,
        "period": config.period,
        "order_rate": config.order_rate,
        "replicas": len(config.ports.service),
        "started_at": config.started_at,
        "links": result.links,
        "amtool": result.amtool,
        "prometheus_url": config.url("prometheus"),
        "alertmanager_url": config.url("alertmanager"),
        "dashboard_url": f"{config.url('dashboard')}/",
        "differences": [asdict(d) for d in result.differences],
        "cleanup": asdict(result.cleanup),
    }


def _print_links(links: dict[str, str], amtool: str) -> None:
    for name, url in links.items():
        note = ""
        if name == "dashboard":
            note = "  (the SLOs, live)"
        elif name == "prometheus":
            note = "  (PromQL)"
        elif name == "alertmanager" and url.endswith("/api/v2/alerts"):
            note = f"  (API; this build has no web UI: `{amtool}`)"
        console.print(f"  {name:<14} {url}{note}", markup=False)


def _print_cleanup(cleanup: control.Cleanup, out: Console = console) -> None:
    """What stopping a lab found and did (``out``: stderr when stdout carries JSON)."""
    for problem in cleanup.unreadable:
        err_console.print(
            f"[yellow]warning[/]: {escape(problem)}; looked for the lab's processes by their "
            "command line and run directory instead"
        )
    for found in cleanup.found:
        out.print(
            f"stopped: {found.component} (pid {found.pid}, found by command line: "
            f"{escape(found.command)})"
        )
    for name in cleanup.stale:
        out.print(f"cleaned up {name}, left over from a lab that stopped uncleanly")
    _print_refusals(cleanup)


def _print_refusals(cleanup: control.Cleanup) -> None:
    for refusal in cleanup.refused:
        err_console.print(f"[red]error[/]: {escape(refusal)}")


@app.command("up")
def up_command(
    ctx: typer.Context,
    run_dir: Path | None = RunDirOption,
    replicas: int = typer.Option(3, "--replicas", min=1, max=20, help="Service replicas."),
    service_port: int = typer.Option(8081, "--service-port", help="First replica's port."),
    service_ports: str | None = typer.Option(
        None, "--service-ports", help="Replica ports, comma-separated (instead of consecutive)."
    ),
    prometheus_port: int = typer.Option(9090, "--prometheus-port"),
    alertmanager_port: int = typer.Option(9093, "--alertmanager-port"),
    node_exporter_port: int = typer.Option(9100, "--node-exporter-port"),
    supervisor_port: int = typer.Option(8090, "--supervisor-port"),
    receiver_port: int = typer.Option(8091, "--receiver-port"),
    loadgen_port: int = typer.Option(8092, "--loadgen-port"),
    dashboard_port: int = typer.Option(
        8093, "--dashboard-port", help="The live SLO dashboard page."
    ),
    order_rate: float = typer.Option(20.0, "--order-rate", min=0, help="Orders per second."),
    remediator_port: int = typer.Option(
        8094, "--remediator-port", help="The remediator (Alertmanager webhooks, autoscaler)."
    ),
    workers: int = typer.Option(
        8, "--workers", min=1, max=10_000, help="Orders a replica executes at a time."
    ),
    service_time_ms: float = typer.Option(
        400.0,
        "--service-time-ms",
        min=0,
        max=60_000,
        help="How long an order holds its worker (execution, then settlement): "
        "a replica serves workers/service time orders/s (8/0.4 s = 20/s).",
    ),
    policy: Path = typer.Option(
        Path("ops/remediation.yaml"), "--policy", help="Remediation policy the remediator acts on."
    ),
    max_replicas: int = typer.Option(
        6, "--max-replicas", min=1, max=50, help="Scaling bound (the Auto Scaling group's max)."
    ),
    autoscale: bool = typer.Option(
        True, "--autoscale/--no-autoscale", help="Target tracking on in-flight orders."
    ),
    autoscale_target: float = typer.Option(
        6.0, "--autoscale-target", min=0.01, help="Target orders in flight per replica."
    ),
    scale_out_cooldown: float = typer.Option(15.0, "--scale-out-cooldown", min=0, help="Seconds."),
    scale_in_cooldown: float = typer.Option(30.0, "--scale-in-cooldown", min=0, help="Seconds."),
    scale_in_after: float = typer.Option(
        30.0, "--scale-in-after", min=0, help="Seconds below the target before scaling in."
    ),
    inputs: list[Path] = typer.Option(
        [Path("slo_specs")],
        "--input",
        "-i",
        metavar="PATH",
        help="SLO spec file or folder (repeatable).",
    ),
    period: str = typer.Option(
        "30d", "--period", help="SLO period for the rules; 1d makes a game day's alerts quick."
    ),
    scrape_interval: str = typer.Option("5s", "--scrape-interval"),
    evaluation_interval: str = typer.Option("5s", "--evaluation-interval"),
    otlp_endpoint: str | None = typer.Option(
        None,
        "--otlp-endpoint",
        envvar="SRE_LAB_OTLP_ENDPOINT",
        help="Send traces over OTLP/HTTP (e.g. http://127.0.0.1:4318/v1/traces) "
        "instead of <run dir>/traces/*.jsonl.",
    ),
    trace_ratio: float = typer.Option(1.0, "--trace-ratio", min=0, max=1),
    prometheus_bin: str | None = typer.Option(None, "--prometheus-bin"),
    alertmanager_bin: str | None = typer.Option(None, "--alertmanager-bin"),
    node_exporter_bin: str | None = typer.Option(None, "--node-exporter-bin"),
    as_json: bool = JsonOption,
) -> None:
    """Start the lab and wait until every part answers its health check.

    On a lab already running, `up` starts nothing; options that differ from the running lab's
    are named with the command that restarts it with them (exit 1).
    """
    for option, value in (
        ("--period", period),
        ("--scrape-interval", scrape_interval),
        ("--evaluation-interval", evaluation_interval),
    ):
        _duration(value, option)
    binaries = Binaries(
        prometheus=settings.find_tool("prometheus", prometheus_bin),
        alertmanager=settings.find_tool("alertmanager", alertmanager_bin),
        node_exporter=settings.find_tool("node_exporter", node_exporter_bin),
    )
    try:
        ports = Ports(
            prometheus=prometheus_port,
            alertmanager=alertmanager_port,
            node_exporter=node_exporter_port,
            service=settings.service_ports(service_port, replicas, service_ports),
            supervisor=supervisor_port,
            receiver=receiver_port,
            loadgen=loadgen_port,
            dashboard=dashboard_port,
            remediator=remediator_port,
        )
    except ValueError as exc:
        raise UsageError(f"ports: {exc}") from exc
    directory = settings.run_dir_from(run_dir)
    config = LabConfig(
        run_dir=directory,
        ports=ports,
        binaries=binaries,
        specs=tuple(path.resolve() for path in inputs),
        period=period,
        order_rate=order_rate,
        scrape_interval=scrape_interval,
        evaluation_interval=evaluation_interval,
        otlp_endpoint=otlp_endpoint,
        trace_ratio=trace_ratio,
        capacity=Capacity(workers=workers, service_time_ms=service_time_ms),
        remediation=Remediation(
            policy=policy.resolve(),
            max_replicas=max_replicas,
            autoscale=autoscale,
            target=autoscale_target,
            scale_out_cooldown=scale_out_cooldown,
            scale_in_cooldown=scale_in_cooldown,
            scale_in_after=scale_in_after,
        ),
    )
    given, words = _given_options(ctx)
    with progress(f"starting the lab in {directory}") as step:
        result = control.up(
            config,
            given=given,
            on_step=step,
            on_cleanup=lambda cleanup: _print_cleanup(cleanup, err_console if as_json else console),
        )
    if as_json:
        print_json(_up_json(result))
    else:
        _print_up(result)
    if result.differences:
        lines = [f"  {d.option}: running {d.running}, asked {d.asked}" for d in result.differences]
        restart = settings.command(directory, "down") + " && "
        restart += settings.command(directory, "up", *words)
        raise LabError(
            f"the lab in {directory} already runs with other options:\n"
            + "\n".join(lines)
            + f"\n`up` leaves a running lab as it is; to restart it with yours: `{restart}`"
        )


def _print_up(result: UpResult) -> None:
    config = result.config
    state = "already running" if result.already_running else "up"
    console.print(
        f"the lab is {state} in {config.run_dir}: period {config.period}, "
        f"{len(config.ports.service)} replicas, {config.order_rate:g} orders/s",
        markup=False,
    )
    _print_links(result.links, result.amtool)
    if not result.differences:
        console.print(
            "next: "
            + _hint(config.run_dir, ("status",), ("break", "--error-rate", "1"), ("down",)),
            markup=False,
        )


# --- status ------------------------------------------------------------------------------------
def _slo_tables(status: LabStatus) -> list[Table]:
    """One table per service: objective, SLIs, burn rate, budget left and alerts per SLO."""
    tables: dict[str, Table] = {}
    for row in status.slos:
        table = tables.get(row.service)
        if table is None:
            table = Table(title=f"SLOs of {row.service}", title_justify="left")
            table.add_column("slo", no_wrap=True)
            for column in ("objective", "SLI 5m", "SLI 1h", "burn", "budget left"):
                table.add_column(column, justify="right", no_wrap=True)
            table.add_column("firing", no_wrap=True)
            tables[row.service] = table
        firing = sorted({alert.severity for alert in row.alerts_firing})
        table.add_row(
            row.slo,
            _percent(row.objective, 1),
            _percent(row.sli_5m, 2),
            _percent(row.sli_1h, 2),
            "-" if row.burn_rate is None else f"{row.burn_rate:.1f}x",
            _percent(row.budget_remaining, 1),
            "[red]" + ", ".join(firing) + "[/]" if firing else "-",
        )
    return list(tables.values())


def _widen_for_pipes() -> None:
    """Files and pipes get whole tables instead of 80 columns of ellipses."""
    if not console.is_terminal:
        console.width = max(console.width, 120)


def _fault_text(fault: ReplicaFault) -> str:
    ends = (
        "until healed"
        if fault.seconds_left is None
        else f"ends by itself in {humanize(fault.seconds_left)}"
    )
    return f"error rate {fault.error_rate * 100:g}%, extra latency {fault.latency_ms:g} ms, {ends}"


def _age_text(status: LabStatus) -> str:
    if status.age_seconds is None or status.started_at is None:
        return f"the lab in {status.run_dir}: period {status.period}"
    since = time.strftime("%H:%M:%S", time.localtime(status.started_at))
    text = (
        f"the lab in {status.run_dir}: period {status.period}, "
        f"up {humanize(status.age_seconds)} (since {since})"
    )
    if status.age_seconds < parse_duration(status.period):
        text += (
            f"\n  younger than its period: 'SLI 1h' covers at most the lab's "
            f"{humanize(min(status.age_seconds, 3600))}, and 'budget left' only its "
            f"{humanize(status.age_seconds)} of history, not a whole {status.period}"
        )
    return text


def _alive_text(proc: control.ProcessStatus) -> str:
    if proc.alive:
        return "yes"
    if proc.held_seconds_left is not None:
        return f"[yellow]no, held down {humanize(proc.held_seconds_left)} more[/]"
    return "[red]no[/]"


def _print_status(status: LabStatus) -> None:
    _widen_for_pipes()
    console.print(_age_text(status), markup=False)
    for table in _slo_tables(status):
        console.print(table)
    processes = Table(title="Processes", title_justify="left")
    for column in ("name", "pid", "alive", "healthy", "restarts", "version", "url"):
        processes.add_column(column)
    for proc in status.processes:
        processes.add_row(
            proc.name,
            str(proc.pid or "-"),
            _alive_text(proc),
            "yes" if proc.healthy else "[red]no[/]",
            "-" if proc.restarts is None else str(proc.restarts),
            escape(proc.version or "-"),
            proc.url,
        )
    console.print(processes)
    for fault in status.faults:
        console.print(f"fault on replica {fault.replica}: {_fault_text(fault)}", markup=False)
    for alert in status.other_alerts:
        where = ", ".join(f"{key}={value}" for key, value in alert.labels)
        console.print(
            f"firing: {alert.alertname} ({alert.severity}{', ' + where if where else ''})",
            markup=False,
        )
    notified = _hint(status.run_dir, ("notifications",))
    console.print(f"notifications received: {status.notifications} ({notified})", markup=False)
    _print_links(
        {
            k: v
            for k, v in status.links.items()
            if k in ("dashboard", "prometheus", "alerts", "rules", "alertmanager")
        },
        status.amtool,
    )
    for problem in status.problems:
        err_console.print(f"[yellow]warning[/]: {escape(problem)}")


@app.command("status")
def status_command(run_dir: Path | None = RunDirOption, as_json: bool = JsonOption) -> None:
    """The SLO table (from Prometheus), the processes and their health, active faults.

    Exits 1 when a process of the lab is down, unless a game-day fault holds it down
    (`break --kill-replica N --for D`).
    """
    status = control.status(settings.run_dir_from(run_dir))
    if as_json:
        print_json(asdict(status))
    else:
        _print_status(status)
    if not status.running:
        raise typer.Exit(1)


# --- break / heal ------------------------------------------------------------------------------
def _print_faults(result: BreakResult, healed: bool) -> None:
    for replica in result.replicas:
        if not replica.ok:
            err_console.print(f"[red]replica {replica.replica}[/]: {escape(replica.error or '')}")
        elif healed:
            words = []
            if replica.restarted:
                words.append("restarted")
            fault = replica.fault
            if fault is not None:
                words.append(
                    f"fault cleared (was error rate {fault.error_rate * 100:g}%, "
                    f"extra latency {fault.latency_ms:g} ms)"
                )
            console.print(f"replica {replica.replica}: {', '.join(words) or 'no fault'}")
        elif replica.fault is not None:
            console.print(f"replica {replica.replica}: {_fault_text(replica.fault)}", markup=False)


def _print_crash(result: CrashResult, run_dir: Path) -> None:
    if result.held_seconds is None:
        console.print(f"replica {result.replica}: crashed; the supervisor restarts it at once")
    else:
        console.print(
            f"replica {result.replica}: crashed; held down for {humanize(result.held_seconds)} "
            f"({_hint(run_dir, ('heal',))} brings it back sooner)",
            markup=False,
        )


@app.command("break")
def break_command(
    run_dir: Path | None = RunDirOption,
    error_rate: float | None = typer.Option(
        None, "--error-rate", min=0, max=1, help="Share of API requests answered 500."
    ),
    latency_ms: float | None = typer.Option(
        None, "--latency-ms", min=0, help="Extra latency added to every API request."
    ),
    kill_replica: int | None = typer.Option(
        None, "--kill-replica", min=1, help="Crash replica N (the supervisor restarts it)."
    ),
    load_factor: float | None = typer.Option(
        None,
        "--load-factor",
        min=0,
        max=100,
        help="Multiply the order rate (4: the TradeX +300% at market open).",
    ),
    for_: str | None = typer.Option(
        None, "--for", help="How long the fault lasts (e.g. 2m); a killed replica stays down."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Inject a game-day fault: an error rate, extra latency, a replica crash, or a load spike."""
    seconds = _duration(for_, "--for")
    directory = settings.run_dir_from(run_dir)
    if load_factor is not None:
        if error_rate is not None or latency_ms is not None or kill_replica is not None:
            again = _hint(directory, ("break", "--error-rate", "R"))
            raise UsageError(f"--load-factor goes alone; run {again} again for other faults")
        change = control.load_factor(directory, load_factor, seconds)
        if as_json:
            print_json(asdict(change))
        else:
            _print_load(change, directory)
        return
    if kill_replica is not None:
        if error_rate is not None or latency_ms is not None:
            again = _hint(directory, ("break", "--error-rate", "R"))
            raise UsageError(f"--kill-replica goes alone; run {again} again for other faults")
        crash = control.kill_replica(directory, kill_replica, seconds)
        if as_json:
            print_json(asdict(crash))
        else:
            _print_crash(crash, directory)
        return
    if error_rate is None and latency_ms is None:
        raise UsageError(
            "say what to break: --error-rate R, --latency-ms L, --kill-replica N or --load-factor F"
        )
    result = control.inject(directory, error_rate, latency_ms, seconds)
    if as_json:
        print_json(asdict(result))
    else:
        _print_faults(result, healed=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command("heal")
def heal_command(run_dir: Path | None = RunDirOption, as_json: bool = JsonOption) -> None:
    """Clear every fault and restart any replica held down."""
    with progress("healing: restarting replicas held down, clearing faults"):
        result = control.heal(settings.run_dir_from(run_dir))
    if as_json:
        print_json(asdict(result))
    else:
        _print_faults(result, healed=True)
        load = result.load
        if load is not None and (load.factor != 1 or load.shed_fraction):
            console.print(
                f"load generator: back to {load.base_rate:g} orders/s (was x{load.factor:g}, "
                f"shedding {load.shed_fraction * 100:g}%)",
                markup=False,
            )
    if not result.ok:
        raise typer.Exit(1)


def _print_load(change: control.LoadChange, run_dir: Path) -> None:
    ends = "until healed" if change.seconds_left is None else f"for {humanize(change.seconds_left)}"
    console.print(
        f"load generator: x{change.factor:g} = {change.orders_per_second:g} orders/s {ends} "
        f"({_hint(run_dir, ('remediations',))} shows what acted, {_hint(run_dir, ('heal',))} "
        "ends it)",
        markup=False,
    )


# --- remediations ------------------------------------------------------------------------------
@app.command("remediations")
def remediations_command(
    run_dir: Path | None = RunDirOption,
    as_json: bool = typer.Option(
        False, "--json", help="Each audit record whole: one JSON object per line."
    ),
) -> None:
    """What the remediator and the autoscaler decided: acted, skipped or failed, and why."""
    records = control.remediations(settings.run_dir_from(run_dir))
    if as_json:
        for record in records:
            print(json.dumps(record, sort_keys=True))
        return
    if not records:
        console.print("no remediation yet")
        return
    _widen_for_pipes()
    table = Table()
    for column in ("time", "by", "alert", "outcome", "reason", "action", "detail"):
        table.add_column(column)
    for record in records:
        alert = record.get("alert") or {}
        action = record.get("action") or {}
        table.add_row(
            escape(str(record.get("time", ""))[11:19]),
            escape(str(record.get("rule") or "-")),
            escape(str(alert.get("alertname") or "-")),
            escape(str(record.get("outcome", ""))),
            escape(str(record.get("reason", ""))),
            escape(str(action.get("type") or "-")),
            escape(str(record.get("detail", ""))),
        )
    console.print(table)


# --- deploy (safe releases) --------------------------------------------------------------------
def _share(counts: Any) -> str:
    share = counts.share
    return f"{counts.bad}/{counts.total} = " + ("-" if share is None else f"{share * 100:.2f}%")


def _print_release(result: release.ReleaseResult) -> None:
    words = {"promoted": "promoted", "rolled_back": "ROLLED BACK", "inconclusive": "ROLLED BACK"}
    console.print(
        f"release {result.version} ({result.strategy}, from {result.previous}): "
        f"{words[result.outcome]} after {result.analysis_seconds:g}s of analysis "
        f"({result.release_seconds:g}s in all): {result.reason}",
        markup=False,
    )
    look = result.decision
    if look is not None:
        policy = result.policy
        console.print(
            f"evidence (Fisher's exact test, one-sided; a regression needs p < "
            f"{policy.alpha_per_look:.2g} per look and a difference above the SLO's tolerance; "
            f"at least {policy.min_samples} events a side):",
            markup=False,
        )
        side = "green" if result.strategy == release.Strategy.BLUE_GREEN else "canary"
        for comparison, what in ((look.errors, "order-API 5xx"), (look.latency, "orders > 40 ms")):
            test = comparison.test
            console.print(
                f"  {comparison.metric:<8} {what}: {side} {result.version} "
                f"{_share(comparison.canary)}, baseline {result.previous} "
                f"{_share(comparison.baseline)}; statistic a={test.statistic} "
                f"(expected {test.expected:.1f} under H0), p={test.p_value:.3g}"
                f"{', REGRESSED' if comparison.regressed else ''}",
                markup=False,
            )
    for spent in result.budget:
        console.print(
            f"budget spent during the release ({humanize(spent.window_seconds)}): {spent.slo} "
            f"{spent.budget_spent * 100:.3f}% of its {spent.period} budget "
            f"({spent.bad:.0f} bad of {spent.total:.0f})",
            markup=False,
        )
    console.print(f"pages fired: {', '.join(result.pages_fired) or 'none'}", markup=False)
    console.print(
        "replicas: " + ", ".join(f"{name} {version}" for name, version in result.replicas.items()),
        markup=False,
    )


@app.command("deploy")
def deploy_command(
    version: str = typer.Option(..., "--version", help="The new build's version label."),
    strategy: release.Strategy = typer.Option(
        release.Strategy.CANARY, "--strategy", help="canary or blue-green."
    ),
    inject: str | None = typer.Option(
        None, "--inject", help="A defect in the build: error-rate=R (0..1) or latency-ms=L."
    ),
    max_analysis: str = typer.Option(
        "5m", "--max-analysis", help="Longest analysis; without enough events it rolls back."
    ),
    bake: str = typer.Option("30s", "--bake", help="Shortest analysis before a promotion."),
    min_samples: int = typer.Option(
        50, "--min-samples", min=1, help="Events on each side before the analysis decides."
    ),
    run_dir: Path | None = RunDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Release a new build: a canary (or blue/green) analysed against the SLOs, then promoted
    or rolled back.

    Exit codes: 0 promoted; 3 rolled back (the new build regressed, or a rollback was asked);
    4 rolled back without a verdict (too few events by --max-analysis, or no Prometheus).
    """
    error_rate, latency_ms = release.parse_inject(inject)
    try:
        build = ReplicaBuild(version=version, error_rate=error_rate, latency_ms=latency_ms)
    except ValueError as exc:
        raise UsageError(f"--version {version!r}: letters, digits, '.', '_', '+', '-'") from exc
    max_seconds = _duration(max_analysis, "--max-analysis") or 0
    bake_seconds = _duration(bake, "--bake") or 0
    try:
        policy = AnalysisPolicy(
            min_samples=min_samples, bake_seconds=bake_seconds, max_seconds=max_seconds
        )
    except ValueError as exc:
        raise UsageError(f"--bake/--max-analysis: {exc}") from exc
    directory = settings.run_dir_from(run_dir)
    with progress(f"releasing {version} ({strategy.value})") as step:
        result = release.deploy(directory, build, strategy, policy, on_step=step)
    if as_json:
        print_json({**asdict(result), "exit_code": result.exit_code})
    else:
        _print_release(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


# --- notifications -----------------------------------------------------------------------------
@app.command("notifications")
def notifications_command(
    run_dir: Path | None = RunDirOption,
    as_json: bool = typer.Option(
        False, "--json", help="Each notification whole, as recorded: one JSON object per line."
    ),
) -> None:
    """The alert notifications the local receiver recorded (what SNS would have delivered)."""
    directory = settings.run_dir_from(run_dir)
    recorded = control.recorded_notifications(directory)
    for problem in recorded.unreadable:
        err_console.print(f"[yellow]warning[/]: {escape(problem)}")
    if as_json:
        for item in recorded.notifications:
            print(json.dumps(item.record, sort_keys=True))
        return
    if not recorded.notifications:
        console.print("no notifications yet")
        return
    _widen_for_pipes()
    table = Table()
    for column in ("received", "receiver", "status", "alert", "slo", "alerts"):
        table.add_column(column)
    for item in recorded.notifications:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(item.received_at)),
            escape(item.receiver),
            escape(item.status),
            escape(item.alertname),
            escape(item.labels.get("sloth_slo", "-")),
            str(item.alerts),
        )
    console.print(table)


# --- down --------------------------------------------------------------------------------------
def _down_json(result: DownResult) -> dict[str, Any]:
    return {
        "run_dir": str(result.run_dir),
        **asdict(result.cleanup),
        "purged": result.purged,
        "data_kept": not result.purged and result.run_dir.is_dir(),
    }


@app.command("down")
def down_command(
    run_dir: Path | None = RunDirOption,
    purge: bool = typer.Option(False, "--purge", help="Also delete the run directory's data."),
    as_json: bool = JsonOption,
) -> None:
    """Stop every lab process (none is left behind); data is kept unless --purge.

    Only the lab's own processes are signalled; damaged pid files are reported and the lab's
    processes found by their command line instead.
    """
    directory = settings.run_dir_from(run_dir)
    with progress(f"stopping the lab in {directory}"):
        result = control.down(directory, purge)
    cleanup = result.cleanup
    if as_json:
        print_json(_down_json(result))
        _print_refusals(cleanup)
    else:
        if cleanup.stopped:
            console.print(f"stopped: {', '.join(cleanup.stopped)}")
        _print_cleanup(cleanup)
        if not (cleanup.stopped or cleanup.stale or cleanup.found or cleanup.refused):
            console.print(f"no lab is running in {directory}", markup=False)
        if result.purged:
            console.print(f"deleted {directory}", markup=False)
        elif directory.is_dir():
            purge_hint = _hint(directory, ("down", "--purge"))
            console.print(f"data kept in {directory} ({purge_hint} deletes it)", markup=False)
    if cleanup.refused:
        raise typer.Exit(1)
