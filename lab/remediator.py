"""The lab's remediator: acts on Alertmanager's webhooks, and autoscales on saturation.

- ``POST /webhook``: Alertmanager's ``remediation`` receiver (a third receiver in the platform's
  routing tree, alongside page and ticket) posts every alert here. The remediation engine
  (remediation.engine.remediate) decides under ops/remediation.yaml's guardrails and acts
  through :class:`SupervisorActuator`: the supervisor's HTTP API (scale, restart a replica), the
  load generator's (shed load), and the release helper's rollback when the lab has one.
- An autoscaler (lab.autoscaler: target tracking on in-flight orders per replica) samples every
  replica's ``GET /load`` each second and sets the supervisor's replica count.
- ``GET /healthz``, ``GET /metrics``.
Every decision, the engine's and the autoscaler's, is one JSON line of
``<run dir>/remediations.jsonl`` (`sre lab remediations`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

from lab import jsonlog, release
from lab.autoscaler import (
    Sample,
    ScaleActivity,
    ScalerState,
    TargetTracking,
    decide,
    now_utc,
    observe,
)
from lab.settings import AUDIT_FILE
from remediation.alerts import AlertPayloadError, parse_webhook
from remediation.engine import ActionResult, Capacity, remediate
from remediation.model import (
    RESTART_REPLICA,
    ROLLBACK_RELEASE,
    SCALE_IN,
    SCALE_OUT,
    SHED_LOAD,
    Policy,
)
from remediation.policy import load_policy
from remediation.store import FileAuditLog, FileStateStore

STATE_FILE = "remediation-state.json"
SERVICE = "exchange"
SAMPLE_INTERVAL = 1.0
log = logging.getLogger("remediator")


@dataclass
class SupervisorActuator:
    """The engine's Actuator in the lab: the supervisor and load generator HTTP APIs."""

    supervisor: str
    loadgen: str
    run_dir: Path
    timeout: float = 10.0

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout, trust_env=False)

    def supports(self, action: str) -> bool:
        """Every action the engine knows: scaling, restarts, shedding, release rollback."""
        return action in (SCALE_OUT, SCALE_IN, RESTART_REPLICA, SHED_LOAD, ROLLBACK_RELEASE)

    def capacity(self, service: str) -> Capacity:
        """Replicas now and the supervisor's bounds."""
        with self._client() as client:
            answer = client.get(f"{self.supervisor}/capacity").raise_for_status().json()
        return Capacity(answer["desired"], answer["minimum"], answer["maximum"])

    def scale_to(self, service: str, desired: int) -> ActionResult:
        """Ask the supervisor for ``desired`` replicas."""
        before = self.capacity(service).desired
        with self._client() as client:
            client.post(
                f"{self.supervisor}/replicas/scale", json={"replicas": desired}
            ).raise_for_status()
        return ActionResult(
            "supervisor", f"{before} -> {desired} replicas", desired != before, before, desired
        )

    def restart_one(self, service: str, replica: str | None) -> ActionResult:
        """Restart the replica the alert names, else the first one that does not answer."""
        with self._client() as client:
            replicas = client.get(f"{self.supervisor}/replicas").raise_for_status().json()
            chosen = None
            if replica:
                index = replica.removeprefix("replica-")
                chosen = next((r for r in replicas if str(r["replica"]) == index), None)
            if chosen is None:
                chosen = next((r for r in replicas if not _answers(client, r["port"])), None)
            if chosen is None:
                return ActionResult("supervisor", "every replica answers: none restarted", False)
            url = f"{self.supervisor}/replicas/{chosen['replica']}/restart"
            client.post(url).raise_for_status()
        name = f"replica-{chosen['replica']}"
        return ActionResult(name, f"restarted {name} (port {chosen['port']})", True)

    def rollback(self, service: str) -> ActionResult:
        """Hand over to the lab's release rollback (lab.release.rollback)."""
        result = release.rollback(self.run_dir)
        return ActionResult("release", result.detail, result.changed, result.before, result.after)

    def shed_load(self, service: str, fraction: float, duration_seconds: int) -> ActionResult:
        """Have the load generator drop ``fraction`` of the orders for a while."""
        body = {"fraction": fraction, "for_seconds": duration_seconds}
        with self._client() as client:
            client.post(f"{self.loadgen}/admin/shed", json=body).raise_for_status()
        return ActionResult(
            "loadgen", f"shedding {fraction:.0%} of orders for {duration_seconds}s", True
        )


def _answers(client: httpx.Client, port: int) -> bool:
    try:
        return client.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class Remediator:
    """The webhook receiver and the autoscaler of one lab."""

    def __init__(
        self,
        policy: Policy,
        actuator: SupervisorActuator,
        run_dir: Path,
        scaling: TargetTracking | None,
        registry: CollectorRegistry,
    ) -> None:
        self.policy = policy
        self.actuator = actuator
        self.run_dir = run_dir
        self.store = FileStateStore(run_dir / STATE_FILE)
        self.audit = FileAuditLog(run_dir / AUDIT_FILE)
        self.scaling = scaling
        self.state = ScalerState()
        self.registry = registry
        self.decisions = Counter(
            "lab_remediator_decisions",
            "Audit records written, by who decided and the outcome.",
            ["source", "outcome"],
            registry=registry,
        )
        self.metric = Gauge(
            "lab_autoscaler_in_flight_per_replica",
            "The autoscaler's last sample: mean orders in flight per replica.",
            registry=registry,
        )
        self.target = Gauge(
            "lab_autoscaler_target", "The autoscaler's target value.", registry=registry
        )
        self.target.set(scaling.target if scaling else 0)
        self._lock = asyncio.Lock()  # one remediation at a time: scaling reads what the last did

    # --- webhooks ---------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        """Decide and act on the alerts of one Alertmanager notification."""
        try:
            payload = json.loads(await request.read())
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError alike
            raise _bad_request(f"body: not JSON ({exc})") from exc
        try:
            alerts = parse_webhook(payload)
        except AlertPayloadError as exc:  # the message names the field
            raise _bad_request(str(exc)) from exc
        async with self._lock:
            decisions = await asyncio.to_thread(
                remediate,
                alerts,
                self.policy,
                self.store,
                self.actuator,
                self.audit,
                datetime.now(UTC),
            )
        for decision in decisions:
            self.decisions.labels("alert", str(decision.outcome)).inc()
            log.info(
                "decision",
                extra={
                    "alertname": decision.alert.alertname,
                    "outcome": str(decision.outcome),
                    "reason": str(decision.reason),
                    "detail": decision.detail,
                },
            )
        return web.json_response([d.as_record() for d in decisions])

    # --- autoscaling ------------------------------------------------------------------------
    async def sample(self, session: aiohttp.ClientSession, now: float) -> Sample | None:
        """Mean orders in flight per replica (of those that answered), or None."""
        async with session.get(f"{self.actuator.supervisor}/replicas") as response:
            replicas = await response.json()
        loads = await asyncio.gather(
            *(_load(session, r["port"]) for r in replicas), return_exceptions=True
        )
        answered = [load for load in loads if isinstance(load, float)]
        if not answered or not replicas:
            return None
        return Sample(now, len(replicas), sum(answered) / len(answered))

    async def autoscale_once(self, session: aiohttp.ClientSession, now: float) -> None:
        """One target-tracking evaluation: sample, decide, act, audit."""
        assert self.scaling is not None
        if await asyncio.to_thread(release.in_progress, self.run_dir):
            return  # a release drains and rebuilds replicas: it owns the replica set meanwhile
        sample = await self.sample(session, now)
        if sample is None:
            return
        self.metric.set(sample.metric)
        decision = decide(self.scaling, self.state, sample)
        error = None
        if decision.direction:
            async with self._lock:
                try:
                    url = f"{self.actuator.supervisor}/replicas/scale"
                    body = {"replicas": decision.desired}
                    async with session.post(url, json=body) as response:
                        response.raise_for_status()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
            activity = ScaleActivity(
                now_utc(),
                SERVICE,
                sample.replicas,
                decision,
                sample.metric,
                self.scaling.target,
                error,
            )
            await asyncio.to_thread(self.audit.record, activity)  # type: ignore[arg-type]
            self.decisions.labels("autoscaler", "failed" if error else "acted").inc()
            log.info("autoscaled", extra=activity.as_record())
        observe(self.state, sample, decision)

    async def autoscale(self) -> None:
        """Evaluate every SAMPLE_INTERVAL seconds until cancelled."""
        loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                started = loop.time()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                    await self.autoscale_once(session, started)
                await asyncio.sleep(max(0.0, SAMPLE_INTERVAL - (loop.time() - started)))

    # --- HTTP -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        """``POST /webhook``, ``/healthz``, ``/metrics``; starting it starts the autoscaler."""
        app = web.Application()
        app.router.add_post("/webhook", self.webhook)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.cleanup_ctx.append(self._lifecycle)
        return app

    async def _lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self.autoscale()) if self.scaling else None
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _healthz(self, request: web.Request) -> web.Response:
        scaling = None if self.scaling is None else self.scaling.__dict__
        return web.json_response({"status": "ok", "autoscaler": scaling})

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _load(session: aiohttp.ClientSession, port: int) -> float:
    async with session.get(f"http://127.0.0.1:{port}/load") as response:
        return float((await response.json())["in_flight"])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The remediator's command line (exits 2 with a message on a bad one, as argparse does)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--policy", type=Path, required=True)
    parser.add_argument("--supervisor", required=True, help="supervisor base URL")
    parser.add_argument("--loadgen", required=True, help="load generator base URL")
    parser.add_argument("--no-autoscale", action="store_true")
    parser.add_argument("--target", type=float, default=TargetTracking.target)
    parser.add_argument("--min-replicas", type=int, default=TargetTracking.minimum)
    parser.add_argument("--max-replicas", type=int, default=TargetTracking.maximum)
    parser.add_argument(
        "--scale-out-cooldown", type=float, default=TargetTracking.scale_out_cooldown
    )
    parser.add_argument("--scale-in-cooldown", type=float, default=TargetTracking.scale_in_cooldown)
    parser.add_argument("--scale-in-after", type=float, default=TargetTracking.scale_in_after)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lab.remediator --port 8094 --run-dir .lab --policy ops/remediation.yaml ...``."""
    args = parse_args(argv)
    disable_created_metrics()
    jsonlog.setup("remediator")
    policy = load_policy(args.policy)
    scaling = None
    if not args.no_autoscale:
        scaling = TargetTracking(
            target=args.target,
            minimum=args.min_replicas,
            maximum=args.max_replicas,
            scale_out_cooldown=args.scale_out_cooldown,
            scale_in_cooldown=args.scale_in_cooldown,
            scale_in_after=args.scale_in_after,
        )
    actuator = SupervisorActuator(args.supervisor, args.loadgen, args.run_dir)
    remediator = Remediator(policy, actuator, args.run_dir, scaling, CollectorRegistry())
    web.run_app(remediator.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
