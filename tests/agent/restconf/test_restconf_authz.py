"""The node agent's authorisation table walked exhaustively in process (every route and method × every
role, the agent's own node and another), and the audit's findings about agents: only the controller
writes, another node's KME does not read, and an agent serves a bounded number of event streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from restconf_support import NODE

from authz_support import Certificates, call, walk
from sdqkd.agent.datastore import Datastore
from sdqkd.agent.restconf import AGENT_TABLE, create_restconf_app
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.restconf.notifications import NotificationStream
from sdqkd.server.authz import OWN_NODE, own_node, route_keys

pytestmark = pytest.mark.anyio

_STREAM = "/restconf/streams/etsi-qkd-sdn-node/json"


@pytest.fixture(scope="module")
def certificates(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Certificates:
    return Certificates(ca_issuing_into("restconf-authz"))


def agent_of(node: str, datastore: Datastore, stream: NotificationStream, **limits: int) -> Any:
    """``node``'s agent app, as the agent service builds it."""
    return create_restconf_app(
        datastore, table=AGENT_TABLE, checks={OWN_NODE: own_node(node)}, stream=stream, **limits
    )


def test_every_route_of_the_agent_is_in_its_table_and_every_entry_is_a_route(
    datastore: Datastore, stream: NotificationStream
) -> None:
    assert route_keys(agent_of("quintin", datastore, stream)) == (set(AGENT_TABLE.rules), set())


def test_the_table_gives_reads_to_readers_and_writes_to_the_controller_alone() -> None:
    for (method, path), rule in AGENT_TABLE.rules.items():
        if path == "/metrics":
            assert rule.roles() == {Role.OPERATOR}
        elif path == "/health":
            assert rule.roles() == {Role.OPERATOR, Role.CONTROLLER}
        elif method in ("PUT", "POST", "PATCH", "DELETE"):
            assert rule.roles() == {Role.CONTROLLER}, (method, path)
        else:
            assert rule.roles() == {Role.CONTROLLER, Role.OPERATOR, Role.KME}, (method, path)


async def test_the_agent_does_what_its_table_says(
    datastore: Datastore, stream: NotificationStream, certificates: Certificates
) -> None:
    values = {"resource": f"{NODE}/qkd_interfaces", "name": "etsi-qkd-sdn-node"}
    app = agent_of("quintin", datastore, stream)
    assert await walk(app, AGENT_TABLE, certificates, values, {OWN_NODE: {"quintin"}}) == []


async def test_the_operator_may_not_write_an_agent(
    datastore: Datastore, stream: NotificationStream, certificates: Certificates
) -> None:
    app = agent_of("quintin", datastore, stream)
    operator = certificates.pem(Role.OPERATOR, "operator")
    body = json.dumps({"etsi-qkd-sdn-node:qkdn_location_id": "elsewhere"}).encode()
    answer = await call(app, "PATCH", f"/restconf/data/{NODE}", operator, body)
    assert answer.status == 403
    (error,) = answer.json()["ietf-restconf:errors"]["error"]
    assert error["error-tag"] == "access-denied"
    put = await call(app, "PUT", f"/restconf/data/{NODE}/qkdn_location_id", operator, b'{"x": 1}')
    assert put.status == 403
    assert (await call(app, "GET", f"/restconf/data/{NODE}", operator)).status == 200  # reading is fine


async def test_another_nodes_kme_may_not_read_an_agent(
    datastore: Datastore, stream: NotificationStream, certificates: Certificates
) -> None:
    quintin = agent_of("quintin", datastore, stream)
    refused = await call(quintin, "GET", f"/restconf/data/{NODE}", certificates.pem(Role.KME, "norte"))
    assert refused.status == 403
    assert "kme:norte may not GET" in refused.json()["ietf-restconf:errors"]["error"][0]["error-message"]
    own = await call(quintin, "GET", f"/restconf/data/{NODE}", certificates.pem(Role.KME, "quintin"))
    assert own.status == 200


async def test_the_notification_streams_are_capped_per_service_and_per_caller(
    datastore: Datastore, stream: NotificationStream, certificates: Certificates
) -> None:
    app = agent_of("quintin", datastore, stream)  # the defaults: 32 in all, 4 per identity
    release = asyncio.Event()
    started: list[int] = []
    callers = [certificates.pem(Role.CONTROLLER, "controller"), certificates.pem(Role.OPERATOR, "operator")]
    callers += [certificates.pem(Role.OPERATOR, f"operator{n}") for n in range(6)]
    held = [
        asyncio.create_task(call(app, "GET", _STREAM, pem, hold_until=release, started=started))
        for pem in callers
        for _ in range(4)
    ]
    for _ in range(200):
        if len(started) == 32:
            break
        await asyncio.sleep(0.01)
    assert started == [200] * 32
    full = await call(app, "GET", _STREAM, certificates.pem(Role.KME, "quintin"))  # the 33rd
    assert full.status == 503
    (error,) = full.json()["ietf-restconf:errors"]["error"]
    assert error["error-tag"] == "resource-denied"
    share = await call(app, "GET", _STREAM, callers[0])  # the controller's 5th
    assert share.status == 429
    assert share.json()["ietf-restconf:errors"]["error"][0]["error-tag"] == "resource-denied"
    release.set()
    await asyncio.gather(*held)
    assert (await call(app, "GET", _STREAM, callers[0])).status == 200
