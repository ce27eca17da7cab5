"""The dashboard's web app: the page and its files, the snapshot, and the stream of snapshots.

    GET /               index.html (the views, src/sdqkd/web/static/)
    GET /static/{file}  app.js, style.css
    GET /api/snapshot   the snapshot (sdqkd.web.snapshot)
    GET /api/events     text/event-stream: ``event: snapshot`` at once, then every ``interval_s``;
                        ``: keep-alive`` after 15 s without one

Every path is behind :class:`~sdqkd.web.auth.Gate` (401 without the operator's credential), which
hands the routes the operator it admitted; :data:`WEB_TABLE` then says who may call each route (the
operator), as every service's table does. At most 32 event streams are open at once (503), 4 per
operator credential (429). Errors are ``{"message", "details"}``, as the controller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp

from sdqkd import __version__
from sdqkd.errors import Forbidden, SubscriptionsFull, TooManySubscriptions, UnknownResource
from sdqkd.pki.identity import Role
from sdqkd.restconf.sse import event_stream_response, format_event
from sdqkd.server.authz import Table, allow, authorise
from sdqkd.server.errors import HTTPError, install_error_handlers
from sdqkd.server.identity import peer_identity
from sdqkd.server.middleware import NoStoreAndContain
from sdqkd.server.streams import StreamLimits
from sdqkd.web.auth import Gate, Sessions
from sdqkd.web.feed import SnapshotFeed

__all__ = ["KEEP_ALIVE_S", "STATIC_DIR", "WEB_TABLE", "create_web_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The dashboard's page and files (package data: they ship in the wheel)."""

KEEP_ALIVE_S = 15.0
"""Seconds without a snapshot before the event stream sends a keep-alive comment."""


WEB_TABLE = Table(
    "Dashboard (`sdqkd web`)",
    {
        ("GET", "/"): allow(Role.OPERATOR),
        ("GET", "/metrics"): allow(Role.OPERATOR),
        ("GET", "/api/snapshot"): allow(Role.OPERATOR),
        ("GET", "/api/events"): allow(Role.OPERATOR),
    },
    note="The gate admits the operator's certificate, the token `sdqkd up` printed (`Authorization: "
    "Bearer`) or a browser session opened with it; each passes as the operator. `/static/*` (the "
    "page's files) is behind the gate too.",
)
"""Who may call the dashboard's routes."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "details": []}, status_code=status)


def _framework(request: Request, exc: HTTPError) -> Response:
    return _error(exc.status_code, str(exc.detail))


def _unknown(request: Request, exc: UnknownResource) -> Response:
    return _error(404, str(exc))


def _status(status: int) -> Callable[[Request, Exception], Response]:
    def render(request: Request, exc: Exception) -> Response:
        return _error(status, str(exc))

    return render


def _snapshot_event(snapshot: dict[str, Any]) -> str:
    return format_event(json.dumps(snapshot, separators=(",", ":")), event="snapshot")


class _WebMetrics(Collector):
    """The dashboard's own figures, read at each scrape (Prometheus text format at ``/metrics``)."""

    def __init__(self, feed: SnapshotFeed, sessions: Sessions) -> None:
        self.feed, self.sessions = feed, sessions

    def collect(self) -> Iterator[Metric]:
        latest = self.feed.latest or {}
        yield CounterMetricFamily(
            "sdqkd_web_snapshots", "Snapshots built from the controller's and the plant's documents.",
            value=self.feed.built,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "sdqkd_web_event_streams", "Browsers following the event stream now.",
            value=self.feed.broker.subscriber_count,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "sdqkd_web_sessions", "Browser sessions open (signed in with the token, not expired).",
            value=self.sessions.open_count(),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "sdqkd_web_snapshot_problems", "Upstream parts the latest snapshot lacks (its problems).",
            value=len(latest.get("problems", [])),
        )  # fmt: skip


def create_web_app(
    feed: SnapshotFeed,
    token: str,
    sessions: Sessions,
    static_dir: Path = STATIC_DIR,
    keep_alive_s: float = KEEP_ALIVE_S,
) -> ASGIApp:
    """The dashboard's ASGI app; its lifespan runs ``feed``.

    Args:
        feed: where the snapshots come from.
        token: the token that lets a browser in (``/?token=…``, ``Authorization: Bearer …``).
        sessions: the browsers' sessions.
        static_dir: the page and its files.
        keep_alive_s: seconds of silence before the event stream's keep-alive comment.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(feed.run(), name="sdqkd-web-feed")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="sdqkd dashboard",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[authorise(WEB_TABLE)],
    )
    limits = StreamLimits()
    install_error_handlers(
        app,
        {
            HTTPError: _framework,
            UnknownResource: _unknown,
            Forbidden: _status(403),
            TooManySubscriptions: _status(429),
            SubscriptionsFull: _status(503),
        },
    )
    if static_dir.is_dir():  # without its files the dashboard still serves the API (the page: 404)
        app.mount("/static", StaticFiles(directory=static_dir), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        page = static_dir / "index.html"
        if not page.is_file():
            raise UnknownResource(f"the dashboard's page is missing ({page})")
        return FileResponse(page, media_type="text/html; charset=utf-8")

    registry = CollectorRegistry(auto_describe=True)
    registry.register(_WebMetrics(feed, sessions))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:  # behind the gate, as every path: the operator's credential
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/snapshot")
    async def snapshot() -> dict[str, Any]:
        return await feed.current()

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        caller = await peer_identity(request)
        first = await feed.current()
        return limits.held_by(
            caller,
            event_stream_response(
                feed.broker,
                _snapshot_event,
                is_disconnected=request.is_disconnected,
                opening=_snapshot_event(first),
                heartbeat_s=keep_alive_s,
                headers={"X-Accel-Buffering": "no"},
            ),
        )

    def internal_error() -> ASGIApp:
        return _error(500, "internal error")

    # the gate inside: its refusals are not cached either, and nothing reaches a route without it
    gated = Gate(app, token, sessions)
    return NoStoreAndContain(gated, error_response=internal_error, logger=log, label="dashboard")
