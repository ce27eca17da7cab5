"""The controller's authorisation table walked exhaustively in process (every route × every role, the
node in the path and a stranger); its interactive docs are off and its OpenAPI document is the
operator's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from authz_support import Certificates, call, walk
from sdqkd.controller.api import CONTROLLER_TABLE, ITS_OWN_NODE, create_controller_app
from sdqkd.controller.core import Controller
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server.authz import route_keys
from sdqkd.topology.loader import load_topology

pytestmark = pytest.mark.anyio

_VALUES = {
    "node_id": "norte",
    "link_id": "norte-quintin",
    "app_id": str(uuid.UUID(int=1)),
    "service_id": str(uuid.UUID(int=2)),
    "fibre_id": "norte-quintin",
    "channel_id": "c10g-20",
    "switch_id": "concepcion-switch",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certificates(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Certificates:
    return Certificates(ca_issuing_into("controller-authz"))


@pytest.fixture
def controller_app(certificates: Certificates, tmp_path: Path) -> Iterator[Any]:
    """The controller's app (not started: the table decides before anything runs)."""
    issued = certificates.ca.issue(Role.CONTROLLER, "controller")
    store = ControllerStore(tmp_path / "state.db")
    southbound = Southbound(issued.cert, issued.key, certificates.ca.cert_path)
    try:
        yield create_controller_app(Controller(load_topology("madrid"), store, southbound))
    finally:
        store.close()


def test_every_route_of_the_controller_is_in_its_table_and_every_entry_is_a_route(
    controller_app: Any,
) -> None:
    fastapi_app = controller_app.app  # inside the middleware that answers unexpected failures
    assert route_keys(fastapi_app) == (set(CONTROLLER_TABLE.rules), set())


async def test_the_controller_does_what_its_table_says(
    controller_app: Any, certificates: Certificates
) -> None:
    assert (
        await walk(controller_app, CONTROLLER_TABLE, certificates, _VALUES, {ITS_OWN_NODE: {"norte"}}) == []
    )


async def test_the_openapi_document_is_the_operators_and_there_are_no_docs_pages(
    controller_app: Any, certificates: Certificates
) -> None:
    agent = certificates.pem(Role.AGENT, "norte")
    assert (await call(controller_app, "GET", "/openapi.json", agent)).status == 403
    controller = certificates.pem(Role.CONTROLLER, "controller")
    assert (await call(controller_app, "GET", "/openapi.json", controller)).status == 403
    described = await call(
        controller_app, "GET", "/openapi.json", certificates.pem(Role.OPERATOR, "operator")
    )
    assert described.status == 200
    assert "/api/v1/nodes/{node_id}" in described.json()["paths"]
    for page in ("/docs", "/redoc"):
        assert (await call(controller_app, "GET", page, agent)).status == 404
