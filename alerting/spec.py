"""Versioned spec models: Sloth's ``prometheus/v1`` format field for field, plus extensions.

These pydantic models only describe the shape of a file (``extra="forbid"``: a typo is an
error, never a silently ignored field). Semantic checks live in ``alerting.validation`` and the
frozen domain model in ``alerting.model``.

Extensions over Sloth, each documented in docs/slo-specs.md:
- ``sli.latency``: a latency SLI from a histogram and a threshold in seconds;
- ``period``: a per-SLO period such as ``7d`` (Sloth only has a CLI-wide period).
"""

from __future__ import annotations

import datetime
import math
import re
import struct
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator

# YAML 1.2 (Sloth's and Prometheus's YAML) reads 1e-3 as a number; PyYAML, a YAML 1.1 reader,
# leaves a number without a dot as text.
_EXPONENT_NUMBER = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


class SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe YAML loader, reading exponent numbers as Sloth's YAML reader (go-yaml) does.

    PyYAML resolves plain scalars by YAML 1.1, where ``1e6`` and ``1.0e6`` are text (a float
    needs a dot and a signed exponent); go-yaml reads them as numbers, so Sloth writes the label
    value ``1e6`` as ``1e+06``. Quoted ``"1e6"`` stays text in both. Only this resolver is added,
    on this subclass: every other reader of the project keeps PyYAML's own.
    """


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def yaml12_number(value: object) -> object:
    """``value`` as a float when it is text a YAML 1.2 reader takes as a number (1e-3)."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value):
        return float(value)
    return value


# As Sloth's Go structs read them: a number must be a YAML number (``true`` or ``"99.9"`` is
# refused, never read as 1 or 99.9), a flag a YAML boolean.
Number = Annotated[float, Strict(), BeforeValidator(yaml12_number)]
Flag = Annotated[bool, Strict()]


def go_float32_text(value: float) -> str:
    """``value`` as Go's ``strconv.FormatFloat(value, 'g', -1, 32)`` writes it.

    That is how Sloth's YAML reader (sigs.k8s.io/yaml, yaml.go: convertToJSONableObject) turns
    a number into a string field: the shortest digits that read back as the same float32, in
    exponent form when the exponent is below -4 or at least 6 (``0.2``, ``90``, ``1e+06``).
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    single = struct.unpack("f", struct.pack("f", value))[0]
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    power = int(exponent)
    if power < -4 or power >= 6:
        rest = f".{figures[1:]}" if len(figures) > 1 else ""
        return f"{sign}{figures[0]}{rest}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{figures}"
    whole = figures[: power + 1].ljust(power + 1, "0")
    fraction = figures[power + 1 :]
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"


def sloth_string(value: object) -> object:
    """A YAML boolean, number or date where text belongs, as the text Sloth reads it as.

    Sloth's reader writes ``true``/``false`` for booleans, integers in decimal and floats as
    ``go_float32_text`` does; a date stays as written (``2024-01-31``). Anything else (a list,
    a mapping, null) is left for the model to refuse.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float32_text(value)
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


# Label and annotation values: text, or a YAML boolean/number/date written as Sloth writes it.
Text = Annotated[str, BeforeValidator(sloth_string)]
Labels = dict[str, Text]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class AlertSpec(_Strict):
    """One of the two alerts of an SLO (``page_alert`` or ``ticket_alert``)."""

    disable: Flag = False
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)


class AlertingSpec(_Strict):
    """The ``alerting`` block: shared name, labels and annotations, and the two alerts."""

    name: str | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    page_alert: AlertSpec = Field(default_factory=AlertSpec)
    ticket_alert: AlertSpec = Field(default_factory=AlertSpec)


class EventsSLISpec(_Strict):
    """Error and total event queries, each holding the ``{{.window}}`` placeholder."""

    error_query: str
    total_query: str


class RawSLISpec(_Strict):
    """A query that already returns the error ratio over ``{{.window}}``."""

    error_ratio_query: str


class LatencySLISpec(_Strict):
    """Extension: bad events are requests slower than ``threshold`` seconds in a histogram."""

    histogram: str
    selector: str = ""
    threshold: Number


class SLISpec(_Strict):
    """Exactly one SLI kind must be set; ``plugin`` is Sloth's and refused here."""

    events: EventsSLISpec | None = None
    raw: RawSLISpec | None = None
    latency: LatencySLISpec | None = None
    plugin: Any = None  # Sloth's: always refused, whatever it holds

    @field_validator("plugin")
    @classmethod
    def _refuse_plugin(cls, value: object) -> object:
        raise ValueError(SLI_PLUGIN_MESSAGE)


class SLOSpec(_Strict):
    """One SLO of a service."""

    name: str
    objective: Number
    description: str = ""
    labels: Labels = Field(default_factory=dict)
    sli: SLISpec
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    period: str | None = None
    plugins: Any = None  # Sloth's SLO plugins (contrib-style specs): always refused
    slo_plugins: Any = None  # the service's key, misplaced: refused the same way

    @field_validator("plugins", "slo_plugins")
    @classmethod
    def _refuse_plugins(cls, value: object) -> object:
        raise ValueError(SLO_PLUGINS_MESSAGE)


class ServiceSpec(_Strict):
    """A ``prometheus/v1`` document: one service and its SLOs."""

    version: Literal["prometheus/v1"]
    service: str
    labels: Labels = Field(default_factory=dict)
    slos: list[SLOSpec]
    slo_plugins: Any = None  # Sloth's SLO plugins of the service: always refused

    @field_validator("slo_plugins")
    @classmethod
    def _refuse_plugins(cls, value: object) -> object:
        raise ValueError(SLO_PLUGINS_MESSAGE)


# Plugins run Go code inside Sloth that this compiler cannot run nor check. A plugin block is
# refused as a whole: its content is not read, so an unknown field inside it never hides this
# message, and --allow-unknown-fields does not turn it into a warning.
SLI_PLUGIN_MESSAGE = (
    "plugins are not supported (a Sloth SLI plugin): declare the SLI as events, raw or latency"
)
SLO_PLUGINS_MESSAGE = "plugins are not supported (Sloth SLO plugins): remove this block"
