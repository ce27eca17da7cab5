"""Fixtures for the server tests: the session's CA with server and client certificates, a tiny
FastAPI app that reports who called it, and one real mutual-TLS server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sdqkd.errors import Forbidden, SdqkdError, Unauthenticated
from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role, client_ssl_context
from sdqkd.server import BackgroundServer, PeerDep, TlsFiles
from sdqkd.server.authz import Table, allow, authorise
from sdqkd.server.errors import ErrorRenderer, install_error_handlers


@pytest.fixture(scope="session")
def ca(ca_issuing_into: Callable[[str], CertificateAuthority]) -> CertificateAuthority:
    return ca_issuing_into("server")


@pytest.fixture(scope="session")
def server_tls(ca: CertificateAuthority) -> TlsFiles:
    issued = ca.issue(Role.KME, "kme-server")
    return TlsFiles(cert=issued.cert, key=issued.key, ca=ca.cert_path)


@pytest.fixture(scope="session")
def operator_cert(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.OPERATOR, "alice-ops")


@pytest.fixture(scope="session")
def kme_cert(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.KME, "kme-b")


@pytest.fixture(scope="session")
def foreign_cert(tmp_path_factory: pytest.TempPathFactory) -> IssuedCertificate:
    """An operator certificate from a CA the server does not trust."""
    # deliberately a second CA, not the session's: the test proves its certificates are refused
    return CertificateAuthority.create(tmp_path_factory.mktemp("foreign-ca")).issue(Role.OPERATOR, "mallory")


def _refused(status: int) -> ErrorRenderer:
    def render(request: Request, exc: SdqkdError) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=status)

    return render


def make_app() -> FastAPI:
    """An app that returns the caller's identity, its TLS extension and its connection, with one route
    for operators only; ``Unauthenticated`` maps to 401 and ``Forbidden`` to 403, as in every sdqkd
    service that has a 403."""
    app = FastAPI()
    install_error_handlers(app, {Unauthenticated: _refused(401), Forbidden: _refused(403)})

    @app.get("/whoami")
    def whoami(peer: PeerDep, request: Request) -> dict[str, Any]:
        tls = request.scope["extensions"]["tls"]
        return {
            "role": str(peer.role),
            "name": peer.name,
            "client_port": request.scope["client"][1],
            "client_cert_chain": tls["client_cert_chain"],
            "client_cert_name": tls["client_cert_name"],
            "tls_version": tls["tls_version"],
        }

    operators = Table("probe", {("GET", "/operators-only"): allow(Role.OPERATOR)})

    @app.get("/operators-only", dependencies=[authorise(operators)])
    def operators_only(peer: PeerDep) -> dict[str, str]:
        return {"admitted": str(peer)}

    return app


@pytest.fixture
def probe_app() -> FastAPI:
    """A fresh instance of the test app, for tests that run a server of their own."""
    return make_app()


@pytest.fixture(scope="session")
def server(server_tls: TlsFiles) -> Iterator[BackgroundServer]:
    """One real server for the session (tests that stop a server start their own)."""
    with BackgroundServer(make_app(), server_tls) as running:
        yield running


ClientOf = Callable[[IssuedCertificate], httpx.Client]


@pytest.fixture
def client_of(server: BackgroundServer, ca: CertificateAuthority) -> Iterator[ClientOf]:
    """``client_of(issued)``: an httpx client presenting ``issued`` to the session server (closed
    after the test)."""
    clients: list[httpx.Client] = []

    def make(issued: IssuedCertificate) -> httpx.Client:
        context = client_ssl_context(issued.cert, issued.key, ca.cert_path)
        clients.append(httpx.Client(base_url=server.url, verify=context, timeout=5))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
