"""The lab's remediation state and audit: files in the run directory.

``FileStateStore`` keeps every scope's action history and the idempotency keys seen in one
JSON file, replaced atomically (sre_platform.files.write_atomic) under an exclusive lock, so a
reservation is compare-and-set even with several processes. ``FileAuditLog`` appends one JSON
line per decision (one ``write`` of a whole line, with O_APPEND) and reads them back.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remediation.engine import Decision
from remediation.guardrails import DUPLICATE, History, Request, admit
from sre_platform.errors import OutputError
from sre_platform.files import write_atomic


class FileStateStore:
    """A :class:`~remediation.guardrails.StateStore` in one JSON file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = self.path.with_name(f".{self.path.name}.lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise OutputError(f"{self._lock}: cannot lock: {error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"scopes": {}, "seen": {}}
        except (OSError, ValueError) as error:
            raise OutputError(f"{self.path}: unreadable remediation state: {error}") from None
        return data if isinstance(data, dict) else {"scopes": {}, "seen": {}}

    def history(self, scope: str) -> History:
        """The action history of ``scope`` as stored now."""
        with self._locked():
            return History.from_json(self._read().get("scopes", {}).get(scope, {}))

    def reserve(self, request: Request) -> str | None:
        """Admit ``request`` under the file's lock (see StateStore.reserve)."""
        with self._locked():
            data = self._read()
            seen = {k: v for k, v in data.get("seen", {}).items() if v > request.now}
            if request.key in seen:
                return DUPLICATE
            scopes = data.get("scopes", {})
            admitted, refused = admit(History.from_json(scopes.get(request.scope, {})), request)
            if admitted is None:
                return refused
            seen[request.key] = request.now + request.keep_seconds
            scopes[request.scope] = admitted.as_json()
            write_atomic(self.path, json.dumps({"scopes": scopes, "seen": seen}, sort_keys=True))
            return None


class FileAuditLog:
    """An :class:`~remediation.engine.AuditSink` appending JSON lines to a file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def record(self, decision: Decision) -> None:
        """Append ``decision`` as one line."""
        line = json.dumps(decision.as_record(), sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as error:
            raise OutputError(f"{self.path}: cannot write: {error.strerror or error}") from None

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (a torn last line, from a crash mid-write, is left out)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found
