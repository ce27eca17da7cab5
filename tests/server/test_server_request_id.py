"""Request IDs: a served request runs under the caller's well-formed ``X-Request-ID`` (else a new one),
answers with it, and the project's HTTP clients send the current one on, so that two services log
one operation under one ID; a real server applies it to every app it serves."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sdqkd.pki import IssuedCertificate, client_ssl_context
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.server.logs import JsonFormatter
from sdqkd.server.request_id import (
    HEADER,
    RequestIdMiddleware,
    carry_request_id,
    current_request_id,
    request_id_scope,
    well_formed,
    without_request_id,
)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"request_id": current_request_id()})


def _echo_app() -> RequestIdMiddleware:
    return RequestIdMiddleware(Starlette(routes=[Route("/", _echo)]))


def _get(app: Any, headers: dict[str, str | bytes] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get("/", headers=headers)

    return asyncio.run(call())


def test_a_request_runs_under_the_callers_id_and_answers_with_it() -> None:
    response = _get(_echo_app(), {HEADER: "sae-op.17:a_b-c"})

    assert response.json() == {"request_id": "sae-op.17:a_b-c"}
    assert response.headers[HEADER] == "sae-op.17:a_b-c"


@pytest.mark.parametrize(
    "offered",
    [None, "", "two words", "x" * 129, "forged\u2028line", '{"level":"ERROR"}'],
    ids=["none", "empty", "space", "too-long", "line-separator", "json"],
)
def test_a_request_without_a_well_formed_id_gets_a_new_one(offered: str | None) -> None:
    headers: dict[str, str | bytes] | None = None if offered is None else {HEADER: offered.encode()}

    response = _get(_echo_app(), headers)

    given = response.json()["request_id"]
    assert response.headers[HEADER] == given
    assert given != offered
    assert len(given) == 32
    int(given, 16)  # a UUID's hex digits


def test_every_request_gets_an_id_of_its_own_and_none_is_left_behind() -> None:
    first, second = _get(_echo_app()), _get(_echo_app())

    assert first.headers[HEADER] != second.headers[HEADER]
    assert current_request_id() is None


def test_well_formed_ids_are_short_and_of_safe_characters() -> None:
    assert well_formed("0123abcXYZ._:-")
    assert not well_formed("a/b")
    assert not well_formed("a\nb")
    scope = request_id_scope("a b")
    with pytest.raises(ValueError, match="not a well-formed request ID"):
        scope.__enter__()


def test_a_task_that_outlives_its_request_can_be_started_outside_it() -> None:
    async def seen() -> str | None:
        return current_request_id()

    async def start_both() -> tuple[str | None, str | None]:
        with request_id_scope("registration"):
            inherited = asyncio.create_task(seen())
            detached = asyncio.create_task(seen(), context=without_request_id())
        return await inherited, await detached

    assert asyncio.run(start_both()) == ("registration", None)


def _recorded(requests: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204)

    return httpx.MockTransport(handle)


def test_a_carrying_client_sends_the_current_id_and_none_outside_an_operation() -> None:
    seen: list[httpx.Request] = []

    async def calls() -> None:
        async with carry_request_id(httpx.AsyncClient(transport=_recorded(seen))) as client:
            await client.get("https://peer/outside")
            with request_id_scope("op-1"):
                await client.get("https://peer/inside")
                await client.get("https://peer/own", headers={HEADER: "callers-own"})

    asyncio.run(calls())

    assert [request.headers.get(HEADER) for request in seen] == [None, "op-1", "callers-own"]


def test_a_carrying_synchronous_client_sends_it_too() -> None:
    seen: list[httpx.Request] = []
    with carry_request_id(httpx.Client(transport=_recorded(seen))) as client, request_id_scope() as chosen:
        client.get("https://peer/")

    assert seen[0].headers[HEADER] == chosen


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The JSON lines logged under ``sdqkd.tests.services`` meanwhile."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("sdqkd.tests.services")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def test_two_services_log_one_operation_under_one_id(json_log: io.StringIO) -> None:
    log = logging.getLogger("sdqkd.tests.services")

    async def relay(request: Request) -> JSONResponse:  # the far service
        log.info("far end stored the keys")
        return JSONResponse({"stored": True})

    far = RequestIdMiddleware(Starlette(routes=[Route("/relay", relay, methods=["POST"])]))

    async def enc_keys(request: Request) -> JSONResponse:  # the near service calls the far one
        log.info("near end relays")
        transport = httpx.ASGITransport(app=far)
        async with carry_request_id(httpx.AsyncClient(transport=transport, base_url="http://far")) as peer:
            answer = await peer.post("/relay")
        return JSONResponse({"far_request_id": answer.headers[HEADER]})

    near = RequestIdMiddleware(Starlette(routes=[Route("/enc_keys", enc_keys)]))

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=near), base_url="http://near") as sae:
            return await sae.get("/enc_keys")

    response = asyncio.run(call())

    operation = response.headers[HEADER]
    assert response.json() == {"far_request_id": operation}
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [(line["event"], line["request_id"]) for line in lines] == [
        ("near end relays", operation),
        ("far end stored the keys", operation),
    ]


def test_a_served_app_answers_with_a_request_id(
    server_tls: TlsFiles, operator_cert: IssuedCertificate
) -> None:
    app = Starlette(routes=[Route("/", _echo)])  # no middleware of its own: the server adds it
    context = client_ssl_context(operator_cert.cert, operator_cert.key, server_tls.ca)

    with BackgroundServer(app, server_tls) as server, httpx.Client(verify=context) as client:
        given = client.get(f"{server.url}/", headers={HEADER: "from-the-sae"})
        fresh = client.get(f"{server.url}/")

    assert given.headers[HEADER] == "from-the-sae"
    assert given.json() == {"request_id": "from-the-sae"}
    assert fresh.json() == {"request_id": fresh.headers[HEADER]}
    assert len(fresh.headers[HEADER]) == 32
