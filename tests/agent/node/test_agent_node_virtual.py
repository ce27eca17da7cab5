"""Virtual (multi-hop) qkd_links written into the agents of an emulated chain n1-n2-n3, over RESTCONF with
mutual TLS: the same VIRT entry for n1 → n3 accepted at the three nodes of the path without touching a
device, ACTIVE with key while its hops are, refused when a hop is no neighbour, keeping the PHYS link it
relays over from being deleted, and announced down when a fibre under a hop is cut.

The tests share one chain (module scope) and run in file order: the first provisions the PHYS links and
writes the virtual link, the last removes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from agent_node_support import (
    DATA,
    NODE,
    READ,
    STREAM,
    TYPES,
    WRITE,
    Network,
    NodePki,
    app_body,
    app_path,
    client,
    link_body,
    link_ids,
    link_path,
    notifications,
    pairs,
    provision,
    receive,
    serve_network,
    validate_notification,
    validate_tree,
    wait_for,
)

from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import qkdn_id
from sdqkd.pki import Role
from sdqkd.topology.loader import load_topology

pytestmark = pytest.mark.integration

CHAIN = ("n1", "n2", "n3")
VIRT_ID = "7d1c0b9a-8e7f-4a6b-9c5d-4e3f2a1b0c9d"
OTHER_VIRT_ID = "8e2d1c0b-9f8a-4b7c-8d6e-5f4a3b2c1d0e"
APP_ID = "5a1f2e3d-4c5b-4a69-8b7c-9d0e1f2a3b4c"
LINK_DOWN = "etsi-qkd-sdn-node:sdqkdn_link_down"
CHAIN_PAIRS = {("n1-n2-tx", "n1-n2-rx"), ("n2-n3-tx", "n2-n3-rx")}


@pytest.fixture(scope="module")
def chain(model: Any, pki: NodePki) -> Iterator[Network]:
    """A fresh emulated chain:3 and an agent per node, shared by the module's tests."""
    certificates = {node: pki.ca.issue(Role.AGENT, node) for node in CHAIN}
    with ExitStack() as stack:
        yield serve_network(stack, load_topology("chain:3"), model, pki, certificates)


@pytest.fixture(scope="module")
def chain_operator(chain: Network, pki: NodePki) -> Iterator[EmulatorClient]:
    """The operator's client of the chain's emulator."""
    with EmulatorClient(
        chain.emulator_url, pki.operator.cert, pki.operator.key, pki.ca.cert_path
    ) as operator:
        yield operator


@pytest.fixture
def agents(chain: Network, pki: NodePki) -> Iterator[dict[str, httpx.Client]]:
    """The controller's RESTCONF client of each agent of the chain."""
    clients = {node: client(url, pki.controller, pki, read_s=3.0) for node, url in chain.agent_urls.items()}
    yield clients
    for each in clients.values():
        each.close()


def virtual_entry(node: str, qkdl_id: str = VIRT_ID, **changes: Any) -> dict[str, Any]:
    """The VIRT entry for n1 → n3 over n2 that the controller writes at ``node``."""
    prev_hop = {"n2": "n1", "n3": "n2"}.get(node)
    next_hop = {"n1": "n2", "n2": "n3"}.get(node)
    entry: dict[str, Any] = {
        "qkdl_id": qkdl_id,
        "qkdl_enable": True,
        "qkdl_type": f"{TYPES}VIRT",
        "qkdl_local": {"qkdn_id": str(qkdn_id("n1"))},
        "qkdl_remote": {"qkdn_id": str(qkdn_id("n3"))},
        "virt_bandwidth": 0,
    }
    if prev_hop is not None:
        entry["virt_prev_hop"] = str(qkdn_id(prev_hop))
    if next_hop is not None:
        entry["virt_next_hop"] = [str(qkdn_id(next_hop))]
    entry.update(changes)
    return entry


def link_state(agent: httpx.Client, qkdl_id: str = VIRT_ID) -> dict[str, Any]:
    response = agent.get(link_path(qkdl_id), headers=READ)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["etsi-qkd-sdn-node:qkd_link"]
    return dict(entry)


def is_active(entry: dict[str, Any]) -> bool:
    return entry.get("qkdl_status") == f"{TYPES}ACTIVE" and entry["qkdl_performance"]["skr"] > 0


def refusal(response: httpx.Response, status_code: int, tag: str) -> dict[str, Any]:
    """The one RFC 8040 §7.1 error of a refused write, with ``status_code`` and error-tag ``tag``."""
    assert response.status_code == status_code, response.text
    (error,) = response.json()["ietf-restconf:errors"]["error"]
    assert (error["error-type"], error["error-tag"]) == ("application", tag)
    return dict(error)


def test_the_virtual_link_written_at_every_node_of_the_path_is_active_with_key(
    chain: Network, pki: NodePki, chain_operator: EmulatorClient, agents: dict[str, httpx.Client], model: Any
) -> None:
    assert provision(chain, pki) == {"n1": [201], "n2": [201, 201], "n3": [201]}
    wait_for(
        chain_operator.links,
        lambda links: {key for key, pair in pairs(links).items() if pair["active"]} == CHAIN_PAIRS,
        what="the chain's pairs active",
        timeout_s=3.0,
    )
    configured = chain_operator.modules()

    for node in CHAIN:
        response = agents[node].put(link_path(VIRT_ID), json=link_body(virtual_entry(node)), headers=WRITE)
        assert response.status_code == 201, response.text

    for node in CHAIN:
        entry = wait_for(
            lambda a=agents[node]: link_state(a),
            is_active,
            what=f"the virtual link ACTIVE at {node}",
            timeout_s=3.0,
        )
        assert entry["qkdl_performance"]["eskr"] == entry["qkdl_performance"]["skr"]
        tree = agents[node].get(f"{DATA}/{NODE}", headers=READ).json()
        validate_tree(model, tree)
    assert chain_operator.modules() == configured  # a virtual link configures no device


def test_an_app_over_the_virtual_link_is_on_and_keeps_it_from_being_deleted(
    chain: Network, agents: dict[str, httpx.Client]
) -> None:
    n1 = agents["n1"]
    app = {
        "app_id": APP_ID,
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:n1-app",
        "client_app_id": ["urn:sdqkd:sae:n3-app"],
        "backing_qkdl_id": [VIRT_ID],
        "local_qkdn_id": str(qkdn_id("n1")),
        "remote_qkdn_id": str(qkdn_id("n3")),
    }
    assert n1.put(app_path(APP_ID), json=app_body(app), headers=WRITE).status_code == 201
    try:
        wait_for(
            lambda: n1.get(f"{app_path(APP_ID)}/app_status", headers=READ).json(),
            lambda answer: answer == {"etsi-qkd-sdn-node:app_status": f"{TYPES}ON"},
            what="the app ON",
            timeout_s=3.0,
        )
        error = refusal(n1.delete(link_path(VIRT_ID)), 409, "in-use")
        assert VIRT_ID in error["error-path"]
    finally:
        assert n1.delete(app_path(APP_ID)).status_code == 204


@pytest.mark.parametrize(
    ("changes", "member", "message"),
    [
        ({"virt_next_hop": [str(qkdn_id("n4"))]}, "virt_next_hop", "is not a neighbour"),
        ({"virt_prev_hop": str(qkdn_id("n4"))}, "virt_prev_hop", "is not a neighbour"),
        ({"virt_next_hop": [str(qkdn_id("n3")), str(qkdn_id("n4"))]}, "virt_next_hop", "multicast"),
        ({"qkdl_local": {"qkdn_id": str(qkdn_id("n2"))}}, "virt_prev_hop", "source end: no previous hop"),
    ],
)
def test_a_virtual_link_that_does_not_fit_the_node_is_refused_naming_the_member(
    agents: dict[str, httpx.Client], changes: dict[str, Any], member: str, message: str
) -> None:
    n2 = agents["n2"]
    before = n2.get(f"{DATA}/{NODE}/qkd_links", headers=READ, params={"content": "config"}).json()
    entry = virtual_entry("n2", OTHER_VIRT_ID, **changes)

    error = refusal(
        n2.put(link_path(OTHER_VIRT_ID), json=link_body(entry), headers=WRITE), 400, "invalid-value"
    )

    assert error["error-path"] == (
        f'/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link[qkdl_id="{OTHER_VIRT_ID}"]/{member}'
    )
    assert message in error["error-message"]
    assert n2.get(f"{DATA}/{NODE}/qkd_links", headers=READ, params={"content": "config"}).json() == before


def test_a_phys_link_the_virtual_link_relays_over_cannot_be_deleted(
    chain: Network, agents: dict[str, httpx.Client]
) -> None:
    n2_n3 = link_ids(chain.topology)["n2-n3"]

    error = refusal(agents["n2"].delete(link_path(n2_n3)), 409, "in-use")

    assert error["error-path"] == f'/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link[qkdl_id="{n2_n3}"]'
    assert VIRT_ID in error["error-message"]
    assert link_state(agents["n2"], n2_n3)["qkdl_status"] == f"{TYPES}ACTIVE"


def test_a_cut_fibre_under_a_hop_takes_the_virtual_link_down_once_and_is_notified(
    chain_operator: EmulatorClient, agents: dict[str, httpx.Client], model: Any
) -> None:
    n2 = agents["n2"]
    try:
        with n2.stream("GET", STREAM, headers={"Accept": "text/event-stream"}) as response:
            lines = response.iter_lines()
            assert next(lines) == ": subscribed"
            received = notifications(lines)
            cut_at = time.monotonic()
            chain_operator.fibre_action("n2-n3", "cut")

            down = receive(received, LINK_DOWN, lambda n: n["qkd_link"]["qkdl_id"] == VIRT_ID, cut_at)
            # a refresh or two later, still down: announced once
            again = []
            while time.monotonic() - cut_at < 1.5:
                notification = next(received)
                if LINK_DOWN in notification and notification[LINK_DOWN]["qkd_link"]["qkdl_id"] == VIRT_ID:
                    again.append(notification)
        validate_notification(model, LINK_DOWN, down[LINK_DOWN])
        assert not again
        assert "next hop" in down[LINK_DOWN]["qkd_link"]["reason"]
        entry = link_state(n2)
        assert entry["qkdl_status"] != f"{TYPES}ACTIVE"
        assert entry["qkdl_performance"] == {"skr": 0, "eskr": 0}
        assert link_state(agents["n3"])["qkdl_status"] != f"{TYPES}ACTIVE"
        assert is_active(link_state(agents["n1"]))  # n1's own hop (n1-n2) still makes key
    finally:
        chain_operator.fibre_action("n2-n3", "restore")
    wait_for(lambda: link_state(n2), is_active, what="the virtual link ACTIVE again at n2", timeout_s=3.0)


def test_once_the_virtual_link_is_removed_its_phys_link_can_be(
    chain: Network, agents: dict[str, httpx.Client]
) -> None:
    n2 = agents["n2"]
    assert n2.delete(link_path(VIRT_ID)).status_code == 204
    assert n2.delete(link_path(link_ids(chain.topology)["n2-n3"])).status_code == 204
