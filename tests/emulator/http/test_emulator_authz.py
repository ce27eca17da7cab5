"""The emulator's authorisation tables walked exhaustively in process (every route × every role, the
module's node and a stranger), and the audit's findings about it: the operator takes no keys from a
module, and one service serves a bounded number of event streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from authz_support import Certificates, call, walk
from sdqkd.emulator.app import EMULATOR_TABLE, MODULE_OF_ITS_NODE, create_emulator_app, module_etsi014_table
from sdqkd.emulator.engine import Emulator
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server.authz import OWN_NODE, route_keys
from sdqkd.server.streams import StreamLimits
from sdqkd.topology.models import Topology

pytestmark = pytest.mark.anyio

_VALUES = {
    "module_id": "norte-tx",
    "action": "repair",  # harmless when admitted; the fibre's "restore" below too
    "fibre_id": "norte-quintin",
    "channel_id": "c10g-20",
    "switch_id": "concepcion-switch",
    "slave_SAE_ID": "quintin",
    "master_SAE_ID": "quintin",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certificates(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Certificates:
    return Certificates(ca_issuing_into("emulator-authz"))


@pytest.fixture
def emulator_app(madrid: Topology) -> Any:
    """The emulator's app, not started: the table decides before anything runs."""
    return create_emulator_app(Emulator(madrid), run_clock=False)


def test_every_route_of_the_emulator_is_in_its_table_and_every_entry_is_a_route(
    emulator_app: Any, madrid: Topology
) -> None:
    keys, unguarded = route_keys(emulator_app)
    assert keys == set(EMULATOR_TABLE.rules)
    # one ETSI 014 app per module, each with its own table; no /docs, /redoc or framework openapi
    assert unguarded == {f"/devices/{module.id}" for module in madrid.qkd_modules}
    for route in emulator_app.router.routes:
        if hasattr(route, "app") and str(getattr(route, "path", "")).startswith("/devices/"):
            assert route_keys(route.app) == (set(module_etsi014_table().rules), set())


async def test_the_emulator_does_what_its_tables_say(emulator_app: Any, certificates: Certificates) -> None:
    values = {**_VALUES, "action": "restore"}
    mismatches = await walk(
        emulator_app,
        EMULATOR_TABLE,
        certificates,
        _VALUES | {"action": "repair"},
        {MODULE_OF_ITS_NODE: {"norte"}},
    )
    mismatches += await walk(
        emulator_app,
        module_etsi014_table(),
        certificates,
        values,
        {OWN_NODE: {"norte"}},
        prefix="/devices/norte-tx",
    )
    assert mismatches == []


async def test_the_operator_takes_no_keys_from_a_module(
    emulator_app: Any, certificates: Certificates
) -> None:
    operator = certificates.pem(Role.OPERATOR, "operator")
    for method, path in (
        ("GET", "/devices/norte-tx/api/v1/keys/quintin/enc_keys"),
        ("POST", "/devices/norte-tx/api/v1/keys/quintin/enc_keys"),
        ("GET", "/devices/norte-tx/api/v1/keys/quintin/status"),
    ):
        answer = await call(emulator_app, method, path, operator, b"{}" if method == "POST" else b"")
        assert answer.status == 401, (method, path)  # ETSI GS QKD 014 has no 403
        assert set(answer.json()) == {"message"}
    # the KME of the module's node does get past the table (the link is not up: no keys, but no 401)
    kme = await call(
        emulator_app,
        "GET",
        "/devices/norte-tx/api/v1/keys/quintin/status",
        certificates.pem(Role.KME, "norte"),
    )
    assert kme.status not in (401, 403)


async def test_the_event_streams_are_capped_per_service_and_per_caller(
    madrid: Topology, certificates: Certificates
) -> None:
    app = create_emulator_app(Emulator(madrid), run_clock=False, streams=StreamLimits(total=32, per_caller=4))
    release = asyncio.Event()
    started: list[int] = []
    held: list[asyncio.Task[Any]] = []

    def subscribe(pem: str) -> asyncio.Task[Any]:
        return asyncio.create_task(
            call(app, "GET", "/api/v1/events", pem, hold_until=release, started=started)
        )

    # 4 streams for each of 8 agents: 32, the service's limit
    for node in range(8):
        pem = certificates.pem(Role.AGENT, f"node{node}")
        held += [subscribe(pem) for _ in range(4)]
    for _ in range(200):
        if len(started) == 32:
            break
        await asyncio.sleep(0.01)
    assert started == [200] * 32
    operator = certificates.pem(Role.OPERATOR, "operator")
    full = await call(app, "GET", "/api/v1/events", operator)  # the 33rd
    assert full.status == 503
    assert full.headers["content-type"] == "application/problem+json"
    share = await call(app, "GET", "/api/v1/events", certificates.pem(Role.AGENT, "node0"))  # a 5th
    assert share.status == 429
    assert share.json()["title"] == "Too Many Requests"
    release.set()
    await asyncio.gather(*held)
    assert (await call(app, "GET", "/api/v1/events", operator)).status == 200  # the slots came back
