"""What every verb group prints the same way: JSON for machines, progress for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

progress_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (one document, newline-terminated)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress(message: str) -> Iterator[Callable[[str], None]]:
    """Show what a long step is doing, on stderr, while the block runs.

    On a terminal: a spinner with ``message``, replaced by what the yielded function is called
    with. Elsewhere (CI logs, pipes): each message once, as a plain line. Stdout stays clean.
    """
    if not progress_console.is_terminal:
        progress_console.print(f"{message} ...", markup=False)
        yield lambda text: progress_console.print(f"{text} ...", markup=False)
        return
    with progress_console.status(message) as status:
        yield lambda text: status.update(text)
