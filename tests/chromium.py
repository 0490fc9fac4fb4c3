"""Debian's headless chromium under selenium, for the tests that read a page as a person would (the documentation
site, the playground). Skips, saying how to install what is missing, where chromium, chromium-driver or selenium
is absent."""

from __future__ import annotations

import os
import shutil

import pytest

import requires

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")


def start(*, window: str = "1280,1000", only_local: bool = False):
    """A headless chromium driven by selenium, its console log kept (``driver.get_log("browser")``).

    ``only_local``: every host name but 127.0.0.1 and localhost resolves to nothing, as with the network unplugged,
    so a page that fetches anything from outside logs a failed request.
    """
    webdriver = pytest.importorskip("selenium.webdriver", reason=requires.extra("docs"))
    if not (os.path.exists(CHROMIUM) and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed: "
                    "as root, apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Headless, and nothing but the pages under test: no background requests to outside hosts.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={window}"):
        options.add_argument(flag)
    if only_local:
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
