"""The body size cap as the app sees it: reading an oversized request body fails with 413.

Every service is wrapped in :class:`BodyLimit`. It wraps ``receive``: when the request announced a
Content-Length over the cap, the app's first read fails at once (before a byte of the body is read);
otherwise the read that takes the body over the cap fails (a chunked body growing past it). The
failure is :class:`ContentTooLarge`, raised inside the app, so that the app's own error table
renders it: 413 in the service's own format (ETSI 014's JSON ``message``, RFC 9457 problem details,
RFC 8040 ``errors`` with error-tag ``too-big``, the controller's and dashboard's JSON).

Why a Starlette ``HTTPException`` and not a :mod:`sdqkd.errors` class: FastAPI turns any other
exception raised while it reads a route's body into "400 There was an error parsing the body", and
re-raises only ``HTTPException``. Every sdqkd app's table already renders ``HTTPException`` (as
``HTTPError``) in its own format with the exception's status, so the 413 needs no new entry; a table
may still map :class:`ContentTooLarge` itself to say more.

The HTTP protocol (:mod:`sdqkd.server.protocol`) does its part: it stops reading such a body and
closes the connection after the answer.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdqkd.errors import SdqkdError

__all__ = ["BodyLimit", "ContentTooLarge"]


class ContentTooLarge(HTTPException, SdqkdError):
    """A request body over the service's cap (RFC 9110 §15.5.14: 413 Content Too Large). A Starlette
    HTTP error first (its MRO puts the framework's class before :class:`SdqkdError`), so each app's
    entry for the framework's refusals answers it in the app's own format."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(
            status_code=413, detail=f"the request body is over the limit of {max_body_bytes} bytes"
        )


class BodyLimit:
    """ASGI middleware: the app's reading of a request body over ``max_body_bytes`` raises
    :class:`ContentTooLarge`.

    Args:
        app: the app to wrap.
        max_body_bytes: the largest body a request may carry.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = _content_length(scope)
        limit = self.max_body_bytes
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            if announced is not None and announced > limit:
                raise ContentTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ContentTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
