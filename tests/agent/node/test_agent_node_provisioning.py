"""The node agents of an emulated Madrid over RESTCONF with mutual TLS: discovery fills each datastore,
links the controller writes configure the modules end to end, a link the agent cannot use is refused as
invalid (400) and one a device refuses is vetoed (500), and a deleted link unpairs its module.

The tests share one network (module scope) and run in file order: discovery sees it unconfigured, the
provisioning test writes every link first; the later tests (re)provision before they change anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agent_node_support import (
    DATA,
    NODE,
    READ,
    TYPES,
    WRITE,
    Network,
    NodePki,
    client,
    link_body,
    link_ids,
    link_path,
    pairs,
    provision,
    validate_tree,
    wait_for,
)

from sdqkd.controller.links import link_entries as qkd_link_entries
from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import qkdi_id, qkdn_id

pytestmark = pytest.mark.integration

ACTIVE_PAIRS = {("concepcion-tx", "norte-rx"), ("norte-tx", "quintin-rx2")}
SWITCHED_AWAY = ("concepcion-tx", "quintin-rx")  # the switch at Concepción is cross-connected to Norte


@pytest.fixture
def controller_of(network: Network, pki: NodePki) -> Iterator[dict[str, httpx.Client]]:
    """The controller's RESTCONF client of each agent."""
    clients = {node: client(url, pki.controller, pki) for node, url in network.agent_urls.items()}
    yield clients
    for each in clients.values():
        each.close()


@pytest.fixture
def provisioned(network: Network, pki: NodePki, operator: EmulatorClient) -> None:
    """Every Madrid link written to its agents and the two unswitched pairs making key."""
    provision(network, pki)
    wait_for(
        operator.links,
        lambda links: {key for key, pair in pairs(links).items() if pair["active"]} == ACTIVE_PAIRS,
        what="the Madrid pairs active",
        timeout_s=3.0,
    )


def node_tree(agent: httpx.Client, **params: str) -> dict[str, Any]:
    response = agent.get(f"{DATA}/{NODE}", headers=READ, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/yang-data+json"
    return dict(response.json())


def configuration(agent: httpx.Client) -> dict[str, Any]:
    """What the controller configures at an agent: the tree's configuration without ``qkdl_status``
    (configuration in the official model, yet the agent's to set from the devices)."""
    tree = node_tree(agent, content="config")
    for entry in tree[NODE].get("qkd_links", {}).get("qkd_link", []):
        entry.pop("qkdl_status", None)
    return tree


def link_states(agent: httpx.Client) -> dict[str, dict[str, Any]]:
    """The agent's link entries by ``qkdl_id``."""
    return {entry["qkdl_id"]: entry for entry in node_tree(agent)[NODE]["qkd_links"].get("qkd_link", [])}


def test_discovery_lists_exactly_each_nodes_modules_and_the_tree_validates(
    network: Network, controller_of: dict[str, httpx.Client], model: Any
) -> None:
    for node, agent in controller_of.items():
        response = agent.get(f"{DATA}/{NODE}/qkd_interfaces", headers=READ)
        assert response.status_code == 200, response.text
        interfaces = response.json()["etsi-qkd-sdn-node:qkd_interfaces"]["qkd_interface"]
        modules = [m for m in network.topology.qkd_modules if m.node == node]
        assert sorted(i["qkdi_id"] for i in interfaces) == sorted(qkdi_id(m.id) for m in modules)
        by_id = {i["qkdi_id"]: i for i in interfaces}
        for module in modules:
            interface = by_id[qkdi_id(module.id)]
            assert interface["qkdi_type"] == f"{TYPES}CV-QKD"
            assert interface["qkdi_capabilities"]["role_support"] == f"{TYPES}{module.role.upper()}"
            assert interface["qkdi_status"] == f"{TYPES}DISABLED"  # nothing configured yet

        tree = node_tree(agent)
        assert tree[NODE]["qkdn_id"] == str(qkdn_id(node))
        assert tree[NODE]["qkdn_location_id"] == network.topology.node(node).name
        validate_tree(model, tree)


def test_links_written_by_the_controller_configure_the_modules_end_to_end(
    network: Network,
    pki: NodePki,
    controller_of: dict[str, httpx.Client],
    operator: EmulatorClient,
    model: Any,
) -> None:
    codes = provision(network, pki)
    assert codes == {node: [201, 201] for node in ("concepcion", "norte", "quintin")}

    emulated = pairs(operator.links())
    assert set(emulated) == {*ACTIVE_PAIRS, SWITCHED_AWAY}
    assert all(emulated[key]["active"] for key in ACTIVE_PAIRS)
    assert not emulated[SWITCHED_AWAY]["active"]
    assert emulated[SWITCHED_AWAY]["skr_bps"] == 0
    assert all(emulated[key]["skr_bps"] > 0 for key in ACTIVE_PAIRS)

    ids = link_ids(network.topology)
    expected_skr = {
        ids[link.id]: round(emulated[(link.transmitter, link.receiver)]["skr_bps"])
        for link in network.topology.qkd_links
    }
    switched_away = ids["concepcion-quintin"]
    for node, agent in controller_of.items():
        written = {link_id for link_id, _ in qkd_link_entries(network.topology)[node]}

        def settled(states: dict[str, dict[str, Any]], written: set[str] = written) -> bool:
            return set(states) == written and all(
                state.get("qkdl_status") == f"{TYPES}ACTIVE"
                and state["qkdl_performance"]["skr"] == expected_skr[link_id]
                for link_id, state in states.items()
                if link_id != switched_away
            )

        states = wait_for(
            lambda agent=agent: link_states(agent), settled, what=f"{node}'s links active", timeout_s=3.0
        )
        for link_id, state in states.items():
            assert state["qkdl_performance"] == {"skr": expected_skr[link_id], "eskr": expected_skr[link_id]}
        if switched_away in states:
            # not generating (the switch serves Norte) and never generated: no keys at this end either
            assert states[switched_away]["qkdl_status"] in {f"{TYPES}PENDING", f"{TYPES}OFF"}
            assert states[switched_away]["qkdl_performance"]["skr"] == 0
        interfaces = node_tree(agent)[NODE]["qkd_interfaces"]["qkd_interface"]
        assert {i["qkdi_status"] for i in interfaces} == {f"{TYPES}ENABLED"}
        validate_tree(model, node_tree(agent))


def emulator_state(operator: EmulatorClient, network: Network) -> dict[str, Any]:
    """What the agents may change in the emulator: every module's configuration and the pairs."""
    configs = {}
    for module in network.topology.qkd_modules:
        status = operator.module_status(module.id)
        configs[module.id] = (status["peers"], status["dwdm_channel"], status["enabled"])
    return {
        "configs": configs,
        "pairs": {key: pair["active"] for key, pair in pairs(operator.links()).items()},
    }


def assert_emulator_back(operator: EmulatorClient, network: Network, before: dict[str, Any]) -> None:
    """The modules configured as ``before`` now, and the pairs as before once a module that was retuned
    and put back has re-locked (its ``relock_time_s`` over the time scale: the emulator models it)."""
    assert emulator_state(operator, network)["configs"] == before["configs"]
    wait_for(
        lambda: emulator_state(operator, network),
        lambda now: now == before,
        timeout_s=2.0,
        what="the pairs as before the vetoed write",
    )


def assert_vetoed(response: httpx.Response, status_code: int, tag: str) -> dict[str, Any]:
    """An RFC 8040 §7.1 error body refusing the write, with ``status_code`` and error-tag ``tag``."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/yang-data+json"
    (error,) = response.json()["ietf-restconf:errors"]["error"]
    assert (error["error-type"], error["error-tag"]) == ("application", tag)
    return dict(error)


NEW_LINK = "6d1b9a52-0f3e-4c8a-9e1d-5a7b3c2f4e10"
OTHER_NEW_LINK = "7e2c0b63-1a4f-4d9b-8f2e-6b8c4d3a5f21"


def norte_tx_link(link_id: str, receiver: str, channel: str = "59") -> dict[str, Any]:
    """A link from Norte's transmitter to a receiver at Quintín."""
    return {
        "qkdl_id": link_id,
        "qkdl_enable": True,
        "qkdl_type": f"{TYPES}PHYS",
        "qkdl_local": {"qkdn_id": str(qkdn_id("norte")), "qkdi_id": qkdi_id("norte-tx")},
        "qkdl_remote": {"qkdn_id": str(qkdn_id("quintin")), "qkdi_id": qkdi_id(receiver)},
        "phys_wavelength": channel,
        "phys_qkd_role": f"{TYPES}TRANSMITTER",
    }


@pytest.mark.usefixtures("provisioned")
def test_a_link_outside_the_modules_tuning_range_is_refused_as_invalid_and_changes_nothing(
    network: Network, controller_of: dict[str, httpx.Client], operator: EmulatorClient
) -> None:
    norte = controller_of["norte"]
    config_before = configuration(norte)
    emulator_before = emulator_state(operator, network)

    response = norte.put(
        link_path(NEW_LINK), json=link_body(norte_tx_link(NEW_LINK, "quintin-rx2", "1")), headers=WRITE
    )

    error = assert_vetoed(response, 400, "invalid-value")  # the agent's own check: the client's to fix
    assert "tuning range" in error["error-message"]
    assert error["error-path"] == f'/{NODE}/qkd_links/qkd_link[qkdl_id="{NEW_LINK}"]'
    assert norte.get(link_path(NEW_LINK), headers=READ).status_code == 404
    assert configuration(norte) == config_before
    assert_emulator_back(operator, network, emulator_before)


@pytest.mark.usefixtures("provisioned")
def test_a_write_the_device_refuses_is_vetoed_and_leaves_no_module_half_configured(
    network: Network, controller_of: dict[str, httpx.Client], operator: EmulatorClient
) -> None:
    """Norte's links rewritten at once: Norte's receiver moved off channel 59 (a change the device accepts,
    made first) and its transmitter given a second receiver (which it refuses: it is not behind a switch).
    The agent checks neither against the other, the emulator refuses the second: nothing may stay."""
    norte = controller_of["norte"]
    config_before = configuration(norte)
    emulator_before = emulator_state(operator, network)
    links = [dict(entry) for _, entry in qkd_link_entries(network.topology)["norte"]]
    for entry in links:
        if entry["qkdl_local"]["qkdi_id"] == qkdi_id("norte-rx"):
            entry["phys_wavelength"] = "60"
    links.append(norte_tx_link(OTHER_NEW_LINK, "quintin-rx"))

    response = norte.put(
        f"{DATA}/{NODE}/qkd_links", json={"etsi-qkd-sdn-node:qkd_links": {"qkd_link": links}}, headers=WRITE
    )

    error = assert_vetoed(response, 500, "operation-failed")  # the device's refusal
    assert "one peer" in error["error-message"]
    assert configuration(norte) == config_before
    assert_emulator_back(operator, network, emulator_before)


@pytest.mark.usefixtures("provisioned")
def test_deleting_a_link_unpairs_its_module_in_the_emulator(
    network: Network,
    pki: NodePki,
    controller_of: dict[str, httpx.Client],
    operator: EmulatorClient,
    model: Any,
) -> None:
    link_id = link_ids(network.topology)["norte-quintin"]
    norte = controller_of["norte"]

    assert norte.delete(link_path(link_id)).status_code == 204

    assert norte.get(link_path(link_id), headers=READ).status_code == 404
    status = operator.module_status("norte-tx")
    assert (status["enabled"], status["peers"]) == (False, [])
    remaining = pairs(operator.links())
    unpaired = remaining.get(("norte-tx", "quintin-rx2"))
    assert unpaired is None or not unpaired["active"]
    assert remaining[("concepcion-tx", "norte-rx")]["active"]  # Norte's other link is untouched
    validate_tree(model, node_tree(norte))

    provision(network, pki)  # put it back for whatever runs next
    wait_for(operator.links, lambda links: pairs(links)[("norte-tx", "quintin-rx2")]["active"], timeout_s=3.0)
