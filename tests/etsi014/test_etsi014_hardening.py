"""The ETSI 014 app against hostile bodies: repeated members, deep nesting, long lists and large
values are refused with a §6.5 400 before the service works on them, and no error echoes the request."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from etsi014_support import BASE_URL, KEYS, FakeKeyService, Pki, assert_error

from asgi_support import clients_presenting
from sdqkd.etsi014.app import create_etsi014_app
from sdqkd.etsi014.models import MAX_KEY_IDS, MAX_LIST_ITEMS

pytestmark = pytest.mark.anyio

_JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("sae-b/enc_keys", b'{"number": 1, "number": 16}'),
        ("sae-a/dec_keys", b'{"key_IDs": [{"key_ID": "%s", "key_ID": "%s"}]}' % (b"0" * 8, b"1" * 8)),
    ],
    ids=["enc_keys-number-twice", "dec_keys-key_ID-twice"],
)
async def test_a_repeated_member_gets_400_before_the_service_is_called(
    sae_a: httpx.AsyncClient, service: FakeKeyService, path: str, body: bytes
) -> None:
    response = await sae_a.post(f"{KEYS}/{path}", content=body, headers=_JSON)
    error = assert_error(response, 400, with_details=True)
    assert "repeated" in error["details"][0]["reason"]
    assert service.calls == []


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
async def test_deeply_nested_json_gets_400_not_500(
    sae_a: httpx.AsyncClient, service: FakeKeyService, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"number": 1, "extension_optional": [{{"x": {nested}}}]}}'
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", content=body, headers=_JSON)
    error = assert_error(response, 400, with_details=True)
    assert "nested deeper" in error["details"][0]["reason"]
    assert service.calls == []


async def test_moderate_nesting_in_an_extension_is_accepted(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    nested: object = "leaf"
    for _ in range(20):
        nested = {"n": [nested]}
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"extension_optional": [{"x": nested}]})
    assert response.status_code == 200
    assert service.calls[0][3].extension_optional == [{"x": nested}]


async def test_an_error_never_echoes_a_large_request(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    # the service names the unsupported extension in its details: a 5 MB name must not come back
    name = "secret-" + "x" * 5_000_000
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"extension_mandatory": [{name: 1}]})
    error = assert_error(response, 400)
    assert error["message"] == "unsupported mandatory extension"
    assert len(response.content) < 4096
    assert "secret-" not in response.text


async def test_a_long_error_message_is_cut(sae_a: httpx.AsyncClient, service: FakeKeyService) -> None:
    from sdqkd.errors import KeyRequestInvalid

    service.fail_with = KeyRequestInvalid("unknown SAE " + "y" * 100_000)
    response = await sae_a.get(f"{KEYS}/sae-b/status")
    error = assert_error(response, 400)
    assert error["message"].startswith("unknown SAE yyy")
    assert len(error["message"]) <= 256


@pytest.mark.parametrize(
    "body",
    [
        {"additional_slave_SAE_IDs": [f"sae-{i}" for i in range(MAX_LIST_ITEMS + 1)]},
        {"extension_optional": [{"e": i} for i in range(MAX_LIST_ITEMS + 1)]},
        {"extension_mandatory": [{"e": i} for i in range(MAX_LIST_ITEMS + 1)]},
    ],
    ids=["additional_slaves", "extension_optional", "extension_mandatory"],
)
async def test_a_key_request_with_too_long_a_list_gets_400_before_the_service_is_called(
    sae_a: httpx.AsyncClient, service: FakeKeyService, body: dict[str, object]
) -> None:
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json=body)
    assert_error(response, 400, with_details=True)
    assert service.calls == []


async def test_more_key_ids_than_the_protocol_cap_get_400_before_the_service_is_called(
    sae_b: httpx.AsyncClient, service: FakeKeyService
) -> None:
    key_ids = [{"key_ID": str(uuid.uuid4())} for _ in range(MAX_KEY_IDS + 1)]
    response = await sae_b.post(f"{KEYS}/sae-a/dec_keys", json={"key_IDs": key_ids})
    error = assert_error(response, 400, with_details=True)
    assert error["details"][0]["location"] == "body.key_IDs"
    assert service.calls == []


async def test_more_key_ids_than_max_key_per_request_get_400_before_the_service_is_called(
    pki: Pki, service: FakeKeyService
) -> None:
    app = create_etsi014_app(service, max_key_ids=FakeKeyService.MAX_KEY_PER_REQUEST)
    async with clients_presenting(app, BASE_URL) as call_as:
        master, slave = call_as(pki.sae_a), call_as(pki.sae_b)
        issued = (await master.post(f"{KEYS}/sae-b/enc_keys", json={"number": 1})).json()["keys"]
        too_many = issued * (FakeKeyService.MAX_KEY_PER_REQUEST + 1)
        response = await slave.post(
            f"{KEYS}/sae-a/dec_keys", json={"key_IDs": [{"key_ID": k["key_ID"]} for k in too_many]}
        )
        error = assert_error(response, 400, with_details=True)
        assert error["details"] == [{"max_key_per_request": FakeKeyService.MAX_KEY_PER_REQUEST}]
        assert [call[0] for call in service.calls] == ["enc_keys"]
        # within the limit, the same key is delivered
        response = await slave.post(
            f"{KEYS}/sae-a/dec_keys", json={"key_IDs": [{"key_ID": issued[0]["key_ID"]}]}
        )
        assert response.status_code == 200
        assert json.loads(response.content)["keys"][0]["key"] == issued[0]["key"]
