"""The guarded listener: connections that never authenticate cannot lock a client with a certificate
out, a connection gets a deadline for its handshake and for its request's head, authenticated
connections are capped per address, and TLS 1.2 is offered only with ECDHE and AEAD ciphers."""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from raw_https import closed_by_peer, read_response, tls_connection
from sdqkd.pki import CertificateAuthority, IssuedCertificate, client_ssl_context
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.server.limits import Limits

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def _idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` plain TCP connections to ``port`` that never send a byte (no TLS)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _closed_ones(socks: list[socket.socket], wait_s: float) -> int:
    """How many of ``socks`` the server has closed (waiting up to ``wait_s`` for the last ones)."""
    closed = 0
    deadline = time.monotonic() + wait_s
    with selectors.DefaultSelector() as selector:  # epoll: select() stops at descriptor 1024
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        while closed < len(socks) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(timeout=left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if sock.recv(1) != b"":
                        continue
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError:
                    pass
                selector.unregister(sock)
                closed += 1
    return closed


def _trickle_until_closed(sock: ssl.SSLSocket, within_s: float) -> bool:
    """Send a byte of a header field every 0.1 s; whether the server closed the connection meanwhile."""
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            sock.sendall(b"x")  # never a complete header field
            sock.settimeout(0.1)
            with contextlib.suppress(TimeoutError, ssl.SSLWantReadError):
                if sock.recv(1) == b"":
                    return True
    except (OSError, ssl.SSLError):
        return True
    return False


def _whoami(url: str, issued: IssuedCertificate, ca: CertificateAuthority) -> httpx.Response:
    context = client_ssl_context(issued.cert, issued.key, ca.cert_path)
    with httpx.Client(base_url=url, verify=context, timeout=10) as client:
        return client.get("/whoami")


def test_idle_connections_over_the_handshake_cap_do_not_lock_out_a_client_with_a_certificate(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    limits = Limits(max_handshaking=8, max_connections=16)
    with (
        BackgroundServer(probe_app, server_tls, limits=limits) as server,
        _idle_connections(server.port, 60) as idle,
    ):
        answer = _whoami(server.url, operator_cert, ca)

        assert answer.status_code == 200
        assert answer.json()["client_cert_name"] == "CN=alice-ops,OU=operator"  # seen through the listener
        # the oldest idle ones made room: the server holds no more than its cap of them
        assert _closed_ones(idle, wait_s=3) >= 60 - 8


def test_a_few_thousand_idle_connections_do_not_lock_out_a_client_with_a_certificate(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(hard, 20_000) < 7000:
        pytest.skip(f"needs 7000 open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
    try:
        with BackgroundServer(probe_app, server_tls) as server, _idle_connections(server.port, 3000) as idle:
            started = time.monotonic()
            answer = _whoami(server.url, operator_cert, ca)
            latency_s = time.monotonic() - started

            assert answer.status_code == 200
            assert latency_s < 5
            assert _closed_ones(idle, wait_s=5) >= 3000 - Limits().max_handshaking
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_that_never_starts_its_handshake_is_closed_after_the_handshake_timeout(
    probe_app: FastAPI, server_tls: TlsFiles
) -> None:
    limits = Limits(handshake_timeout_s=0.5)
    with (
        BackgroundServer(probe_app, server_tls, limits=limits) as server,
        _idle_connections(server.port, 1) as idle,
    ):
        started = time.monotonic()
        assert closed_by_peer(idle[0], within_s=3)
        assert time.monotonic() - started >= 0.4  # the deadline, not at once


def test_a_connection_that_sends_no_request_is_closed_after_the_header_timeout(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with (
        BackgroundServer(probe_app, server_tls, limits=Limits(header_timeout_s=0.5)) as server,
        tls_connection(server.port, operator_cert, ca.cert_path) as sock,
    ):
        assert closed_by_peer(sock, within_s=3)


def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_header_timeout(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with (
        BackgroundServer(probe_app, server_tls, limits=Limits(header_timeout_s=1.0)) as server,
        tls_connection(server.port, operator_cert, ca.cert_path) as sock,
    ):
        sock.sendall(b"GET /whoami HTTP/1.1\r\nhost: localhost\r\n")
        started = time.monotonic()
        closed = _trickle_until_closed(sock, within_s=5)

        assert closed
        assert time.monotonic() - started < 3


def test_a_head_over_16_kib_is_answered_431_and_the_connection_closed(
    server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(server.port, operator_cert, ca.cert_path) as sock:
        sock.sendall(
            b"GET /whoami HTTP/1.1\r\nhost: localhost\r\nx-filler: " + b"a" * (17 * 1024) + b"\r\n\r\n"
        )
        answer = read_response(sock)

        assert answer.status == 431
        assert closed_by_peer(sock, within_s=3)


def test_a_head_just_under_16_kib_is_served(
    server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with tls_connection(server.port, operator_cert, ca.cert_path) as sock:
        sock.sendall(
            b"GET /whoami HTTP/1.1\r\nhost: localhost\r\nx-filler: " + b"a" * (15 * 1024) + b"\r\n\r\n"
        )
        assert read_response(sock).status == 200


def test_authenticated_connections_from_one_address_are_capped(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    with (
        BackgroundServer(probe_app, server_tls, limits=Limits(max_per_address=2)) as server,
        tls_connection(server.port, operator_cert, ca.cert_path) as first,
        tls_connection(server.port, operator_cert, ca.cert_path) as second,
    ):
        time.sleep(0.2)  # both handed over
        with tls_connection(server.port, operator_cert, ca.cert_path) as third:
            assert closed_by_peer(third, within_s=3)
        for sock in (first, second):
            sock.sendall(b"GET /whoami HTTP/1.1\r\nhost: localhost\r\n\r\n")
            assert read_response(sock).status == 200


@pytest.mark.parametrize(
    "cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"]
)
def test_tls_1_2_refuses_cbc_and_static_key_exchange_suites(
    server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate, cipher: str
) -> None:
    context = client_ssl_context(operator_cert.cert, operator_cert.key, ca.cert_path)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    with (
        pytest.raises(ssl.SSLError),
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost"),
    ):
        pass


def test_tls_1_2_with_ecdhe_and_aes_gcm_is_accepted(
    server: BackgroundServer, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    context = client_ssl_context(operator_cert.cert, operator_cert.key, ca.cert_path)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        assert sock.version() == "TLSv1.2"
