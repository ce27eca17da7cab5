"""The controller running a Madrid: discovery, link provisioning end to end, failures as alarms within
2 s, metrics, and a restart that resumes from its database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from controller_support import (
    NODES,
    Net,
    Pki,
    active_alarms,
    api,
    call_home,
    links_by_id,
    serve_controller,
    wait_for,
)

from sdqkd.controller.core import Controller
from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import link_qkdl_id as qkdl_id
from sdqkd.etsi015 import qkdi_id

pytestmark = pytest.mark.integration

FAILURE_DEADLINE_S = 2.0
ANY_SWITCHED = ("concepcion-norte", "concepcion-quintin")


@pytest.fixture(scope="module")
def registered(network: Net, pki: Pki, controller: Controller) -> Net:
    """Every node called home and every link of the topology is up or (switched) on standby."""
    for node in NODES:
        assert call_home(network, pki, node).status_code == 201
    with api(network.controller_url, pki.operator, pki) as client:
        wait_for(
            lambda: links_by_id(client),
            lambda links: (
                all(link["status"] in ("up", "standby") for link in links.values())
                and links["norte-quintin"]["status"] == "up"
            ),
            timeout_s=15,
            what="every link up or on standby",
        )
    return network


@pytest.fixture
def operator(registered: Net, pki: Pki) -> Iterator[Any]:
    with api(registered.controller_url, pki.operator, pki) as client:
        yield client


def test_the_controller_sees_every_interface_the_agents_discovered(registered: Net, operator: Any) -> None:
    nodes = {node["id"]: node for node in operator.get("/api/v1/nodes").json()}

    assert sorted(nodes) == sorted(NODES)
    for node in NODES:
        modules = [m.id for m in registered.topology.qkd_modules if m.node == node]
        seen = {interface["qkdi_id"]: interface for interface in nodes[node]["interfaces"]}
        assert sorted(seen) == sorted(qkdi_id(m) for m in modules)
        assert all(interface["status"] == "ENABLED" for interface in seen.values())
        assert nodes[node]["reachable"] is True


def test_every_link_of_the_topology_is_provisioned_at_both_agents(registered: Net, pki: Pki) -> None:
    for link in registered.topology.qkd_links:
        ends = {registered.topology.module(link.transmitter).node: "TRANSMITTER",
                registered.topology.module(link.receiver).node: "RECEIVER"}  # fmt: skip
        for node, role in ends.items():
            with api(registered.agent_urls[node], pki.operator, pki) as agent:
                path = f"/restconf/data/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link={qkdl_id(link.id)}"
                response = agent.get(path, headers={"Accept": "application/yang-data+json"})
            assert response.status_code == 200, (link.id, node, response.text)
            (entry,) = response.json()["etsi-qkd-sdn-node:qkd_link"]
            assert entry["phys_qkd_role"] == f"etsi-qkd-node-types:{role}"
            assert entry["phys_wavelength"] == "59"
            assert entry["qkdl_type"] == "etsi-qkd-node-types:PHYS"


def test_the_links_show_their_live_key_rate(registered: Net, operator: Any) -> None:
    links = {id_: link for id_, link in links_by_id(operator).items() if link["type"] == "PHYS"}

    assert set(links) == {link.id for link in registered.topology.qkd_links}
    up = [link for link in links.values() if link["status"] == "up"]
    assert {link["id"] for link in up} >= {"norte-quintin"}
    assert sum(links[name]["status"] == "up" for name in ANY_SWITCHED) == 1  # one switch, one link at a time
    for link in up:
        assert 40_000 < link["skr_bps"] < 70_000  # the Madrid calibration (docs: issue 2)
        assert all(end["qkdl_status"] == "ACTIVE" for end in link["ends"].values())
    standby = [link for link in links.values() if link["status"] == "standby"]
    assert all(link["skr_bps"] == 0 and link["switched"] for link in standby)


def test_the_pair_on_standby_is_relayed_through_the_third_node(operator: Any) -> None:
    links = links_by_id(operator)
    standby = next(name for name in ANY_SWITCHED if links[name]["status"] == "standby")
    far = "quintin" if standby == "concepcion-quintin" else "norte"
    virtual = links[f"v-concepcion-{far}"]

    assert virtual["type"] == "VIRT"
    assert virtual["path"] == ["concepcion", "norte" if far == "quintin" else "quintin", far]
    assert virtual["status"] == "up"
    assert set(virtual["hops"]) == {"norte-quintin", next(n for n in ANY_SWITCHED if n != standby)}


def test_the_graph_holds_nodes_fibres_and_qkd_links(operator: Any) -> None:
    graph = operator.get("/api/v1/topology").json()

    assert sorted(node["id"] for node in graph["nodes"]) == sorted(NODES)
    kinds = [edge["kind"] for edge in graph["edges"]]
    assert kinds.count("fibre") == 3
    assert kinds.count("qkd") == 3
    assert all(node["reachable"] for node in graph["nodes"])


def test_metrics_are_in_the_prometheus_text_format(operator: Any) -> None:
    response = operator.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert 'sdqkd_link_up{link="norte-quintin"} 1.0' in lines
    assert any(line.startswith('sdqkd_link_skr_bps{link="norte-quintin"} ') for line in lines)
    assert 'sdqkd_node_reachable{node="norte"} 1.0' in lines


def _alarm(alarms: list[dict[str, Any]], kind: str, source: str) -> dict[str, Any] | None:
    return next((a for a in alarms if a["kind"] == kind and a["source"] == source), None)


def test_a_module_failure_reaches_the_controller_as_alarms_within_two_seconds(
    registered: Net, operator: Any, operator_emulator: EmulatorClient
) -> None:
    interface = f"interface:quintin/{qkdi_id('quintin-rx2')}"
    failed_at = time.monotonic()
    operator_emulator.module_action("quintin-rx2", "fail")
    try:
        alarms = wait_for(
            lambda: active_alarms(operator),
            lambda found: (
                _alarm(found, "interface_down", interface) is not None
                and _alarm(found, "link_down", "link:norte-quintin") is not None
            ),
            timeout_s=FAILURE_DEADLINE_S,
            what="interface_down and link_down alarms",
        )
        elapsed = time.monotonic() - failed_at
        assert elapsed < FAILURE_DEADLINE_S
        link_down = _alarm(alarms, "link_down", "link:norte-quintin")
        assert link_down is not None
        assert link_down["severity"] == "major"
        assert links_by_id(operator)["norte-quintin"]["status"] == "down"
        assert links_by_id(operator)["norte-quintin"]["skr_bps"] == 0
    finally:
        operator_emulator.module_action("quintin-rx2", "repair")

    wait_for(
        lambda: active_alarms(operator),
        lambda found: (
            _alarm(found, "interface_down", interface) is None
            and _alarm(found, "link_down", "link:norte-quintin") is None
        ),
        timeout_s=10,
        what="the alarms cleared after the repair",
    )
    history = operator.get("/api/v1/alarms").json()
    cleared = _alarm(history, "link_down", "link:norte-quintin")
    assert cleared is not None
    assert cleared["active"] is False
    assert cleared["cleared_at"] >= cleared["raised_at"]


def test_a_fibre_cut_raises_link_down_with_its_reason(
    registered: Net, operator: Any, operator_emulator: EmulatorClient
) -> None:
    wait_for(lambda: links_by_id(operator)["norte-quintin"]["status"], lambda s: s == "up", 10, "link up")
    cut_at = time.monotonic()
    operator_emulator.fibre_action("norte-quintin", "cut")
    try:
        alarms = wait_for(  # raised, and naming its cause (the agent's sdqkdn_link_down reason)
            lambda: active_alarms(operator),
            lambda found: (
                "cut" in (_alarm(found, "link_down", "link:norte-quintin") or {}).get("message", "")
            ),
            timeout_s=FAILURE_DEADLINE_S,
            what="link_down alarm",
        )
        assert time.monotonic() - cut_at < FAILURE_DEADLINE_S
        alarm = _alarm(alarms, "link_down", "link:norte-quintin")
        assert alarm is not None
        assert "fibre norte-quintin is cut" in alarm["message"]
    finally:
        operator_emulator.fibre_action("norte-quintin", "restore")
    wait_for(
        lambda: links_by_id(operator)["norte-quintin"]["status"], lambda s: s == "up", 10, "link up again"
    )


def test_a_restarted_controller_resumes_from_its_database(
    registered: Net, pki: Pki, controller: Controller
) -> None:
    # A second controller on the same database, while the first one is still serving: nothing calls
    # home to it, yet it knows every node, reads their agents and sees the links.
    with (
        serve_controller(registered, pki) as resumed,
        api(registered.controller_url, pki.operator, pki) as client,
    ):
        nodes = client.get("/api/v1/nodes").json()
        assert sorted(node["id"] for node in nodes) == sorted(NODES)
        links = wait_for(
            lambda: links_by_id(client),
            lambda found: found["norte-quintin"]["status"] == "up",
            timeout_s=5,
            what="the resumed controller sees the link up",
        )
        assert links["norte-quintin"]["skr_bps"] > 0
        # the nodes it follows are the registrations the first one stored, not new ones
        first = {node.node_id: node.registered_at for node in controller.store.nodes()}
        assert {node_id: view.record.registered_at for node_id, view in resumed.nodes.items()} == first
