"""Serving an app over HTTPS with mutual TLS: in the foreground (a service process, announced by its
endpoint record: :func:`serve_role`) or in a background thread (tests, embedded runs).

uvicorn runs the app, but it does not listen itself: the :class:`~sdqkd.server.guard.GuardedListener`
accepts the TCP connections, bounds them, does the TLS handshake with a deadline, and hands each
authenticated connection to uvicorn's HTTP protocol with request deadlines and size caps
(:mod:`sdqkd.server.protocol`); the app reads bodies through :class:`~sdqkd.server.body_limit.BodyLimit`.
The values and the reasons: :mod:`sdqkd.server.limits`.

TLS: 1.3 preferred; 1.2 only with ECDHE key exchange and AEAD ciphers
(:data:`sdqkd.pki.tls.TLS12_CIPHERS`), so neither CBC (padding-oracle attacks: Lucky 13) nor static-RSA
key exchange (no forward secrecy). Each connection's context comes from
:class:`~sdqkd.pki.server_contexts.ServerContexts`: a rotated certificate or a new CRL
(``sdqkd pki rotate|revoke``) counts from the next connection, without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from sdqkd.errors import SdqkdError
from sdqkd.pki.identity import Identity
from sdqkd.pki.server_contexts import ServerContexts
from sdqkd.pki.tls import TLS12_CIPHERS
from sdqkd.server.body_limit import BodyLimit
from sdqkd.server.guard import GuardedListener, SslContextSource
from sdqkd.server.identity import with_peer
from sdqkd.server.limits import Limits, raise_open_files_limit
from sdqkd.server.protocol import LimitedHttpToolsProtocol, limited_protocol
from sdqkd.server.request_id import RequestIdMiddleware

__all__ = [
    "BackgroundServer",
    "Front",
    "FrontedBy",
    "TlsFiles",
    "bind_socket",
    "serve",
    "serve_role",
    "server_contexts",
    "uvicorn_config",
]


@dataclass(frozen=True)
class TlsFiles:
    """A service's certificate and key, the CA its peers' certificates must chain to, and the CA's
    revocation list (None: none; a path that does not exist yet: checked once it appears)."""

    cert: Path
    key: Path
    ca: Path
    crl: Path | None = None


def server_contexts(tls: TlsFiles, *, client_cert_required: bool = True) -> SslContextSource:
    """A service's TLS context for each new connection: its certificate, client certificates verified
    against its CA and CRL and required (or, without ``client_cert_required``, verified when
    presented: see :func:`uvicorn_config`), TLS 1.2 only with AEAD suites
    (:data:`sdqkd.pki.tls.TLS12_CIPHERS`). A rotated certificate or a new CRL is taken up at the next
    connection (:class:`~sdqkd.pki.server_contexts.ServerContexts`).

    Raises:
        PkiError: the files cannot be used.
    """
    return ServerContexts(tls.cert, tls.key, tls.ca, tls.crl, client_cert_required).current


def uvicorn_config(
    app: Any,
    tls: TlsFiles,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_cert_required: bool = True,
    limits: Limits | None = None,
) -> uvicorn.Config:
    """uvicorn configuration for ``app`` with mutual TLS done by uvicorn itself: client certificates
    required, or (without ``client_cert_required``) asked for and verified when presented, for an app
    that also admits callers another way (the dashboard's browsers: a token).

    The services do not use it (:func:`serve` puts the guarded listener in front, which bounds
    connections before and during their handshake); it is for a server that must be a plain
    ``uvicorn.Server``. Its requests have the same deadlines and caps."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=limited_protocol(limits or Limits()),  # C parser (httptools)
        loop="uvloop",
        ws="none",
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
        ssl_ca_certs=str(tls.ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_cert_required else ssl.CERT_OPTIONAL,
        ssl_ciphers=TLS12_CIPHERS,
        log_level="warning",
        log_config=None,  # uvicorn's records go to the process's own handler (sdqkd.server.logs)
        access_log=False,  # request lines carry key IDs: not logged
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


def _guarded_config(app: Any, limits: Limits) -> uvicorn.Config:
    """uvicorn for an app behind the guarded listener: no listener and no TLS of its own."""
    return uvicorn.Config(
        app,
        http=limited_protocol(limits),
        loop="uvloop",
        ws="none",
        log_level="warning",
        log_config=None,  # uvicorn's records go to the process's own handler (sdqkd.server.logs)
        access_log=False,  # request lines carry key IDs: not logged
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


class _GuardedServer(uvicorn.Server):
    """uvicorn's server with the guarded listener in place of its own: started once the app's
    lifespan has started, closed first on shutdown (no new connections, handshakes aborted)."""

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket, context: SslContextSource, limits: Limits
    ):
        super().__init__(config)
        self._sock, self._context, self._limits = sock, context, limits
        self.listener: GuardedListener | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan; no listener of uvicorn's own
        protocol_class = self.config.http_protocol_class
        assert issubclass(protocol_class, LimitedHttpToolsProtocol)
        loop = asyncio.get_running_loop()

        def protocol(on_lost: Callable[[], None]) -> asyncio.Protocol:
            return protocol_class(
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
                on_lost=on_lost,
            )

        self.listener = GuardedListener(self._sock, self._context, protocol, self._limits)
        self.listener.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.listener is not None:
            await self.listener.close()
        await super().shutdown(sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: a free port chosen by the OS)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # a flood of connections must not keep the kernel's queue full for the others
    sock.set_inheritable(True)
    return sock


Front = Callable[[socket.socket, str], Coroutine[Any, Any, None]]
"""A server in front of an app: given the public listening socket and the path of the Unix socket on
which the app is served (plain HTTP), it accepts on the first and forwards to the second until
cancelled (a QKD-TLS server: :class:`sdqkd.qtls.QtlsServer`)."""


@dataclass(frozen=True)
class FrontedBy:
    """An app served behind a :data:`Front` rather than with mutual TLS: every request that comes
    through is ``peer``'s (the front admits only connections it authenticated as ``peer``)."""

    front: Front
    peer: Identity


class _Serving:
    """One app's uvicorn server on the public socket ``sock``: with mutual TLS, or behind a front
    (the app on a Unix socket in a directory of its own, mode 0700, removed by :meth:`close`).
    Every request runs with its request ID (:class:`~sdqkd.server.request_id.RequestIdMiddleware`)."""

    def __init__(
        self,
        app: Any,
        tls: TlsFiles,
        sock: socket.socket,
        fronted: FrontedBy | None,
        client_cert_required: bool = True,
        limits: Limits | None = None,
        ssl_context: SslContextSource | None = None,
    ) -> None:
        limits = limits or Limits()
        raise_open_files_limit()  # the caps, not the file descriptors, must be what runs out first
        app = BodyLimit(RequestIdMiddleware(app), limits.max_body_bytes)
        self.public, self.fronted = sock, fronted
        self.private: Path | None = None
        self.server: uvicorn.Server
        if fronted is None:
            if ssl_context is None:
                ssl_context = server_contexts(tls, client_cert_required=client_cert_required)
            self.server = _GuardedServer(_guarded_config(app, limits), sock, ssl_context, limits)
            self.listening: list[socket.socket] = []  # the guarded listener's, not uvicorn's
        else:
            self.private = Path(tempfile.mkdtemp(prefix="sdqkd-app-"))
            self.server = uvicorn.Server(_plain_config(with_peer(app, fronted.peer), limits))
            self.listening = [_unix_socket(self.private / "app.sock")]

    async def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve until uvicorn stops; ``on_started()`` once it (and the front) accept connections."""
        front: asyncio.Task[None] | None = None

        async def announce() -> None:
            nonlocal front
            while not self.server.started:
                await asyncio.sleep(0.02)
            if self.fronted is not None and self.private is not None:
                front = asyncio.create_task(self.fronted.front(self.public, str(self.private / "app.sock")))
            if on_started is not None:
                on_started()

        announcer = asyncio.create_task(announce())
        try:
            await _serve_until_stopped(self.server, self.listening)
        finally:
            announcer.cancel()
            if front is not None:
                front.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await front

    def close(self) -> None:
        self.public.close()
        if self.private is not None:
            self.listening[0].close()
            shutil.rmtree(self.private, ignore_errors=True)


def serve(
    app: Any,
    tls: TlsFiles,
    host: str,
    port: int,
    on_started: Callable[[str], None] | None = None,
    fronted: FrontedBy | None = None,
    client_cert_required: bool = True,
    *,
    limits: Limits | None = None,
    ssl_context: SslContextSource | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; ``on_started(url)`` runs once it accepts connections
    (port 0: a free port, which the URL tells). Without ``client_cert_required`` a client
    certificate is verified when presented but not required (see :func:`uvicorn_config`).

    With ``fronted``, the public port is the front's: the app itself listens on a Unix socket in a
    directory of its own (mode 0700, removed at the end) where only the front and this user reach it.

    ``limits``: the connection and request limits (None: the defaults of
    :class:`~sdqkd.server.limits.Limits`). ``ssl_context``: gives the TLS context for each new
    connection (None: :func:`server_contexts` of ``tls``).
    """
    sock = bind_socket(host, port)
    url = f"https://{'localhost' if host in ('127.0.0.1', '::1') else host}:{sock.getsockname()[1]}"
    serving = _Serving(app, tls, sock, fronted, client_cert_required, limits, ssl_context)

    # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again under the handlers it
    # found; with the default ones the process would die there, skipping the caller's clean-up (its
    # endpoint record, its database). These handlers end serve() normally instead.
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    signals = (signal.SIGTERM, signal.SIGINT) if main_thread else ()
    previous = {sig: signal.signal(sig, _stop) for sig in signals}
    try:
        with asyncio.Runner(loop_factory=serving.server.config.get_loop_factory()) as runner:  # uvloop
            runner.run(serving.run(None if on_started is None else lambda: on_started(url)))
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        serving.close()


def _plain_config(app: Any, limits: Limits) -> uvicorn.Config:
    """uvicorn for an app behind a front: HTTP on a Unix socket, no TLS of its own."""
    return uvicorn.Config(
        app,
        http=limited_protocol(limits),
        loop="uvloop",
        ws="none",
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


def _unix_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def serve_role(
    app: Any,
    tls: TlsFiles,
    host: str,
    port: int,
    endpoint_file: Path | None = None,
    record: Mapping[str, Any] | None = None,
    on_started: Callable[[str], None] | None = None,
    fronted: FrontedBy | None = None,
    client_cert_required: bool = True,
    *,
    limits: Limits | None = None,
    ssl_context: SslContextSource | None = None,
) -> None:
    """Serve ``app`` as a service process (emulator, KME, agent, controller) until SIGINT/SIGTERM;
    with ``fronted``, behind that front (see :func:`serve`).

    Once it accepts connections, its endpoint record ``{"url", "pid", **record}`` is written to
    ``endpoint_file`` (if given), then ``on_started(url)`` runs. The record is how the launcher, the
    tests and the tools learn the service's URL (port 0: a free port) and tell it from an earlier
    process's; it is removed again when serving ends, however it ends.

    Args:
        app: the ASGI app.
        tls: its certificate, key and CA.
        host: the address to listen on.
        port: the port (0: a free one).
        endpoint_file: where to record the endpoint (None: nowhere).
        record: more members of the record (``kme_id``, ``node_id``, ``topology``).
        on_started: called with the URL once the record is written.
        fronted: serve behind this front (QKD-TLS) instead of with mutual TLS.
        client_cert_required: refuse TLS connections without a client certificate (False: the app
            admits such callers otherwise, and must check who calls).
        limits: connection and request limits (None: the defaults).
        ssl_context: gives the TLS context for each new connection (None: one built from ``tls``).
    """

    def announce(url: str) -> None:
        if endpoint_file is not None:
            _write_atomically(endpoint_file, {"url": url, "pid": os.getpid(), **(record or {})})
        if on_started is not None:
            on_started(url)

    try:
        serve(
            app,
            tls,
            host,
            port,
            on_started=announce,
            fronted=fronted,
            client_cert_required=client_cert_required,
            limits=limits,
            ssl_context=ssl_context,
        )
    finally:
        if endpoint_file is not None:
            endpoint_file.unlink(missing_ok=True)


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON so that a reader polling for ``path`` never sees half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(dict(data)), encoding="utf-8")
    os.replace(temporary, path)


async def _serve_until_stopped(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
    """``server.serve()`` on ``sockets``, then abort the connections still open after its graceful
    shutdown.

    uvicorn closes an idle keep-alive connection with a TLS close_notify and the connection stays
    open until the client answers one; a client that holds it idle in its pool (another service's,
    a test's) never reads it, so it outlives the 2 s graceful period. Left to the event loop's
    closing, such transports end as "unclosed resource" warnings; aborted here they end at once.
    """
    try:
        await server.serve(sockets=sockets)
    finally:
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        if isinstance(server, _GuardedServer) and server.listener is not None:
            server.listener.abort_all()  # and those still in their TLS close (no longer uvicorn's)
        await asyncio.sleep(0)  # let the aborts' callbacks run before the loop closes


class _Stopped(SdqkdError):
    """SIGTERM or SIGINT after (or before) the server's own graceful shutdown."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


class BackgroundServer:
    """``app`` served with mutual TLS (or behind ``fronted``) on a free loopback port in a background
    thread.

    Use as a context manager; :attr:`url` is its base URL. Without ``client_cert_required`` a client
    certificate is verified when presented but not required; ``limits`` and ``ssl_context`` as in
    :func:`serve`.
    """

    def __init__(
        self,
        app: Any,
        tls: TlsFiles,
        host: str = "127.0.0.1",
        fronted: FrontedBy | None = None,
        client_cert_required: bool = True,
        *,
        limits: Limits | None = None,
        ssl_context: SslContextSource | None = None,
    ) -> None:
        self._sock = bind_socket(host, 0)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"https://{'localhost' if host in ('127.0.0.1', '::1') else host}:{self.port}"
        self._serving = _Serving(app, tls, self._sock, fronted, client_cert_required, limits, ssl_context)
        self._server = self._serving.server
        self._thread = threading.Thread(target=self._run, name=f"sdqkd-server-{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
                runner.run(self._serving.run())
        except BaseException as exc:  # reported by start()/stop()
            self._error = exc

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        """Serve in the background; return once the server accepts connections.

        Raises:
            SdqkdError: the server did not start (e.g. the app's lifespan startup failed) or not within
                ``timeout_s``; its port and thread are released.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()  # a failed start never reaches __exit__: release the port here
                raise SdqkdError(f"server failed to start: {self._error!r}") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise SdqkdError("server did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (if started) and release the port."""
        self._server.should_exit = True
        if self._thread.ident is not None:  # join() refuses a thread that never started
            self._thread.join(timeout=10)
        self._serving.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
