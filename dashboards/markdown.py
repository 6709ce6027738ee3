"""Markdown for text panels, with the specs' own text escaped so it cannot break the table."""

from __future__ import annotations

import re
from collections.abc import Sequence

from alerting.model import SLO
from sre_platform.durations import format_duration

RUNBOOK = "runbook_url"
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_URL = re.compile(r"https?://[^\s<>()\[\]]+")


def escape(text: str) -> str:
    """``text`` as literal markdown inline text: one line, markdown and HTML characters
    backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def runbook_cell(slo: SLO) -> str:
    """A link when the SLO's runbook is an http(s) URL, else its path as code (a path in the
    repository, e.g. runbooks/slo-availability-burn.md), or a dash."""
    runbook = slo.alerting.annotations.get(RUNBOOK, "")
    if _URL.fullmatch(runbook):
        return f"[{escape(runbook)}]({runbook})"
    if runbook:
        return "`" + " ".join(runbook.replace("`", "'").split()) + "`"
    return "-"


def slo_table(slos: Sequence[SLO]) -> str:
    """A markdown table of every SLO: service, SLO, objective, period, description, runbook."""
    lines = [
        "| Service | SLO | Objective | Period | Description | Runbook |",
        "|---|---|---|---|---|---|",
    ]
    for slo in slos:
        lines.append(
            f"| {escape(slo.service)} | {escape(slo.name)} | {slo.objective:g}% | "
            f"{format_duration(slo.period_seconds)} | {escape(slo.description) or '-'} | "
            f"{runbook_cell(slo)} |"
        )
    return "\n".join(lines) + "\n"
