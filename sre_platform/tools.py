"""The external programs sre-platform runs (from Debian's packages), and how to find them."""

from __future__ import annotations

import shutil

from sre_platform.errors import ToolMissingError

# Each tool's names on PATH (Debian's first) and the Debian package that installs it.
TOOL_NAMES: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "amtool": ("amtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "node_exporter": ("prometheus-node-exporter", "node_exporter"),
}
TOOL_PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "alertmanager": "prometheus-alertmanager",
    "node_exporter": "prometheus-node-exporter",
}


def find_tool(tool: str, override: str | None = None, option: str | None = None) -> str:
    """Return the absolute path of ``tool`` (or of ``override``, a name or path given instead).

    Raises ToolMissingError saying how to install it, and naming ``option`` (the command-line
    option that takes its path) when there is one.
    """
    candidates = (override,) if override else TOOL_NAMES[tool]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    hint = (
        f"install it with `sudo apt-get install {TOOL_PACKAGES[tool]}` (or `make install`), "
        "download the release binary from prometheus.io"
    )
    if option:
        hint += f", or pass its path with {option}"
    raise ToolMissingError(", ".join(candidates), hint)
