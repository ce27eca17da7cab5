"""The controller's southbound client checks whom it reached, at the TLS handshake: a registered node's
addresses must present that node's agent (or KME) certificate; any other address an agent's or a KME's.
Real handshakes with loopback servers presenting the wrong certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from controller_support import Pki
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sdqkd.controller.registry import NodeView, Registry
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore, NodeRecord
from sdqkd.errors import AgentUnavailable
from sdqkd.etsi015 import qkdn_id
from sdqkd.pki import CertificateAuthority, Identity, IssuedCertificate, Role, server_ssl_context
from sdqkd.pki import ca as ca_module
from tls_support import LoopbackTlsServer, serving

pytestmark = pytest.mark.anyio


@contextmanager
def serving_as(pki: Pki, holder: IssuedCertificate) -> Iterator[LoopbackTlsServer]:
    context = server_ssl_context(holder.cert, holder.key, pki.ca.cert_path)
    with serving(lambda: context) as server:
        yield server


def southbound_of(pki: Pki) -> Southbound:
    return Southbound(pki.controller.cert, pki.controller.key, pki.ca.cert_path, timeout_s=5)


async def test_a_registered_nodes_agent_address_reaches_that_nodes_agent(pki: Pki) -> None:
    southbound = southbound_of(pki)
    with serving_as(pki, pki.agents["norte"]) as agent:
        southbound.expect(agent.url, Identity(Role.AGENT, "norte"))
        with pytest.raises(AgentUnavailable) as answered:  # the stand-in's body is not a qkd_node
            await southbound.node_tree(agent.url)
    await southbound.aclose()

    assert agent.paths == ["/restconf/data/etsi-qkd-sdn-node:qkd_node"]
    assert "certificate" not in str(answered.value)


def legacy_sae(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> IssuedCertificate:
    """An SAE certificate as issued before key usages followed the role (server and client)."""
    usages = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    monkeypatch.setitem(ca_module._EXTENDED_KEY_USAGE, Role.SAE, usages)
    return pki.ca.issue(Role.SAE, "legacy-app")


@pytest.mark.parametrize(
    ("holder", "refusal"),
    [
        ("quintin-agent", "agent:quintin's, expected agent:norte"),
        ("norte-kme", "kme:norte's, expected agent:norte"),
        ("legacy-sae", "sae:legacy-app's, expected agent:norte"),
        ("sae", "unsuitable certificate purpose"),  # an SAE certificate of today cannot even serve
    ],
)
async def test_a_registered_nodes_agent_address_refuses_another_certificate(
    pki: Pki, holder: str, refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    presented = {
        "quintin-agent": lambda: pki.agents["quintin"],
        "norte-kme": lambda: pki.kme,
        "legacy-sae": lambda: legacy_sae(pki, monkeypatch),
        "sae": lambda: pki.sae,
    }[holder]()
    southbound = southbound_of(pki)
    with serving_as(pki, presented) as impostor:
        southbound.expect(impostor.url, Identity(Role.AGENT, "norte"))
        with pytest.raises(AgentUnavailable, match=refusal):
            await southbound.node_tree(impostor.url)
    await southbound.aclose()

    assert impostor.paths == []  # refused before any request was sent


async def test_an_address_not_registered_admits_agents_and_kmes_but_not_an_sae(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    southbound = southbound_of(pki)
    with serving_as(pki, legacy_sae(pki, monkeypatch)) as sae, serving_as(pki, pki.kme) as kme:
        with pytest.raises(AgentUnavailable, match="sae:legacy-app's, expected agent or kme"):
            await southbound.kme_state(sae.url)
        with pytest.raises(AgentUnavailable, match="not a KME status"):  # reached: the body is the stand-in's
            await southbound.kme_state(kme.url)
    await southbound.aclose()

    assert sae.paths == []
    assert kme.paths == ["/api/v1/kme"]


async def test_registering_a_node_binds_its_addresses_to_its_certificates(pki: Pki, tmp_path: Path) -> None:
    southbound = southbound_of(pki)

    async def refresh(node_id: str) -> None:
        pass

    def notified(view: NodeView, notification: dict[str, Any]) -> None:
        pass

    registry = Registry(ControllerStore(tmp_path / "controller.db"), southbound, 60.0, refresh, notified)
    with serving_as(pki, pki.agents["quintin"]) as agent, serving_as(pki, pki.kme) as kme:
        registry.register(
            NodeRecord("norte", qkdn_id("norte"), agent.url, kme.url, "Madrid", dt.datetime.now(dt.UTC))
        )
        with pytest.raises(AgentUnavailable, match="agent:quintin's, expected agent:norte"):
            await southbound.node_tree(agent.url)
        with pytest.raises(AgentUnavailable, match="not a KME status"):  # kme:norte: the node's own KME
            await southbound.kme_state(kme.url)
        await registry.stop()

    assert agent.paths == []


async def test_given_the_crl_the_southbound_refuses_a_revoked_agent(
    ca_issuing_into: Callable[[str], CertificateAuthority],
) -> None:
    ca = ca_issuing_into("southbound-crl")  # a CA of this test's own: its CRL changes nobody else's
    controller, agent = ca.issue(Role.CONTROLLER, "controller"), ca.issue(Role.AGENT, "norte")
    ca.revoke(Identity(Role.AGENT, "norte"), x509.ReasonFlags.key_compromise)
    southbound = Southbound(controller.cert, controller.key, ca.cert_path, timeout_s=5, crl=ca.crl_path)
    context = server_ssl_context(agent.cert, agent.key, ca.cert_path)

    with serving(lambda: context) as revoked, pytest.raises(AgentUnavailable, match="certificate revoked"):
        await southbound.node_tree(revoked.url)
    await southbound.aclose()

    assert revoked.paths == []
