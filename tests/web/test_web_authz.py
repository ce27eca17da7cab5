"""The dashboard's authorisation table walked exhaustively in process: behind its gate, every route is
the operator's (by certificate here; the token and sessions are tests/web/test_web_access.py's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from web_support import TOKEN, upstream

from authz_support import Certificates, walk
from sdqkd.pki import CertificateAuthority
from sdqkd.server.authz import route_keys
from sdqkd.web import Sessions, SnapshotFeed, create_web_app
from sdqkd.web.app import WEB_TABLE

pytestmark = pytest.mark.anyio


def _app(static_dir: Path) -> object:
    feed = SnapshotFeed(lambda: upstream("madrid_up"), interval_s=1.0)
    return create_web_app(feed, TOKEN, Sessions(600.0), static_dir)


def _routes(app: object) -> object:
    while not hasattr(app, "router"):  # inside the gate and the middleware that answers failures
        app = app.app  # type: ignore[attr-defined]
    return app


def test_every_route_of_the_dashboard_is_in_its_table_and_every_entry_is_a_route(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>sdqkd</title>")
    assert route_keys(_routes(_app(tmp_path))) == (set(WEB_TABLE.rules), {"/static"})  # type: ignore[arg-type]


async def test_the_dashboard_does_what_its_table_says(
    tmp_path: Path, ca_issuing_into: Callable[[str], CertificateAuthority]
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>sdqkd</title>")
    certificates = Certificates(ca_issuing_into("web-authz"))
    assert await walk(_app(tmp_path), WEB_TABLE, certificates, {}, {}) == []
