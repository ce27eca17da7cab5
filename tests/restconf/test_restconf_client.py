"""The RESTCONF client against a scripted server (httpx's mock transport): what it sends, what it makes
of each answer, and which error each failure becomes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from sdqkd.errors import AgentUnavailable, ResourceNotFound, RestconfError, Unavailable
from sdqkd.restconf import MEDIA_TYPE, MalformedErrorBody, RestconfClient, encode_errors, format_event

pytestmark = pytest.mark.anyio

SERVER = "https://agent.test"
NODE = "etsi-qkd-sdn-node:qkd_node"
LINK = f"{NODE}/qkd_links/qkd_link=c1a5"

Handler = Callable[[httpx.Request], httpx.Response]
Scripted = Callable[[Handler], RestconfClient]


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    """``scripted(handler)``: a client whose server answers every request with ``handler``."""
    made: list[httpx.AsyncClient] = []

    def make(handler: Handler) -> RestconfClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        made.append(http)
        return RestconfClient(http, unavailable=AgentUnavailable)

    yield make
    for http in made:
        await http.aclose()


def refusal(status_code: int, *errors: RestconfError) -> httpx.Response:
    return httpx.Response(status_code, json=encode_errors(*errors), headers={"content-type": MEDIA_TYPE})


async def test_get_asks_for_yang_json_and_returns_the_object(scripted: Scripted) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={NODE: {"qkdn_id": "x"}})

    body = await scripted(handler).get(SERVER, NODE, params={"depth": "2"})

    assert body == {NODE: {"qkdn_id": "x"}}
    (request,) = seen
    assert request.method == "GET"
    assert request.url == f"{SERVER}/restconf/data/{NODE}?depth=2"
    assert request.headers["accept"] == MEDIA_TYPE


async def test_writes_send_yang_json_and_report_what_happened(
    scripted: Scripted,
) -> None:
    seen: list[tuple[str, str, Any]] = []
    status = {"PUT": 201, "POST": 201, "PATCH": 204, "DELETE": 204}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == MEDIA_TYPE
        body = json.loads(request.content) if request.content else None
        if body is not None:
            assert request.headers["content-type"] == MEDIA_TYPE
        seen.append((request.method, request.url.path, body))
        headers = {"location": f"{SERVER}/restconf/data/{LINK}"} if request.method == "POST" else {}
        return httpx.Response(status[request.method], headers=headers)

    client = scripted(handler)
    assert await client.put(SERVER, LINK, {"qkd_link": [{"qkdl_id": "c1a5"}]}) is True
    location = await client.post(SERVER, f"{NODE}/qkd_links", {"qkd_link": [{}]})
    assert location == f"{SERVER}/restconf/data/{LINK}"
    await client.patch(SERVER, LINK, {"qkd_link": [{"qkdl_enable": False}]})
    assert await client.delete(SERVER, LINK) is True

    assert [(method, path) for method, path, _ in seen] == [
        ("PUT", f"/restconf/data/{LINK}"),
        ("POST", f"/restconf/data/{NODE}/qkd_links"),
        ("PATCH", f"/restconf/data/{LINK}"),
        ("DELETE", f"/restconf/data/{LINK}"),
    ]
    assert seen[0][2] == {"qkd_link": [{"qkdl_id": "c1a5"}]}


async def test_a_replace_is_not_a_creation_and_a_missing_resource_is_not_deleted(
    scripted: Scripted,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(204)
        return refusal(404, ResourceNotFound("no such link"))

    client = scripted(handler)
    assert await client.put(SERVER, LINK, {}) is False
    assert await client.delete(SERVER, LINK) is False


async def test_a_refusal_is_the_servers_error_with_every_entry(
    scripted: Scripted,
) -> None:
    vetoed = RestconfError("application", "resource-denied", "the device refused", error_path="/x")
    also = RestconfError("application", "invalid-value", "and this", error_info={"sdqkd:why": "range"})
    client = scripted(lambda _: refusal(409, vetoed, also))

    with pytest.raises(RestconfError) as caught:
        await client.put(SERVER, LINK, {})

    assert (caught.value.error_tag, caught.value.error_path) == ("resource-denied", "/x")
    assert [e.error_info for e in caught.value.errors] == [None, {"sdqkd:why": "range"}]


async def test_reading_a_missing_resource_raises_resource_not_found(
    scripted: Scripted,
) -> None:
    client = scripted(lambda _: refusal(404, ResourceNotFound("no such node")))

    with pytest.raises(ResourceNotFound, match="no such node"):
        await client.get(SERVER, NODE)


async def test_a_refusal_without_an_errors_body_is_a_malformed_error_body(
    scripted: Scripted,
) -> None:
    client = scripted(lambda _: httpx.Response(502, text="Bad Gateway"))

    with pytest.raises(MalformedErrorBody, match="HTTP 502 without a RESTCONF error body"):
        await client.delete(SERVER, LINK)


@pytest.mark.parametrize("answer", [httpx.Response(200, text="{not json"), httpx.Response(200, json=[1])])
async def test_a_success_that_is_not_a_json_object_is_unavailable(
    scripted: Scripted, answer: httpx.Response
) -> None:
    with pytest.raises(AgentUnavailable, match=r"GET https://agent\.test/restconf/data"):
        await scripted(lambda _: answer).get(SERVER, NODE)


async def test_no_answer_is_the_unavailable_class_given(scripted: Scripted) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(AgentUnavailable, match="ConnectError: connection refused"):
        await scripted(handler).put(SERVER, LINK, {})


async def test_a_closed_client_is_unavailable() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
    client = RestconfClient(http)
    await http.aclose()

    with pytest.raises(Unavailable, match="closed"):
        await client.delete(SERVER, LINK)


async def test_notifications_are_the_contents_of_each_event(
    scripted: Scripted,
) -> None:
    first = {"eventTime": "2026-01-01T00:00:00Z", "etsi-qkd-sdn-node:sdqkdn_interface_out": {"x": 1}}
    second = {"eventTime": "2026-01-01T00:00:01Z", "etsi-qkd-sdn-node:sdqkdn_link_down": {"y": 2}}
    stream = (
        ": subscribed\n\n"
        + format_event(json.dumps({"ietf-restconf:notification": first}, indent=1))  # several data lines
        + format_event("not json")
        + format_event(json.dumps({"something": "else"}))
        + ": keep-alive\n\n"
        + format_event(json.dumps({"ietf-restconf:notification": second}))
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})

    client = scripted(handler)
    async with aclosing(client.notifications(SERVER, "etsi-qkd-sdn-node")) as notifications:
        received = [notification async for notification in notifications]

    assert received == [first, second]
    assert seen[0].url == f"{SERVER}/restconf/streams/etsi-qkd-sdn-node/json"
    assert seen[0].headers["accept"] == "text/event-stream"


async def test_a_refused_stream_is_the_servers_error(scripted: Scripted) -> None:
    client = scripted(lambda _: refusal(403, RestconfError("protocol", "access-denied", "not you")))

    async with aclosing(client.notifications(SERVER, "etsi-qkd-sdn-node")) as notifications:
        with pytest.raises(RestconfError, match="access-denied: not you"):
            await anext(notifications)
