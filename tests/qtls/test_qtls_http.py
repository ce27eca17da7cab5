"""HTTP over QKD-TLS: an app served behind a QKD-TLS front (``FrontedBy(app_front(...))``) and an
httpx client whose transport opens QKD-TLS connections (``QtlsTransport``). The app sees the front's
peer as the caller; a connection carries many requests on one key, a new connection takes a new key;
a client with a certificate but no QKD key is refused on the same port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from sdqkd.pki import CertificateAuthority, Identity, Role, client_ssl_context
from sdqkd.qtls import app_front, open_connection
from sdqkd.qtls.http import QtlsTransport
from sdqkd.server import BackgroundServer, PeerDep, TlsFiles
from sdqkd.server.authz import Table, allow, authorise
from sdqkd.server.run import FrontedBy
from standin_kmes import StandInKmes

pytestmark = pytest.mark.integration

CONTROLLER = Identity(Role.CONTROLLER, "controller")


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/whoami", dependencies=[authorise(Table("test", {("GET", "/whoami"): allow(Role.CONTROLLER)}))])
    def whoami(peer: PeerDep) -> dict[str, str]:
        return {"role": str(peer.role), "name": peer.name}

    @app.get("/events")
    def events() -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(0.05)
                yield f"data: {n}\n\n".encode()

        return StreamingResponse(lines(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def ca(ca_issuing_into: Callable[[str], CertificateAuthority]) -> CertificateAuthority:
    return ca_issuing_into("qtls-http")


@pytest.fixture
def kmes() -> StandInKmes:
    return StandInKmes()


@pytest.fixture
def served(ca: CertificateAuthority, kmes: StandInKmes) -> Iterator[BackgroundServer]:
    issued = ca.issue(Role.AGENT, "n1")
    tls = TlsFiles(cert=issued.cert, key=issued.key, ca=ca.cert_path)
    fronted = FrontedBy(app_front(lambda: kmes, ["controller-sae"]), CONTROLLER)
    with BackgroundServer(make_app(), tls, fronted=fronted) as server:
        yield server


def qtls_client(kmes: StandInKmes) -> httpx.AsyncClient:
    async def dial(host: str, port: int) -> Any:
        return await open_connection(kmes, "agent-sae", host, port)

    return httpx.AsyncClient(transport=QtlsTransport(dial), timeout=10)


def test_requests_over_qkd_tls_reach_the_app_as_the_fronts_peer_one_key_per_connection(
    served: BackgroundServer, kmes: StandInKmes
) -> None:
    async def run() -> list[dict[str, Any]]:
        async with qtls_client(kmes) as client:
            answers = [(await client.get(f"{served.url}/whoami")).json() for _ in range(5)]
        async with qtls_client(kmes) as client:
            answers.append((await client.get(f"{served.url}/whoami")).json())
        return answers

    answers = asyncio.run(run())

    assert answers == [{"role": "controller", "name": "controller"}] * 6
    assert len(kmes.delivered) == 2  # one key per connection, not per request


def test_a_streamed_response_arrives_in_parts(served: BackgroundServer, kmes: StandInKmes) -> None:
    async def run() -> list[str]:
        async with qtls_client(kmes) as client, client.stream("GET", f"{served.url}/events") as response:
            return [line async for line in response.aiter_lines() if line]

    assert asyncio.run(run()) == ["data: 0", "data: 1", "data: 2"]


def test_a_mutual_tls_client_is_refused_on_the_qkd_tls_port(
    served: BackgroundServer, ca: CertificateAuthority, kmes: StandInKmes
) -> None:
    controller = ca.issue(Role.CONTROLLER, "controller")
    context = client_ssl_context(controller.cert, controller.key, ca.cert_path)

    with (
        httpx.Client(verify=context, timeout=10) as client,
        pytest.raises(httpx.ConnectError, match="MISSING_EXTENSION"),
    ):
        client.get(f"{served.url}/whoami")

    assert kmes.delivered == []


def test_no_key_from_the_kme_is_a_connect_error(served: BackgroundServer) -> None:
    async def run() -> None:
        async with qtls_client(StandInKmes(budget=0)) as client:
            await client.get(f"{served.url}/whoami")

    with pytest.raises(httpx.ConnectError, match="no key available"):
        asyncio.run(run())
