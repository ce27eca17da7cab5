"""Starting and stopping the background server: the port and the thread are given back."""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from sdqkd.errors import SdqkdError
from sdqkd.pki import CertificateAuthority, IssuedCertificate, client_ssl_context
from sdqkd.server import BackgroundServer, TlsFiles

pytestmark = pytest.mark.integration


def _port_is_free(port: int) -> bool:
    """Whether a listening socket could be bound to ``port`` on loopback now (as a restarted service
    would: with SO_REUSEADDR, so connections in TIME_WAIT do not count, a listener does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def _server_thread_alive(port: int) -> bool:
    return any(
        thread.name == f"sdqkd-server-{port}" and thread.is_alive() for thread in threading.enumerate()
    )


def test_stop_frees_the_port_and_ends_the_thread(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    server = BackgroundServer(probe_app, server_tls).start()
    port = server.port
    try:
        context = client_ssl_context(operator_cert.cert, operator_cert.key, ca.cert_path)
        with httpx.Client(base_url=server.url, verify=context, timeout=5) as client:
            assert client.get("/whoami").status_code == 200
        assert not _port_is_free(port), "control: a running server holds its port"
        assert _server_thread_alive(port)
    finally:
        server.stop()

    assert _port_is_free(port)
    assert not _server_thread_alive(port)


def test_stop_ends_the_connections_a_client_keeps_idle_in_its_pool(
    probe_app: FastAPI, server_tls: TlsFiles, ca: CertificateAuthority, operator_cert: IssuedCertificate
) -> None:
    # The server asks the idle connection to close with a TLS close_notify, which a pooling client
    # never reads: after the graceful period it must be aborted, not left to the closing event loop
    # (an "unclosed resource" warning there, which pytest reports as an error of this test).
    server = BackgroundServer(probe_app, server_tls).start()
    context = client_ssl_context(operator_cert.cert, operator_cert.key, ca.cert_path)
    with httpx.Client(base_url=server.url, verify=context, timeout=5) as client:
        assert client.get("/whoami").status_code == 200
        server.stop()
        gc.collect()  # the event loop and its transports are gone: a leak would warn now

        assert not _server_thread_alive(server.port)
        with pytest.raises(httpx.TransportError):
            client.get("/whoami")


def test_an_app_whose_startup_fails_makes_start_raise_and_gives_the_port_back(server_tls: TlsFiles) -> None:
    @asynccontextmanager
    async def failing_lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no key store")
        yield

    server = BackgroundServer(FastAPI(lifespan=failing_lifespan), server_tls)
    port = server.port

    with pytest.raises(SdqkdError, match="failed to start"):
        server.start()

    assert _port_is_free(port)
    assert not _server_thread_alive(port)


def test_stop_without_start_gives_the_port_back(probe_app: FastAPI, server_tls: TlsFiles) -> None:
    server = BackgroundServer(probe_app, server_tls)
    assert not _port_is_free(server.port), "control: the port is bound from construction"

    server.stop()

    assert _port_is_free(server.port)
