"""Applications (``qkd_app``): admitted against the key rate of their QKD link, written into both
nodes' agents, removed from both, refused with a clear error otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from controller_support import NODES, Net, Pki, api, call_home, links_by_id, wait_for

from sdqkd.controller.core import Controller
from sdqkd.etsi015 import link_qkdl_id as qkdl_id
from sdqkd.etsi015 import qkdn_id

pytestmark = pytest.mark.integration

APPS = "/restconf/data/etsi-qkd-sdn-node:qkd_node/qkd_applications"


@pytest.fixture(scope="module")
def registered(network: Net, pki: Pki, controller: Controller) -> Net:
    for node in NODES:
        assert call_home(network, pki, node).status_code == 201
    with api(network.controller_url, pki.operator, pki) as client:
        wait_for(lambda: links_by_id(client)["norte-quintin"]["status"], lambda s: s == "up", 15, "link up")
    return network


@pytest.fixture
def operator(registered: Net, pki: Pki) -> Iterator[Any]:
    with api(registered.controller_url, pki.operator, pki) as client:
        yield client
        for app in client.get("/api/v1/apps").json():  # each test starts with none
            client.delete(f"/api/v1/apps/{app['app_id']}")


def _request(min_bps: int | None = None, **changes: Any) -> dict[str, Any]:
    qos = {"max_bandwidth": 20_000, "jitter": 10, "ttl": 3600} | (
        {"min_bandwidth": min_bps} if min_bps else {}
    )
    return {
        "server_sae_id": "norte-app",
        "server_node": "norte",
        "client_sae_id": "quintin-app",
        "client_node": "quintin",
        "qos": qos,
        "priority": 3,
    } | changes


def _agent_apps(net: Net, pki: Pki, node: str) -> list[dict[str, Any]]:
    with api(net.agent_urls[node], pki.operator, pki) as agent:
        response = agent.get(APPS, headers={"Accept": "application/yang-data+json"})
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return list(response.json()["etsi-qkd-sdn-node:qkd_applications"].get("qkd_app", []))


def test_an_admitted_application_is_written_into_both_agents(
    registered: Net, pki: Pki, operator: Any
) -> None:
    response = operator.post("/api/v1/apps", json=_request(min_bps=10_000))

    assert response.status_code == 201, response.text
    app = response.json()
    assert app["link_id"] == "norte-quintin"
    assert app["status"] == "ON"
    for node, other in (("norte", "quintin"), ("quintin", "norte")):
        (entry,) = [a for a in _agent_apps(registered, pki, node) if a["app_id"] == app["app_id"]]
        assert entry["server_app_id"] == "urn:sdqkd:sae:norte-app"
        assert entry["client_app_id"] == ["urn:sdqkd:sae:quintin-app"]
        assert entry["backing_qkdl_id"] == [str(qkdl_id("norte-quintin"))]
        assert entry["local_qkdn_id"] == str(qkdn_id(node))
        assert entry["remote_qkdn_id"] == str(qkdn_id(other))
        assert entry["app_qos"]["min_bandwidth"] == 10_000
        assert entry["app_qos"]["max_bandwidth"] == 20_000
        assert entry["app_priority"] == 3
        assert entry["app_type"] == "etsi-qkd-node-types:CLIENT"
    link = links_by_id(operator)["norte-quintin"]
    assert link["reserved_bps"] == 10_000
    assert link["apps"] == [app["app_id"]]
    assert operator.get(f"/api/v1/apps/{app['app_id']}").json()["server_sae_id"] == "norte-app"


def test_admission_stops_at_the_links_key_rate(registered: Net, operator: Any) -> None:
    capacity = links_by_id(operator)["norte-quintin"]["skr_bps"]
    first = operator.post("/api/v1/apps", json=_request(min_bps=capacity // 2))
    second = operator.post("/api/v1/apps", json=_request(min_bps=capacity // 2 + 2_000))

    assert first.status_code == 201, first.text
    assert second.status_code == 409
    message = second.json()["message"]
    assert "norte-quintin" in message
    assert f"{capacity // 2} bit/s are reserved" in message
    assert len(operator.get("/api/v1/apps").json()) == 1


def test_an_application_without_a_minimum_rate_still_needs_a_working_link(
    registered: Net, operator: Any, operator_emulator: Any
) -> None:
    operator_emulator.fibre_action("norte-quintin", "cut")
    try:
        wait_for(lambda: links_by_id(operator)["norte-quintin"]["status"], lambda s: s == "down", 5, "down")
        response = operator.post("/api/v1/apps", json=_request())
    finally:
        operator_emulator.fibre_action("norte-quintin", "restore")
    wait_for(lambda: links_by_id(operator)["norte-quintin"]["status"], lambda s: s == "up", 10, "up again")

    assert response.status_code == 409
    assert "norte-quintin is down" in response.json()["message"]


def test_an_applications_status_follows_its_link(
    registered: Net, operator: Any, operator_emulator: Any
) -> None:
    app = operator.post("/api/v1/apps", json=_request()).json()
    operator_emulator.fibre_action("norte-quintin", "cut")
    try:
        wait_for(
            lambda: operator.get(f"/api/v1/apps/{app['app_id']}").json()["status"],
            lambda status: status == "DISCONNECTED",
            5,
            "the application disconnected",
        )
    finally:
        operator_emulator.fibre_action("norte-quintin", "restore")
    wait_for(
        lambda: operator.get(f"/api/v1/apps/{app['app_id']}").json()["status"], lambda s: s == "ON", 10, "on"
    )


def test_a_deleted_application_leaves_both_agents(registered: Net, pki: Pki, operator: Any) -> None:
    app = operator.post("/api/v1/apps", json=_request(min_bps=1_000)).json()

    response = operator.delete(f"/api/v1/apps/{app['app_id']}")

    assert response.status_code == 204
    for node in ("norte", "quintin"):
        assert all(a["app_id"] != app["app_id"] for a in _agent_apps(registered, pki, node))
    assert operator.get(f"/api/v1/apps/{app['app_id']}").status_code == 404
    assert links_by_id(operator)["norte-quintin"]["reserved_bps"] == 0


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"client_node": "nowhere"}, 404, "node 'nowhere' has not called home"),
        ({"client_node": "norte"}, 409, "same node"),
        ({"server_sae_id": "bad id!"}, 400, "body.server_sae_id"),
        ({"qos": {"min_bandwidth": -1}}, 400, "body.qos.min_bandwidth"),
        ({"qos": {"min_bandwidth": 2**32}}, 400, "body.qos.min_bandwidth"),
        ({"qos": {"bandwidth": 1}}, 400, "body.qos.bandwidth"),
        ({"priority": "high"}, 400, "body.priority"),
    ],
)
def test_a_bad_application_request_is_refused_with_a_clear_error(
    registered: Net, operator: Any, changes: dict[str, Any], status: int, words: str
) -> None:
    response = operator.post("/api/v1/apps", json=_request() | changes)

    assert response.status_code == status
    assert words in response.json()["message"]
    assert operator.get("/api/v1/apps").json() == []


def test_a_restarted_agent_gets_its_applications_back(
    registered: Net, pki: Pki, operator: Any, controller: Controller
) -> None:
    app = operator.post("/api/v1/apps", json=_request()).json()
    with api(registered.agent_urls["quintin"], pki.controller, pki) as agent:
        # what a restarted agent (its datastore in memory) holds: no application
        path = f"{APPS}/qkd_app={app['app_id']}"
        assert agent.delete(path, headers={"Accept": "application/yang-data+json"}).status_code == 204

    wait_for(
        lambda: [a["app_id"] for a in _agent_apps(registered, pki, "quintin")],
        lambda ids: app["app_id"] in ids,
        5,
        "the controller wrote the application back",
    )


def _relayed_pair(operator: Any) -> tuple[str, str, dict[str, Any]]:
    """Concepción and the node its switch does not serve now: relayed through the third node."""
    links = links_by_id(operator)
    virtual = next(link for link in links.values() if link["type"] == "VIRT")
    return virtual["path"][0], virtual["path"][-1], virtual


def _agent_tree(net: Net, pki: Pki, node: str) -> dict[str, Any]:
    with api(net.agent_urls[node], pki.operator, pki) as agent:
        response = agent.get(
            "/restconf/data/etsi-qkd-sdn-node:qkd_node", headers={"Accept": "application/yang-data+json"}
        )
    assert response.status_code == 200, response.text
    return dict(response.json()["etsi-qkd-sdn-node:qkd_node"])


def test_an_application_between_nodes_without_a_working_link_is_relayed_and_reserves_every_hop(
    registered: Net, pki: Pki, operator: Any
) -> None:
    a, b, virtual = _relayed_pair(operator)
    request = _request(
        min_bps=5_000, server_sae_id=f"{a}-app", server_node=a, client_sae_id=f"{b}-app", client_node=b
    )

    response = operator.post("/api/v1/apps", json=request)

    assert response.status_code == 201, response.text
    app = response.json()
    assert app["link_id"] == virtual["id"]
    assert app["status"] == "ON"
    virtual_qkdl = virtual["qkdl_id"]
    physical = links_by_id(operator)

    def internal(tree: dict[str, Any]) -> list[dict[str, Any]]:
        apps = tree.get("qkd_applications", {}).get("qkd_app", [])
        return [entry for entry in apps if entry.get("app_type") == "etsi-qkd-node-types:INTERNAL"]

    for node in virtual["path"]:  # every node of the path: the VIRT link with the reserved rate, and
        count = sum(node in physical[hop]["nodes"] for hop in virtual["hops"])  # per hop an app
        tree = wait_for(
            lambda node=node: _agent_tree(registered, pki, node),
            lambda t, n=count: (
                len(internal(t)) == n
                and any(
                    link.get("qkdl_id") == virtual_qkdl and link.get("virt_bandwidth") == 5_000
                    for link in t.get("qkd_links", {}).get("qkd_link", [])
                )
            ),
            5,
            f"the VIRT link and INTERNAL apps at {node} reserving 5000 bit/s",
        )
        assert all(entry["app_qos"]["min_bandwidth"] == 5_000 for entry in internal(tree))
    links = links_by_id(operator)
    assert all(links[hop]["reserved_bps"] == 5_000 for hop in virtual["hops"])
    assert links[virtual["id"]]["reserved_bps"] == 5_000

    too_much = _request(
        min_bps=links[virtual["id"]]["skr_bps"], server_sae_id=f"{a}-app", server_node=a,
        client_sae_id=f"{b}-app", client_node=b,
    )  # fmt: skip
    refused = operator.post("/api/v1/apps", json=too_much)
    assert refused.status_code == 409
    assert "relay path" in refused.json()["message"]

    assert operator.delete(f"/api/v1/apps/{app['app_id']}").status_code == 204
    middle = virtual["path"][1]
    wait_for(
        lambda: _agent_tree(registered, pki, middle).get("qkd_applications", {}).get("qkd_app", []),
        lambda apps: not any(entry.get("app_type") == "etsi-qkd-node-types:INTERNAL" for entry in apps),
        5,
        "the INTERNAL applications removed",
    )
    assert links_by_id(operator)[virtual["hops"][0]]["reserved_bps"] == 0
