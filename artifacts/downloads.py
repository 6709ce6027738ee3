"""Pre-downloaded upstream release files (Prometheus, node_exporter), checked against pins.

The machines that build the platform may have no route to the projects' release pages, so the
build step never downloads: an operator puts the release tarballs in a folder and pins their
SHA-256 (from the release's ``sha256sums.txt``) in the stack configuration. This module finds a
file there and compares it with its pin. It reports, it does not decide: the caller knows
whether a missing file may pass (a preview) or not (a deployment).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    """The SHA-256 (hex) of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Download:
    """A release file located in the downloads folder.

    ``sha256`` is the file's own checksum when it is there, else the pinned one (None when
    neither is known). ``problem`` says what is wrong, if anything: the file is ``missing``, or
    it is not pinned, or (``fatal``: no preview may pass it either) it cannot be read or differs
    from its pin.
    """

    path: Path
    sha256: str | None
    problem: str | None = None
    missing: bool = False
    fatal: bool = False


def locate(folder: Path, file_name: str, pinned: str | None) -> Download:
    """Find ``file_name`` in ``folder`` and check it against the ``pinned`` SHA-256."""
    if pinned is not None and not SHA256.fullmatch(pinned):
        raise ValueError(f"pinned SHA-256 of {file_name} must be 64 lowercase hex digits")
    path = folder / file_name
    if not path.is_file():
        return Download(
            path, pinned, f"{path} is missing: download it from the release page", missing=True
        )
    try:
        actual = sha256_file(path)
    except OSError as error:
        problem = f"{path} cannot be read: {error.strerror or error}"
        return Download(path, pinned, problem, fatal=True)
    if pinned is None:
        return Download(
            path,
            actual,
            f"{path} is not pinned: its SHA-256 is {actual}; check it against the "
            "release's sha256sums.txt and pin it",
        )
    if actual != pinned:
        return Download(
            path, actual, f"{path} has SHA-256 {actual}, not the pinned {pinned}", fatal=True
        )
    return Download(path, actual)
