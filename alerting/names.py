"""Every name that compatibility with Sloth depends on: rule names, labels, group prefixes.

Dashboards, alert routes and the budget gate read these names; change them here or nowhere.
"""

from __future__ import annotations

SPEC_VERSION = "prometheus/v1"
GENERATOR_MODE = "cli-gen-prom"
# The other input formats, with the sloth_spec and sloth_mode values Sloth's CLI writes for them.
SPEC_OPENSLO = "openslo/v1alpha"
GENERATOR_MODE_OPENSLO = "cli-gen-openslo"
SPEC_KUBERNETES = "sloth.slok.dev/v1"
GENERATOR_MODE_KUBERNETES = "cli-gen-k8s"

# Labels on every generated series.
LABEL_ID = "sloth_id"
LABEL_SERVICE = "sloth_service"
LABEL_SLO = "sloth_slo"
LABEL_WINDOW = "sloth_window"
LABEL_SEVERITY = "sloth_severity"
# Labels of the info series only.
LABEL_MODE = "sloth_mode"
LABEL_OBJECTIVE = "sloth_objective"
LABEL_SPEC = "sloth_spec"
LABEL_VERSION = "sloth_version"

SEVERITY_PAGE = "page"
SEVERITY_TICKET = "ticket"
SEVERITIES = (SEVERITY_PAGE, SEVERITY_TICKET)

# Rule group name prefixes; the SLO id follows.
GROUP_SLI = "sloth-slo-sli-recordings-"
GROUP_META = "sloth-slo-meta-recordings-"
GROUP_ALERTS = "sloth-slo-alerts-"

# Recorded series.
SLI_ERROR_PREFIX = "slo:sli_error:ratio_rate"  # + window, e.g. slo:sli_error:ratio_rate5m
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD_DAYS = "slo:time_period:days"
CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
PERIOD_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
INFO = "sloth_slo_info"

WINDOW_PLACEHOLDER = "{{.window}}"

# Rules modes: ``default`` is Sloth's rules, byte for byte; ``efficient`` reads the raw series
# once per SLO, at the shortest window, and derives every longer window from two recordings.
MODE_DEFAULT = "default"
MODE_EFFICIENT = "efficient"
MODES = (MODE_DEFAULT, MODE_EFFICIENT)
# The efficient mode's event-rate recordings (Prometheus's level:metric:operations; ``slo:`` and
# the ``sli_error`` family as Sloth's own, ``sli_total`` as Sloth's proposed total recording).
SLI_ERROR_EVENTS_PREFIX = "slo:sli_error:events_rate"  # + the shortest window
SLI_TOTAL_EVENTS_PREFIX = "slo:sli_total:events_rate"


def sli_error_record(window: str) -> str:
    """Return the recording rule name of the SLI error ratio over ``window``."""
    return f"{SLI_ERROR_PREFIX}{window}"


def sli_error_events_record(window: str) -> str:
    """Return the recording rule name of the SLI's error events per second over ``window``."""
    return f"{SLI_ERROR_EVENTS_PREFIX}{window}"


def sli_total_events_record(window: str) -> str:
    """Return the recording rule name of the SLI's events per second over ``window``."""
    return f"{SLI_TOTAL_EVENTS_PREFIX}{window}"
