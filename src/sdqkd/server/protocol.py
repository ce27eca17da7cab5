"""uvicorn's HTTP/1.1 protocol (httptools) with deadlines and size caps on requests.

uvicorn closes a keep-alive connection idle between requests, but nothing else: a connection that
never sends a request, or sends its head or body a byte at a time, stays open for ever, and neither
head nor body has a size limit (an audit had a 50 MB header and a 200 MB body accepted into memory).
This protocol adds, per request (values and reasons: :mod:`sdqkd.server.limits`):

- the head (request line and header fields) within ``header_timeout_s`` of its first byte, or of the
  connection's start for a first request; the body within ``body_timeout_s`` of the head's end;
  past either deadline the connection is closed;
- a head over ``max_header_bytes`` is answered 431 and the connection closed; the bytes are counted
  as they come, before the parser has buffered a whole oversized field;
- a body announced (Content-Length) or grown (chunked) over ``max_body_bytes`` is not read: the
  connection is closed after the answer. The answer itself, 413 in the service's own error format,
  comes from the app (:mod:`sdqkd.server.body_limit` refuses its reading of the body); a route that
  never reads its body answers as it would and the connection closes all the same.

A response sent before its request's body has fully arrived also ends the connection (an abort, not
a TLS close, which would read on until the peer's close_notify), so that the unread rest of a body
can neither be pushed in nor taken for the start of a "next request".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from sdqkd.errors import SdqkdError
from sdqkd.server.limits import Limits
from sdqkd.server.tls_extension import TlsHttpToolsProtocol

__all__ = ["LimitedHttpToolsProtocol", "limited_protocol"]

_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 36\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request header fields over the limit"
)


class _HeadTooLarge(SdqkdError):
    """Raised inside a parser callback: the head passed ``max_header_bytes``."""


class LimitedHttpToolsProtocol(TlsHttpToolsProtocol):
    """uvicorn's httptools protocol, with the ASGI TLS extension, request deadlines and size caps."""

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, on_lost: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_lost = on_lost
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_head = True  # between requests or inside a head: not in a body
        self._head_fed = 0  # bytes fed to the parser since the head began (coarse: the parser buffers)
        self._head_parsed = 0  # bytes of the head the parser has passed on (exact)
        self._body_bytes = 0
        self._message_complete = True
        self._head_too_large = False
        self._oversized = False

    # Connection ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        if self.on_lost is not None:
            on_lost, self.on_lost = self.on_lost, None
            on_lost()

    def data_received(self, data: bytes) -> None:
        if self._head_too_large or self.parser is None:
            return
        if self._awaiting_head:
            self._head_fed += len(data)
        super().data_received(data)
        # still in a head after all of it: every byte counted since the head began belongs to it
        if self._awaiting_head and not self._head_too_large and self._head_fed > self.limits.max_header_bytes:
            self._refuse_head()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers 400 to any error the parser raised, ours from a callback included
        if self._head_too_large:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self._head_too_large = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()

    # Deadlines ----------------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            # an attacker's connection (or a broken client's): no TLS close_notify exchange to wait for
            self.transport.abort()

    # Parser callbacks ---------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._message_complete = False
        self._body_bytes = 0
        self._oversized = False
        if self._deadline is None:  # a later request: its head's time starts with its first byte
            self._arm(self.limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > self.limits.max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_fed = self._head_parsed = 0
        self._arm(self.limits.body_timeout_s)
        super().on_headers_complete()
        length = _content_length(self.headers)
        if length is not None and length > self.limits.max_body_bytes:
            self._oversized = True
        if self._oversized and self.cycle is not None:
            self.cycle.keep_alive = False  # the body is not read: the connection ends with the answer

    def on_body(self, body: bytes) -> None:
        if self._oversized:
            self.flow.pause_reading()  # the app is refused the body (413): read no more of it
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._oversized = True
            if self.cycle is not None:
                self.cycle.keep_alive = False
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._awaiting_head = True
        self._message_complete = True
        self._head_fed = self._head_parsed = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if not self._message_complete:
            # Answered before the body arrived: read none of the rest. Not a TLS close (which reads
            # on until the peer's close_notify, ``ssl_shutdown_timeout``, all the bytes the peer
            # pushes meanwhile included) but an abort; the answer has gone to the socket already.
            self.transport.abort()
        super().on_response_complete()


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the parser has refused it already
    return None


def limited_protocol(limits: Limits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class with ``limits`` (uvicorn instantiates the class it is given)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
