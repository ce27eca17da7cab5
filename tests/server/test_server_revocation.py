"""A running service takes a revocation and a rotation up without a restart: its listener asks
:class:`~sdqkd.pki.server_contexts.ServerContexts` for each new connection's context."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sdqkd.pki import CertificateAuthority, Identity, IssuedCertificate, Role, client_ssl_context
from sdqkd.server import BackgroundServer, PeerDep, TlsFiles


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    def whoami(peer: PeerDep) -> dict[str, str]:
        return {"caller": str(peer)}

    return app


def _served_certificate(port: int, client: IssuedCertificate, ca: Path) -> bytes:
    context = client_ssl_context(client.cert, client.key, ca)
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def _get(url: str, cert: Path, key: Path, ca: Path) -> int:
    with httpx.Client(verify=client_ssl_context(cert, key, ca), timeout=5) as http:
        return http.get(f"{url}/whoami").status_code


def _eventually_refused(url: str, cert: Path, key: Path, ca: Path) -> None:
    deadline = time.monotonic() + 5
    while True:  # the files are looked at once a second at most
        try:
            _get(url, cert, key, ca)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError):
            # TLS 1.3: the client finishes its handshake before the server refuses its certificate
            return
        assert time.monotonic() < deadline, "the revoked certificate was still admitted after 5 s"
        time.sleep(0.2)


def test_a_certificate_revoked_while_the_service_runs_is_refused_from_then_on(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "pki")
    served = ca.issue(Role.KME, "kme-a")
    alice, bob = ca.issue(Role.OPERATOR, "alice"), ca.issue(Role.OPERATOR, "bob")
    tls = TlsFiles(served.cert, served.key, ca.cert_path, ca.crl_path)  # no CRL yet
    with BackgroundServer(make_app(), tls) as server:
        assert _get(server.url, alice.cert, alice.key, ca.cert_path) == 200

        ca.revoke(Identity(Role.OPERATOR, "alice"))

        _eventually_refused(server.url, alice.cert, alice.key, ca.cert_path)
        assert _get(server.url, bob.cert, bob.key, ca.cert_path) == 200


def test_a_rotated_server_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "pki")
    served = ca.issue(Role.KME, "kme-a")
    alice = ca.issue(Role.OPERATOR, "alice")
    with BackgroundServer(make_app(), TlsFiles(served.cert, served.key, ca.cert_path, ca.crl_path)) as server:
        before = _served_certificate(server.port, alice, ca.cert_path)
        ca.rotate(Identity(Role.KME, "kme-a"))
        deadline = time.monotonic() + 5
        while _served_certificate(server.port, alice, ca.cert_path) == before:
            assert time.monotonic() < deadline, "the old certificate was still served after 5 s"
            time.sleep(0.2)
        assert _get(server.url, alice.cert, alice.key, ca.cert_path) == 200


@pytest.fixture(autouse=True)
def _quiet_reload_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="sdqkd.pki.server_contexts")
