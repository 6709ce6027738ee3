"""The SLO report as one self-contained HTML file: the Jinja2 template in reports/templates/,
uPlot's script and stylesheet inlined (from node_modules, installed by `make install`), and the
report's data embedded as JSON. Opening it needs no network and no server.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from reports.slo_report import Report, SloFigures, utc
from sre_platform.durations import format_duration, humanize
from sre_platform.errors import SreError
from sre_platform.webassets import uplot_script, uplot_style

NO_TRAFFIC = "no traffic"


def percent(ratio: float | None, digits: int = 1) -> str:
    """A ratio for people (``12.3%``); "no traffic" for None."""
    if ratio is None or not math.isfinite(ratio):
        return NO_TRAFFIC
    return f"{ratio * 100:.{digits}f}%"


def objective_percent(ratio: float | None) -> str:
    """An objective or SLI with the digits it needs (``99.9%``, ``99.95%``, ``99.123%``)."""
    if ratio is None or not math.isfinite(ratio):
        return NO_TRAFFIC
    text = f"{ratio * 100:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"


def slo_document(index: int, slo: SloFigures, end: float) -> dict[str, Any]:
    """One SLO as plain JSON data (what --json prints and the page's charts read)."""
    return {
        "index": index,
        "service": slo.service,
        "slo": slo.slo,
        "slo_id": slo.slo_id,
        "objective": slo.objective,
        "period": format_duration(round(slo.period_seconds)) if slo.period_seconds else None,
        "window_start": slo.window_start,
        "window_end": end if slo.window_start is not None else None,
        "data_start": slo.data_start,
        "sli": slo.sli,
        "met": slo.met,
        "no_traffic": slo.no_traffic,
        "budget_spent": slo.budget_spent,
        "budget_remaining": None if slo.budget_spent is None else 1 - slo.budget_spent,
        "step_seconds": slo.step,
        "incidents": [
            {
                "start": item.incident.start,
                "end": item.incident.end,
                "ongoing": item.incident.end is None,
                "began_before_window": item.incident.began_before_window,
                "budget_cost": item.cost,
            }
            for item in slo.incidents
        ],
        "incidents_left_out": slo.incidents_left_out,
        "chart": [list(point) for point in slo.chart],
        "notes": list(slo.notes),
        "description": slo.spec.description if slo.spec else None,
        "runbook": slo.spec.runbook if slo.spec else None,
    }


def report_document(report: Report) -> dict[str, Any]:
    """The whole report as plain JSON data."""
    return {
        "prometheus": report.prometheus,
        "end": report.end,
        "period": report.period_option,
        "queries": report.queries,
        "points": report.points,
        "slos": [slo_document(i, slo, report.end) for i, slo in enumerate(report.slos)],
    }


def _script_json(data: object) -> str:
    # Inside <script>, "</script>" or "<!--" in a label value would end or bend the element.
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(percent=percent, objective=objective_percent, utc=utc, duration=humanize)
    return env.get_template("slo-report.html.j2")


def render_html(report: Report) -> str:
    """The report as one HTML document."""
    script = uplot_script()
    if "</script" in script.lower():
        raise SreError("the installed uPlot script cannot be inlined: it contains </script")
    document = report_document(report)
    return _template().render(
        report=report,
        slos=list(zip(report.slos, document["slos"], strict=True)),
        data_json=Markup(_script_json(document)),
        uplot_script=Markup(script),
        uplot_style=Markup(uplot_style()),
        generated=utc(report.end),
        is_link=lambda url: isinstance(url, str) and url.startswith(("https://", "http://")),
    )
