"""The supervisor: runs N service replicas, restarts the ones that exit, counts the restarts.

It plays the Auto Scaling group's part in the lab: a replica that crashes (or is killed by a
game day) comes back after a short backoff. A game day may hold a replica down for a while.

Each replica writes its own JSON log, rotated at a size cap, to ``<run dir>/logs/replica-N.log``
and its spans to ``<run dir>/traces/replica-N.jsonl``; what it prints on stdout or stderr (a
traceback when it crashes) goes to ``<log dir>/replica-N.out``, appended across restarts.

HTTP (loopback): ``GET /healthz``, ``GET /metrics``, ``GET /replicas``,
``POST /replicas/{n}/hold`` (``{"seconds": 60}``: do not restart replica n before then) and
``POST /replicas/release`` (end every hold); scaling (the Auto Scaling group's desired
capacity): ``GET /capacity``, ``POST /replicas/scale`` (``{"replicas": N}``: start replicas on
further free ports, or retire the newest ones after a drain), ``POST /replicas/{n}/restart``.
With ``--targets-file`` it writes the replica set as a Prometheus file_sd target list whenever it
changes (the lab's Prometheus discovers scaled replicas from it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab import jsonlog
from lab.builds import Releases
from lab.procs import LOGS_DIR, free_port
from lab.service import add_capacity_arguments
from sre_platform.files import write_atomic

CommandFactory = Callable[[int, int], list[str]]  # (replica index, port) -> argv
log = logging.getLogger("supervisor")

MIN_BACKOFF = 0.5
MAX_BACKOFF = 5.0
STABLE_AFTER = 10.0  # a replica that ran this long restarts at the minimum backoff again
DRAIN_SECONDS = 3.0  # a retired replica leaves the target set this long before it is stopped
STOP_GRACE = 5.0


class ScaleRequest(BaseModel):
    """Body of ``POST /replicas/scale``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(strict=True)  # true, 4.0 or "4" are not a count


class HoldRequest(BaseModel):
    """Body of ``POST /replicas/{n}/hold``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float = Field(gt=0, le=86400)


@dataclass
class Replica:
    """One supervised replica and what the supervisor knows about it."""

    index: int
    port: int
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    held_until: float | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    retired: bool = False  # scaled in: not restarted any more

    def as_json(self, now: float) -> dict[str, object]:
        """A JSON view of the replica."""
        running = self.process is not None and self.process.returncode is None
        held = None if self.held_until is None else max(0.0, self.held_until - now)
        return {
            "replica": self.index,
            "port": self.port,
            "pid": self.process.pid if running and self.process else None,
            "running": running,
            "restarts": self.restarts,
            "held_seconds_left": held,
        }


def next_backoff(previous: float, ran_for: float) -> float:
    """Backoff before the next restart: doubled after a quick crash, reset after a stable run."""
    if ran_for >= STABLE_AFTER:
        return MIN_BACKOFF
    return min(MAX_BACKOFF, max(MIN_BACKOFF, previous * 2))


class Supervisor:
    """Starts replicas, restarts them when they exit, and reports on them."""

    def __init__(
        self,
        command: CommandFactory,
        ports: Sequence[int],
        log_dir: Path,
        registry: CollectorRegistry,
        *,
        max_replicas: int | None = None,
        targets_file: Path | None = None,
        new_port: Callable[[], int] = free_port,
    ) -> None:
        self.command = command
        self.replicas = [Replica(i, port) for i, port in enumerate(ports, start=1)]
        self.max_replicas = max(len(self.replicas), max_replicas or len(self.replicas))
        self.targets_file = targets_file
        self.new_port = new_port
        self._retiring: set[asyncio.Task[None]] = set()
        self.log_dir = log_dir
        self.registry = registry
        self.restarts = Counter(
            "lab_supervisor_restarts",
            "Replica restarts after an exit or a kill.",
            ["replica"],
            registry=registry,
        )
        self.up = Gauge(
            "lab_supervisor_replica_up",
            "1 when the replica process runs.",
            ["replica"],
            registry=registry,
        )
        self.desired = Gauge(
            "lab_supervisor_replicas",
            "Replicas the supervisor keeps running (the desired capacity).",
            registry=registry,
        )
        self.desired.set_function(lambda: len(self.replicas))
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.releases = Releases(registry)

    async def start(self) -> None:
        """Start every replica and keep it running."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for replica in self.replicas:
            self._launch(replica)
        self.publish_targets()

    def _launch(self, replica: Replica) -> None:
        self.restarts.labels(str(replica.index))
        self._tasks.append(asyncio.create_task(self._keep_running(replica)))

    async def _keep_running(self, replica: Replica) -> None:
        backoff = MIN_BACKOFF
        while not self._stopping and not replica.retired:
            started = time.monotonic()
            code = await self._run_once(replica)
            if self._stopping or replica.retired:
                return
            if self.releases.replaced(replica.index):  # a new build, not a crash: no backoff
                continue
            ran_for = time.monotonic() - started
            backoff = next_backoff(backoff, ran_for)
            log.warning(
                "replica exited",
                extra={"replica": replica.index, "code": code, "restart_in": backoff},
            )
            await asyncio.sleep(backoff)
            await self._wait_hold(replica)
            if self._stopping:
                return
            replica.restarts += 1
            self.restarts.labels(str(replica.index)).inc()

    async def _run_once(self, replica: Replica) -> int:
        label = str(replica.index)
        with open(self.log_dir / f"replica-{replica.index}.out", "ab") as out:
            replica.process = await asyncio.create_subprocess_exec(
                *self.command(replica.index, replica.port),
                *self.releases.build_of(replica.index).argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        log.info("replica started", extra={"replica": replica.index, "pid": replica.process.pid})
        self.up.labels(label).set(1)
        code = await replica.process.wait()
        self.up.labels(label).set(0)
        return code

    async def _wait_hold(self, replica: Replica) -> None:
        while replica.held_until is not None and not self._stopping:
            left = replica.held_until - time.monotonic()
            if left <= 0:
                break
            replica.released.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(replica.released.wait(), timeout=left)
        replica.held_until = None

    def hold(self, index: int, seconds: float) -> Replica:
        """Do not restart replica ``index`` for ``seconds`` after it next exits."""
        replica = self.replicas[index - 1]
        replica.held_until = time.monotonic() + seconds
        return replica

    def release(self) -> None:
        """End every hold: held replicas restart now."""
        for replica in self.replicas:
            replica.held_until = None
            replica.released.set()

    # --- scaling ----------------------------------------------------------------------------
    def capacity(self) -> dict[str, int]:
        """Desired replicas now and the bounds (1..max_replicas)."""
        return {"desired": len(self.replicas), "minimum": 1, "maximum": self.max_replicas}

    def scale(self, desired: int) -> list[Replica]:
        """Run ``desired`` replicas: start new ones on free ports, or retire the newest ones
        (out of the target set at once, stopped after a drain). Returns the replica set."""
        if not 1 <= desired <= self.max_replicas:
            raise ValueError(f"replicas must be within 1..{self.max_replicas}, got {desired}")
        self.releases.check_scaling()
        while len(self.replicas) < desired:
            taken = {r.port for r in self.replicas}
            port = self.new_port()
            while port in taken:
                port = self.new_port()
            replica = Replica(self.replicas[-1].index + 1 if self.replicas else 1, port)
            self.replicas.append(replica)
            self._launch(replica)
            log.info("replica added", extra={"replica": replica.index, "port": port})
        while len(self.replicas) > desired:
            replica = self.replicas.pop()
            replica.retired = True
            replica.released.set()
            task = asyncio.create_task(self._retire(replica))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            log.info("replica retired", extra={"replica": replica.index, "port": replica.port})
        self.publish_targets()
        return self.replicas

    async def _retire(self, replica: Replica, drain: float = DRAIN_SECONDS) -> None:
        """Let clients stop sending to ``replica``, then stop it and forget its series."""
        await asyncio.sleep(drain)
        await _terminate(replica.process, STOP_GRACE)
        label = str(replica.index)
        for metric in (self.up, self.restarts):
            with contextlib.suppress(KeyError):
                metric.remove(label)

    def restart(self, index: int) -> Replica:
        """Stop replica ``index`` (SIGTERM); the supervisor starts it again."""
        replica = self.replicas[index - 1]
        if replica.process is not None and replica.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                replica.process.terminate()
        return replica

    def publish_targets(self) -> None:
        """Write the replica set as a Prometheus file_sd target list (when asked to)."""
        if self.targets_file is None:
            return
        targets = [f"127.0.0.1:{r.port}" for r in self.replicas]
        write_atomic(self.targets_file, json.dumps([{"targets": targets, "labels": {}}]) + "\n")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop every replica (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        self._stopping = True
        self.release()
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        running = [r.process for r in self.replicas if r.process and r.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), timeout=grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- HTTP -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        """The supervisor's HTTP API; starting the app starts the replicas."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/replicas", self._list)
        app.router.add_post("/replicas/release", self._release)
        app.router.add_post("/replicas/{index}/hold", self._hold)
        app.router.add_get("/capacity", self._capacity)
        app.router.add_post("/replicas/scale", self._scale)
        app.router.add_post("/replicas/{index}/restart", self._restart)
        self.releases.add_routes(app, self)
        app.cleanup_ctx.append(self._lifecycle)
        return app

    async def _lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.stop()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _list(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        return web.json_response(
            [self.releases.with_version(r.as_json(now)) for r in self.replicas]
        )

    async def _hold(self, request: web.Request) -> web.Response:
        index = int(request.match_info["index"]) if request.match_info["index"].isdigit() else 0
        if not 1 <= index <= len(self.replicas):
            raise web.HTTPNotFound(text=f'{{"error": "no replica {index}"}}')
        try:
            hold = HoldRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            raise web.HTTPBadRequest(text='{"error": "expected {\\"seconds\\": N}"}') from exc
        replica = self.hold(index, hold.seconds)
        log.info("replica held", extra={"replica": index, "seconds": hold.seconds})
        return web.json_response(replica.as_json(time.monotonic()))

    async def _capacity(self, request: web.Request) -> web.Response:
        return web.json_response(self.capacity())

    async def _scale(self, request: web.Request) -> web.Response:
        usage = f'expected {{"replicas": N}}, N a whole number within 1..{self.max_replicas}'
        try:
            wanted = ScaleRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            problems = "; ".join(
                ".".join(map(str, e["loc"])) + f": {e['msg']}" if e["loc"] else e["msg"]
                for e in exc.errors()
            )
            raise web.HTTPBadRequest(text=json.dumps({"error": f"{usage}: {problems}"})) from exc
        if not 1 <= wanted.replicas <= self.max_replicas:
            message = f"{usage}, not {wanted.replicas}"
            raise web.HTTPBadRequest(text=json.dumps({"error": message}))
        try:
            self.scale(wanted.replicas)
        except ValueError as exc:  # a blue/green release holds the replica set
            raise web.HTTPConflict(text=json.dumps({"error": str(exc)})) from exc
        return await self._list(request)

    async def _restart(self, request: web.Request) -> web.Response:
        index = int(request.match_info["index"]) if request.match_info["index"].isdigit() else 0
        if not 1 <= index <= len(self.replicas):
            raise web.HTTPNotFound(text=f'{{"error": "no replica {index}"}}')
        replica = self.restart(index)
        log.info("replica restart requested", extra={"replica": index})
        return web.json_response(replica.as_json(time.monotonic()))

    async def _release(self, request: web.Request) -> web.Response:
        self.release()
        log.info("holds released")
        return await self._list(request)


async def _terminate(process: asyncio.subprocess.Process | None, grace: float) -> None:
    """SIGTERM ``process``, then SIGKILL after ``grace`` seconds."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def service_command(
    run_dir: Path,
    otlp_endpoint: str | None,
    trace_ratio: float,
    max_bytes: int = jsonlog.ROTATE_MAX_BYTES,
    backups: int = jsonlog.ROTATE_BACKUPS,
    *,
    extra_args: Sequence[str] = (),
) -> CommandFactory:
    """The command line of service replica ``index`` on ``port``; its log and spans files are
    capped at ``max_bytes`` each, with ``backups`` rotated files kept."""

    def command(index: int, port: int) -> list[str]:
        argv = [sys.executable, "-m", "lab.service", "--port", str(port), "--replica", str(index)]
        argv += ["--traces-file", str(run_dir / "traces" / f"replica-{index}.jsonl")]
        argv += ["--log-file", str(run_dir / LOGS_DIR / f"replica-{index}.log")]
        argv += ["--rotate-max-bytes", str(max_bytes), "--rotate-backups", str(backups)]
        argv += ["--trace-ratio", str(trace_ratio)]
        if otlp_endpoint:
            argv += ["--otlp-endpoint", otlp_endpoint]
        return [*argv, *extra_args]

    return command


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The supervisor's command line (exits 2 with a message on a bad one, as argparse does)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replica-ports", required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--otlp-endpoint", default=None)
    parser.add_argument("--trace-ratio", type=float, default=1.0)
    jsonlog.add_rotation_arguments(parser)  # passed on to every replica
    add_capacity_arguments(parser)  # passed on to every replica
    parser.add_argument("--max-replicas", type=int, default=None, help="scaling bound")
    parser.add_argument("--targets-file", type=Path, default=None, help="file_sd target list")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lab.supervisor --port 8090 --replica-ports 8081,8082,8083 --run-dir .lab``."""
    args = parse_args(argv)
    disable_created_metrics()
    jsonlog.setup("supervisor")
    ports = [int(p) for p in args.replica_ports.split(",")]
    command = service_command(
        args.run_dir,
        args.otlp_endpoint,
        args.trace_ratio,
        args.rotate_max_bytes,
        args.rotate_backups,
        extra_args=["--workers", str(args.workers), "--service-time-ms", str(args.service_time_ms)],
    )
    supervisor = Supervisor(
        command,
        ports,
        args.run_dir / LOGS_DIR,
        CollectorRegistry(),
        max_replicas=args.max_replicas,
        targets_file=args.targets_file,
    )
    web.run_app(supervisor.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
