"""Who may use a node agent, by client certificate over mutual TLS (the controller writes, the operator
and the node's KME read, nobody else), and an agent that cannot reach its devices does not start."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agent_node_support import (
    DATA,
    NODE,
    READ,
    STREAM,
    WRITE,
    Network,
    NodePki,
    client,
    link_body,
    link_path,
)

from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.agent.node import NodeAgent
from sdqkd.agent.service import AgentApp
from sdqkd.controller.links import link_entries as qkd_link_entries
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import SdqkdError
from sdqkd.pki import IssuedCertificate
from sdqkd.server import BackgroundServer, TlsFiles

pytestmark = pytest.mark.integration


@pytest.fixture
def norte_as(network: Network, pki: NodePki) -> Iterator[Any]:
    """``norte_as(certificate)``: a client of Norte's agent presenting ``certificate``."""
    clients: list[httpx.Client] = []

    def make(issued: IssuedCertificate) -> httpx.Client:
        clients.append(client(network.agent_urls["norte"], issued, pki))
        return clients[-1]

    yield make
    for each in clients:
        each.close()


def norte_link(network: Network) -> tuple[str, dict[str, Any]]:
    """Norte's end of the Norte-Quintín link, as the controller writes it."""
    for link_id, entry in qkd_link_entries(network.topology)["norte"]:
        if entry["phys_qkd_role"].endswith("TRANSMITTER"):
            return link_id, entry
    raise AssertionError("Norte transmits on no link")


def assert_access_denied(response: httpx.Response) -> None:
    """RFC 8040 §7: 403 with an ``ietf-restconf:errors`` body, error-tag access-denied."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/yang-data+json"
    (error,) = response.json()["ietf-restconf:errors"]["error"]
    assert error["error-tag"] == "access-denied"
    assert error["error-message"]


def test_the_nodes_kme_may_read_but_not_write(network: Network, pki: NodePki, norte_as: Any) -> None:
    kme = norte_as(pki.kme)
    link_id, entry = norte_link(network)

    assert kme.get(f"{DATA}/{NODE}", headers=READ).status_code == 200
    assert_access_denied(kme.put(link_path(link_id), json=link_body(entry), headers=WRITE))
    assert_access_denied(kme.delete(f"{DATA}/{NODE}/qkd_interfaces"))

    assert kme.get(link_path(link_id), headers=READ).status_code == 404  # the refused write left nothing


def test_an_sae_may_not_read(pki: NodePki, norte_as: Any) -> None:
    sae = norte_as(pki.sae)

    assert_access_denied(sae.get(f"{DATA}/{NODE}", headers=READ))
    assert_access_denied(sae.get(STREAM, headers={"Accept": "text/event-stream"}))


def test_a_client_without_a_certificate_is_refused(network: Network, pki: NodePki) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))  # verifies the agent, shows nothing
    with (
        httpx.Client(base_url=network.agent_urls["norte"], verify=context, timeout=5) as anonymous,
        pytest.raises(httpx.TransportError),
    ):
        anonymous.get(f"{DATA}/{NODE}", headers=READ)


def test_the_operator_reads_but_may_not_write(network: Network, pki: NodePki, norte_as: Any) -> None:
    # DESIGN §7: only the controller writes agents
    agent = norte_as(pki.operator)
    link_id, entry = norte_link(network)

    assert agent.get(f"{DATA}/{NODE}", headers=READ).status_code == 200
    assert_access_denied(agent.put(link_path(link_id), json=link_body(entry), headers=WRITE))
    assert agent.get(link_path(link_id), headers=READ).status_code == 404  # the refused write left nothing


def test_the_controller_writes_and_the_devices_follow(
    network: Network, pki: NodePki, norte_as: Any, operator: EmulatorClient
) -> None:
    agent = norte_as(pki.controller)
    link_id, entry = norte_link(network)

    assert agent.put(link_path(link_id), json=link_body(entry), headers=WRITE).status_code == 201
    status = operator.module_status("norte-tx")
    assert (status["peers"], status["dwdm_channel"], status["enabled"]) == (["quintin-rx2"], 59, True)

    assert agent.delete(link_path(link_id)).status_code == 204
    status = operator.module_status("norte-tx")
    assert (status["peers"], status["enabled"]) == ([], False)


class ClosingRecorded(EmulatorDriver):
    """An emulator driver that records whether it was closed."""

    closed = False

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


def test_an_agent_whose_emulator_is_unreachable_fails_to_start_and_releases_its_driver(
    pki: NodePki, model: Any
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    issued = pki.agents["norte"]
    driver = ClosingRecorded(f"https://127.0.0.1:{port}", issued.cert, issued.key, pki.ca.cert_path, "norte")
    agent = NodeAgent("norte", "Norte", driver, model)
    server = BackgroundServer(AgentApp(agent), TlsFiles(issued.cert, issued.key, pki.ca.cert_path))

    with pytest.raises(SdqkdError, match="failed to start"):
        server.start()

    assert driver.closed
