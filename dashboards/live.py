"""The lab's live SLO dashboard: a small web server that renders the Grafana dashboard models
(`dashboards.build`) against the lab's Prometheus, in the browser.

It serves, on 127.0.0.1 only:
- ``/``: the SLO list, the overview dashboard's table panel on a page of its own;
- ``/d/<uid>/<slug>?var-...``: every dashboard at Grafana's own paths, so the models' links work;
- ``/api/dashboards/<uid>``: a dashboard's model, exactly the builder's JSON;
- ``/healthz``;
- ``/static/...`` (the page's script and style), ``/assets/...`` (uPlot from node_modules);
- ``/api/v1/...``: a bounded, same-origin proxy of the read-only Prometheus API the page needs
  (GET only; query, query_range, series, label values; nothing else). Every proxied request has
  a deadline, a size cap on the answer and bounded parameters (`ProxyLimits`).

The page interprets the models in the browser (dashboards/static/live.js); nothing here knows
what a panel shows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import re
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import jinja2
from aiohttp import web

from sre_platform import webassets
from sre_platform.durations import parse_duration
from sre_platform.errors import SreError
from sre_platform.prometheus import parse_base_url

if TYPE_CHECKING:
    from dashboards.build import BuiltDashboard

log = logging.getLogger("dashboard")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
OVERVIEW_NAME = "slo-overview"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Endpoint -> the query parameters it may carry. Anything else is refused.
PROXIED: dict[str, frozenset[str]] = {
    "query": frozenset({"query", "time"}),
    "query_range": frozenset({"query", "start", "end", "step"}),
    "series": frozenset({"match[]", "start", "end"}),
    "label_values": frozenset({"match[]", "start", "end"}),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class ProxyLimits:
    """Bounds of the Prometheus proxy: per request, and over all requests at once."""

    timeout_seconds: float = 20.0  # one request, waiting for a slot included
    max_response_bytes: int = 5 * 1024 * 1024
    max_query_chars: int = 4 * 1024
    max_matchers: int = 10
    max_range_seconds: int = 91 * 86400  # the longest SLO period (90d) and a day
    max_points: int = 11_000  # Prometheus' own limit per series of a range query
    max_concurrent: int = 8  # requests to Prometheus at once; the others wait their turn


class Refused(Exception):
    """A proxied request outside the limits: the status and the reason the client gets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def slug(title: str) -> str:
    """Grafana's URL slug of a dashboard title: lower case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "dashboard"


def dashboard_path(built: BuiltDashboard) -> str:
    """The page of ``built``, at Grafana's path."""
    return f"/d/{built.uid}/{slug(built.title)}"


def slo_list_model(overview: dict[str, Any]) -> dict[str, Any]:
    """The SLO list page: the overview's table panel(s), full width, with its variables."""
    tables = [p for p in overview.get("panels", []) if p.get("type") == "table"]
    panels, y = [], 0
    for panel in tables:
        height = max(int(panel.get("gridPos", {}).get("h", 8)), 6)
        panels.append({**panel, "gridPos": {"x": 0, "y": y, "w": 24, "h": height}})
        y += height
    return {**overview, "title": "SLOs", "panels": panels}


def _error(status: int, reason: str, error_type: str = "bad_data") -> web.Response:
    """An error answer shaped like Prometheus' own."""
    body = {"status": "error", "errorType": error_type, "error": reason}
    return web.json_response(body, status=status)


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Refused(400, f"{name}: expected Unix seconds, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise Refused(400, f"{name}: expected Unix seconds, got {text[:40]!r}")
    return value


def _step(text: str) -> float:
    try:
        return float(parse_duration(text))
    except ValueError:
        step = _number("step", text)
    if step <= 0:
        raise Refused(400, f"step: must be positive, got {text[:40]!r}")
    return step


def check_params(
    endpoint: str, params: Sequence[tuple[str, str]], limits: ProxyLimits
) -> list[tuple[str, str]]:
    """The parameters of a proxied request if they are within ``limits``; Refused otherwise."""
    allowed = PROXIED[endpoint]
    values: dict[str, list[str]] = {}
    for key, value in params:
        if key not in allowed:
            raise Refused(400, f"parameter {key[:40]!r} is not proxied for {endpoint}")
        values.setdefault(key, []).append(value)
    for key, found in values.items():
        if key != "match[]" and len(found) > 1:
            raise Refused(400, f"parameter {key!r} given {len(found)} times")
    texts = values.get("query", []) + values.get("match[]", [])
    if any(len(text) > limits.max_query_chars for text in texts):
        raise Refused(400, f"a query longer than {limits.max_query_chars} characters")
    if len(values.get("match[]", [])) > limits.max_matchers:
        raise Refused(400, f"more than {limits.max_matchers} match[] selectors")
    if endpoint in ("query", "query_range") and not values.get("query"):
        raise Refused(400, "parameter 'query' is missing")
    if endpoint == "series" and not values.get("match[]"):
        raise Refused(400, "parameter 'match[]' is missing")
    if "time" in values:
        _number("time", values["time"][0])
    if endpoint == "query_range" and not {"start", "end", "step"} <= values.keys():
        raise Refused(400, "query_range needs start, end and step")
    if "start" in values or "end" in values:
        if not {"start", "end"} <= values.keys():
            raise Refused(400, "give both start and end, or neither")
        start, end = _number("start", values["start"][0]), _number("end", values["end"][0])
        if end < start:
            raise Refused(400, "end is before start")
        if end - start > limits.max_range_seconds:
            days = limits.max_range_seconds / 86400
            raise Refused(400, f"a time range longer than {days:g} days")
        if "step" in values:
            points = (end - start) / _step(values["step"][0])
            if points > limits.max_points:
                raise Refused(400, f"more than {limits.max_points} points per series")
    return list(params)


class Site:
    """The dashboards a server shows, by uid, and the overview the SLO list comes from."""

    def __init__(self, dashboards: Sequence[BuiltDashboard]) -> None:
        self.dashboards = tuple(dashboards)
        self.by_uid = {built.uid: built for built in self.dashboards}
        tables = [
            built
            for built in self.dashboards
            if any(p.get("type") == "table" for p in built.model.get("panels", []))
        ]
        named = [built for built in self.dashboards if built.name == OVERVIEW_NAME]
        self.overview = (named or tables or [None])[0]

    def nav(self) -> list[dict[str, str]]:
        """The links of the page header: the SLO list, then every dashboard."""
        out = [{"title": "SLOs", "url": "/", "uid": ""}]
        out += [{"title": b.title, "url": dashboard_path(b), "uid": b.uid} for b in self.dashboards]
        return out


def app(
    dashboards: Sequence[BuiltDashboard],
    prometheus_url: str,
    limits: ProxyLimits = ProxyLimits(),
) -> web.Application:
    """The live dashboard's web app for ``dashboards``, querying ``prometheus_url``."""
    site = Site(dashboards)
    base = str(parse_base_url(prometheus_url)).rstrip("/")
    assets = {
        "uPlot.iife.min.js": (webassets.uplot_script(), "application/javascript"),
        "uPlot.min.css": (webassets.uplot_style(), "text/css"),
    }
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    page_template = templates.get_template("page.html.j2")

    def page(model: dict[str, Any], uid: str, status: int = 200) -> web.Response:
        html = page_template.render(
            title=model.get("title", "SLOs"), model=model, nav=site.nav(), current=uid
        )
        return web.Response(text=html, content_type="text/html", status=status)

    async def slo_list(request: web.Request) -> web.Response:
        if site.overview is None:
            empty = {"title": "SLOs", "panels": [], "templating": {"list": []}}
            return page(empty, "", 200)
        return page(slo_list_model(site.overview.model), "")

    async def dashboard(request: web.Request) -> web.Response:
        built = site.by_uid.get(request.match_info["uid"])
        if built is None:
            missing = {
                "title": "No such dashboard",
                "panels": [],
                "templating": {"list": []},
                "missing": request.match_info["uid"],
            }
            return page(missing, "", 404)
        return page(built.model, built.uid)

    async def model_json(request: web.Request) -> web.Response:
        built = site.by_uid.get(request.match_info["uid"])
        if built is None:
            return _error(404, "no dashboard with this uid", "not_found")
        return web.Response(text=built.json_text(), content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "dashboards": len(site.dashboards)})

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        text, content_type = found
        return web.Response(
            text=text, content_type=content_type, headers={"Cache-Control": "max-age=3600"}
        )

    async def proxy(request: web.Request) -> web.Response:
        tail = request.match_info["tail"]
        label = re.fullmatch(r"label/([^/]+)/values", tail)
        endpoint = "label_values" if label else tail
        if endpoint not in PROXIED or (label and not LABEL_NAME.fullmatch(label.group(1))):
            return _error(403, f"/api/v1/{tail[:80]} is not proxied", "forbidden")
        if request.method != "GET":
            response = _error(405, f"{request.method} is not proxied: GET only", "forbidden")
            response.headers["Allow"] = "GET"
            return response
        try:
            params = check_params(endpoint, list(request.query.items()), limits)
        except Refused as refused:
            return _error(refused.status, refused.reason)
        return await _forward(request.app, f"{base}/api/v1/{tail}", params, limits)

    async def session(application: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=limits.max_concurrent)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as client:
            application[CLIENT] = client
            application[SLOTS] = asyncio.Semaphore(limits.max_concurrent)
            yield

    application = web.Application(middlewares=[_loopback_only, _headers], client_max_size=64 * 1024)
    application.cleanup_ctx.append(session)
    application.router.add_get("/", slo_list)
    application.router.add_get("/d/{uid}", dashboard)
    application.router.add_get("/d/{uid}/{slug}", dashboard)
    application.router.add_get("/api/dashboards/{uid}", model_json)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/assets/{name}", asset)
    application.router.add_static("/static", STATIC_DIR, follow_symlinks=False)
    application.router.add_route("*", "/api/v1/{tail:.*}", proxy)
    return application


CLIENT = web.AppKey("client", aiohttp.ClientSession)
SLOTS = web.AppKey("slots", asyncio.Semaphore)


async def _forward(
    application: web.Application, url: str, params: list[tuple[str, str]], limits: ProxyLimits
) -> web.Response:
    """GET ``url`` from Prometheus within ``limits``; its JSON answer, or an error like it."""
    client, slots = application[CLIENT], application[SLOTS]
    body = bytearray()
    try:
        async with (
            asyncio.timeout(limits.timeout_seconds),
            slots,
            client.get(url, params=params, allow_redirects=False) as upstream,
        ):
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > limits.max_response_bytes:
                    mib = limits.max_response_bytes / 1024 / 1024
                    return _error(502, f"Prometheus answered more than {mib:g} MiB", "too_large")
            status = upstream.status
            content_type = upstream.content_type
    except TimeoutError:
        reason = f"Prometheus did not answer within {limits.timeout_seconds:g} s"
        return _error(504, reason, "timeout")
    except aiohttp.ClientError as exc:
        return _error(502, f"Prometheus is unreachable: {exc}", "unavailable")
    if content_type != "application/json":
        return _error(502, f"Prometheus answered {status} {content_type}, not JSON", "unavailable")
    return web.Response(body=bytes(body), status=status, content_type="application/json")


@web.middleware
async def _loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse requests whose Host is not a loopback name (a DNS-rebinding page's would not be)."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if host.lower() not in LOOPBACK_HOSTS:
        return _error(421, f"this page answers on 127.0.0.1 only, not {host[:80]!r}", "forbidden")
    response: web.StreamResponse = await handler(request)
    return response


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers.update(SECURITY_HEADERS)
    if isinstance(response, web.HTTPException) and response.status >= 400:
        raise response
    return response


def build(inputs: Sequence[Path], period: str) -> list[BuiltDashboard]:
    """The dashboard models of the SLO specs ``inputs`` (the builder's, unchanged)."""
    from dashboards.build import dashboards_from_specs

    return list(dashboards_from_specs(inputs, period))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m dashboards.live --port P --prometheus URL -i SPECS... --period D``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prometheus", required=True, help="Base URL of the Prometheus to query.")
    parser.add_argument(
        "-i", "--input", type=Path, action="append", required=True, help="SLO spec file or folder."
    )
    parser.add_argument("--period", default="30d", help="SLO period of the specs.")
    args = parser.parse_args(argv)
    from lab import jsonlog

    jsonlog.setup("dashboard")
    try:
        application = app(build(args.input, args.period), args.prometheus)
    except SreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from exc
    log.info("serving", extra={"port": args.port, "prometheus": args.prometheus})
    web.run_app(application, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
