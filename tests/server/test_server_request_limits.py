"""Request bodies: over 1 MiB refused with 413 in the app's own format before they are read, the
connection closed after; a body that does not arrive in time ends its connection; a route that
never reads its body cannot be used to push one either."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from raw_https import closed_by_peer, read_response, tls_connection
from sdqkd.pki import CertificateAuthority, IssuedCertificate
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.server.body_limit import ContentTooLarge
from sdqkd.server.errors import HTTPError, install_error_handlers
from sdqkd.server.limits import Limits

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(
        app,
        {
            HTTPError: lambda _, exc: JSONResponse(
                {"refused": exc.status_code, "why": exc.detail}, exc.status_code
            )
        },
    )

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/ignore")
    async def ignore() -> dict[str, str]:
        return {"body": "not read"}

    return app


@pytest.fixture(scope="module")
def body_server(server_tls: TlsFiles) -> Iterator[BackgroundServer]:
    with BackgroundServer(_app(), server_tls, limits=Limits(body_timeout_s=1.0)) as running:
        yield running


def _head(path: str, *fields: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: localhost\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n"
    ).encode()


def _push(sock: socket.socket, total: int) -> int:
    """Send up to ``total`` bytes; how many went before the server stopped taking them (closed the
    connection, or left it full until the socket's timeout)."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(b"p" * (256 * 1024))
            sent += 256 * 1024
    except OSError:
        pass
    return sent


def test_a_body_under_the_cap_is_read(
    body_server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(body_server.port, operator_cert, ca.cert_path) as sock:
        sock.sendall(_head("/echo", f"content-length: {MIB}") + b"k" * MIB)
        answer = read_response(sock)

        assert (answer.status, answer.json()) == (200, {"received": MIB})


def test_a_content_length_over_the_cap_is_answered_413_by_the_app_before_the_body_and_the_connection_closed(
    body_server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(body_server.port, operator_cert, ca.cert_path) as sock:
        sock.sendall(_head("/echo", f"content-length: {2 * MIB}"))  # not a byte of the body
        answer = read_response(sock)

        assert answer.status == 413
        assert answer.json() == {"refused": 413, "why": ContentTooLarge(MIB).detail}  # the app's own format
        assert closed_by_peer(sock, within_s=3)


def test_a_chunked_body_growing_over_the_cap_is_answered_413(
    body_server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(body_server.port, operator_cert, ca.cert_path) as sock:
        sock.sendall(_head("/echo", "transfer-encoding: chunked"))
        chunk = b"%x\r\n" % (64 * 1024) + b"c" * (64 * 1024) + b"\r\n"
        for _ in range(MIB // (64 * 1024)):
            sock.sendall(chunk)
        # one byte over the cap, and no more: the server has read all that was sent when it answers
        # (bytes left unread at its abort would make the client's kernel see a reset, not the answer)
        sock.sendall(b"1\r\nc\r\n")
        answer = read_response(sock)

        assert (answer.status, answer.json()["refused"]) == (413, 413)
        assert closed_by_peer(sock, within_s=3)


def test_a_route_that_never_reads_its_body_cannot_be_used_to_push_200_mb(
    body_server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(body_server.port, operator_cert, ca.cert_path, timeout_s=2) as sock:
        sock.sendall(_head("/ignore", f"content-length: {200 * MIB}"))
        sent = _push(sock, 200 * MIB)

    assert sent < 32 * MIB


def test_a_body_that_does_not_arrive_in_time_ends_its_connection(
    body_server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(body_server.port, operator_cert, ca.cert_path) as sock:
        sock.sendall(_head("/echo", "content-length: 100") + b"only ten!!")
        started = time.monotonic()

        assert closed_by_peer(sock, within_s=4)
        assert time.monotonic() - started >= 0.8  # the body's deadline (1 s), not at once
