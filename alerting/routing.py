"""The alert routing tree shared by the AMP alert manager definition and the local lab.

Pages go to the page receiver, tickets to the ticket receiver, grouped by service and SLO; a
ticket is inhibited while the same SLO pages. Only the receivers (SNS topics in AWS, a local
recorder in the lab) and the timings differ between the two.

With a ``remediation`` receiver, a first route with ``continue: true`` sends every alert, one
per notification (``group_by: ['...']``), to the remediator as well (remediation/, docs/
remediation.md); the page/ticket routes below it are unchanged. Its SNS message is one JSON
document shaped like Alertmanager's webhook payload (:data:`REMEDIATION_MESSAGE`).

Alerts that are not an SLO's (the lab's own, lab/rules/lab-alerts.yaml) route on the same
severity label but have no ``sloth_id``. Alertmanager takes a label missing on both sides as
equal, so the inhibit rule's source must have a ``sloth_id``: otherwise any such page would
inhibit every such ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from alerting.names import LABEL_ID, LABEL_SERVICE, LABEL_SEVERITY, LABEL_SLO, SEVERITIES

PAGE_RECEIVER = "page"
TICKET_RECEIVER = "ticket"
REMEDIATION_RECEIVER = "remediation"
GROUP_BY = ("alertname", LABEL_SERVICE, LABEL_SLO)


@dataclass(frozen=True)
class RouteTiming:
    """How long Alertmanager waits before, between and after notifications."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    page_repeat_interval: str = "1h"
    ticket_repeat_interval: str = "12h"
    remediation_group_wait: str = "10s"


PRODUCTION_TIMING = RouteTiming()
LAB_TIMING = RouteTiming(
    group_wait="5s",
    group_interval="15s",
    page_repeat_interval="5m",
    ticket_repeat_interval="30m",
    remediation_group_wait="1s",
)


def alertmanager_config(
    page_receiver: dict[str, Any],
    ticket_receiver: dict[str, Any],
    timing: RouteTiming = PRODUCTION_TIMING,
    remediation_receiver: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return an Alertmanager configuration (as a dict) with the platform's routing tree.

    ``page_receiver`` and ``ticket_receiver`` are receiver bodies without their ``name``, for
    example ``{"sns_configs": [...]}`` or ``{"webhook_configs": [...]}``. With a
    ``remediation_receiver`` every alert also reaches it, one alert per notification, before
    the page/ticket routes take it as they would without it.
    """
    page, ticket = SEVERITIES
    config = {
        "route": {
            "receiver": TICKET_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": timing.group_wait,
            "group_interval": timing.group_interval,
            "repeat_interval": timing.ticket_repeat_interval,
            "routes": [
                {
                    "receiver": PAGE_RECEIVER,
                    "matchers": [f'{LABEL_SEVERITY}="{page}"'],
                    "repeat_interval": timing.page_repeat_interval,
                },
                {
                    "receiver": TICKET_RECEIVER,
                    "matchers": [f'{LABEL_SEVERITY}="{ticket}"'],
                    "repeat_interval": timing.ticket_repeat_interval,
                },
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'{LABEL_SEVERITY}="{page}"', f'{LABEL_ID}=~".+"'],
                "target_matchers": [f'{LABEL_SEVERITY}="{ticket}"'],
                "equal": [LABEL_ID],
            }
        ],
        "receivers": [
            {"name": PAGE_RECEIVER, **page_receiver},
            {"name": TICKET_RECEIVER, **ticket_receiver},
        ],
    }
    if remediation_receiver is not None:
        config["route"]["routes"].insert(
            0,
            {
                "receiver": REMEDIATION_RECEIVER,
                "group_by": ["..."],
                "group_wait": timing.remediation_group_wait,
                "repeat_interval": timing.page_repeat_interval,
                "continue": True,
            },
        )
        config["receivers"].append({"name": REMEDIATION_RECEIVER, **remediation_receiver})
    return config


def _literal(text: str) -> str:
    """``text`` as template source, its braces written as actions (never ``{{`` by accident)."""
    return "".join('{{ "%s" }}' % c if c in "{}" else c for c in text)  # noqa: UP031


def _json_string(expression: str) -> str:
    r"""A template that renders ``expression`` as a JSON string.

    ``js`` escapes like JavaScript (a backslash, a double quote, ``<`` as ``\u003C``...),
    which JSON reads, except an apostrophe, which it writes as backslash-apostrophe:
    reReplaceAll's pattern ``"\\\\'"`` (a Go string: the regular expression ``\\'``, a
    backslash then an apostrophe) turns that back into ``'``. Every backslash ``js`` writes
    right before an apostrophe is that escape, so nothing else changes.
    """
    backslash = "\\"
    pattern = f"\"{backslash * 4}'"  # the Go string "\\\\'": the expression \\'
    return f'"{{{{ {expression} | js | reReplaceAll {pattern}" "\'" }}}}"'


def _json_map(expression: str) -> str:
    """A template rendering a label or annotation set (``expression``) as a JSON object."""
    return (
        _literal("{")
        + "{{ range $i, $p := %s.SortedPairs }}{{ if $i }},{{ end }}" % expression  # noqa: UP031
        + _json_string("$p.Name")
        + ":"
        + _json_string("$p.Value")
        + "{{ end }}"
        + _literal("}")
    )


RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"  # Go's time.RFC3339Nano layout

# The remediation receiver's SNS message: Alertmanager's webhook payload (version 4) as JSON,
# rendered with the template functions of Alertmanager itself (js, reReplaceAll), since AMP
# offers no toJson. remediation.alerts.parse_webhook reads it as it reads a lab webhook.
REMEDIATION_MESSAGE = (
    _literal('{"version":"4","status":')
    + _json_string(".Status")
    + ',"receiver":'
    + _json_string(".Receiver")
    + ',"externalURL":'
    + _json_string(".ExternalURL")
    + ',"groupLabels":'
    + _json_map(".GroupLabels")
    + ',"commonLabels":'
    + _json_map(".CommonLabels")
    + ',"alerts":['
    + "{{ range $n, $a := .Alerts }}{{ if $n }},{{ end }}"
    + _literal('{"status":')
    + _json_string("$a.Status")
    + ',"labels":'
    + _json_map("$a.Labels")
    + ',"annotations":'
    + _json_map("$a.Annotations")
    + f',"startsAt":"{{{{ $a.StartsAt.Format "{RFC3339NANO}" }}}}"'
    + f',"endsAt":"{{{{ $a.EndsAt.Format "{RFC3339NANO}" }}}}"'
    + ',"generatorURL":'
    + _json_string("$a.GeneratorURL")
    + ',"fingerprint":'
    + _json_string("$a.Fingerprint")
    + _literal("}")
    + "{{ end }}]"
    + _literal("}")
)


def remediation_sns_receiver(topic_arn: str, region: str) -> dict[str, Any]:
    """Return a receiver body publishing each alert as one JSON document to ``topic_arn``."""
    return {
        "sns_configs": [
            {
                "topic_arn": topic_arn,
                "sigv4": {"region": region},
                "subject": "remediation",
                "message": REMEDIATION_MESSAGE,
                "send_resolved": True,
            }
        ]
    }


def sns_receiver(topic_arn: str, region: str) -> dict[str, Any]:
    """Return a receiver body that publishes to an SNS topic, as AMP's alert manager needs."""
    return {
        "sns_configs": [
            {
                "topic_arn": topic_arn,
                "sigv4": {"region": region},
                "subject": "{{ .CommonLabels.alertname }} {{ .CommonLabels.sloth_severity }}",
                "attributes": {"severity": "{{ .CommonLabels.sloth_severity }}"},
            }
        ]
    }


def webhook_receiver(url: str) -> dict[str, Any]:
    """Return a receiver body that posts notifications to ``url`` (the lab's local recorder)."""
    return {"webhook_configs": [{"url": url, "send_resolved": True}]}


def render_alertmanager_config(config: dict[str, Any]) -> str:
    """Render an Alertmanager configuration as YAML (stable key order)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def render_amp_definition(config: dict[str, Any]) -> str:
    """Render the AMP alert manager definition document that wraps ``config``."""
    return yaml.safe_dump(
        {"alertmanager_config": render_alertmanager_config(config)},
        sort_keys=False,
        default_flow_style=False,
    )
