"""The supervisor's release side: which build each replica runs, replacing a replica's build, and
the release events Prometheus records.

The supervisor starts every replica with the build this keeps for it (``--version`` and, for a
game day, a defect): the fleet's build, or the one a release gave that replica. Replacing a
replica's build stops its process gracefully (SIGTERM: in-flight orders finish); the
supervisor starts it again at once with the new build, without counting a crash restart.

HTTP (loopback, on the supervisor): ``GET /builds``; ``POST /builds/fleet`` (the build replicas
start with unless a release gave them one); ``POST /replicas/{n}/build`` (replace replica n's
build; answers once the old process has exited); ``POST /replicas/service`` (``{"take_out": [1],
"put_in": [2]}``: a drained replica stays up but gets no orders: ``GET /replicas`` shows
``"in_service": false`` and the load generator, which follows that list, skips it);
``POST /releases/events`` (record an event); ``POST /releases/green`` (``{"replicas": 3,
"build": {...}}``: a blue/green's green set on free ports, out of service) and
``POST /releases/retire`` (``{"replicas": [1, 2, 3]}``: stop the losing set; the rest are
numbered 1..N again).

Metrics: ``lab_release_events_total{version,previous,strategy,outcome}`` and
``lab_release_event_timestamp_seconds{...}`` (the event's time: a Grafana annotation query reads
it with "series value as timestamp"); ``changes(lab_release_event_timestamp_seconds[1m]) > 0``
marks each event on a graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.service import DEFAULT_VERSION

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
STOP_GRACE = 30.0  # seconds a replica gets to finish its orders before it is killed
M = TypeVar("M", bound=BaseModel)
Outcome = Literal["started", "promoted", "rolled_back", "inconclusive"]


class ReplicaBuild(BaseModel):
    """A build: its version label and the defect built into it (for a game day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(DEFAULT_VERSION, pattern=VERSION_PATTERN)
    error_rate: float = Field(0.0, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0, le=600_000)

    def argv(self) -> list[str]:
        """The replica's command-line options for this build."""
        words = ["--version", self.version]
        if self.error_rate:
            words += ["--defect-error-rate", repr(self.error_rate)]
        if self.latency_ms:
            words += ["--defect-latency-ms", repr(self.latency_ms)]
        return words


class ReleaseEvent(BaseModel):
    """Body of ``POST /releases/events``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=VERSION_PATTERN)
    previous: str = Field(pattern=VERSION_PATTERN)
    strategy: Literal["canary", "blue-green", "rollback"]
    outcome: Outcome


class ServiceRequest(BaseModel):
    """Body of ``POST /replicas/service``: replicas to take out of service and put back, at once
    (a blue/green switch is one such request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    take_out: tuple[int, ...] = ()
    put_in: tuple[int, ...] = ()

    @property
    def replicas(self) -> tuple[int, ...]:
        """Every replica the request names."""
        return (*self.take_out, *self.put_in)


class GreenRequest(BaseModel):
    """Body of ``POST /releases/green``: start a green set of replicas beside blue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(ge=1, le=20)
    build: ReplicaBuild


class RetireRequest(BaseModel):
    """Body of ``POST /releases/retire``: stop these replicas (a blue/green's losing set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: tuple[int, ...] = Field(min_length=1)


class Releases:
    """The builds of a supervisor's replicas, and its release events."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.fleet = ReplicaBuild()
        self.builds: dict[int, ReplicaBuild] = {}
        self._replacing: set[int] = set()
        self.out_of_service: set[int] = set()  # drained: the load generator skips them
        self.green: set[int] = set()  # a blue/green's green set while both sets run
        labels = ["version", "previous", "strategy", "outcome"]
        self.events = Counter(
            "lab_release_events", "Release events, by outcome.", labels, registry=registry
        )
        self.event_time = Gauge(
            "lab_release_event_timestamp_seconds",
            "When the last release event of these labels happened (epoch seconds).",
            labels,
            registry=registry,
        )

    def check_scaling(self) -> None:
        """Scaling waits while a blue/green runs two replica sets (ValueError)."""
        if self.green:
            raise ValueError("a blue/green release runs two replica sets: scaling waits for it")

    def build_of(self, index: int) -> ReplicaBuild:
        """The build replica ``index`` runs (or starts with next)."""
        return self.builds.get(index, self.fleet)

    def replaced(self, index: int) -> bool:
        """True once when replica ``index`` exited because its build was replaced."""
        if index in self._replacing:
            self._replacing.discard(index)
            return True
        return False

    def with_version(self, replica: dict[str, Any]) -> dict[str, Any]:
        """A replica's JSON view with the version it runs and whether it takes orders."""
        index = int(replica["replica"])
        in_service = index not in self.out_of_service
        return {**replica, "version": self.build_of(index).version, "in_service": in_service}

    def as_json(self) -> dict[str, Any]:
        """The fleet's build and each replica's."""
        return {
            "fleet": self.fleet.model_dump(),
            "replicas": {str(i): b.model_dump() for i, b in sorted(self.builds.items())},
            "out_of_service": sorted(self.out_of_service),
            "green": sorted(self.green),
        }

    async def replace(self, supervisor: Supervisor, index: int, build: ReplicaBuild) -> None:
        """Give replica ``index`` ``build``: stop its process gracefully; it restarts with it."""
        replica = supervisor.replicas[index - 1]
        self.builds[index] = build
        process = replica.process
        if process is None or process.returncode is not None:
            return  # down (held, or between restarts): it starts with the new build
        self._replacing.add(index)
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def add_green(self, supervisor: Supervisor, count: int, build: ReplicaBuild) -> list[int]:
        """Start ``count`` replicas on free ports with ``build``, out of service (a blue/green's
        green set; it may exceed the scaling bound while both sets run). Returns their indices."""
        from lab.supervisor import Replica

        added = []
        for _ in range(count):
            taken = {r.port for r in supervisor.replicas}
            port = supervisor.new_port()
            while port in taken:
                port = supervisor.new_port()
            index = max((r.index for r in supervisor.replicas), default=0) + 1
            self.builds[index] = build
            self.out_of_service.add(index)
            replica = Replica(index, port)
            supervisor.replicas.append(replica)
            supervisor._launch(replica)
            added.append(index)
            self.green.add(index)
        supervisor.publish_targets()
        return added

    async def retire(self, supervisor: Supervisor, indices: set[int]) -> None:
        """Stop replicas ``indices`` for good, then number the rest 1..N again, so replica
        numbers (``break --kill-replica N``, holds) keep naming positions in the set."""
        gone = [r for r in supervisor.replicas if r.index in indices]
        for replica in gone:
            supervisor.replicas.remove(replica)
            replica.retired = True
            replica.released.set()
        supervisor.publish_targets()
        for replica in gone:
            if replica.process is not None and replica.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    replica.process.terminate()
                try:
                    await asyncio.wait_for(replica.process.wait(), timeout=STOP_GRACE)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        replica.process.kill()
                    await replica.process.wait()
        labels = {str(r.index) for r in gone}
        builds = {}
        out = set()
        for position, replica in enumerate(supervisor.replicas, start=1):
            if replica.index in self.builds:
                builds[position] = self.builds[replica.index]
            if replica.index in self.out_of_service:
                out.add(position)
            if replica.index != position:
                labels.add(str(replica.index))
                replica.index = position
                running = replica.process is not None and replica.process.returncode is None
                supervisor.up.labels(str(position)).set(1 if running else 0)
                supervisor.restarts.labels(str(position))
        self.builds, self.out_of_service, self.green = builds, out, set()
        for label in labels - {str(r.index) for r in supervisor.replicas}:
            for metric in (supervisor.up, supervisor.restarts):
                with contextlib.suppress(KeyError):
                    metric.remove(label)

    def record(self, event: ReleaseEvent) -> None:
        """Count a release event and stamp its time."""
        labels = (event.version, event.previous, event.strategy, event.outcome)
        self.events.labels(*labels).inc()
        self.event_time.labels(*labels).set(time.time())

    # --- HTTP ---------------------------------------------------------------------------------
    def add_routes(self, app: web.Application, supervisor: Supervisor) -> None:
        """The release routes on the supervisor's app."""

        async def get_builds(request: web.Request) -> web.Response:
            return web.json_response(self.as_json())

        async def set_fleet(request: web.Request) -> web.Response:
            self.fleet = await _parse(request, ReplicaBuild)
            return web.json_response(self.as_json())

        async def set_replica(request: web.Request) -> web.Response:
            text = request.match_info["index"]
            index = int(text) if text.isdigit() else 0
            if not 1 <= index <= len(supervisor.replicas):
                raise web.HTTPNotFound(text=f'{{"error": "no replica {index}"}}')
            await self.replace(supervisor, index, await _parse(request, ReplicaBuild))
            return web.json_response(self.as_json())

        async def set_service(request: web.Request) -> web.Response:
            body = await _parse(request, ServiceRequest)
            known = {r.index for r in supervisor.replicas}
            unknown = sorted(set(body.replicas) - known)
            if unknown:
                raise web.HTTPNotFound(text=f'{{"error": "no replica {unknown[0]}"}}')
            self.out_of_service |= set(body.take_out)
            self.out_of_service -= set(body.put_in)
            return web.json_response(self.as_json())

        async def add_event(request: web.Request) -> web.Response:
            event = await _parse(request, ReleaseEvent)
            self.record(event)
            return web.json_response(event.model_dump())

        async def green(request: web.Request) -> web.Response:
            body = await _parse(request, GreenRequest)
            added = self.add_green(supervisor, body.replicas, body.build)
            return web.json_response({"added": added, **self.as_json()})

        async def retire(request: web.Request) -> web.Response:
            body = await _parse(request, RetireRequest)
            known = {r.index for r in supervisor.replicas}
            if not set(body.replicas) <= known or set(body.replicas) == known:
                raise web.HTTPBadRequest(text='{"error": "retire some of the replicas, not all"}')
            await self.retire(supervisor, set(body.replicas))
            return web.json_response(self.as_json())

        app.router.add_get("/builds", get_builds)
        app.router.add_post("/releases/green", green)
        app.router.add_post("/releases/retire", retire)
        app.router.add_post("/builds/fleet", set_fleet)
        app.router.add_post("/replicas/{index}/build", set_replica)
        app.router.add_post("/releases/events", add_event)
        app.router.add_post("/replicas/service", set_service)


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise web.HTTPBadRequest(text=f'{{"error": "{field}: {first["msg"]}"}}') from exc
