"""PromQL helpers for the compiler: the window placeholder, syntax checks, label formats.

Queries are parsed in process with promql-parser, which follows a newer Prometheus than the
2.42 that Debian ships (the lab's and the tests' engine, and what ``promtool check rules``
here accepts). So a query must also pass what 2.42 refuses and the newer parser takes:
functions and aggregations added later, durations where a number is expected (``x > 5m``,
``vector(5m)``), and quoted (UTF-8) label and metric names. ``holt_winters``, which 2.42 has
and the newer parser dropped, is taught to it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import promql_parser

# Sloth renders queries as Go templates, so `{{.window}}` and `{{ .window }}` both work.
WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Service and SLO names end up in group names, ids and label values.
OBJECT_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


# The placeholder as the whole range of a range selector or subquery: `[{{.window}}]`,
# `[{{.window}}:1m]`. Every window then gives the same shape of query.
WINDOW_AS_RANGE = re.compile(r"\[\s*\{\{\s*\.window\s*\}\}\s*(?=[\]:])")


def has_window(query: str) -> bool:
    """True when ``query`` holds the ``{{.window}}`` placeholder."""
    return WINDOW_PLACEHOLDER.search(query) is not None


def stray_windows(query: str) -> int:
    """How many ``{{.window}}`` placeholders are not the whole range of a ``[...]``."""
    return len(WINDOW_PLACEHOLDER.findall(query)) - len(WINDOW_AS_RANGE.findall(query))


def with_window(query: str, window: str) -> str:
    """Return ``query`` with every ``{{.window}}`` replaced by ``window``."""
    return WINDOW_PLACEHOLDER.sub(window, query)


# Prometheus 2.42's functions (promql/parser/functions.go) and aggregation operators.
FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_count",
        "histogram_sum",
        "histogram_fraction",
        "histogram_quantile",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_replace",
        "label_join",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    ]
)
AGGREGATIONS = frozenset(
    [
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
    ]
)
_LABEL_LIST_KEYWORDS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
_KNOWN_CALLS = FUNCTIONS | AGGREGATIONS | _LABEL_LIST_KEYWORDS | {"bool", "and", "or", "unless"}
# A name before "(" or before an aggregation's "by"/"without": a call or an aggregation.
_CALL = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\(|(?:by|without)\b)", re.IGNORECASE)
_RANGES = re.compile(r"\[[^\]]*\]")
_SUSPECT = re.compile(r"[0-9](?:ms|[smhdwy])|offset|[{,(]\s*[\"'`]", re.IGNORECASE)
_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
    |(?P<range>\[[^\]]*\])
    |(?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+(?![A-Za-z0-9_:]))
    |(?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    |(?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)

promql_parser.register_extra_functions(
    [
        promql_parser.Function(
            "holt_winters",
            [
                promql_parser.ValueType.Matrix,
                promql_parser.ValueType.Scalar,
                promql_parser.ValueType.Scalar,
            ],
            promql_parser.ValueType.Vector,
        )
    ]
)


def parse_error(expr: str) -> str | None:
    """The parser's message when ``expr`` does not parse as PromQL at all, else None.

    The renderer's check of generated rules: their parts were checked with ``syntax_error``.
    """
    try:
        promql_parser.parse(expr)
    except (ValueError, TypeError) as error:
        return str(error) or "invalid PromQL"
    return None


def syntax_error(expr: str) -> str | None:
    """Why Prometheus 2.42 refuses ``expr`` as PromQL, or None when it parses."""
    return _check(expr)[0]


def result_kind_error(expr: str) -> str | None:
    """Why ``expr`` cannot be an SLI: it returns a range vector or a string (None: it can).

    Prometheus loads such a rule but fails every evaluation of it.
    """
    return _check(expr)[1]


@lru_cache(maxsize=1 << 14)
def _check(expr: str) -> tuple[str | None, str | None]:
    """(syntax error, result kind error) of ``expr``, from one parse."""
    try:
        tree = promql_parser.parse(expr)
    except (ValueError, TypeError) as error:
        return str(error) or "invalid PromQL", None
    error = _unknown_operation(tree, expr) or _newer_syntax(expr)
    node = tree
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    kind = None
    if isinstance(node, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
        kind = "returns a range vector; an SLI must return an instant vector (e.g. rate(...))"
    elif isinstance(node, promql_parser.StringLiteral):
        kind = "returns a string; an SLI must return an instant vector"
    return error, kind


def _unknown_operation(tree: promql_parser.Expr, expr: str) -> str | None:
    # Quick path: every name before a parenthesis is one 2.42 knows (or a keyword).
    if _KNOWN_CALLS.issuperset(match.lower() for match in _CALL.findall(expr)):
        return None
    found: list[str] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.Call) and node.func.name not in FUNCTIONS:
            found.append(f"function {node.func.name!r}")
        elif isinstance(node, promql_parser.AggregateExpr) and str(node.op) not in AGGREGATIONS:
            found.append(f"aggregation {str(node.op)!r}")
        return not found

    promql_parser.walk(tree, visit)
    if found:
        return f"{found[0]} is not known to Prometheus 2.42 (added in a later version)"
    return None


def _newer_syntax(expr: str) -> str | None:
    """What a newer parser takes and Prometheus 2.42 refuses: stray durations, quoted names."""
    if not _SUSPECT.search(_RANGES.sub("[]", expr)):
        return None  # no duration outside a range, no offset and no quote after {, ( or ,
    previous: list[tuple[str, str]] = [("", "")] * 3  # the last significant tokens
    braces = 0
    parens: list[bool] = []  # per open parenthesis: is it a list of label names?
    for match in _TOKEN.finditer(expr):
        kind, text = match.lastgroup or "", match.group()
        if kind in ("space", "comment"):
            continue
        last = previous[-1][1]
        after_offset = _is_offset(previous[-2:]) or (last == "-" and _is_offset(previous[-3:-1]))
        if kind == "number" and after_offset:
            return f"offset {text}: Prometheus 2.42 takes a duration after offset (e.g. 5m)"
        if kind == "duration" and not after_offset:
            return (
                f"duration {text} where a number is expected: Prometheus 2.42 takes a duration "
                "only in a range [5m], a subquery [1h:5m] or after offset"
            )
        if kind == "string" and ((braces and last in ("{", ",")) or (parens and parens[-1])):
            return (
                f"quoted label or metric name {text}: Prometheus 2.42 takes only plain names "
                "([a-zA-Z_][a-zA-Z0-9_]*) there"
            )
        if text == "{":
            braces += 1
        elif text == "}":
            braces = max(0, braces - 1)
        elif text == "(":
            parens.append(last in _LABEL_LIST_KEYWORDS)
        elif text == ")" and parens:
            parens.pop()
        previous = [*previous[1:], (kind, text.lower())]
    return None


def _is_offset(tokens: list[tuple[str, str]]) -> bool:
    """Whether the last of ``tokens`` is the offset modifier (not a metric named offset): it
    follows the end of a selector, a range or a parenthesis."""
    (before_kind, before), (_, word) = tokens
    return word == "offset" and (before in ("}", ")") or before_kind in ("identifier", "range"))


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
