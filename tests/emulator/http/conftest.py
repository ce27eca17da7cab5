"""Fixtures for the emulator's HTTPS API: the session's CA with a certificate for every kind of caller,
a fresh emulated Madrid network served with mutual TLS on loopback for each test, and clients that
present a given certificate (closed after the test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from emulator_http_support import TIME_SCALE, ClientAs, EmulatorPki, HttpAs, wait_for

from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.client import EmulatorClient
from sdqkd.emulator.engine import Emulator
from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role, client_ssl_context
from sdqkd.runtime.configs import pair_configuration
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import Topology


@pytest.fixture(scope="session")
def emulator_pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> EmulatorPki:
    ca = ca_issuing_into("emulator-http")
    return EmulatorPki(
        ca=ca,
        server=ca.issue(Role.EMULATOR, "emulator"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        controller=ca.issue(Role.CONTROLLER, "controller"),
        agent_norte=ca.issue(Role.AGENT, "norte"),
        kme_concepcion=ca.issue(Role.KME, "concepcion"),
        kme_norte=ca.issue(Role.KME, "norte"),
        kme_quintin=ca.issue(Role.KME, "quintin"),
        sae_x=ca.issue(Role.SAE, "x"),
    )


@pytest.fixture(scope="session")
def madrid() -> Topology:
    return load_topology("madrid")


@pytest.fixture
def server(emulator_pki: EmulatorPki, madrid: Topology) -> Iterator[BackgroundServer]:
    """A fresh emulated Madrid network (nothing configured yet), its clock running, served on loopback."""
    emulator = Emulator(madrid, time_scale=TIME_SCALE)
    tls = TlsFiles(cert=emulator_pki.server.cert, key=emulator_pki.server.key, ca=emulator_pki.ca.cert_path)
    with BackgroundServer(create_emulator_app(emulator), tls) as running:
        yield running


@pytest.fixture
def client_as(server: BackgroundServer, emulator_pki: EmulatorPki) -> Iterator[ClientAs]:
    """``client_as(issued)``: an :class:`EmulatorClient` of the test's server presenting ``issued``."""
    clients: list[EmulatorClient] = []

    def make(issued: IssuedCertificate) -> EmulatorClient:
        clients.append(EmulatorClient(server.url, issued.cert, issued.key, emulator_pki.ca.cert_path))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def http_as(server: BackgroundServer, emulator_pki: EmulatorPki) -> Iterator[HttpAs]:
    """``http_as(issued, read_timeout_s=5)``: a raw httpx client of the test's server presenting
    ``issued``."""
    clients: list[httpx.Client] = []

    def make(issued: IssuedCertificate, read_timeout_s: float = 5.0) -> httpx.Client:
        context = client_ssl_context(issued.cert, issued.key, emulator_pki.ca.cert_path)
        timeout = httpx.Timeout(5.0, read=read_timeout_s)
        clients.append(httpx.Client(base_url=server.url, verify=context, timeout=timeout))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def operator(client_as: ClientAs, emulator_pki: EmulatorPki) -> EmulatorClient:
    return client_as(emulator_pki.operator)


@pytest.fixture
def network(operator: EmulatorClient, madrid: Topology) -> EmulatorClient:
    """The Madrid pairs configured as ``sdqkd up`` does, key in both active pairs' buffers; the
    operator's client."""
    for module_id, config in pair_configuration(madrid).items():
        operator.configure(module_id, config["peers"], config["dwdm_channel"], enabled=True)
    wait_for(
        operator.links,
        lambda links: all(link["keys_available"] > 0 for link in links if link["active"]),
        what="key in the active pairs",
        timeout_s=5.0,
    )
    return operator
