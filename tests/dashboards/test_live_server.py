"""The live dashboard's server: its routes, and the Prometheus proxy's refusals and bounds.

Pass-through runs against a real Prometheus; refusals and limits against a stub upstream that
counts what reaches it (a refused request must never reach Prometheus) and can be slow, huge
or not JSON on purpose.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from dashboards.live import ProxyLimits, app, slo_list_model, slug
from lab.procs import free_port
from sre_platform import webassets
from tests.dashboards.live_helpers import built, prometheus, serving

ROOT = Path(__file__).resolve().parents[2]
TABLE = {
    "id": 2,
    "type": "table",
    "title": "SLOs",
    "gridPos": {"x": 0, "y": 4, "w": 24, "h": 6},
    "targets": [{"refId": "A", "expr": "vector(1)", "instant": True, "format": "table"}],
}
STAT = {
    "id": 1,
    "type": "stat",
    "title": "Burning",
    "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4},
    "targets": [{"refId": "A", "expr": "vector(0)", "instant": True}],
}
OVERVIEW = built("slo-overview", "sre-slo-overview", "SLO overview", [STAT, TABLE])
DETAIL = built("slo-detail", "sre-slo-detail", "SLO detail <&>", [STAT])


class Stub:
    """An upstream standing in for Prometheus: counts requests, answers as ``mode`` says."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.mode = "ok"
        self.active = 0
        self.most_active = 0

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.StreamResponse:
            self.seen.append(request.path_qs)
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            try:
                if self.mode == "slow":  # until the proxy gives up and hangs up (5 s at most)
                    for _ in range(100):
                        if request.transport is None or request.transport.is_closing():
                            break
                        await asyncio.sleep(0.05)
                if self.mode == "busy":  # answers, after a while
                    await asyncio.sleep(0.3)
                if self.mode == "huge":
                    response = web.StreamResponse(headers={"Content-Type": "application/json"})
                    await response.prepare(request)
                    for _ in range(64):
                        await response.write(b" " * 65536)
                    return response
                if self.mode == "html":
                    return web.Response(text="<html>login</html>", content_type="text/html")
                body = {"status": "success", "data": {"resultType": "vector", "result": []}}
                return web.json_response(body)
            finally:
                self.active -= 1

        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", answer)
        return application


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[Stub, str]]:
    upstream = Stub()
    with serving(upstream.app()) as url:
        yield upstream, url


@pytest.fixture
def proxied(stub: tuple[Stub, str]) -> Iterator[tuple[Stub, str]]:
    """The live app in front of the stub, with small limits so the bounds are quick to hit."""
    upstream, url = stub
    upstream.mode, upstream.seen[:] = "ok", []
    upstream.most_active = 0
    limits = ProxyLimits(timeout_seconds=1.5, max_response_bytes=1024 * 1024, max_concurrent=2)
    with serving(app([OVERVIEW, DETAIL], url, limits)) as base:
        yield upstream, base


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with (
        prometheus(tmp_path_factory.mktemp("prometheus")) as url,
        serving(app([OVERVIEW, DETAIL], url)) as base,
    ):
        yield base


def embedded(page: str) -> dict:
    """The model a page carries as JSON data."""
    start = page.index('<script id="dashboard-model" type="application/json">')
    text = page[page.index(">", start) + 1 : page.index("</script>", start)]
    model: dict = json.loads(text)
    return model


def get(url: str, **kwargs: object) -> httpx.Response:
    return httpx.get(url, timeout=30, trust_env=False, **kwargs)  # type: ignore[arg-type]


# --- routes ------------------------------------------------------------------------------------
def test_the_slo_list_is_the_overview_table_alone_full_width(proxied: tuple[Stub, str]) -> None:
    _, base = proxied
    page = get(f"{base}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    model = slo_list_model(OVERVIEW.model)
    assert [p["type"] for p in model["panels"]] == ["table"]
    assert model["panels"][0]["gridPos"] == {"x": 0, "y": 0, "w": 24, "h": 6}
    assert embedded(page.text) == model
    for path in ("/d/sre-slo-overview/slo-overview", "/d/sre-slo-detail/slo-detail"):
        assert f'href="{path}"' in page.text, "every dashboard is in the page header"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/d/sre-slo-detail/slo-detail", 200, id="a dashboard at Grafana's path"),
        pytest.param("/d/sre-slo-detail/any-slug?var-slo=x", 200, id="any slug, as Grafana"),
        pytest.param("/d/sre-slo-detail", 200, id="the uid alone"),
        pytest.param("/d/nope/nope", 404, id="an unknown uid is 404"),
        pytest.param("/api/dashboards/nope", 404, id="an unknown model is 404"),
        pytest.param("/healthz", 200, id="health"),
        pytest.param("/static/live.js", 200, id="the page's script"),
        pytest.param("/static/live.css", 200, id="the page's style"),
        pytest.param("/static/../live.py", 404, id="nothing outside static"),
        pytest.param("/static/%2e%2e/live.py", 404, id="nor encoded"),
        pytest.param("/assets/uPlot.iife.min.js", 200, id="uPlot from node_modules"),
        pytest.param("/assets/package.json", 404, id="only uPlot's two files"),
    ],
)
def test_routes(proxied: tuple[Stub, str], path: str, status: int) -> None:
    _, base = proxied
    response = get(f"{base}{path}")
    assert response.status_code == status, response.text[:300]
    assert "default-src 'none'" in response.headers.get("content-security-policy", "")


def test_a_dashboard_page_carries_its_model_escaped(proxied: tuple[Stub, str]) -> None:
    _, base = proxied
    page = get(f"{base}/d/sre-slo-detail/x").text
    assert "<title>SLO detail &lt;&amp;&gt; · sre-platform lab</title>" in page
    assert "SLO detail \\u003c\\u0026\\u003e" in page, "the title inside the JSON is escaped"
    assert embedded(page) == DETAIL.model


def test_the_model_api_answers_the_builders_json_exactly(proxied: tuple[Stub, str]) -> None:
    _, base = proxied
    response = get(f"{base}/api/dashboards/sre-slo-detail")
    assert response.status_code == 200 and response.text == DETAIL.json_text()


def test_uplot_is_served_from_node_modules(proxied: tuple[Stub, str]) -> None:
    _, base = proxied
    assert get(f"{base}/assets/uPlot.iife.min.js").text == webassets.uplot_script()
    assert get(f"{base}/assets/uPlot.min.css").text == webassets.uplot_style()


def test_a_host_other_than_loopback_is_refused(proxied: tuple[Stub, str]) -> None:
    """A page on another site that rebinds its name to 127.0.0.1 gets nothing."""
    upstream, base = proxied
    for path in ("/", "/api/v1/query?query=up"):
        response = get(f"{base}{path}", headers={"Host": "attacker.example:80"})
        assert response.status_code == 421, response.text
    assert upstream.seen == []
    assert get(f"{base}/healthz", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param("SLO overview", "slo-overview", id="words"),
        pytest.param("Exchange service: RED & orders", "exchange-service-red-orders", id="symbols"),
        pytest.param("  ", "dashboard", id="nothing left"),
    ],
)
def test_slug_is_grafanas(title: str, expected: str) -> None:
    assert slug(title) == expected


# --- the proxy ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/api/v1/query", {"query": "vector(1)"}, id="an instant query"),
        pytest.param(
            "/api/v1/query", {"query": "up", "time": str(int(time.time()))}, id="at a time"
        ),
        pytest.param(
            "/api/v1/query_range",
            {"query": "up", "start": str(time.time() - 600), "end": str(time.time()), "step": "15"},
            id="a range query",
        ),
        pytest.param(
            "/api/v1/query_range",
            {
                "query": "up",
                "start": str(time.time() - 600),
                "end": str(time.time()),
                "step": "15s",
            },
            id="a step as a duration",
        ),
        pytest.param("/api/v1/series", {"match[]": "up"}, id="series"),
        pytest.param("/api/v1/label/job/values", {"match[]": "up"}, id="label values"),
        pytest.param("/api/v1/label/job/values", {}, id="label values of everything"),
    ],
)
def test_the_proxy_passes_the_read_api_through(real: str, path: str, params: dict) -> None:
    response = get(f"{real}{path}", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "success"


def test_prometheus_errors_come_back_as_prometheus_gave_them(real: str) -> None:
    response = get(f"{real}/api/v1/query", params={"query": "sum("})
    assert response.status_code == 400
    assert response.json()["errorType"] == "bad_data"


NOW = time.time()


@pytest.mark.parametrize(
    ("method", "path", "params", "status"),
    [
        pytest.param("GET", "/api/v1/admin/tsdb/snapshot", {}, 403, id="the admin API"),
        pytest.param(
            "POST", "/api/v1/admin/tsdb/delete_series", {"match[]": "up"}, 403, id="deleting series"
        ),
        pytest.param("GET", "/api/v1/status/config", {}, 403, id="the configuration"),
        pytest.param("GET", "/api/v1/targets", {}, 403, id="targets"),
        pytest.param("GET", "/api/v1/rules", {}, 403, id="rules"),
        pytest.param("GET", "/api/v1/query/../admin/tsdb/snapshot", {}, 403, id="a dotted path"),
        pytest.param("GET", "/api/v1/label/x y/values", {}, 403, id="not a label name"),
        pytest.param("GET", "/api/v1/label/job/values/extra", {}, 403, id="a longer path"),
        pytest.param("POST", "/api/v1/query", {"query": "up"}, 405, id="POST"),
        pytest.param("PUT", "/api/v1/query", {"query": "up"}, 405, id="PUT"),
        pytest.param("DELETE", "/api/v1/series", {"match[]": "up"}, 405, id="DELETE"),
        pytest.param("GET", "/api/v1/query", {}, 400, id="no query"),
        pytest.param(
            "GET", "/api/v1/query", {"query": "up", "timeout": "1h"}, 400, id="an unknown parameter"
        ),
        pytest.param("GET", "/api/v1/query", {"query": "x" * 5000}, 400, id="a query too long"),
        pytest.param(
            "GET",
            "/api/v1/query",
            {"query": "up", "time": "NaN"},
            400,
            id="a time that is not a number",
        ),
        pytest.param(
            "GET",
            "/api/v1/query",
            {"query": "up", "time": "2024-01-01"},
            400,
            id="a time not in seconds",
        ),
        pytest.param(
            "GET",
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "10"},
            400,
            id="no step",
        ),
        pytest.param(
            "GET",
            "/api/v1/query_range",
            {"query": "up", "start": "10", "end": "0", "step": "1"},
            400,
            id="end before start",
        ),
        pytest.param(
            "GET",
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": str(100 * 86400), "step": "3600"},
            400,
            id="a range of 100 days",
        ),
        pytest.param(
            "GET",
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "86400", "step": "1"},
            400,
            id="86400 points",
        ),
        pytest.param(
            "GET",
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "60", "step": "0"},
            400,
            id="a zero step",
        ),
        pytest.param(
            "GET",
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "60", "step": "-1"},
            400,
            id="a negative step",
        ),
        pytest.param("GET", "/api/v1/series", {}, 400, id="series without match"),
        pytest.param(
            "GET", "/api/v1/series", {"match[]": "up", "start": "0"}, 400, id="start without end"
        ),
        pytest.param(
            "GET",
            "/api/v1/series",
            {"match[]": [f'up{{i="{i}"}}' for i in range(11)]},
            400,
            id="eleven selectors",
        ),
    ],
)
def test_the_proxy_refuses_anything_else_before_prometheus_sees_it(
    proxied: tuple[Stub, str], method: str, path: str, params: dict, status: int
) -> None:
    upstream, base = proxied
    response = httpx.request(method, f"{base}{path}", params=params, timeout=30, trust_env=False)
    assert response.status_code == status, response.text
    assert response.json()["status"] == "error" and response.json()["error"]
    assert upstream.seen == [], "a refused request reached Prometheus"


def test_the_query_parameter_given_twice_is_refused(proxied: tuple[Stub, str]) -> None:
    upstream, base = proxied
    response = get(f"{base}/api/v1/query?query=up&query=vector(1)")
    assert response.status_code == 400 and upstream.seen == []


@pytest.mark.parametrize(
    ("mode", "status", "error_type"),
    [
        pytest.param("slow", 504, "timeout", id="an answer slower than the deadline"),
        pytest.param("huge", 502, "too_large", id="an answer larger than the cap"),
        pytest.param("html", 502, "unavailable", id="an answer that is not JSON"),
    ],
)
def test_the_proxy_is_bounded(
    proxied: tuple[Stub, str], mode: str, status: int, error_type: str
) -> None:
    upstream, base = proxied
    upstream.mode = mode
    started = time.monotonic()
    response = get(f"{base}/api/v1/query", params={"query": "up"})
    assert response.status_code == status, response.text
    assert response.json()["errorType"] == error_type
    assert time.monotonic() - started < 30, "the deadline holds (1.5 s here; 30 s is a loose cap)"


def test_an_unreachable_prometheus_is_a_clear_error() -> None:
    with serving(app([OVERVIEW], f"http://127.0.0.1:{free_port()}")) as base:
        response = get(f"{base}/api/v1/query", params={"query": "up"})
    assert response.status_code == 502
    assert response.json()["error"].startswith("Prometheus is unreachable")


def test_at_most_max_concurrent_requests_reach_prometheus(stub: tuple[Stub, str]) -> None:
    upstream, url = stub
    upstream.mode, upstream.most_active = "busy", 0
    limits = ProxyLimits(timeout_seconds=60, max_concurrent=2)

    async def many() -> list[int]:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            answers = await asyncio.gather(
                *(client.get(f"{base}/api/v1/query", params={"query": f"up{i}"}) for i in range(6))
            )
        return [a.status_code for a in answers]

    with serving(app([OVERVIEW], url, limits)) as base:
        statuses = asyncio.run(many())
    assert statuses == [200] * 6, "each waits its turn"
    assert upstream.most_active == 2


def test_bad_specs_stop_the_server_with_the_file_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: prometheus/v1\nservice: x\nslos:\n  - name: a\n    objectve: 99\n")
    result = subprocess.run(
        [sys.executable, "-m", "dashboards.live", "--port", str(free_port()),
         "--prometheus", "http://127.0.0.1:9", "-i", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "error:" in result.stderr and str(bad) in result.stderr
    assert "Traceback" not in result.stderr
