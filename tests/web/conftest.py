"""Fixtures for the dashboard's tests: for the browser tests, the Debian chromium driven by Playwright
(no browser download) and a stand-in web role serving the page with Madrid-shaped snapshots
(dashboard_server); for the web role's tests, certificates from the session's CA (the dashboard's
server certificate, the operator's, and a KME's, which is no operator's).

Without playwright or chromium the browser tests skip here, saying which is missing; in CI
(``CI=true``) they fail instead, so that a CI run never passes without them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from browser_support import CHROMIUM_ARGS, DESKTOP, chromium_path
from dashboard_server import Dashboard, SnapshotFeed, serve_dashboard
from dashboard_snapshots import madrid_snapshot
from web_support import WebPki

from sdqkd.pki import CertificateAuthority, Role

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "chromium is not installed (apt-get install chromium; .ci/run does it in CI)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium for a module's browser tests. Not the session's: Playwright's sync API keeps an
    event loop running in the main thread while it is open, and the web role's async tests (anyio)
    after it could not run theirs."""
    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: the browser tests need their browser: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def dashboard() -> Iterator[Dashboard]:
    """The stand-in serving a Madrid snapshot (at t = 0 s)."""
    feed = SnapshotFeed()
    feed.publish(madrid_snapshot(0.0))
    with serve_dashboard(feed) as url:
        yield Dashboard(url, feed)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    """``open_page(url, viewport=DESKTOP)``: a page in a fresh browser context, at ``url``. Errors the
    page's scripts throw, and requests it makes to any other origin, fail the test at teardown."""
    contexts = []
    errors: list[str] = []
    foreign: list[str] = []

    def opened(url: str, viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "request", lambda request: None if request.url.startswith(url) else foreign.append(request.url)
        )
        page.goto(url)
        return page

    yield opened
    for context in contexts:
        context.close()
    assert errors == [], f"the page's scripts threw: {errors}"
    assert foreign == [], f"the page fetched from another origin: {foreign}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> WebPki:
    ca = ca_issuing_into("web")
    return WebPki(
        ca_cert=ca.directory / "ca.crt",
        web=ca.issue(Role.WEB, "dashboard"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        kme=ca.issue(Role.KME, "norte"),
    )
