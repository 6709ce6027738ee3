"""Alerts as the remediation engine sees them, parsed from what delivers them.

Two deliveries: Alertmanager's webhook payload (version 4), which the lab's remediator
receives, and an SNS notification to the AWS Lambda whose message is the same document, as the
``remediation`` receiver's template renders it (alerting/routing.py). Plain Python (the Lambda
has no pydantic); every problem is an AlertPayloadError naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

WEBHOOK_VERSION = "4"
FIRING = "firing"
RESOLVED = "resolved"
_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})$"
)
MAX_ALERTS = 1000  # per delivery: Alertmanager batches a group's alerts; more is not an alert


class AlertPayloadError(ValueError):
    """A delivery that is not an alert payload; the message names the field."""


@dataclass(frozen=True)
class Alert:
    """One alert of a notification.

    ``ends_at`` is None while Alertmanager has no end for it (Go's zero time in webhooks);
    ``sent_at`` is when the notification carrying it was sent (SNS's timestamp), or None when
    the receiver is told at once (a webhook).
    """

    fingerprint: str
    status: str
    labels: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    sent_at: datetime | None = None

    @property
    def alertname(self) -> str:
        """The alert's name (its ``alertname`` label)."""
        return self.labels.get("alertname", "")

    def as_json(self) -> dict[str, Any]:
        """The alert as an audit record shows it."""
        return {
            "alertname": self.alertname,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "labels": dict(sorted(self.labels.items())),
        }


def parse_time(text: object, where: str) -> datetime | None:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds allowed); None for Go's zero
    time (year 1), which means "not set"."""
    if not isinstance(text, str):
        raise AlertPayloadError(f"{where}: must be an RFC 3339 time, not {type(text).__name__}")
    found = _TIME.match(text.strip())
    if not found:
        raise AlertPayloadError(f"{where}: {text[:60]!r} is not an RFC 3339 time")
    day, clock, fraction, zone = found.groups()
    zone = "+00:00" if zone == "Z" else zone
    micro = f".{(fraction or '0')[:6].ljust(6, '0')}"
    try:
        value = datetime.fromisoformat(f"{day}T{clock}{micro}{zone}")
    except ValueError as error:
        raise AlertPayloadError(f"{where}: {text[:60]!r}: {error}") from None
    return None if value.year <= 1 else value.astimezone(UTC)


def _text_map(value: object, where: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise AlertPayloadError(f"{where}: must map names to text")
    return MappingProxyType(dict(value))


def _alert(raw: object, where: str, sent_at: datetime | None) -> Alert:
    if not isinstance(raw, dict):
        raise AlertPayloadError(f"{where}: must be an object")
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise AlertPayloadError(f"{where}.fingerprint: required (Alertmanager's alert id)")
    status = raw.get("status")
    if status not in (FIRING, RESOLVED):
        raise AlertPayloadError(f"{where}.status: must be firing or resolved, not {status!r}")
    starts_at = parse_time(raw.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise AlertPayloadError(f"{where}.startsAt: must be set")
    ends = raw.get("endsAt")
    return Alert(
        fingerprint=fingerprint,
        status=status,
        labels=_text_map(raw.get("labels"), f"{where}.labels"),
        annotations=_text_map(raw.get("annotations"), f"{where}.annotations"),
        starts_at=starts_at,
        ends_at=None if ends in (None, "") else parse_time(ends, f"{where}.endsAt"),
        sent_at=sent_at,
    )


def parse_webhook(payload: object, sent_at: datetime | None = None) -> list[Alert]:
    """The alerts of an Alertmanager webhook payload (version 4), or of the same document
    rendered by the ``remediation`` SNS receiver."""
    if not isinstance(payload, dict):
        raise AlertPayloadError("payload: must be a JSON object")
    version = payload.get("version")
    if version != WEBHOOK_VERSION:
        raise AlertPayloadError(f"version: must be {WEBHOOK_VERSION!r}, not {version!r}")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise AlertPayloadError("alerts: must be a list")
    if len(alerts) > MAX_ALERTS:
        raise AlertPayloadError(f"alerts: more than {MAX_ALERTS} in one notification")
    return [_alert(raw, f"alerts[{i}]", sent_at) for i, raw in enumerate(alerts)]


def parse_sns_event(event: object) -> list[Alert]:
    """The alerts of a Lambda event from SNS: each record's message is a webhook-shaped
    document; its SNS timestamp is when it was sent."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise AlertPayloadError("Records: an SNS event holds a list of records")
    found: list[Alert] = []
    for index, record in enumerate(records):
        where = f"Records[{index}].Sns"
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict):
            raise AlertPayloadError(f"{where}: missing (not an SNS event)")
        sent_at = parse_time(sns.get("Timestamp"), f"{where}.Timestamp")
        message = sns.get("Message")
        try:
            payload = json.loads(message) if isinstance(message, str) else None
        except ValueError as error:
            raise AlertPayloadError(f"{where}.Message: not JSON ({error})") from None
        try:
            found += parse_webhook(payload, sent_at)
        except AlertPayloadError as error:
            raise AlertPayloadError(f"{where}.Message: {error}") from None
    return found


def ordered(alerts: Sequence[Alert]) -> list[Alert]:
    """Alerts in a stable order (oldest first), so that a burst is decided deterministically."""
    return sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint, a.status))
