"""Dashboard variables: plain substitution of ``$name`` / ``${name}``, and the ``label_values``
queries that list a query variable's values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# $name or ${name}; Grafana's ${name:format} and [[name]] forms are not used by our dashboards.
_REFERENCE = re.compile(r"\$(?:\{(?P<braced>\w+)\}|(?P<plain>\w+))")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$", re.S
)


@dataclass(frozen=True)
class LabelValues:
    """A ``label_values(selector, label)`` query: the values of ``label`` among the series
    ``selector`` picks (every series when it is empty)."""

    selector: str
    label: str


def references(text: str) -> list[str]:
    """The variable names ``text`` uses, in order of first use."""
    found: list[str] = []
    for match in _REFERENCE.finditer(text):
        name = match.group("braced") or match.group("plain")
        if name not in found:
            found.append(name)
    return found


def resolve(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with each ``$name`` and ``${name}`` of ``values`` replaced by its value.

    References to names not in ``values`` (Grafana's own ``${__data...}``) stay as they are.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        return values.get(name, match.group(0))

    return _REFERENCE.sub(substitute, expr)


def parse_label_values(query: str) -> LabelValues:
    """The selector and label of a ``label_values(...)`` query; ValueError for anything else."""
    match = _LABEL_VALUES.match(query)
    if not match:
        raise ValueError(f"not a label_values(selector, label) query: {query!r}")
    return LabelValues(selector=match.group("selector") or "", label=match.group("label"))


def query_variables(model: Mapping[str, Any]) -> list[tuple[str, LabelValues]]:
    """The dashboard's query variables in order: (name, its label_values query)."""
    return [
        (variable["name"], parse_label_values(variable["query"]))
        for variable in model.get("templating", {}).get("list", [])
        if variable.get("type") == "query"
    ]
