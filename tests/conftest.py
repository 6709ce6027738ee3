"""Suite-wide pytest options."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files (`pytest --update-golden`)."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def browser(tmp_path_factory):
    """A headless Chromium (Selenium) with a fresh profile; see tests/browser.py."""
    from tests.browser import chromium

    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver
