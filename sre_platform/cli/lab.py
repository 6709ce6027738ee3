"""`sre lab ...`: the local lab: up, status, break, heal, notifications, down."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from lab import control, settings
from lab.control import BreakResult, LabStatus
from lab.settings import Binaries, LabConfig, Ports
from sre_platform.durations import parse_duration
from sre_platform.errors import LabError

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


def _duration(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise LabError(f"{option}: {exc}") from exc


def _percent(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


@app.command("up")
def up_command(
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
    order_rate: float = typer.Option(20.0, "--order-rate", min=0, help="Orders per second."),
    specs: list[Path] = typer.Option(
        [Path("slo_specs")], "--specs", "-i", help="SLO spec file or folder (repeatable)."
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
) -> None:
    """Start the lab and wait until every part answers its health check."""
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
        )
    except ValueError as exc:
        raise LabError(f"ports: {exc}") from exc
    config = LabConfig(
        run_dir=settings.run_dir_from(run_dir),
        ports=ports,
        binaries=binaries,
        specs=tuple(path.resolve() for path in specs),
        period=period,
        order_rate=order_rate,
        scrape_interval=scrape_interval,
        evaluation_interval=evaluation_interval,
        otlp_endpoint=otlp_endpoint,
        trace_ratio=trace_ratio,
    )
    err_console.print(f"starting the lab in {config.run_dir} ...")
    result = control.up(config)
    if result.already_running:
        console.print(f"the lab is already running in {result.config.run_dir}:")
    else:
        for name in result.cleaned_stale:
            err_console.print(f"cleaned up {name} left over from a lab that stopped uncleanly")
        console.print(f"the lab is up in {result.config.run_dir}:")
    for name, url in result.urls.items():
        console.print(f"  {name:<14} {url}")
    console.print("next: `sre lab status`, `sre lab break --error-rate 1`, `sre lab down`")


def _status_json(status: LabStatus) -> str:
    return json.dumps(asdict(status), indent=2)


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


def _print_status(status: LabStatus) -> None:
    _widen_for_pipes()
    for table in _slo_tables(status):
        console.print(table)
    processes = Table(title="Processes", title_justify="left")
    for column in ("name", "pid", "alive", "healthy", "restarts", "url"):
        processes.add_column(column)
    for proc in status.processes:
        processes.add_row(
            proc.name,
            str(proc.pid or "-"),
            "yes" if proc.alive else "[red]no[/]",
            "yes" if proc.healthy else "[red]no[/]",
            "-" if proc.restarts is None else str(proc.restarts),
            proc.url,
        )
    console.print(processes)
    for fault in status.faults:
        console.print(
            f"fault on replica {fault['replica']}: error rate {fault['error_rate']}, "
            f"extra latency {fault['latency_ms']} ms"
            + (f", {fault['seconds_left']:.0f}s left" if fault["seconds_left"] else "")
        )
    console.print(f"notifications received: {status.notifications} (`sre lab notifications`)")
    console.print(f"prometheus: {status.prometheus_url}   alertmanager: {status.alertmanager_url}")
    for problem in status.problems:
        err_console.print(f"[yellow]warning[/]: {problem}")


@app.command("status")
def status_command(
    run_dir: Path | None = RunDirOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The SLO table (from Prometheus), the processes and their health, active faults."""
    status = control.status(settings.run_dir_from(run_dir))
    if as_json:
        print(_status_json(status))
    else:
        _print_status(status)
    if not status.running:
        raise typer.Exit(1)


def _print_break(result: BreakResult) -> None:
    failed = [r for r in result.replicas if not r["ok"]]
    for replica in result.replicas:
        if replica["ok"]:
            details = {k: v for k, v in replica.items() if k not in ("replica", "ok")}
            console.print(f"replica {replica['replica']}: {details}")
        else:
            err_console.print(f"[red]replica {replica['replica']}[/]: {replica['error']}")
    if failed:
        raise typer.Exit(1)


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
    for_: str | None = typer.Option(
        None, "--for", help="How long the fault lasts (e.g. 2m); a killed replica stays down."
    ),
) -> None:
    """Inject a game-day fault: an error rate, extra latency, or a replica crash."""
    seconds = _duration(for_, "--for")
    directory = settings.run_dir_from(run_dir)
    if kill_replica is not None:
        if error_rate is not None or latency_ms is not None:
            raise LabError("--kill-replica goes alone; run `sre lab break` again for other faults")
        _print_break(control.kill_replica(directory, kill_replica, seconds))
        return
    if error_rate is None and latency_ms is None:
        raise LabError("say what to break: --error-rate R, --latency-ms L or --kill-replica N")
    _print_break(control.inject(directory, error_rate, latency_ms, seconds))


@app.command("heal")
def heal_command(run_dir: Path | None = RunDirOption) -> None:
    """Clear every fault and restart any replica held down."""
    _print_break(control.heal(settings.run_dir_from(run_dir)))


@app.command("notifications")
def notifications_command(
    run_dir: Path | None = RunDirOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per notification."),
) -> None:
    """The alert notifications the local receiver recorded (what SNS would have delivered)."""
    found = control.notifications(settings.run_dir_from(run_dir))
    if as_json:
        for item in found:
            print(json.dumps({**asdict(item), "alertname": item.alertname}))
        return
    if not found:
        console.print("no notifications yet")
        return
    _widen_for_pipes()
    table = Table()
    for column in ("received", "receiver", "status", "alert", "slo", "alerts"):
        table.add_column(column)
    for item in found:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(item.received_at)),
            item.receiver,
            item.status,
            item.alertname,
            item.labels.get("sloth_slo", "-"),
            str(item.alerts),
        )
    console.print(table)


@app.command("down")
def down_command(
    run_dir: Path | None = RunDirOption,
    purge: bool = typer.Option(False, "--purge", help="Also delete the run directory's data."),
) -> None:
    """Stop every lab process (none is left behind); data is kept unless --purge."""
    directory = settings.run_dir_from(run_dir)
    result = control.down(directory, purge)
    if result.stopped:
        console.print(f"stopped: {', '.join(result.stopped)}")
    if result.stale:
        console.print(f"cleaned up after a lab that stopped uncleanly: {', '.join(result.stale)}")
    if not result.stopped and not result.stale:
        console.print(f"no lab is running in {directory}")
    if result.purged:
        console.print(f"deleted {directory}")
    elif directory.is_dir():
        console.print(f"data kept in {directory} (`sre lab down --purge` deletes it)")
