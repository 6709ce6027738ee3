"""Debian's headless Chromium driven by Selenium through Debian's chromedriver (both installed
by scripts/install-system-tools.sh): for the tests of the lab's SLO page and the SLO report.

Chromium is started as the machine's closed network needs: no background networking, no
component updates, a fresh profile in the test's tmp dir.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PAGE_TIMEOUT_SECONDS = 120


@contextlib.contextmanager
def chromium(profile: Path, width: int = 1400, height: int = 1000) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with its own profile under ``profile``; quit on exit."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromedriver are missing: run `make install`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
    driver.set_script_timeout(PAGE_TIMEOUT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(
    driver: webdriver.Chrome,
    condition: Callable[[webdriver.Chrome], Any],
    timeout: float = PAGE_TIMEOUT_SECONDS,
    what: str = "the page",
) -> Any:
    """Poll ``condition`` until it returns something truthy (generous cap, no fixed sleeps)."""
    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
        condition, message=f"{what} did not get ready within {timeout:g} s"
    )
