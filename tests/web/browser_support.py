"""The browser of the dashboard's tests and screenshots: the Debian chromium (``apt-get install
chromium``), driven by Playwright without a browser download, and the two screen sizes the dashboard
must fit."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    """The Debian chromium's executable, or None where it is not installed."""
    found = shutil.which("chromium")
    if found is None and os.path.exists("/usr/bin/chromium"):
        found = "/usr/bin/chromium"
    return found
