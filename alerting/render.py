"""Render rule groups to a Prometheus rules file with Jinja2, then prove the text is right.

The rendered text is parsed back before anyone writes it: it must be valid YAML (read with
yaml-rs, a YAML 1.2 parser like Prometheus's own, ten times faster than PyYAML here), equal to
the rule groups it was rendered from, and every expression must parse as PromQL (in process,
with promql-parser). A mismatch is a CompileError, never a written file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

import jinja2
import yaml
import yaml_rs

from alerting.generate import Rule, RuleGroup
from alerting.promql import parse_error
from sre_platform.errors import CompileError

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# Strings YAML reads back as the same string without quotes: no leading digit, sign or
# indicator, no ": " or " #", and not one of YAML 1.1's booleans or nulls.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:()\[\]{}$-]*(?: [A-Za-z0-9_./()\[\]{}$-]+)*")
_KEYWORDS = frozenset(["y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"])
# Numbers a YAML 1.2 reader (Prometheus's, yaml-rs) takes that PyYAML, a YAML 1.1 writer,
# leaves unquoted: 1e5, 0o17, -.5.
_YAML12_NUMBER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


@lru_cache(maxsize=1 << 16)
def yaml_scalar(value: str) -> str:
    """A one-line YAML scalar for ``value``, quoted only when YAML needs it."""
    if (
        _PLAIN.fullmatch(value)
        and value.lower() not in _KEYWORDS
        and "{{" not in value
        and not value.endswith(":")
    ):
        return value
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=1 << 30)
    text = text.removesuffix("\n").removesuffix("\n...").rstrip("\n")
    return f"'{text}'" if _YAML12_NUMBER.fullmatch(text) else text


@lru_cache(maxsize=1 << 16)
def yaml_value(value: str, indent: int) -> str:
    """``value`` as a literal block (``|`` or ``|-``) when it spans lines, else a scalar."""
    if "\n" not in value.rstrip("\n") or not _block_safe(value):
        return yaml_scalar(value)
    chomp = "" if value.endswith("\n") else "-"
    pad = " " * indent
    body = "\n".join(pad + line if line else "" for line in value.rstrip("\n").split("\n"))
    return f"|{chomp}\n{body}"


def yaml_mapping(mapping: Mapping[str, str], indent: int) -> str:
    """The lines of a block mapping of strings, each key indented by ``indent`` spaces."""
    return _mapping_lines(tuple(mapping.items()), indent)


@lru_cache(maxsize=1 << 14)
def _mapping_lines(items: tuple[tuple[str, str], ...], indent: int) -> str:
    pad = " " * indent
    return "\n".join(
        f"{pad}{yaml_scalar(key)}: {yaml_value(value, indent + 2)}" for key, value in items
    )


def _block_safe(value: str) -> bool:
    lines = value.rstrip("\n").split("\n")
    return (
        not value.endswith("\n\n")
        and not lines[0].startswith(" ")
        and all(line == line.rstrip() for line in lines)
        and "".join(lines).isprintable()  # no tabs or control characters
    )


# Swapping one valid range duration for another never changes whether PromQL parses, so the
# SLI rules of one SLO (the same query over different windows) are parsed once.
_RANGE = re.compile(r"\[[0-9smhdwy]+\]")
# Likewise for the validated ids in the compiler's own selectors: the rules of every SLO with the
# same objective and windows share one shape.
_OWN_LABEL_VALUE = re.compile(r'(sloth_(?:id|service|slo))="[-A-Za-z0-9_.]*"')
_syntax_error_of_shape = lru_cache(maxsize=1 << 14)(parse_error)


def _shape(expr: str) -> str:
    return _OWN_LABEL_VALUE.sub(r'\1=""', _RANGE.sub("[5m]", expr))


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alerting", "templates"),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["yaml_scalar"] = yaml_scalar
    env.filters["yaml_value"] = yaml_value
    env.filters["yaml_mapping"] = yaml_mapping
    return env.get_template("rules.yaml.j2")


def group_dict(group: RuleGroup) -> dict[str, Any]:
    """A rule group as the plain structure a Prometheus rules file holds."""
    rules = []
    for rule in group.rules:
        item: dict[str, Any] = {"record": rule.record} if rule.record else {"alert": rule.alert}
        item["expr"] = rule.expr
        if rule.labels:
            item["labels"] = dict(rule.labels)
        if rule.annotations:
            item["annotations"] = dict(rule.annotations)
        rules.append(item)
    return {"name": group.name, "rules": rules}


def rules_document(header: Sequence[str], groups_text: str) -> str:
    """A rules file: comment lines, then ``groups:`` and the rendered group items."""
    comments = "".join(f"# {line}\n" for line in header)
    return f"{comments}\ngroups:\n{groups_text}"


def render_rules(groups: Sequence[RuleGroup], header: Sequence[str]) -> tuple[str, list[dict]]:
    """Render ``groups`` under a comment ``header``; return the text and its parsed groups.

    Raises CompileError when the text does not parse back to exactly ``groups`` or holds an
    expression that is not valid PromQL.
    """
    text = rules_document(header, _template().render(groups=groups))
    expected = [group_dict(group) for group in groups]
    try:
        parsed = yaml_rs.loads(text, parse_datetime=False)
    except yaml_rs.YAMLDecodeError as error:
        raise CompileError(f"rendered rules are not valid YAML: {error}") from error
    if parsed != {"groups": expected}:
        raise CompileError("rendered rules do not read back as the generated rules")
    for group in expected:
        for rule in group["rules"]:
            error = _syntax_error_of_shape(_shape(rule["expr"]))
            if error:
                name = rule.get("record") or rule.get("alert")
                raise CompileError(
                    f"group {group['name']}: rule {name}: generated invalid PromQL: {error}"
                )
    return text, expected


def groups_of(text: str) -> tuple[RuleGroup, ...]:
    """The rule groups of a rules file this module rendered (read back with yaml-rs)."""
    document = yaml_rs.loads(text, parse_datetime=False)
    return tuple(
        RuleGroup(
            group["name"],
            tuple(
                Rule(
                    expr=rule["expr"],
                    labels=rule.get("labels", {}),
                    record=rule.get("record"),
                    alert=rule.get("alert"),
                    annotations=rule.get("annotations"),
                )
                for rule in group["rules"]
            ),
        )
        for group in document["groups"]
    )
