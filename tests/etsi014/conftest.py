"""Fixtures for the ETSI GS QKD 014 tests: the session's CA with certificates for every caller, an
in-memory KeyService, in-process clients whose certificate reaches the app through the ASGI TLS
extension, and one real mutual-TLS server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from etsi014_support import (
    BASE_URL,
    CallAs,
    FakeKeyService,
    Pki,
    certificate_without_identity,
)
from fastapi import FastAPI

from asgi_support import clients_presenting
from sdqkd.etsi014 import KeyService
from sdqkd.etsi014.app import create_etsi014_app
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server import BackgroundServer, TlsFiles


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pki(
    ca_issuing_into: Callable[[str], CertificateAuthority], tmp_path_factory: pytest.TempPathFactory
) -> Pki:
    ca = ca_issuing_into("etsi014")
    # deliberately a second CA, not the session's: the tests prove its certificates are refused
    foreign = CertificateAuthority.create(tmp_path_factory.mktemp("etsi014-foreign-ca"), name="foreign CA")
    return Pki(
        ca=ca,
        kme=ca.issue(Role.KME, "kme-1"),
        sae_a=ca.issue(Role.SAE, "sae-a"),
        sae_b=ca.issue(Role.SAE, "sae-b"),
        kme_2=ca.issue(Role.KME, "kme-2"),
        operator=ca.issue(Role.OPERATOR, "alice"),
        no_identity=certificate_without_identity(ca, tmp_path_factory.mktemp("etsi014-anonymous")),
        foreign_ca=foreign,
        foreign_sae=foreign.issue(Role.SAE, "sae-a"),
    )


@pytest.fixture
def service() -> FakeKeyService:
    return FakeKeyService()


@pytest.fixture
def app(service: FakeKeyService) -> FastAPI:
    typed: KeyService = service  # the fake must satisfy the protocol the app serves
    return create_etsi014_app(typed)


@pytest.fixture
async def call_as(app: FastAPI) -> AsyncIterator[CallAs]:
    """``call_as(certificate)``: an in-process client presenting ``certificate`` (None: none)."""
    async with clients_presenting(app, BASE_URL) as make:
        yield make


@pytest.fixture
def sae_a(call_as: CallAs, pki: Pki) -> httpx.AsyncClient:
    """The master SAE ``sae-a``, in process."""
    return call_as(pki.sae_a)


@pytest.fixture
def sae_b(call_as: CallAs, pki: Pki) -> httpx.AsyncClient:
    """The slave SAE ``sae-b``, in process."""
    return call_as(pki.sae_b)


@pytest.fixture(scope="session")
def server_service() -> FakeKeyService:
    """The service behind :func:`kme_server` (shared by the real-network tests)."""
    return FakeKeyService()


@pytest.fixture(scope="session")
def kme_server(pki: Pki, server_service: FakeKeyService) -> Iterator[BackgroundServer]:
    """The ETSI 014 app served by ``kme-1`` with mutual TLS on a loopback port."""
    tls = TlsFiles(cert=pki.kme.cert, key=pki.kme.key, ca=pki.ca.cert_path)
    with BackgroundServer(create_etsi014_app(server_service), tls) as server:
        yield server
