"""Request IDs: one ID for one operation, carried from service to service and logged by each.

An HTTP request a service receives gets an ID (the caller's ``X-Request-ID`` when it is well
formed, else a new one) held in :data:`REQUEST_ID` while the request runs (and in the tasks it
starts): every log record made meanwhile carries it (:class:`sdqkd.server.logs.JsonFormatter`), the
response returns it in ``X-Request-ID``, and the project's HTTP clients send it on
(:func:`carry_request_id`). An SAE's ``enc_keys`` at a KME that relays over peer KMEs thus shows
the same ``request_id`` in every one of those KMEs' logs.

The ID is for correlating logs only: it authorises nothing, and a caller's ID is taken only if it
is short and made of ``[A-Za-z0-9._:-]`` (it ends up in log lines; anything else could forge them).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TypeVar

import httpx
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HEADER",
    "REQUEST_ID",
    "RequestIdMiddleware",
    "carry_request_id",
    "current_request_id",
    "new_request_id",
    "request_id_scope",
    "well_formed",
    "without_request_id",
]

HEADER = "X-Request-ID"
"""The header that carries the ID in requests and responses (the de-facto name; no RFC defines one)."""

REQUEST_ID: ContextVar[str | None] = ContextVar("sdqkd_request_id", default=None)
"""The ID of the operation being served here (None: none, e.g. a background task of the service's own)."""

_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def well_formed(candidate: str) -> bool:
    """Whether ``candidate`` may be taken as a request ID: 1–128 characters of ``[A-Za-z0-9._:-]``."""
    return _WELL_FORMED.fullmatch(candidate) is not None


def new_request_id() -> str:
    """A fresh ID (a random UUID's 32 hex digits)."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The ID of the operation this code runs for, if any."""
    return REQUEST_ID.get()


@contextlib.contextmanager
def request_id_scope(request_id: str | None = None) -> Iterator[str]:
    """Run the ``with`` block as the operation ``request_id`` (None: a new ID), for code that starts an
    operation outside any request (a command, a test): its requests carry the ID it yields.

    Raises:
        ValueError: ``request_id`` is not :func:`well_formed`.
    """
    chosen = new_request_id() if request_id is None else request_id
    if not well_formed(chosen):
        raise ValueError(f"not a well-formed request ID: {chosen!r}")
    token = REQUEST_ID.set(chosen)
    try:
        yield chosen
    finally:
        REQUEST_ID.reset(token)


def without_request_id() -> contextvars.Context:
    """A copy of the current context outside any request, to start a task in that outlives the request
    that starts it (a watcher, a supervisor): its later records are no part of that request
    (``asyncio.create_task(work, context=without_request_id())``)."""
    context = contextvars.copy_context()
    context.run(REQUEST_ID.set, None)
    return context


class RequestIdMiddleware:
    """ASGI middleware: each HTTP request runs with its ID in :data:`REQUEST_ID` (the caller's
    ``X-Request-ID`` if :func:`well_formed`, else a new one), and the response carries it back.

    Args:
        app: the app to wrap (lifespan and other scopes pass through untouched).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(HEADER)
        request_id = offered if offered is not None and well_formed(offered) else new_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def _put_header(request: httpx.Request) -> None:
    request_id = REQUEST_ID.get()
    if request_id is not None and HEADER not in request.headers:  # a caller's own header stands
        request.headers[HEADER] = request_id


async def _put_header_async(request: httpx.Request) -> None:
    _put_header(request)


_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)


def carry_request_id(client: _Client) -> _Client:
    """``client`` (returned, for chaining), made to send the current request ID with every request
    (an httpx request event hook; nothing is sent outside an operation)."""
    hook = _put_header_async if isinstance(client, httpx.AsyncClient) else _put_header
    client.event_hooks = {**client.event_hooks, "request": [*client.event_hooks["request"], hook]}
    return client
