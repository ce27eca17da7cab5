"""Call-home and who may use the controller's API."""

from __future__ import annotations

import json

import pytest
from controller_support import Net, Pki, api, call_home, registration

from sdqkd.controller.core import Controller
from sdqkd.pki import IssuedCertificate

pytestmark = pytest.mark.integration


def test_a_node_that_calls_home_is_registered_then_updated(
    network: Net, pki: Pki, controller: Controller
) -> None:
    first = call_home(network, pki, "norte")
    again = call_home(network, pki, "norte")

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert first.json()["agent_url"] == network.agent_urls["norte"]
    with api(network.controller_url, pki.operator, pki) as client:
        nodes = client.get("/api/v1/nodes").json()
    assert [node["id"] for node in nodes] == ["norte"]


def test_an_agent_may_register_only_its_own_node(network: Net, pki: Pki, controller: Controller) -> None:
    with api(network.controller_url, pki.agents["norte"], pki) as client:
        response = client.put("/api/v1/nodes/quintin", json=registration(network, "quintin"))

    assert response.status_code == 403
    assert response.json()["message"] == "agent:norte may not PUT /api/v1/nodes/quintin"
    assert "quintin" not in controller.nodes


@pytest.mark.parametrize("holder", ["operator", "controller", "kme", "sae"])
def test_only_agents_call_home(network: Net, pki: Pki, controller: Controller, holder: str) -> None:
    certificate: IssuedCertificate = getattr(pki, holder)
    with api(network.controller_url, certificate, pki) as client:
        response = client.put("/api/v1/nodes/norte", json=registration(network, "norte"))

    assert response.status_code == 403
    assert response.json()["details"] == []


def test_a_registration_with_another_nodes_qkdn_id_is_refused(
    network: Net, pki: Pki, controller: Controller
) -> None:
    body = {**registration(network, "quintin"), "qkdn_id": registration(network, "norte")["qkdn_id"]}
    with api(network.controller_url, pki.agents["quintin"], pki) as client:
        response = client.put("/api/v1/nodes/quintin", json=body)

    assert response.status_code == 400
    assert "is not node 'quintin'" in response.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agent_url": "http://plain.example:80"}, "body.agent_url"),
        ({"qkdn_id": "not-a-uuid"}, "body.qkdn_id"),
        ({"surprise": 1}, "body.surprise"),
    ],
)
def test_a_malformed_registration_gets_a_400_naming_the_field(
    network: Net, pki: Pki, controller: Controller, change: dict[str, object], field: str
) -> None:
    with api(network.controller_url, pki.agents["quintin"], pki) as client:
        response = client.put("/api/v1/nodes/quintin", json={**registration(network, "quintin"), **change})

    assert response.status_code == 400
    assert response.json()["message"].startswith(field)


def _with_member_twice(body: dict[str, object], name: str, first: object) -> bytes:
    """``body`` as JSON with ``name`` given twice: ``first``, then its value in ``body``."""
    return json.dumps(body).replace("{", "{" + json.dumps(name) + ": " + json.dumps(first) + ", ", 1).encode()


@pytest.mark.parametrize("hostile", ["repeated-member", "deep-nesting"])
def test_a_registration_that_is_not_strict_json_gets_a_400_and_changes_nothing(
    network: Net, pki: Pki, controller: Controller, hostile: str
) -> None:
    body = registration(network, "quintin")
    if hostile == "repeated-member":  # which agent_url would it mean?
        content = _with_member_twice(body, "agent_url", "https://elsewhere.example:443")
    else:
        content = (
            json.dumps({**body, "extra": "[" * 50_000})
            .replace('"' + "[" * 50_000 + '"', "[" * 50_000 + "]" * 50_000)
            .encode()
        )
    before = dict(controller.nodes)
    with api(network.controller_url, pki.agents["quintin"], pki) as client:
        response = client.put(
            "/api/v1/nodes/quintin", content=content, headers={"content-type": "application/json"}
        )

    assert response.status_code == 400
    assert response.json()["message"].startswith("body")
    assert "JSON decode error" in response.json()["message"]
    assert dict(controller.nodes) == before


@pytest.mark.parametrize("holder", ["kme", "sae"])
@pytest.mark.parametrize(
    "path",
    ["/api/v1/nodes", "/api/v1/links", "/api/v1/apps", "/api/v1/services", "/api/v1/alarms", "/metrics"],
)
def test_the_northbound_api_refuses_other_roles(
    network: Net, pki: Pki, controller: Controller, holder: str, path: str
) -> None:
    certificate: IssuedCertificate = getattr(pki, holder)
    with api(network.controller_url, certificate, pki) as client:
        response = client.get(path)

    assert response.status_code == 403
    assert response.headers["cache-control"] == "no-store"


def test_an_agent_may_not_use_the_northbound_api(network: Net, pki: Pki, controller: Controller) -> None:
    with api(network.controller_url, pki.agents["norte"], pki) as client:
        assert client.get("/api/v1/links").status_code == 403
        assert client.post("/api/v1/apps", json={}).status_code == 403


def test_the_api_is_described_by_openapi(network: Net, pki: Pki, controller: Controller) -> None:
    with api(network.controller_url, pki.operator, pki) as client:
        spec = client.get("/openapi.json").json()

    assert {
        "/api/v1/nodes",
        "/api/v1/links",
        "/api/v1/apps",
        "/api/v1/apps/{app_id}",
        "/api/v1/alarms",
    } <= set(spec["paths"])
    assert set(spec["paths"]["/api/v1/apps"]) == {"get", "post"}


def test_unknown_resources_get_404_in_the_apis_error_format(
    network: Net, pki: Pki, controller: Controller
) -> None:
    with api(network.controller_url, pki.operator, pki) as client:
        node = client.get("/api/v1/nodes/nowhere")
        link = client.get("/api/v1/links/nowhere")
        app = client.delete("/api/v1/apps/6f1d1f2c-0000-4000-8000-000000000000")
        path = client.get("/api/v1/nothing-here")

    for response in (node, link, app, path):
        assert response.status_code == 404
        assert set(response.json()) == {"message", "details"}
    assert "nowhere" in node.json()["message"]


def test_service_intents_are_refused_in_the_apis_error_format(
    network: Net, pki: Pki, controller: Controller
) -> None:
    tunnel = {
        "type": "encrypted-tunnel",
        "a": {"node": "norte", "listen": "127.0.0.1:9000"},
        "b": {"node": "quintin", "forward": "127.0.0.1:8080"},
    }
    with api(network.controller_url, pki.operator, pki) as client:
        assert client.get("/api/v1/services").json() == []
        unknown = client.get("/api/v1/services/6f1d1f2c-0000-4000-8000-000000000000")
        gone = client.delete("/api/v1/services/6f1d1f2c-0000-4000-8000-000000000000")
        bad = client.post("/api/v1/services", json={**tunnel, "a": {"node": "norte", "listen": "x"}})
        other = client.post("/api/v1/services", json={**tunnel, "type": "vpn"})
        unmanaged = client.post("/api/v1/services", json=tunnel)  # this controller knows no managers
    with api(network.controller_url, pki.agents["norte"], pki) as client:
        agent = client.post("/api/v1/services", json=tunnel)
    for response, status in (
        (unknown, 404),
        (gone, 404),
        (bad, 400),
        (other, 400),
        (unmanaged, 400),
        (agent, 403),
    ):
        assert response.status_code == status, response.text
        assert set(response.json()) == {"message", "details"}
    assert bad.json()["message"].startswith("body.encrypted-tunnel.a.listen")  # the intent type, then where
    assert unmanaged.json()["message"] == "node 'norte' has no service manager"
