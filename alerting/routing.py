"""The alert routing tree shared by the AMP alert manager definition and the local lab.

Pages go to the page receiver, tickets to the ticket receiver, grouped by service and SLO; a
ticket is inhibited while the same SLO pages. Only the receivers (SNS topics in AWS, a local
recorder in the lab) and the timings differ between the two.

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
GROUP_BY = ("alertname", LABEL_SERVICE, LABEL_SLO)


@dataclass(frozen=True)
class RouteTiming:
    """How long Alertmanager waits before, between and after notifications."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    page_repeat_interval: str = "1h"
    ticket_repeat_interval: str = "12h"


PRODUCTION_TIMING = RouteTiming()
LAB_TIMING = RouteTiming(
    group_wait="5s", group_interval="15s", page_repeat_interval="5m", ticket_repeat_interval="30m"
)


def alertmanager_config(
    page_receiver: dict[str, Any],
    ticket_receiver: dict[str, Any],
    timing: RouteTiming = PRODUCTION_TIMING,
) -> dict[str, Any]:
    """Return an Alertmanager configuration (as a dict) with the platform's routing tree.

    ``page_receiver`` and ``ticket_receiver`` are receiver bodies without their ``name``, for
    example ``{"sns_configs": [...]}`` or ``{"webhook_configs": [...]}``.
    """
    page, ticket = SEVERITIES
    return {
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
