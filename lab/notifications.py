"""The notifications the lab's receiver records: where they live and how they read back.

Kept apart from the receiver's HTTP server so that `sre lab status` and `sre lab
notifications` read them without loading the server framework.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from sre_platform.errors import InputFileError
from sre_platform.yamlfile import YamlLimits, read_text

NOTIFICATIONS_FILE = "notifications.jsonl"
NOTIFICATIONS_LIMITS = YamlLimits(max_bytes=256 * 1024 * 1024)  # years of a busy game day


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
    record: dict[str, Any] = field(default_factory=dict, repr=False)  # the line, whole

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
        record=data,
    )


@dataclass(frozen=True)
class Recorded:
    """What a notifications file holds: the notifications, and the lines that are not one."""

    notifications: tuple[Notification, ...]
    unreadable: tuple[str, ...]  # "<file>:<line>: <reason>"


def read_notifications(path: Path) -> Recorded:
    """Every notification recorded in ``path``, oldest first (none when the file is missing)."""
    if not path.exists():
        return Recorded((), ())
    try:
        text = read_text(path, NOTIFICATIONS_LIMITS)
    except InputFileError as exc:
        return Recorded((), (str(exc),))
    found, unreadable = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(parse_line(line))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            unreadable.append(f"{path}:{number}: not a recorded notification ({reason})")
    return Recorded(tuple(found), tuple(unreadable))
