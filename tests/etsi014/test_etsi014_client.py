"""The ETSI GS QKD 014 client: what it sends, what it returns, and how every failure becomes one
Etsi014ClientError. Against the app in process, or a mock transport for exact requests and broken
answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from uuid import UUID

import httpx
import pytest
from etsi014_support import BASE_URL, CallAs, FakeKeyService, Pki

from sdqkd.errors import KeyExhausted, SdqkdError
from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError, KeyContainer

pytestmark = pytest.mark.anyio

KEY_ID = UUID("5f3a2e1c-7b4d-4e6f-8a9b-0c1d2e3f4a5b")
EMPTY_CONTAINER = {"keys": []}


def mock_client(
    answer: Callable[[httpx.Request], httpx.Response], sent: list[httpx.Request]
) -> Etsi014Client:
    """A client whose requests are recorded in ``sent`` and answered by ``answer``."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    return Etsi014Client(BASE_URL, http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_keys_of_the_master_are_the_keys_of_the_slave(call_as: CallAs, pki: Pki) -> None:
    async with (
        Etsi014Client(BASE_URL, http_client=call_as(pki.sae_a)) as master,
        Etsi014Client(BASE_URL, http_client=call_as(pki.sae_b)) as slave,
    ):
        status = await master.status("sae-b")
        assert (status.master_sae_id, status.slave_sae_id, status.key_size) == ("sae-a", "sae-b", 256)
        by_post = await master.enc_keys("sae-b", number=2, size=128)
        by_get = await master.enc_keys("sae-b", number=1, size=512, use_get=True)
        assert [len(key.material()) for key in by_post.keys + by_get.keys] == [16, 16, 64]
        fetched = await slave.dec_keys("sae-a", [key.key_id for key in by_post.keys])
        (fetched_by_get,) = (await slave.dec_keys("sae-a", [by_get.keys[0].key_id], use_get=True)).keys
    assert fetched == by_post
    assert fetched_by_get == by_get.keys[0]


async def test_enc_keys_posts_the_key_request_under_its_wire_names() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(lambda _: httpx.Response(200, json=EMPTY_CONTAINER), sent)
    result = await client.enc_keys(
        "sae-b",
        number=2,
        size=256,
        additional_slave_sae_ids=["sae-c"],
        extension_mandatory=[{"abc_route_type": "direct"}],
        extension_optional=[{"abc_max_age": 30}],
    )
    assert result == KeyContainer(keys=[])
    (request,) = sent
    assert (request.method, request.url.path) == ("POST", "/api/v1/keys/sae-b/enc_keys")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "number": 2,
        "size": 256,
        "additional_slave_SAE_IDs": ["sae-c"],
        "extension_mandatory": [{"abc_route_type": "direct"}],
        "extension_optional": [{"abc_max_age": 30}],
    }


async def test_enc_keys_with_defaults_posts_an_empty_key_request() -> None:
    sent: list[httpx.Request] = []
    await mock_client(lambda _: httpx.Response(200, json=EMPTY_CONTAINER), sent).enc_keys("sae-b")
    assert json.loads(sent[0].content) == {}


async def test_enc_keys_get_form_sends_number_and_size_as_query_parameters() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(lambda _: httpx.Response(200, json=EMPTY_CONTAINER), sent)
    await client.enc_keys("sae-b", number=3, use_get=True)
    (request,) = sent
    assert request.method == "GET"
    assert request.url.path == "/api/v1/keys/sae-b/enc_keys"
    assert dict(request.url.params) == {"number": "3"}
    assert request.content == b""


async def test_dec_keys_sends_key_ids_under_their_wire_names() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(lambda _: httpx.Response(200, json=EMPTY_CONTAINER), sent)
    await client.dec_keys("sae-a", [KEY_ID])
    await client.dec_keys("sae-a", [KEY_ID], use_get=True)
    by_post, by_get = sent
    assert (by_post.method, by_post.url.path) == ("POST", "/api/v1/keys/sae-a/dec_keys")
    assert json.loads(by_post.content) == {"key_IDs": [{"key_ID": str(KEY_ID)}]}  # no null extensions
    assert (by_get.method, by_get.url.path) == ("GET", "/api/v1/keys/sae-a/dec_keys")
    assert dict(by_get.url.params) == {"key_ID": str(KEY_ID)}


async def test_the_get_forms_refuse_what_they_cannot_carry() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(lambda _: httpx.Response(200, json=EMPTY_CONTAINER), sent)
    with pytest.raises(ValueError, match="exactly one key ID"):
        await client.dec_keys("sae-a", [KEY_ID, UUID(int=7)], use_get=True)
    with pytest.raises(ValueError, match="only number and size"):
        await client.enc_keys("sae-b", additional_slave_sae_ids=["sae-c"], use_get=True)
    assert sent == []


@pytest.mark.parametrize("sae_id", ["", ".", ".."])
async def test_an_sae_id_that_is_not_a_path_segment_is_refused(sae_id: str) -> None:
    sent: list[httpx.Request] = []
    client = mock_client(lambda _: httpx.Response(200, json=EMPTY_CONTAINER), sent)
    with pytest.raises(ValueError, match="invalid SAE ID"):
        await client.status(sae_id)
    assert sent == []


async def test_a_refusal_carries_the_error_body_of_the_server(call_as: CallAs, pki: Pki) -> None:
    client = Etsi014Client(BASE_URL, http_client=call_as(pki.sae_a))
    with pytest.raises(Etsi014ClientError) as refused:
        await client.enc_keys("sae-b", size=2048)
    error = refused.value
    assert isinstance(error, SdqkdError)
    assert error.status_code == 400
    assert error.message == "size 2048 outside 64..1024 bits"
    assert error.details == [{"min_key_size": 64, "max_key_size": 1024}]
    assert str(error) == "400: size 2048 outside 64..1024 bits"


async def test_a_service_failure_reaches_the_client_as_503(
    call_as: CallAs, pki: Pki, service: FakeKeyService
) -> None:
    service.fail_with = KeyExhausted("not enough key material")
    client = Etsi014Client(BASE_URL, http_client=call_as(pki.sae_a))
    with pytest.raises(Etsi014ClientError) as refused:
        await client.enc_keys("sae-b")
    assert (refused.value.status_code, refused.value.message, refused.value.details) == (
        503,
        "not enough key material",
        None,
    )


async def test_keys_of_another_sae_are_refused_with_401(call_as: CallAs, pki: Pki) -> None:
    master = Etsi014Client(BASE_URL, http_client=call_as(pki.sae_a))
    other = Etsi014Client(BASE_URL, http_client=call_as(pki.kme_2))
    (key,) = (await master.enc_keys("sae-b")).keys
    with pytest.raises(Etsi014ClientError) as refused:
        await other.dec_keys("sae-a", [key.key_id])
    assert refused.value.status_code == 401


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(502, text="<html>bad gateway</html>", headers={"content-type": "text/html"}),
        httpx.Response(500, json={"detail": "not an ETSI Error"}),
        httpx.Response(503, content=b""),
    ],
    ids=["html", "json-but-not-error", "empty"],
)
async def test_an_answer_without_error_body_still_gives_its_status(answer: httpx.Response) -> None:
    client = mock_client(lambda _: answer, [])
    with pytest.raises(Etsi014ClientError) as refused:
        await client.status("sae-b")
    assert refused.value.status_code == answer.status_code
    assert refused.value.details is None
    assert "no ETSI 014 Error body" in refused.value.message


async def test_a_malformed_key_container_is_an_error() -> None:
    broken = {"keys": [{"key_ID": "not-a-uuid", "key": "AAAA"}]}
    client = mock_client(lambda _: httpx.Response(200, json=broken), [])
    with pytest.raises(Etsi014ClientError, match="malformed KeyContainer") as refused:
        await client.enc_keys("sae-b")
    assert refused.value.status_code == 200


async def test_a_transport_error_is_translated_once_without_the_key_id() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = mock_client(refuse, [])
    with pytest.raises(Etsi014ClientError, match="ConnectError: connection refused") as refused:
        await client.dec_keys("sae-a", [KEY_ID], use_get=True)
    assert refused.value.status_code is None
    assert isinstance(refused.value.__cause__, httpx.ConnectError)
    assert str(KEY_ID) not in str(refused.value)


async def test_a_client_given_an_http_client_leaves_it_open() -> None:
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    async with Etsi014Client(BASE_URL, http_client=http_client):
        pass
    assert not http_client.is_closed
    await http_client.aclose()


def test_a_client_needs_certificates_or_an_http_client(pki: Pki) -> None:
    with pytest.raises(TypeError, match="cert, key and ca"):
        Etsi014Client(BASE_URL, cert=pki.sae_a.cert, key=pki.sae_a.key)  # type: ignore[call-overload]
