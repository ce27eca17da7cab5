"""A real HTTPS server on loopback for TLS tests: a new TLS context per connection (as a server built
on :class:`sdqkd.pki.ServerContexts` takes it), every GET answered with the caller's sdqkd identity.
Importable as ``tls_support`` from any test (``tests/`` is on the path through its conftest)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509

from sdqkd.pki import identity_of_certificate

__all__ = ["LoopbackTlsServer", "serving"]


class _Handler(BaseHTTPRequestHandler):
    """Answers every GET and POST with the caller's sdqkd identity (or ``-`` for none)."""

    def do_GET(self) -> None:
        der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        body = str(identity_of_certificate(x509.load_der_x509_certificate(der))) if der else "-"
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


class LoopbackTlsServer(ThreadingHTTPServer):
    """A real HTTPS server on 127.0.0.1 that takes a new TLS context for every connection from
    ``contexts`` (a :class:`ServerContexts`' ``current``, or a fixed context's lambda). Handshakes
    that fail are counted in ``refused``."""

    daemon_threads = True

    def __init__(self, contexts: Callable[[], ssl.SSLContext]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.contexts = contexts
        self.refused: list[Exception] = []
        self.paths: list[str] = []
        """The paths of the requests that came through a completed handshake."""

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server_address[1]}"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        return self.contexts().wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.refused.append(exc)
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up after refusing the server's certificate


@contextmanager
def serving(contexts: Callable[[], ssl.SSLContext]) -> Iterator[LoopbackTlsServer]:
    """A :class:`LoopbackTlsServer` serving in a thread until the block ends."""
    server = LoopbackTlsServer(contexts)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
