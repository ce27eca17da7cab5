"""The KME's authorisation tables walked exhaustively in process (every route × every role, own node,
peer and stranger), and the audit's findings about the KME: virtual links are the controller's, an
unknown path under /api/v1/keys is answered in ETSI GS QKD 014's format, /openapi.json is the operator's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount

from authz_support import Certificates, call, walk
from sdqkd.kms import Kme, KmeConfig, SqliteKeyStore, create_kme_app
from sdqkd.kms.app import ATTACHED_SAE, KME_TABLE, PEER_KME, kme_etsi014_table
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server.authz import OWN_NODE, route_keys

pytestmark = pytest.mark.anyio

_VALUES = {
    "link_id": "norte-quintin",
    "virtual_link_id": "v-test",
    "slave_SAE_ID": "quintin-app",
    "master_SAE_ID": "quintin-app",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certificates(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Certificates:
    return Certificates(ca_issuing_into("kms-authz"))


@pytest.fixture
def norte(certificates: Certificates, tmp_path: Path) -> Iterator[Any]:
    """KME norte (not started: the table decides before anything runs), linked to quintin."""
    ca = certificates.ca
    issued = ca.issue(Role.KME, "norte")
    config = KmeConfig.model_validate(
        {
            "kme_id": "norte",
            "tls": {"cert": str(issued.cert), "key": str(issued.key), "ca": str(ca.cert_path)},
            "storage": {"backend": "sqlite", "path": str(tmp_path / "norte.db")},
            "saes": {"norte-app": "norte", "quintin-app": "quintin"},
            "links": [
                {
                    "id": "norte-quintin",
                    "peer_kme_id": "quintin",
                    "peer_url": "https://127.0.0.1:9",
                    "device": {"etsi014_url": "https://127.0.0.1:9/devices/x", "peer_sae_id": "quintin"},
                }
            ],
        }
    )
    store = SqliteKeyStore(tmp_path / "norte.db")
    try:
        yield create_kme_app(Kme(config, store), supply=False)
    finally:
        store.close()


def _etsi_app(app: Any) -> Any:
    (mount,) = [route for route in app.router.routes if isinstance(route, Mount)]
    return mount.app


def test_every_route_of_the_kme_is_in_its_table_and_every_entry_is_a_route(norte: Any) -> None:
    keys, unguarded = route_keys(norte)
    assert keys == set(KME_TABLE.rules)
    assert unguarded == {"/"}  # the ETSI 014 app, which has its own table
    etsi_keys, etsi_unguarded = route_keys(_etsi_app(norte))
    assert etsi_keys == set(kme_etsi014_table().rules)
    assert etsi_unguarded == set()  # no /docs, /redoc or framework-served /openapi.json


async def test_the_kme_does_what_its_tables_say(norte: Any, certificates: Certificates) -> None:
    # each condition's names; every role is tried with each of them and with a stranger
    meets = {OWN_NODE: {"norte"}, PEER_KME: {"quintin"}, ATTACHED_SAE: {"norte-app"}}
    mismatches = await walk(norte, KME_TABLE, certificates, _VALUES, meets)
    mismatches += await walk(norte, kme_etsi014_table(), certificates, _VALUES, meets)
    assert mismatches == []


async def test_an_agent_of_another_node_cannot_write_a_kmes_virtual_links(
    norte: Any, certificates: Certificates
) -> None:
    body = json.dumps({"id": "v-test", "path": ["norte", "quintin"]}).encode()
    path = "/api/v1/kme/virtual_links/v-test"
    for name in ("quintin", "norte"):  # another node's agent, and its own: only the controller writes
        for method in ("PUT", "DELETE"):
            answer = await call(norte, method, path, certificates.pem(Role.AGENT, name), body)
            assert answer.status == 403, (method, name)
            assert answer.headers["content-type"] == "application/problem+json"
    created = await call(norte, "PUT", path, certificates.pem(Role.CONTROLLER, "controller"), body)
    assert created.status == 201


async def test_an_unknown_path_under_the_keys_api_is_an_etsi_404(
    norte: Any, certificates: Certificates
) -> None:
    sae = certificates.pem(Role.SAE, "norte-app")
    for path in ("/api/v1/keys/quintin-app/other_keys", "/api/v1/keys", "/api/v1/keys/x/y/z"):
        answer = await call(norte, "GET", path, sae)
        assert answer.status == 404, path
        assert answer.headers["content-type"] == "application/json"
        assert set(answer.json()) == {"message"}  # ETSI GS QKD 014 §6.5 Error
    elsewhere = await call(norte, "GET", "/api/v2/nothing", sae)
    assert elsewhere.status == 404
    assert elsewhere.headers["content-type"] == "application/problem+json"
    assert elsewhere.json()["status"] == 404


async def test_the_openapi_document_is_the_operators_and_there_are_no_docs_pages(
    norte: Any, certificates: Certificates
) -> None:
    sae = certificates.pem(Role.SAE, "norte-app")
    refused = await call(norte, "GET", "/openapi.json", sae)
    assert refused.status == 401
    assert "sae:norte-app may not GET /openapi.json" in refused.json()["message"]
    assert (
        await call(norte, "GET", "/openapi.json", certificates.pem(Role.OPERATOR, "operator"))
    ).status == 200
    for page in ("/docs", "/redoc"):
        assert (await call(norte, "GET", page, sae)).status == 404
