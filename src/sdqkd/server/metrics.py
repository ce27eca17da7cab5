"""Prometheus metrics of an sdqkd service: its registry served at ``GET /metrics`` to operators, and
the latency histogram of the requests a service chooses to time.

Every role (emulator, KME, agent, service manager; the controller has its own collector) keeps a
:class:`~prometheus_client.CollectorRegistry` of its own, not the process-wide default: several
services may run in one process (tests, embedded runs) and must not see each other's series. Most
figures are read at scrape time from the service's state by a collector; what only passes by (a
request's duration) is recorded by :class:`TimedRequests`.

Who may read: the app's authorisation table (:mod:`sdqkd.server.authz`) names ``GET /metrics`` like
any other route (the operator's certificate in every service); without a usable client certificate
:class:`~sdqkd.errors.Unauthenticated`, another caller :class:`~sdqkd.errors.Forbidden`, which the
app's own error table answers (401, 403) in its format.
Metrics never carry key material or key IDs: labels are links, nodes, SAEs and operations.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS_S",
    "TimedRequests",
    "add_metrics_route",
    "request_duration_histogram",
]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The Prometheus text exposition format, version 0.0.4 (what every Prometheus server scrapes)."""

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the request-duration buckets, seconds: a key request served from the pool takes
about a millisecond, one relayed over several hops or waiting on a peer up to seconds."""


def add_metrics_route(app: FastAPI, registry: CollectorRegistry) -> None:
    """Serve ``registry`` at ``GET /metrics`` of ``app`` (to whom the app's table says: the operator).

    Add it before any mount at ``/`` (a mounted app would answer the path first).
    """

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # collectors read the service's state here, on the event loop: no lock is needed against
        # the routes that change it
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)


def request_duration_histogram(registry: CollectorRegistry, name: str, documentation: str) -> Histogram:
    """A histogram of request durations (seconds) by ``operation`` and status ``code``, in ``registry``."""
    return Histogram(
        name,
        documentation,
        labelnames=("operation", "code"),
        buckets=LATENCY_BUCKETS_S,
        registry=registry,
    )


class TimedRequests:
    """ASGI middleware recording how long each chosen HTTP request takes, from its arrival to the end
    of its response, in a histogram of :func:`request_duration_histogram`.

    Args:
        app: the app to wrap.
        histogram: where durations go (labels ``operation``, ``code``).
        operation: the operation a request is, from its method and path (a bounded set of names, never
            a raw path: paths may hold IDs), or None for a request not timed.
    """

    def __init__(
        self, app: ASGIApp, *, histogram: Histogram, operation: Callable[[str, str], str | None]
    ) -> None:
        self.app = app
        self.histogram = histogram
        self.operation = operation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self.operation(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if operation is None:
            await self.app(scope, receive, send)
            return
        started_s = time.perf_counter()
        code = "500"  # what the server answers when the app fails before it starts a response

        async def send_timed(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            self.histogram.labels(operation, code).observe(time.perf_counter() - started_s)
