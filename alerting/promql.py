"""PromQL helpers for the compiler: the window placeholder, syntax checks, label formats."""

from __future__ import annotations

import re

import promql_parser

# Sloth renders queries as Go templates, so `{{.window}}` and `{{ .window }}` both work.
WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Service and SLO names end up in group names, ids and label values.
OBJECT_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def has_window(query: str) -> bool:
    """True when ``query`` holds the ``{{.window}}`` placeholder."""
    return WINDOW_PLACEHOLDER.search(query) is not None


def with_window(query: str, window: str) -> str:
    """Return ``query`` with every ``{{.window}}`` replaced by ``window``."""
    return WINDOW_PLACEHOLDER.sub(window, query)


def syntax_error(expr: str) -> str | None:
    """Return the parser's message if ``expr`` is not valid PromQL, else None."""
    try:
        promql_parser.parse(expr)
    except (ValueError, TypeError) as error:
        return str(error) or "invalid PromQL"
    return None


def selector_matchers(selector: str) -> str:
    """Return the matchers inside a ``{...}`` selector (``""`` for an empty selector).

    Raises ValueError when ``selector`` is not a label-matcher list.
    """
    text = selector.strip()
    if not text:
        return ""
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("must be label matchers in braces, e.g. '{job=\"exchange\"}'")
    inner = text[1:-1].strip().rstrip(",").strip()
    if inner and syntax_error(f"up{{{inner}}}"):
        raise ValueError(f"invalid label matchers: {syntax_error(f'up{{{inner}}}')}")
    return inner


def le_pattern(threshold: float) -> str:
    """Return a regex for the ``le`` label of the bucket at ``threshold``.

    Clients print bucket bounds differently (Go writes ``1``, Python ``1.0``, some ``0.040``),
    so the pattern accepts the number with or without trailing zeros.
    """
    text = f"{threshold:.15f}".rstrip("0")
    whole, _, frac = text.partition(".")
    whole_re = re.escape(whole)
    decimal = f"{whole_re}\\\\.{frac}0*" if frac else f"{whole_re}(\\\\.0*)?"
    alternatives = [decimal]
    scientific = repr(float(threshold))
    if "e" in scientific:
        alternatives.append(re.escape(scientific).replace("\\", "\\\\"))
    return "|".join(alternatives)
