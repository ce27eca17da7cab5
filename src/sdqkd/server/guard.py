"""The guarded listener: accepts raw TCP for a uvicorn server, bounds the connections, does the TLS
handshake with a deadline, and hands each authenticated connection to uvicorn's HTTP protocol.

Why not uvicorn's own TLS: with TLS done by the event loop's server, the app's protocol sees a
connection only once its handshake is over, so connections that never start one (20,000 idle TCP
connections, which exhausted a KME's file descriptors in an audit) are invisible to it, unbounded,
and held for the loop's default handshake timeout of 60 s. Here every accepted connection is counted
from its first moment (the caps and timeouts: :mod:`sdqkd.server.limits`):

- while handshaking it is one of at most ``max_handshaking``; a newcomer beyond that closes the
  OLDEST handshaking connection rather than being refused (attacker and SAE may share an address, so
  refusing newcomers, or refusing per address, would lock the SAE out with the attacker);
- all connections together are at most ``max_connections`` (when no handshaking one can make room,
  the newcomer is refused);
- the handshake must end within ``handshake_timeout_s``;
- an authenticated connection is refused when its peer address already holds ``max_per_address``.

The TLS context comes from a callable evaluated per connection, so that reloaded certificates and a
new CRL take effect for the next connection without a restart.

How: the listener accepts on the socket itself (a reader callback, non-blocking ``accept``) and gives
each connection to ``loop.connect_accepted_socket(..., ssl=..., ssl_handshake_timeout=...)``, keeping
the socket object: a connection to be dropped before its handshake ends is shut down
(``socket.shutdown``), which ends the handshake with an error; the event loop then closes the
descriptor itself. (``loop.start_tls`` on an accepted connection was tried first: uvloop 0.23 may
hand the ClientHello to the plain protocol before the TLS layer is in place, and the handshake then
stalls.) When ``accept`` fails for want of descriptors (EMFILE), the oldest handshaking connection is
dropped, or accepting pauses for a moment if there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Callable

from sdqkd.server.limits import Limits

__all__ = ["GuardedListener", "ProtocolFactory", "SslContextSource"]

logger = logging.getLogger(__name__)

SslContextSource = Callable[[], ssl.SSLContext]
"""Gives the TLS context for the next connection (evaluated once per connection)."""

ProtocolFactory = Callable[[Callable[[], None]], asyncio.Protocol]
"""Makes the HTTP protocol of a connection; it calls the given function once, when its connection
is lost (so that the listener stops counting it)."""

_ACCEPTS_PER_CALLBACK = 128  # then let the loop serve the connections it has
_PAUSE_WHEN_OUT_OF_FILES_S = 0.1


class _Connection:
    """One accepted connection, as the listener counts it."""

    __slots__ = ("address", "handshake", "sock", "transport")

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address
        self.handshake: asyncio.Task[None] | None = None
        self.transport: asyncio.BaseTransport | None = None  # the TLS transport, once authenticated


class GuardedListener:
    """Serves ``sock``: accepts TCP, bounds connections, runs the TLS handshake, hands over to HTTP.

    Args:
        sock: the listening socket.
        ssl_context: the TLS context for each new connection.
        protocol_factory: the HTTP protocol of a connection.
        limits: the caps and the handshake timeout.
    """

    def __init__(
        self,
        sock: socket.socket,
        ssl_context: SslContextSource,
        protocol_factory: ProtocolFactory,
        limits: Limits,
    ) -> None:
        self.sock = sock
        self.ssl_context = ssl_context
        self.protocol_factory = protocol_factory
        self.limits = limits
        self.handshaking: dict[_Connection, None] = {}  # insertion order: the oldest first
        self.established: set[_Connection] = set()
        self.per_address: Counter[str] = Counter()
        self.evicted = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = False
        self._resume: asyncio.TimerHandle | None = None
        self._closing: set[_Connection] = set()  # lost to HTTP, maybe still in their TLS close
        self._closing_prune_at = 64

    @property
    def connections(self) -> int:
        """Connections held now: handshaking and established."""
        return len(self.handshaking) + len(self.established)

    def start(self) -> None:
        """Start accepting (on the running event loop)."""
        self._loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        self._start_accepting()

    async def close(self) -> None:
        """Stop accepting and drop the connections still handshaking (the established ones are the
        HTTP server's to close)."""
        self._stop_accepting()
        if self._resume is not None:
            self._resume.cancel()
        handshakes = [c.handshake for c in self.handshaking if c.handshake is not None]
        for connection in list(self.handshaking):
            self._drop(connection)
        await asyncio.gather(*handshakes, return_exceptions=True)

    def abort_all(self) -> None:
        """Abort every connection still open: called once the HTTP server has shut down.

        A connection whose TLS layer is still exchanging close_notify (for up to
        ``handshake_timeout_s``) is no longer the HTTP server's; left open when the event loop
        closes, it would end as an "unclosed transport"."""
        for connection in [*self.established, *self._closing]:
            if connection.transport is not None and connection.sock.fileno() != -1:
                connection.transport.abort()  # type: ignore[attr-defined]
        self._closing.clear()

    # Accepting ----------------------------------------------------------------------------------------

    def _start_accepting(self) -> None:
        assert self._loop is not None
        self._resume = None
        if not self._accepting:
            self._loop.add_reader(self.sock.fileno(), self._accept)
            self._accepting = True

    def _stop_accepting(self) -> None:
        if self._accepting and self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._accepting = False

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_CALLBACK):
            try:
                sock, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._out_of_files()
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # gone before we took it
                raise
            self._admit(sock, str(peer[0]) if isinstance(peer, tuple) else "")

    def _out_of_files(self) -> None:
        """No descriptor for a new connection: drop the oldest handshaking one, or pause accepting."""
        if self.handshaking:
            self._drop(next(iter(self.handshaking)))
            self.evicted += 1
            return
        assert self._loop is not None
        logger.warning("out of file descriptors: not accepting for %.1f s", _PAUSE_WHEN_OUT_OF_FILES_S)
        self._stop_accepting()
        self._resume = self._loop.call_later(_PAUSE_WHEN_OUT_OF_FILES_S, self._start_accepting)

    def _admit(self, sock: socket.socket, address: str) -> None:
        while self.handshaking and (
            len(self.handshaking) >= self.limits.max_handshaking
            or self.connections >= self.limits.max_connections
        ):
            self._drop(next(iter(self.handshaking)))  # the oldest: it had the longest chance
            self.evicted += 1
        if self.connections >= self.limits.max_connections:  # all established: no room to make
            sock.close()
            return
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # A response goes out as two writes (head, body): with Nagle's algorithm the second waits
            # for the client's delayed ACK of the first (measured: 44 ms a request).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(sock, address)
        self.handshaking[connection] = None
        assert self._loop is not None
        connection.handshake = self._loop.create_task(self._handshake(connection))

    def _drop(self, connection: _Connection) -> None:
        """End a connection still handshaking: shut the socket down (the handshake fails, and the
        event loop closes the descriptor; closing it here would pull it from under the loop)."""
        self.handshaking.pop(connection, None)
        if connection.sock.fileno() != -1:
            with contextlib.suppress(OSError):  # not connected any more
                connection.sock.shutdown(socket.SHUT_RDWR)

    # Handshake and hand-over --------------------------------------------------------------------------

    async def _handshake(self, connection: _Connection) -> None:
        assert self._loop is not None
        lost = False

        def release() -> None:
            nonlocal lost
            lost = True
            self._release(connection)

        try:
            transport, _ = await self._loop.connect_accepted_socket(
                lambda: self.protocol_factory(release),
                connection.sock,
                ssl=self.ssl_context(),
                ssl_handshake_timeout=self.limits.handshake_timeout_s,
                ssl_shutdown_timeout=self.limits.handshake_timeout_s,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            # a refused certificate, a timeout, a peer that went away, an eviction: nobody else to tell
            logger.debug("TLS handshake failed: %s", type(exc).__name__)
            self._discard(connection)
            return
        except asyncio.CancelledError:
            self._drop(connection)
            self._discard(connection)
            raise
        still_ours = connection in self.handshaking
        self.handshaking.pop(connection, None)
        connection.transport = transport
        if lost:  # gone between the handshake's end and now: release() has run
            if connection.sock.fileno() != -1:  # maybe still in its TLS close: abort it at the end
                self._closing.add(connection)
            return
        if not still_ours or self.per_address[connection.address] >= self.limits.max_per_address:
            self._closing.add(connection)
            transport.abort()
            return
        self.per_address[connection.address] += 1
        self.established.add(connection)

    def _release(self, connection: _Connection) -> None:
        """The HTTP protocol lost its connection: stop counting it."""
        if connection in self.established:
            self.established.discard(connection)
            self.per_address[connection.address] -= 1
            if not self.per_address[connection.address]:
                del self.per_address[connection.address]
            if connection.sock.fileno() != -1:  # still in its TLS close: abort it at the end
                if len(self._closing) >= self._closing_prune_at:  # amortised: forget the closed ones
                    self._closing = {c for c in self._closing if c.sock.fileno() != -1}
                    self._closing_prune_at = max(64, 2 * len(self._closing))
                self._closing.add(connection)

    def _discard(self, connection: _Connection) -> None:
        # the event loop closes the descriptor of a failed handshake itself
        self.handshaking.pop(connection, None)
