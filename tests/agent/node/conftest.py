"""Fixtures for the node agent over real mutual TLS: the session's CA with a certificate for every caller,
the ETSI GS QKD 015 data model shipped with sdqkd, and per module one network: an
emulated Madrid (time × 50) and the agents of Concepción, Norte and Quintín, each served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from agent_node_support import NODES, SPECS, Network, NodePki, serve_network

from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import load_data_model
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.topology.loader import load_topology


@pytest.fixture(scope="module")
def model() -> Any:
    """The yangson model of the ETSI GS QKD 015 modules shipped with sdqkd."""
    return load_data_model(SPECS)


@pytest.fixture(scope="module")
def pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> NodePki:
    ca = ca_issuing_into("agent-node")
    return NodePki(
        ca=ca,
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        agents={node: ca.issue(Role.AGENT, node) for node in NODES},
        controller=ca.issue(Role.CONTROLLER, "controller"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        kme=ca.issue(Role.KME, "norte"),
        sae=ca.issue(Role.SAE, "x"),
    )


@pytest.fixture(scope="module")
def network(model: Any, pki: NodePki) -> Iterator[Network]:
    """A fresh emulated Madrid (nothing configured) and an agent per node, shared by the module's tests."""
    with ExitStack() as stack:
        yield serve_network(stack, load_topology("madrid"), model, pki, pki.agents)


@pytest.fixture(scope="module")
def operator(network: Network, pki: NodePki) -> Iterator[EmulatorClient]:
    """The operator's client of the module's emulator."""
    with EmulatorClient(
        network.emulator_url, pki.operator.cert, pki.operator.key, pki.ca.cert_path
    ) as client:
        yield client
