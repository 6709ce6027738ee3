"""Deterministic ``.tar.gz`` archives: the same files give the same bytes, whenever and wherever
they are packed (with the same zlib: compressed bytes may differ between zlib builds).

Entries are sorted, every parent folder is listed, owners are root (0/0, no names), modes are
0755 (folders, executables) or 0644, every time stamp is 0, and the gzip header carries no file
name and no time. The archive's SHA-256 therefore changes exactly when a file's content, name or
executable bit changes, which is what the artifact keys and the instances' checks rely on.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Entry:
    """One file of an archive: its bytes and whether it is executable."""

    data: bytes
    executable: bool = False


def _checked(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or str(pure) != path:
        raise ValueError(f"archive path {path!r} must be relative and normalized")
    return pure


def _info(name: str, *, folder: bool, size: int = 0, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if folder else tarfile.REGTYPE
    info.mode = 0o755 if folder or executable else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tar_gz(entries: Mapping[str, Entry]) -> bytes:
    """Return the gzip-compressed tar of ``entries`` (archive path -> file), deterministically."""
    paths = {path: _checked(path) for path in entries}
    folders = {str(parent) for pure in paths.values() for parent in pure.parents} - {"."}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(folders | set(paths)):
            if name in folders:
                if name in paths:
                    raise ValueError(f"archive path {name!r} is both a file and a folder")
                tar.addfile(_info(name, folder=True))
                continue
            entry = entries[name]
            info = _info(name, folder=False, size=len(entry.data), executable=entry.executable)
            tar.addfile(info, io.BytesIO(entry.data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
