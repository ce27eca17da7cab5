"""Fixtures for the PKI tests: the session's CA (keys generated at run time, never committed), and a
CA of its own for each test that reads or damages a CA's files; real HTTPS servers on loopback."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sdqkd.pki import CertificateAuthority, identity_of_certificate


@pytest.fixture(scope="session")
def ca(ca_issuing_into: Callable[[str], CertificateAuthority]) -> CertificateAuthority:
    """The session's CA, for the tests that only issue certificates from it."""
    return ca_issuing_into("pki")


@pytest.fixture
def fresh_ca_dir(tmp_path: Path) -> Path:
    """A directory holding a CA of its own, for tests that read or damage its files."""
    CertificateAuthority.create(tmp_path)
    return tmp_path


class _Handler(BaseHTTPRequestHandler):
    """Answers every GET with the caller's sdqkd identity (or ``-`` for none)."""

    def do_GET(self) -> None:
        der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        body = str(identity_of_certificate(x509.load_der_x509_certificate(der))) if der else "-"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

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


@pytest.fixture
def tls_server() -> Iterator[Callable[[Callable[[], ssl.SSLContext]], LoopbackTlsServer]]:
    """Start loopback HTTPS servers (stopped at the end of the test)."""
    started: list[LoopbackTlsServer] = []

    def start(contexts: Callable[[], ssl.SSLContext]) -> LoopbackTlsServer:
        server = LoopbackTlsServer(contexts)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()
