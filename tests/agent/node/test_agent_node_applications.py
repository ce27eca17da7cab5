"""Applications (``qkd_app``) the controller writes into the node agents of an emulated Madrid, over RESTCONF
with mutual TLS: checked against the node's links, given a creation time and a status that follows their
links, announced on the event stream, and keeping the links they use from being deleted.

The tests share one network (module scope); each provisions the links first and removes its apps after.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
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
    link_ids,
    link_path,
    notifications,
    pairs,
    provision,
    receive,
    validate_notification,
    validate_tree,
    wait_for,
)

from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import qkdn_id

pytestmark = pytest.mark.integration

APP_ID = "5a1f2e3d-4c5b-4a69-8b7c-9d0e1f2a3b4c"
OTHER_APP_ID = "6b2a3f4e-5d6c-4b7a-9c8d-0e1f2a3b4c5d"
APP_NEW = "etsi-qkd-sdn-node:sdqkdn_application_new"
APP_DISCONNECTED = "etsi-qkd-sdn-node:sdqkdn_application_disconnected"
UNKNOWN_LINK = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


@pytest.fixture
def provisioned(network: Network, pki: NodePki, operator: EmulatorClient) -> Iterator[None]:
    """Every Madrid link written to its agents and making key; after the test no app is left at Norte and
    the plant is put right."""
    provision(network, pki)
    wait_for(
        operator.links,
        lambda links: (
            pairs(links)[("concepcion-tx", "norte-rx")]["active"]
            and pairs(links)[("norte-tx", "quintin-rx2")]["active"]
        ),
        what="Norte's pairs active",
        timeout_s=3.0,
    )
    yield
    operator.fibre_action("concepcion-norte", "restore")
    with client(network.agent_urls["norte"], pki.controller, pki) as norte:
        for app_id in (APP_ID, OTHER_APP_ID):
            norte.delete(app_path(app_id))


@pytest.fixture
def norte(network: Network, pki: NodePki) -> Iterator[httpx.Client]:
    """The controller's RESTCONF client of Norte's agent."""
    with client(network.agent_urls["norte"], pki.controller, pki, read_s=3.0) as agent:
        yield agent


def norte_app(network: Network, link: str = "norte-quintin", **changes: Any) -> dict[str, Any]:
    """A client app at Norte between two SAEs, over Norte's end of the topology link ``link``."""
    peer = "quintin" if link == "norte-quintin" else "concepcion"
    entry: dict[str, Any] = {
        "app_id": APP_ID,
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:norte-app",
        "client_app_id": [f"urn:sdqkd:sae:{peer}-app"],
        "app_priority": 2,
        "app_qos": {
            "max_bandwidth": 64000,
            "min_bandwidth": 8000,
            "jitter": 50,
            "ttl": 600,
            "clients_shared_path_enable": False,
            "clients_shared_keys_required": False,
        },
        "backing_qkdl_id": [link_ids(network.topology)[link]],
        "local_qkdn_id": str(qkdn_id("norte")),
        "remote_qkdn_id": str(qkdn_id(peer)),
    }
    entry.update(changes)
    return entry


def app_state(agent: httpx.Client, app_id: str = APP_ID) -> dict[str, Any]:
    response = agent.get(app_path(app_id), headers=READ)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["etsi-qkd-sdn-node:qkd_app"]
    return dict(entry)


def node_tree(agent: httpx.Client) -> dict[str, Any]:
    response = agent.get(f"{DATA}/{NODE}", headers=READ)
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_refused(response: httpx.Response, status_code: int, tag: str) -> dict[str, Any]:
    """An RFC 8040 §7.1 error body with ``status_code`` and error-tag ``tag``."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/yang-data+json"
    (error,) = response.json()["ietf-restconf:errors"]["error"]
    assert (error["error-type"], error["error-tag"]) == ("application", tag)
    return dict(error)


@pytest.mark.usefixtures("provisioned")
def test_an_app_over_an_active_link_is_announced_on_timed_and_valid(
    network: Network, norte: httpx.Client, model: Any
) -> None:
    entry = norte_app(network)
    with norte.stream("GET", STREAM, headers={"Accept": "text/event-stream"}) as response:
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"
        written_at = time.monotonic()
        before = dt.datetime.now(dt.UTC)

        assert norte.put(app_path(APP_ID), json=app_body(entry), headers=WRITE).status_code == 201

        new = receive(notifications(lines), APP_NEW, lambda _: True, written_at)
    validate_notification(model, APP_NEW, new[APP_NEW])
    announced = new[APP_NEW]["qkd_application"]
    assert announced["server_app_id"] == "urn:sdqkd:sae:norte-app"
    assert announced["client_app_id"] == ["urn:sdqkd:sae:quintin-app"]
    assert announced["local_qkdn_id"] == str(qkdn_id("norte"))
    assert announced["app_qos"] == entry["app_qos"]

    state = wait_for(
        lambda: app_state(norte),
        lambda s: s.get("app_status") == f"{TYPES}ON",
        what="the app ON",
        timeout_s=3.0,
    )
    created = dt.datetime.fromisoformat(state["creation_time"])
    assert before - dt.timedelta(seconds=1) <= created <= dt.datetime.now(dt.UTC)
    assert {k: v for k, v in state.items() if k not in {"app_status", "creation_time"}} == entry
    validate_tree(model, node_tree(norte))

    # rewritten by the controller (a new priority): the same app, created when it was
    rewritten = norte.put(app_path(APP_ID), json=app_body(norte_app(network, app_priority=5)), headers=WRITE)
    assert rewritten.status_code == 204
    again = app_state(norte)
    assert (again["app_priority"], again["creation_time"]) == (5, state["creation_time"])


@pytest.mark.usefixtures("provisioned")
def test_a_deleted_app_is_announced_as_disconnected(
    network: Network, norte: httpx.Client, model: Any
) -> None:
    assert norte.put(app_path(APP_ID), json=app_body(norte_app(network)), headers=WRITE).status_code == 201
    with norte.stream("GET", STREAM, headers={"Accept": "text/event-stream"}) as response:
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"
        deleted_at = time.monotonic()

        assert norte.delete(app_path(APP_ID)).status_code == 204

        gone = receive(notifications(lines), APP_DISCONNECTED, lambda _: True, deleted_at)
    validate_notification(model, APP_DISCONNECTED, gone[APP_DISCONNECTED])
    assert gone[APP_DISCONNECTED] == {"qkd_application": {"app_id": APP_ID}}
    assert norte.get(app_path(APP_ID), headers=READ).status_code == 404


@pytest.mark.usefixtures("provisioned")
def test_an_app_turns_disconnected_when_its_link_goes_down_and_on_when_it_comes_back(
    network: Network, norte: httpx.Client, operator: EmulatorClient, model: Any
) -> None:
    entry = norte_app(network, link="concepcion-norte")
    assert norte.put(app_path(APP_ID), json=app_body(entry), headers=WRITE).status_code == 201
    wait_for(
        lambda: app_state(norte),
        lambda s: s.get("app_status") == f"{TYPES}ON",
        what="the app ON",
        timeout_s=3.0,
    )

    with norte.stream("GET", STREAM, headers={"Accept": "text/event-stream"}) as response:
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"
        cut_at = time.monotonic()
        operator.fibre_action("concepcion-norte", "cut")

        down = receive(notifications(lines), APP_DISCONNECTED, lambda _: True, cut_at)
    assert down[APP_DISCONNECTED] == {"qkd_application": {"app_id": APP_ID}}
    assert app_state(norte)["app_status"] == f"{TYPES}DISCONNECTED"
    validate_tree(model, node_tree(norte))

    operator.fibre_action("concepcion-norte", "restore")
    wait_for(
        lambda: app_state(norte),
        lambda s: s["app_status"] == f"{TYPES}ON",
        timeout_s=5.0,
        what="the app ON again",
    )


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"backing_qkdl_id": [UNKNOWN_LINK]}, "backing_qkdl_id"),
        ({"local_qkdn_id": str(qkdn_id("quintin"))}, "local_qkdn_id"),
    ],
    ids=["unknown-link", "another-node"],
)
def test_an_app_that_does_not_fit_the_node_is_refused_as_invalid_and_not_stored(
    network: Network, norte: httpx.Client, changes: dict[str, Any], member: str
) -> None:
    response = norte.put(app_path(APP_ID), json=app_body(norte_app(network, **changes)), headers=WRITE)

    error = assert_refused(response, 400, "invalid-value")
    assert error["error-path"] == f'/{NODE}/qkd_applications/qkd_app[app_id="{APP_ID}"]/{member}'
    assert member in error["error-message"]
    assert norte.get(app_path(APP_ID), headers=READ).status_code == 404


@pytest.mark.usefixtures("provisioned")
def test_a_link_an_app_uses_cannot_be_deleted_until_the_app_is(
    network: Network, pki: NodePki, norte: httpx.Client, operator: EmulatorClient
) -> None:
    link_id = link_ids(network.topology)["norte-quintin"]
    assert norte.put(app_path(APP_ID), json=app_body(norte_app(network)), headers=WRITE).status_code == 201
    other = norte_app(network, app_id=OTHER_APP_ID, link="concepcion-norte")
    assert norte.put(app_path(OTHER_APP_ID), json=app_body(other), headers=WRITE).status_code == 201

    refused = norte.delete(link_path(link_id))
    configured = norte.get(f"{DATA}/{NODE}/qkd_links", headers=READ, params={"content": "config"})
    entries = configured.json()["etsi-qkd-sdn-node:qkd_links"]["qkd_link"]
    kept = [entry for entry in entries if entry["qkdl_id"] != link_id]
    whole_list = norte.put(  # every link but that one, in one write
        f"{DATA}/{NODE}/qkd_links", json={"etsi-qkd-sdn-node:qkd_links": {"qkd_link": kept}}, headers=WRITE
    )

    for response in (refused, whole_list):
        error = assert_refused(response, 409, "in-use")
        assert error["error-path"] == f'/{NODE}/qkd_links/qkd_link[qkdl_id="{link_id}"]'
        assert APP_ID in error["error-message"]
    assert norte.get(link_path(link_id), headers=READ).status_code == 200
    assert pairs(operator.links())[("norte-tx", "quintin-rx2")]["active"]  # the devices were not touched

    assert norte.delete(app_path(APP_ID)).status_code == 204
    assert norte.delete(link_path(link_id)).status_code == 204
    assert norte.get(app_path(OTHER_APP_ID), headers=READ).status_code == 200  # its link stays

    provision(network, pki)  # put the link back for whatever runs next
