"""Helpers of the live dashboard tests: the server in a thread, a real Prometheus, a stub one.

The live app runs on its own event loop in a daemon thread, on a free loopback port, so tests
talk to it with plain httpx (and Chromium) as a browser would.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from dashboards.build import BuiltDashboard
from lab.procs import free_port
from sre_platform.tools import find_tool
from tests.waiting import poll_until

STARTUP_CAP = 60.0


@contextlib.contextmanager
def serving(application: web.Application) -> Iterator[str]:
    """Serve ``application`` on 127.0.0.1 in a thread; yield its base URL; stop it after."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(application, access_log=None)
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def wait_until(what: str, check: Callable[[], Any], cap: float = STARTUP_CAP) -> Any:
    """Poll ``check`` until it is truthy (a server not up yet counts as "not yet")."""
    return poll_until(what, check, cap, every=0.2, tolerate=(httpx.HTTPError, ValueError, KeyError))


@contextlib.contextmanager
def prometheus(tmp: Path) -> Iterator[str]:
    """A real Prometheus on a free loopback port, scraping itself every second."""
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            find_tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            "Prometheus scraping itself",
            lambda: httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=5).json()[
                "data"
            ]["result"],
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def built(
    name: str, uid: str, title: str, panels: list[dict[str, Any]], **extra: Any
) -> BuiltDashboard:
    """A dashboard model written in a test (Grafana's JSON, as the builder makes it)."""
    model = {
        "uid": uid,
        "title": title,
        "schemaVersion": 41,
        "refresh": "30s",
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": []},
        "panels": panels,
        **extra,
    }
    return BuiltDashboard(name=name, uid=uid, title=title, model=model)


_COUNT_PIXELS = """
const [canvas, rgb, tolerance] = arguments;
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let count = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] < 128) continue;
  if (rgb === null || (Math.abs(data[i] - rgb[0]) <= tolerance
      && Math.abs(data[i + 1] - rgb[1]) <= tolerance && Math.abs(data[i + 2] - rgb[2]) <= tolerance)) {
    count += 1;
  }
}
return count;
"""


def canvas_pixels(driver: Any, canvas: Any, rgb: tuple[int, int, int] | None = None) -> int:
    """Opaque pixels of ``canvas`` (of colour ``rgb``, give or take 40 per channel, if given)."""
    count: int = driver.execute_script(_COUNT_PIXELS, canvas, list(rgb) if rgb else None, 40)
    return count


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#RRGGBB`` as a tuple."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
