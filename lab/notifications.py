"""The notifications the lab's receiver records: where they live and how they read back.

Kept apart from the receiver's HTTP server so that `sre lab status` and `sre lab
notifications` read them without loading the server framework.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

NOTIFICATIONS_FILE = "notifications.jsonl"
log = logging.getLogger("notifications")


class Payload(BaseModel):
    """The part of Alertmanager's webhook payload the lab reads (other fields are kept as is)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    receiver: str
    status: str
    alerts: list[dict[str, Any]]
    commonLabels: dict[str, str] = {}


@dataclass(frozen=True)
class Notification:
    """One recorded notification."""

    received_at: float
    receiver: str
    status: str  # "firing" or "resolved"
    labels: dict[str, str]  # the labels all its alerts share
    alerts: int

    @property
    def alertname(self) -> str:
        """The alert's name (from the common labels)."""
        return self.labels.get("alertname", "?")


def hook_url(port: int, receiver: str) -> str:
    """The URL Alertmanager posts ``receiver``'s notifications to."""
    return f"http://127.0.0.1:{port}/hook/{receiver}"


def parse_line(line: str) -> Notification:
    """Parse one recorded line (raises ValueError on anything else)."""
    data = json.loads(line)
    payload = Payload.model_validate(data)
    return Notification(
        received_at=float(data["received_at"]),
        receiver=payload.receiver,
        status=payload.status,
        labels=dict(payload.commonLabels),
        alerts=len(payload.alerts),
    )


def read_notifications(path: Path) -> list[Notification]:
    """Every notification recorded in ``path``, oldest first (none when the file is missing)."""
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(parse_line(line))
        except (ValueError, KeyError, ValidationError) as exc:
            log.warning("unreadable notification", extra={"line": number, "error": str(exc)})
    return out
