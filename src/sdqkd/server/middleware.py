"""ASGI middleware every sdqkd service uses."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["NoStoreAndContain"]


class NoStoreAndContain:
    """``Cache-Control: no-store`` on every response (RFC 9111 §5.2.2.5: answers that carry keys or
    key IDs must not be cached), and an unexpected exception answered by ``error_response()``, whose
    text is never sent (it might name keys).

    Args:
        app: the app to wrap.
        error_response: the protocol's own error answer for an unexpected failure (an ASGI app).
        logger: where the failure is logged.
        label: the protocol's name in the log line.
        traceback: log the traceback (only where no request data can be in it); otherwise only the
            exception's type is logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        error_response: Callable[[], ASGIApp],
        logger: logging.Logger,
        label: str,
        traceback: bool = False,
    ) -> None:
        self.app = app
        self.error_response = error_response
        self.logger = logger
        self.label = label
        self.traceback = traceback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_no_store(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_no_store)
        except Exception as exc:
            if self.traceback:
                self.logger.exception("%s %s failed unexpectedly", self.label, scope["method"])
            else:
                self.logger.error(
                    "%s %s failed with an unexpected %s", self.label, scope["method"], type(exc).__name__
                )
            if started:  # too late for an error body: let the server close the connection
                raise
            await self.error_response()(scope, receive, send_no_store)
