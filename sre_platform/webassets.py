"""The front-end files the lab's SLO page and the SLO report load, installed by npm.

`make install` runs `npm ci` on package.json; nothing of these libraries is in the repository.
"""

from __future__ import annotations

from pathlib import Path

from sre_platform.errors import SreError

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
UPLOT_SCRIPT = NODE_MODULES / "uplot" / "dist" / "uPlot.iife.min.js"
UPLOT_STYLE = NODE_MODULES / "uplot" / "dist" / "uPlot.min.css"


def asset(path: Path) -> Path:
    """``path`` if npm installed it; an SreError saying how to install it otherwise."""
    if not path.is_file():
        raise SreError(
            f"{path} is missing: the charting library is installed by `make install` "
            "(npm ci, from package.json)"
        )
    return path


def uplot_script() -> str:
    """The uPlot charting library (minified, browser global ``uPlot``)."""
    return asset(UPLOT_SCRIPT).read_text(encoding="utf-8")


def uplot_style() -> str:
    """uPlot's stylesheet."""
    return asset(UPLOT_STYLE).read_text(encoding="utf-8")
