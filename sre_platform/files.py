"""Safe file output: a failed run never leaves a partial file, replaces good output, or
overwrites an input.

Every OS error becomes an OutputError naming the path, so the CLI prints a message instead of a
traceback. New files get the mode the umask gives (0644 under the usual 022, like promtool's and
Sloth's output); a replaced file keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from sre_platform.errors import OutputError

# Paths that stand for processes and devices, never for a file to replace:
# /dev/stdout -> /proc/self/fd/1 -> whatever stdout is (a terminal, a pipe, a file).
_SPECIAL_ROOTS = (Path("/proc"), Path("/dev"), Path("/sys"))
_MAX_LINKS = 40  # as the kernel's own limit on links followed


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _is_special(path: Path) -> bool:
    return any(path == root or root in path.parents for root in _SPECIAL_ROOTS)


def output_target(path: str | os.PathLike[str]) -> Path:
    """The file that writing ``path`` replaces: ``path`` itself, or the end of its link chain
    (links are written through and stay links).

    Raises OutputError when ``path`` is, or leads through a link to, a device or process file
    (/dev/full, /dev/stdout, /proc/self/fd/1): those are never swapped for a regular file.
    """
    current = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        if _is_special(current):
            raise OutputError(f"{path}: cannot write: not a regular file")
        if not current.is_symlink():
            return current
        current = Path(os.path.abspath(current.parent / os.readlink(current)))
    raise OutputError(f"{path}: cannot write: too many levels of symbolic links")


def _existing_mode(target: Path) -> int | None:
    """The permission bits of ``target`` when it is a regular file, None when it does not exist.

    Raises OutputError for a target that exists but is not a regular file (a folder, a device
    such as /dev/full or /dev/stdout, a pipe): replacing it by rename would swap a device node
    or a folder for a plain file.
    """
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        blocker = next((p for p in target.parents if p.is_file()), target.parent)
        raise OutputError(f"{target}: cannot write: {blocker} is a file, not a folder") from None
    except OSError as error:
        raise OutputError(f"{target}: cannot write: {_reason(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise OutputError(f"{target}: cannot write: {kind}")
    return stat.S_IMODE(info.st_mode)


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"{target}: cannot write: {target.parent} exists and is not a folder"
        ) from None
    except OSError as error:
        raise OutputError(f"{target}: cannot create its folder: {_reason(error)}") from None


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    The old file, if any, stays whole until the new one is complete and keeps its mode; a new
    file gets the umask's mode; a link is written through (see output_target). Raises
    OutputError (naming the path) on any OS error.
    """
    target = output_target(path)
    mode = _existing_mode(target)
    _make_parent(target)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        # 0o666 & ~umask, as open(2) gives any new file; the old file's mode when replacing.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"{target}: cannot write: {_reason(error)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_not_an_input(
    targets: Iterable[str | os.PathLike[str]],
    inputs: Iterable[str | os.PathLike[str]],
    option: str = "--output",
) -> None:
    """Raise OutputError when an output target is an input file or lies inside an input folder.

    ``targets`` are the files a command is about to write; ``inputs`` the files and folders it
    read. Writing into an input folder would make the next run read its own output as input.
    """
    resolved_inputs = [Path(item).resolve() for item in inputs]
    for target in targets:
        resolved = Path(target).resolve()
        for source in resolved_inputs:
            if resolved == source:
                raise OutputError(f"{option} {target}: is also an input; refusing to overwrite it")
            if source.is_dir() and _is_within(resolved, source):
                raise OutputError(
                    f"{option} {target}: is inside the input folder {source}; the next run "
                    "would read it as input. Write it elsewhere"
                )
