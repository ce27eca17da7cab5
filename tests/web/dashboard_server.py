"""A stand-in for the web role, for testing the dashboard's page alone: it serves the page's static files
at the contract's paths (``/``, ``/static/...``), ``GET /api/snapshot`` and ``GET /api/events`` from
snapshots the test publishes, over plain HTTP on loopback in a background thread.

What it does not do is the web role's own business (TLS, the token and session cookie): the page only
needs the same-origin requests to succeed, or to be refused with 401 (:meth:`SnapshotFeed.sign_out`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from polling import wait_for

STATIC = Path(__file__).resolve().parents[2] / "src" / "sdqkd" / "web" / "static"
BACKLOG = 1000  # published snapshots kept for a stream that connects or falls behind
POLL_S = 0.02  # how often a stream looks for newly published snapshots


class SnapshotFeed:
    """The snapshots published so far, numbered; thread-safe (the test publishes, the server streams)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published: deque[tuple[int, dict[str, Any]]] = deque(maxlen=BACKLOG)
        self._count = 0
        self.closed = False
        self.signed_in = True

    def publish(self, *snapshots: dict[str, Any]) -> None:
        """Add snapshots; every open stream sends each of them, in order."""
        with self._lock:
            for snapshot in snapshots:
                self._count += 1
                self._published.append((self._count, snapshot))

    def sign_out(self) -> None:
        """From now on every request is refused with 401 and the open streams end, as when the web role
        restarts and forgets its sessions."""
        self.signed_in = False

    def latest(self) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            return (self._count, self._published[-1][1]) if self._published else (0, None)

    def since(self, seen: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            return [(number, snapshot) for number, snapshot in self._published if number > seen]


@dataclass
class Dashboard:
    """A running stand-in: its base URL, and the feed its snapshots come from."""

    url: str
    feed: SnapshotFeed


def create_app(feed: SnapshotFeed) -> Starlette:
    """The stand-in's routes; once signed out every one answers 401, as the web role does."""

    def refused(request: Request) -> Response | None:
        if feed.signed_in:
            return None
        if request.url.path.startswith("/api/"):
            return JSONResponse({"message": "not signed in", "details": []}, status_code=401)
        return Response("open the URL sdqkd up printed", status_code=401, media_type="text/plain")

    async def index(request: Request) -> Response:
        return refused(request) or FileResponse(STATIC / "index.html", media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in {path.name for path in STATIC.iterdir()}:  # the folder's files, nothing above it
            return Response(status_code=404)
        return refused(request) or FileResponse(STATIC / name)

    async def snapshot(request: Request) -> Response:
        _, latest = feed.latest()
        return refused(request) or JSONResponse(latest)

    async def events(request: Request) -> Response:
        denial = refused(request)
        if denial is not None:
            return denial
        # where the stream starts is taken now, before the response's headers tell the page it is live:
        # what the test publishes once the page shows "live" is never skipped
        return StreamingResponse(_stream(feed, *feed.latest()), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/static/{name}", static),
            Route("/api/snapshot", snapshot),
            Route("/api/events", events),
        ]
    )


async def _stream(feed: SnapshotFeed, seen: int, latest: dict[str, Any] | None) -> AsyncIterator[str]:
    """``latest`` (number ``seen``) at once, then every one published after it, as ``snapshot`` events."""
    if latest is not None:
        yield _event(latest)
    while feed.signed_in and not feed.closed:
        for number, published in feed.since(seen):
            seen = number
            yield _event(published)
        await asyncio.sleep(POLL_S)


def _event(snapshot: dict[str, Any]) -> str:
    return f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"


@contextmanager
def serve_dashboard(feed: SnapshotFeed) -> Iterator[str]:
    """Serve the stand-in on a free loopback port in a background thread; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(feed),
        loop="asyncio",
        ws="none",
        lifespan="off",
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name=f"dashboard-standin-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, bool, 10.0, "the stand-in dashboard started")
        yield f"http://127.0.0.1:{port}"
    finally:
        feed.closed = True  # ends the open streams, so the server stops at once
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
