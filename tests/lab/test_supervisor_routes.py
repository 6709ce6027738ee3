"""The supervisor's scaling routes over real HTTP and real processes: `POST /replicas/scale`
within its bounds, bad bodies refused with a message and nothing changed, `POST
/replicas/{n}/restart`, and no route ever signals a process the supervisor did not start."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from lab.supervisor import Supervisor

WAIT = 60.0  # generous: a busy 2-core machine
SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


async def _until(check: Callable[[], Awaitable[bool]], what: str, cap: float = WAIT) -> None:
    deadline = time.monotonic() + cap
    while not await check():
        assert time.monotonic() < deadline, f"waited {cap:.0f}s for {what}"
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run(tmp_path: Path, body: Callable[[TestClient, Supervisor], Awaitable[None]]) -> None:
    """Run ``body`` against a supervisor of 3 sleeper replicas (bound 6) behind real HTTP."""
    ports = iter(range(20001, 20100))
    supervisor = Supervisor(
        lambda index, port: SLEEPER,
        [10001, 10002, 10003],
        tmp_path / "logs",
        CollectorRegistry(),
        max_replicas=6,
        targets_file=tmp_path / "targets.json",
        new_port=lambda: next(ports),
    )

    async def main() -> None:
        async with TestClient(TestServer(supervisor.app())) as client:

            async def all_running() -> bool:
                replicas = await (await client.get("/replicas")).json()
                return all(r["running"] for r in replicas)

            await _until(all_running, "3 replicas to run")
            await body(client, supervisor)

    asyncio.run(main())


def _targets(tmp_path: Path) -> list[str]:
    return json.loads((tmp_path / "targets.json").read_text())[0]["targets"]


def test_scale_out_and_in_within_the_bounds(tmp_path: Path) -> None:
    async def body(client: TestClient, supervisor: Supervisor) -> None:
        assert await (await client.get("/capacity")).json() == {
            "desired": 3,
            "minimum": 1,
            "maximum": 6,
        }
        first = [r.process.pid for r in supervisor.replicas]
        answer = await client.post("/replicas/scale", json={"replicas": 6})
        assert answer.status == 200
        listed = await answer.json()
        assert [r["replica"] for r in listed] == [1, 2, 3, 4, 5, 6]
        assert [r["port"] for r in listed[3:]] == [20001, 20002, 20003]
        assert len(_targets(tmp_path)) == 6  # Prometheus' file_sd list follows at once

        async def six_running() -> bool:
            return all(r["running"] for r in await (await client.get("/replicas")).json())

        await _until(six_running, "the 3 new replicas to run")
        retired = [r.process.pid for r in supervisor.replicas[3:]]
        answer = await client.post("/replicas/scale", json={"replicas": 3})
        assert answer.status == 200
        assert [r["replica"] for r in await answer.json()] == [1, 2, 3]  # the newest retired
        assert _targets(tmp_path) == ["127.0.0.1:10001", "127.0.0.1:10002", "127.0.0.1:10003"]

        async def retired_stopped() -> bool:
            return not any(_alive(pid) for pid in retired)

        await _until(retired_stopped, "the retired replicas to stop after their drain")
        assert [r.process.pid for r in supervisor.replicas] == first  # the others untouched
        assert all(_alive(pid) for pid in first)

    _run(tmp_path, body)


# (sentence id, request body, words the error must contain)
BAD_SCALES = [
    ("zero replicas is below the bound", b'{"replicas": 0}', ["1..6", "0"]),
    ("more than the maximum", b'{"replicas": 7}', ["1..6", "7"]),
    ("a negative count", b'{"replicas": -1}', ["1..6"]),
    ("a fraction", b'{"replicas": 4.5}', ["replicas", "whole number"]),
    ("a boolean is not a count", b'{"replicas": true}', ["replicas", "whole number"]),
    ("a count written as text", b'{"replicas": "4"}', ["replicas", "whole number"]),
    ("the field missing", b"{}", ["replicas", "required"]),
    ("a misspelt field", b'{"replica": 4}', ["replica"]),
    ("not JSON", b"four please", ["replicas", "JSON"]),
    ("a JSON list", b"[4]", ["replicas"]),
]


@pytest.mark.parametrize(
    ("body", "words"), [c[1:] for c in BAD_SCALES], ids=[c[0] for c in BAD_SCALES]
)
def test_a_bad_scale_request_is_refused_and_changes_nothing(
    tmp_path: Path, body: bytes, words: list[str]
) -> None:
    async def check(client: TestClient, supervisor: Supervisor) -> None:
        before = [(r.index, r.port, r.process.pid) for r in supervisor.replicas]
        answer = await client.post(
            "/replicas/scale", data=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status == 400
        message = json.loads(await answer.text())["error"]
        for word in words:
            assert word in message, message
        assert [(r.index, r.port, r.process.pid) for r in supervisor.replicas] == before
        assert len(_targets(tmp_path)) == 3

    _run(tmp_path, check)


def test_restart_stops_only_the_named_replica(tmp_path: Path) -> None:
    async def body(client: TestClient, supervisor: Supervisor) -> None:
        pids = [r.process.pid for r in supervisor.replicas]
        answer = await client.post("/replicas/2/restart")
        assert answer.status == 200 and (await answer.json())["replica"] == 2

        async def replaced() -> bool:
            replica = (await (await client.get("/replicas")).json())[1]
            return replica["running"] and replica["pid"] not in (None, pids[1])

        await _until(replaced, "replica 2 to run again with a new process")
        assert not _alive(pids[1])
        assert [_alive(pids[0]), _alive(pids[2])] == [True, True]

    _run(tmp_path, body)


@pytest.mark.parametrize("index", ["0", "4", "abc", "-1"])
def test_restart_of_an_unknown_replica_is_not_found(tmp_path: Path, index: str) -> None:
    async def body(client: TestClient, supervisor: Supervisor) -> None:
        pids = [r.process.pid for r in supervisor.replicas]
        answer = await client.post(f"/replicas/{index}/restart")
        assert answer.status == 404
        assert "no replica" in json.loads(await answer.text())["error"]
        assert [r.process.pid for r in supervisor.replicas] == pids

    _run(tmp_path, body)


def test_no_route_signals_a_process_the_supervisor_did_not_start(tmp_path: Path) -> None:
    """A replica held down after a crash has no process: restarting or retiring it signals
    nothing, and a process started beside the supervisor outlives every route."""
    outsider = subprocess.Popen(SLEEPER)
    try:

        async def body(client: TestClient, supervisor: Supervisor) -> None:
            held = await client.post("/replicas/3/hold", json={"seconds": 600})
            assert held.status == 200
            os.kill(supervisor.replicas[2].process.pid, signal.SIGKILL)

            async def down() -> bool:
                return not (await (await client.get("/replicas")).json())[2]["running"]

            await _until(down, "replica 3 to be down (held)")
            answer = await client.post("/replicas/3/restart")
            assert answer.status == 200 and (await answer.json())["pid"] is None
            for index in (1, 2):
                assert (await client.post(f"/replicas/{index}/restart")).status == 200
            answer = await client.post("/replicas/scale", json={"replicas": 1})
            assert answer.status == 200
            assert _alive(outsider.pid)

        _run(tmp_path, body)
        assert outsider.poll() is None  # the supervisor's stop spared it too
    finally:
        outsider.kill()
        outsider.wait()


def test_scaling_waits_while_a_blue_green_runs_two_sets(tmp_path: Path) -> None:
    async def body(client: TestClient, supervisor: Supervisor) -> None:
        green = {"replicas": 3, "build": {"version": "v2"}}
        assert (await client.post("/releases/green", json=green)).status == 200
        before = [(r.index, r.port) for r in supervisor.replicas]
        answer = await client.post("/replicas/scale", json={"replicas": 4})
        assert answer.status == 409
        assert "blue/green" in json.loads(await answer.text())["error"]
        assert [(r.index, r.port) for r in supervisor.replicas] == before

    _run(tmp_path, body)
