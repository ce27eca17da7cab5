"""Fixtures for the controller over real mutual TLS: the session's CA with a certificate for every
caller, and per module one network: an emulated Madrid (time × 50), the agents of its three nodes, and
the controller (its SQLite file in a temporary folder), each served on loopback. The agents use the
ETSI GS QKD 015 modules shipped with sdqkd.

Each agent gets a data model of its own: the agents serve from threads of this one process, and a
yangson ``DataModel`` is not safe to validate from two threads at once (a ``when`` condition's verdict
is kept on the shared schema pattern), so one shared model makes an agent refuse a valid write now and
then (``member-not-allowed: phys_wavelength``). As separate processes, as deployed, they share nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from controller_support import NODES, SPECS, TIME_SCALE, Net, Pki, serve_controller
from yangson import DataModel

from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.agent.node import NodeAgent
from sdqkd.agent.service import AgentApp
from sdqkd.controller.core import Controller
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.client import EmulatorClient
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi015 import load_data_model
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.loader import load_topology


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    """A data model per agent (see the module's docstring for why not one for all)."""
    load_data_model(SPECS)  # the modules load: a broken one fails here, with sdqkd's message
    return {node: DataModel.from_file(str(SPECS / "yang-library.json"), [str(SPECS)]) for node in NODES}


@pytest.fixture(scope="module")
def pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Pki:
    ca = ca_issuing_into("controller")
    return Pki(
        ca=ca,
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        agents={node: ca.issue(Role.AGENT, node) for node in NODES},
        controller=ca.issue(Role.CONTROLLER, "controller"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        kme=ca.issue(Role.KME, "norte"),
        sae=ca.issue(Role.SAE, "norte-app"),
    )


@pytest.fixture(scope="module")
def network(models: dict[str, Any], pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """Emulator and agents (nothing configured yet); the controller is started by ``controller``."""
    topology = load_topology("madrid")
    with ExitStack() as stack:
        tls = TlsFiles(pki.emulator.cert, pki.emulator.key, pki.ca.cert_path)
        emulator = stack.enter_context(
            BackgroundServer(create_emulator_app(Emulator(topology, time_scale=TIME_SCALE)), tls)
        )
        urls: dict[str, str] = {}
        for node in NODES:
            issued = pki.agents[node]
            driver = EmulatorDriver(emulator.url, issued.cert, issued.key, pki.ca.cert_path, node)
            agent = NodeAgent(node, topology.node(node).name, driver, models[node])
            agent_tls = TlsFiles(issued.cert, issued.key, pki.ca.cert_path)
            urls[node] = stack.enter_context(BackgroundServer(AgentApp(agent), agent_tls)).url
        database = Path(tmp_path_factory.mktemp("controller")) / "state.db"
        yield Net(topology, emulator.url, urls, database)


@pytest.fixture(scope="module")
def controller(network: Net, pki: Pki) -> Iterator[Controller]:
    with serve_controller(network, pki) as running:
        yield running


@pytest.fixture(scope="module")
def operator_emulator(network: Net, pki: Pki) -> Iterator[EmulatorClient]:
    with EmulatorClient(
        network.emulator_url, pki.operator.cert, pki.operator.key, pki.ca.cert_path
    ) as client:
        yield client
