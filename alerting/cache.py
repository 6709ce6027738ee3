"""The compile cache: one entry per spec file, keyed by its content, path, options and compiler.

`sre slo compile --cache DIR` (or `--incremental`, under .cache/sre-slo/) keeps, per spec file
that compiled without errors, its rendered rules, its SLO ids (the duplicate-id check runs
across every file on every run) and its warnings. A later run with the same file content, path,
options and compiler reuses the entry instead of compiling the file again.

The key is a SHA-256 of: the compiler's own source (every file of the alerting package, so any
change to the code invalidates every entry), the project version, the options that change the
output (period, extra labels, mode, ...), the file's path as given and its bytes. An entry is
two files, ``<key>.rules.yaml`` (the rules) and ``<key>.json`` (the rest and the rules'
SHA-256), each written atomically (a temporary file renamed; not synced to disk: an entry a
crash leaves torn fails its checks, and a cache is not worth a disk flush per file). An entry
is used only when it is intact: a missing or unreadable file, a JSON document that is not
valid or of another format or key, or rules whose SHA-256 is not the recorded one make it
ignored, and the run that compiles the file again rewrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sre_platform.errors import Problem

FORMAT = 1
DEFAULT_DIR = Path(".cache") / "sre-slo"
PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Entry:
    """What compiling one spec file gave: its rules, SLO ids and warnings."""

    source: str
    text: str
    ids: tuple[tuple[str, str, str], ...]  # (file, SLO name, SLO id)
    problems: tuple[Problem, ...]  # warnings only: a file with errors is never cached


@cache
def compiler_digest(version: str) -> str:
    """A digest of the compiler: the project ``version`` and every source file of alerting/."""
    digest = hashlib.sha256(f"format {FORMAT}\0{version}\0".encode())
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".j2"):
            digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def entry_key(compiler: str, options: Mapping[str, Any], source: str, content: bytes) -> str:
    """The key of one spec file's entry."""
    digest = hashlib.sha256(compiler.encode() + b"\0")
    digest.update(json.dumps(options, sort_keys=True).encode() + b"\0")
    digest.update(source.encode() + b"\0")
    digest.update(content)
    return digest.hexdigest()


def entry_paths(directory: Path, key: str) -> tuple[Path, Path]:
    """The two files of an entry: its JSON document and its rules."""
    folder = directory / key[:2]
    return folder / f"{key}.json", folder / f"{key}.rules.yaml"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load(directory: Path, key: str) -> Entry | None:
    """The intact entry stored under ``key``; None when there is none or it is damaged."""
    document_path, rules_path = entry_paths(directory, key)
    try:
        document = json.loads(document_path.read_bytes())
        text = rules_path.read_bytes().decode()
        if (
            document["format"] != FORMAT
            or document["key"] != key
            or document["rules_sha256"] != _sha256(text)
        ):
            return None
        return Entry(
            source=str(document["source"]),
            text=text,
            ids=tuple((str(f), str(n), str(i)) for f, n, i in document["ids"]),
            problems=tuple(Problem(**item) for item in document["problems"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(directory: Path, key: str, entry: Entry) -> bool:
    """Write ``entry`` under ``key`` (the rules first, then the document that vouches for them);
    False when the cache cannot be written (the compile goes on without it)."""
    document = {
        "format": FORMAT,
        "key": key,
        "source": entry.source,
        "rules_sha256": _sha256(entry.text),
        "ids": [list(item) for item in entry.ids],
        "problems": [asdict(problem) for problem in entry.problems],
    }
    document_path, rules_path = entry_paths(directory, key)
    try:
        rules_path.parent.mkdir(parents=True, exist_ok=True)
        _write(rules_path, entry.text)
        _write(document_path, json.dumps(document, sort_keys=True))
    except OSError:
        return False
    return True


def _write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
