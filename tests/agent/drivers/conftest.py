"""Fixtures for the agent's device drivers: the session's CA with the emulator's, two agents' and the
operator's certificates, a fresh emulated Madrid network served with mutual TLS for each test, and the
official ETSI GS QKD 015 data model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from agent_drivers_support import SPECS, TIME_SCALE, AgentPki
from yangson import DataModel

from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.client import EmulatorClient
from sdqkd.emulator.engine import Emulator
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import Topology


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def agent_pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> AgentPki:
    ca = ca_issuing_into("agent-drivers")
    return AgentPki(
        ca=ca,
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        agent_norte=ca.issue(Role.AGENT, "norte"),
        agent_concepcion=ca.issue(Role.AGENT, "concepcion"),
        operator=ca.issue(Role.OPERATOR, "operator"),
    )


@pytest.fixture(scope="session")
def madrid() -> Topology:
    return load_topology("madrid")


@pytest.fixture
def server(agent_pki: AgentPki, madrid: Topology) -> Iterator[BackgroundServer]:
    """A fresh emulated Madrid network (nothing configured), its clock running, served on loopback."""
    emulator = Emulator(madrid, time_scale=TIME_SCALE)
    tls = TlsFiles(cert=agent_pki.emulator.cert, key=agent_pki.emulator.key, ca=agent_pki.ca.cert_path)
    with BackgroundServer(create_emulator_app(emulator), tls) as running:
        yield running


@pytest.fixture
def operator(server: BackgroundServer, agent_pki: AgentPki) -> Iterator[EmulatorClient]:
    """The operator's client of the test's emulator."""
    pki = agent_pki
    with EmulatorClient(server.url, pki.operator.cert, pki.operator.key, pki.ca.cert_path) as client:
        yield client


@pytest.fixture(scope="session")
def yang_model() -> DataModel:
    """The ETSI GS QKD 015 data model shipped with sdqkd (etsi-qkd-sdn-node 2022-01-30)."""
    return DataModel.from_file(str(SPECS / "yang-library.json"), [str(SPECS)])
