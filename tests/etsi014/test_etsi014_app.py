"""The ETSI GS QKD 014 app in process: routes, wire names, the Error format of every failure, the
caller's identity, headers, the OpenAPI document and what is logged."""

from __future__ import annotations

import base64
import logging
from uuid import UUID

import httpx
import pytest
from etsi014_support import BASE_URL, KEYS, CallAs, FakeKeyService, Pki, WithClientCertificate, assert_error

from sdqkd.errors import (
    KeyDeliveryError,
    KeyExhausted,
    KeyRequestInvalid,
    KeyServiceUnavailable,
    Unauthorized,
)
from sdqkd.etsi014.app import create_etsi014_app, etsi014_table
from sdqkd.pki import Identity, Role

pytestmark = pytest.mark.anyio

STATUS_MEMBERS = {
    "source_KME_ID",
    "target_KME_ID",
    "master_SAE_ID",
    "slave_SAE_ID",
    "key_size",
    "stored_key_count",
    "max_key_count",
    "max_key_per_request",
    "max_key_size",
    "min_key_size",
    "max_SAE_ID_count",
}


async def test_status_answers_with_the_spec_members(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    response = await sae_a.get(f"{KEYS}/sae-b/status")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == STATUS_MEMBERS  # status_extension is None: omitted, not null
    assert body["master_SAE_ID"] == "sae-a"
    assert body["slave_SAE_ID"] == "sae-b"
    assert body["key_size"] == 256
    assert service.calls == [("status", Identity(Role.SAE, "sae-a"), "sae-b", None)]


async def test_enc_keys_delivers_keys_under_their_wire_names(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 3, "size": 128})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"keys"}
    assert len(body["keys"]) == 3
    for key in body["keys"]:
        assert set(key) == {"key_ID", "key"}  # the optional extensions are omitted
        assert str(UUID(key["key_ID"])) == key["key_ID"]
        assert len(base64.b64decode(key["key"], validate=True)) == 16
    assert len({key["key_ID"] for key in body["keys"]}) == 3
    operation, caller, slave, request = service.calls[0]
    assert (operation, caller, slave) == ("enc_keys", Identity(Role.SAE, "sae-a"), "sae-b")
    assert (request.number, request.size) == (3, 128)


async def test_enc_keys_get_form_asks_the_service_for_the_same_request(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 2, "size": 512})
    response = await sae_a.get(f"{KEYS}/sae-b/enc_keys", params={"number": 2, "size": 512})
    assert response.status_code == 200
    assert [len(base64.b64decode(key["key"])) for key in response.json()["keys"]] == [64, 64]
    posted, got = service.calls[0][3], service.calls[1][3]
    assert got == posted


@pytest.mark.parametrize(
    ("method", "content", "headers"),
    [
        ("POST", b"", {}),
        ("POST", b"", {"content-type": "application/json"}),
        ("POST", b"{}", {"content-type": "application/json"}),
        ("GET", b"", {}),
    ],
    ids=["post-no-body", "post-empty-json-body", "post-empty-object", "get-no-parameters"],
)
async def test_enc_keys_without_parameters_uses_the_defaults(
    sae_a: httpx.AsyncClient, service: FakeKeyService, method: str, content: bytes, headers: dict[str, str]
) -> None:
    response = await sae_a.request(method, f"{KEYS}/sae-b/enc_keys", content=content, headers=headers)
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert len(base64.b64decode(key["key"])) * 8 == FakeKeyService.KEY_SIZE
    request = service.calls[0][3]
    assert (request.number, request.size, request.additional_slave_sae_ids) == (None, None, [])


async def test_enc_keys_passes_extensions_and_additional_slaves_to_the_service(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    body = {"additional_slave_SAE_IDs": ["sae-c"], "extension_optional": [{"abc_max_age": 30}]}
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json=body)
    assert response.status_code == 200
    request = service.calls[0][3]
    assert request.additional_slave_sae_ids == ["sae-c"]
    assert request.extension_optional == [{"abc_max_age": 30}]


async def test_dec_keys_returns_the_keys_the_master_got(
    sae_a: httpx.AsyncClient, sae_b: httpx.AsyncClient, service: FakeKeyService
) -> None:
    master = (await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 2})).json()["keys"]
    body = {"key_IDs": [{"key_ID": key["key_ID"]} for key in master]}
    response = await sae_b.post(f"{KEYS}/sae-a/dec_keys", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"keys": master}
    operation, caller, master_id, key_ids = service.calls[-1]
    assert (operation, caller, master_id) == ("dec_keys", Identity(Role.SAE, "sae-b"), "sae-a")
    assert [str(entry.key_id) for entry in key_ids.key_ids] == [key["key_ID"] for key in master]


async def test_dec_keys_get_form_returns_the_same_key_as_post(
    sae_a: httpx.AsyncClient, sae_b: httpx.AsyncClient
) -> None:
    first, second = (await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 2})).json()["keys"]
    by_get = await sae_b.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": first["key_ID"]})
    by_post = await sae_b.post(f"{KEYS}/sae-a/dec_keys", json={"key_IDs": [{"key_ID": second["key_ID"]}]})
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.json() == {"keys": [first]}
    assert by_post.json() == {"keys": [second]}


async def test_a_kme_may_call_by_default(call_as: CallAs, pki: Pki) -> None:
    response = await call_as(pki.kme_2).get(f"{KEYS}/sae-b/status")
    assert response.status_code == 200
    assert response.json()["master_SAE_ID"] == "kme-2"


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "sae-b/enc_keys", b"{not json", None),
        ("POST", "sae-b/enc_keys", b"[1, 2]", None),
        ("POST", "sae-b/enc_keys", b'{"number": 0}', None),
        ("POST", "sae-b/enc_keys", b'{"number": 1.5}', None),
        ("POST", "sae-b/enc_keys", b'{"size": "abc"}', None),
        ("POST", "sae-b/enc_keys", b'{"additional_slave_SAE_IDs": "sae-c"}', None),
        ("GET", "sae-b/enc_keys", None, {"number": "0"}),
        ("GET", "sae-b/enc_keys", None, {"size": "abc"}),
        ("GET", "sae-b/enc_keys", None, {"size": "-8"}),
        ("GET", "sae-b/enc_keys", None, {"sizes": "256"}),
        ("POST", "sae-a/dec_keys", b'{"key_IDs": [{"key_ID": "not-a-uuid"}]}', None),
        ("POST", "sae-a/dec_keys", b'{"key_IDs": []}', None),
        ("POST", "sae-a/dec_keys", b"{}", None),
        ("POST", "sae-a/dec_keys", b"", None),
        ("GET", "sae-a/dec_keys", None, {"key_ID": "not-a-uuid"}),
        ("GET", "sae-a/dec_keys", None, {}),
    ],
    ids=[
        "malformed-json",
        "body-not-an-object",
        "number-0",
        "number-not-integer",
        "size-abc",
        "additional-slaves-not-a-list",
        "get-number-0",
        "get-size-abc",
        "get-size-negative",
        "get-unknown-parameter",
        "malformed-uuid-in-body",
        "empty-key-ids",
        "no-key-ids",
        "dec-keys-no-body",
        "malformed-uuid-in-query",
        "get-without-key-id",
    ],
)
async def test_malformed_requests_get_400_in_the_error_format(
    sae_a: httpx.AsyncClient,
    service: FakeKeyService,
    method: str,
    path: str,
    body: bytes | None,
    params: dict[str, str] | None,
) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    response = await sae_a.request(method, f"{KEYS}/{path}", content=body, params=params, headers=headers)
    error = assert_error(response, 400, with_details=True)
    assert error["message"] == "bad request format"
    assert all(set(detail) == {"location", "reason"} for detail in error["details"])
    assert service.calls == []  # refused before the service saw it


async def test_a_malformed_key_id_is_not_echoed_in_the_error(sae_b: httpx.AsyncClient) -> None:
    response = await sae_b.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": "zzzz-secret-looking-id"})
    assert_error(response, 400)
    assert "zzzz-secret-looking-id" not in response.text


async def test_the_error_details_say_where_the_request_is_wrong(sae_a: httpx.AsyncClient) -> None:
    response = await sae_a.post(f"{KEYS}/sae-a/dec_keys", json={"key_IDs": [{"key_ID": "x"}]})
    error = assert_error(response, 400)
    assert [detail["location"] for detail in error["details"]] == ["body.key_IDs.0.key_ID"]


async def test_a_repeated_query_parameter_gets_400(sae_a: httpx.AsyncClient, service: FakeKeyService) -> None:
    # ?number=1&number=16 must not silently mean one of them
    response = await sae_a.get(f"{KEYS}/sae-b/enc_keys?number=1&number=16")
    assert_error(response, 400)
    assert service.calls == []


@pytest.mark.parametrize("size", [12, 257])
async def test_a_size_that_is_not_whole_bytes_gets_400(
    sae_a: httpx.AsyncClient, service: FakeKeyService, size: int
) -> None:
    by_post = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"size": size})
    by_get = await sae_a.get(f"{KEYS}/sae-b/enc_keys", params={"size": size})
    for response in (by_post, by_get):
        error = assert_error(response, 400, with_details=True)
        assert "multiple of 8" in error["message"]
        assert error["details"] == [{"parameter": "size", "value": size}]
    assert service.calls == []


async def test_size_limits_are_left_to_the_service(sae_a: httpx.AsyncClient, service: FakeKeyService) -> None:
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"size": 2048})
    error = assert_error(response, 400, with_details=True)
    assert error == {
        "message": "size 2048 outside 64..1024 bits",
        "details": [{"min_key_size": 64, "max_key_size": 1024}],
    }
    assert len(service.calls) == 1


async def test_a_mandatory_extension_the_service_does_not_support_gets_400(
    sae_a: httpx.AsyncClient, service: FakeKeyService
) -> None:
    body = {"extension_mandatory": [{"abc_route_type": "direct"}]}
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json=body)
    error = assert_error(response, 400)
    assert error["details"] == [{"extension_mandatory": ["abc_route_type"]}]
    assert service.calls[0][3].extension_mandatory == [{"abc_route_type": "direct"}]


@pytest.mark.parametrize(
    ("error", "status_code"),
    [
        (KeyRequestInvalid("too many keys", details=[{"max_key_per_request": 16}]), 400),
        (Unauthorized("not authorised for these keys"), 401),
        (KeyServiceUnavailable("link down"), 503),
        (KeyExhausted("not enough key material", details=[{"stored_key_count": 0}]), 503),
    ],
    ids=["KeyRequestInvalid", "Unauthorized", "KeyServiceUnavailable", "KeyExhausted"],
)
@pytest.mark.parametrize("route", ["status", "enc_keys", "dec_keys"])
async def test_domain_errors_of_the_service_map_to_their_status_and_body(
    sae_a: httpx.AsyncClient, service: FakeKeyService, error: KeyDeliveryError, status_code: int, route: str
) -> None:
    service.fail_with = error
    if route == "dec_keys":
        key_id = "5f3a2e1c-7b4d-4e6f-8a9b-0c1d2e3f4a5b"
        response = await sae_a.post(f"{KEYS}/sae-b/dec_keys", json={"key_IDs": [{"key_ID": key_id}]})
    elif route == "enc_keys":
        response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 1})
    else:
        response = await sae_a.get(f"{KEYS}/sae-b/status")
    body = assert_error(response, status_code)
    expected: dict[str, object] = {"message": error.message}
    if error.details:
        expected["details"] = error.details
    assert body == expected


async def test_dec_keys_of_another_sae_gets_401(sae_a: httpx.AsyncClient, call_as: CallAs, pki: Pki) -> None:
    (key,) = (await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={})).json()["keys"]
    intruder = call_as(pki.kme_2)
    response = await intruder.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": key["key_ID"]})
    assert assert_error(response, 401) == {"message": "not authorised for these keys"}
    assert key["key"] not in response.text


async def test_an_unexpected_service_failure_gets_a_generic_503(
    sae_a: httpx.AsyncClient, service: FakeKeyService, caplog: pytest.LogCaptureFixture
) -> None:
    service.fail_with = RuntimeError("db row 42 holds key c2VjcmV0")
    with caplog.at_level(logging.DEBUG):
        response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 1})
    body = assert_error(response, 503, with_details=False)
    assert "c2VjcmV0" not in response.text
    assert "RuntimeError" not in body["message"]
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)  # the type is logged
    assert not any("c2VjcmV0" in record.getMessage() for record in caplog.records)  # the text is not
    assert all(record.exc_info is None for record in caplog.records)


async def test_a_malformed_answer_of_the_service_gets_a_generic_503(
    sae_a: httpx.AsyncClient, service: FakeKeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_a_container(*args: object) -> object:
        return {"keys": [{"key_ID": "not-a-uuid", "key": "c2VjcmV0"}]}

    monkeypatch.setattr(service, "enc_keys", not_a_container)
    response = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={})
    assert_error(response, 503)
    assert "c2VjcmV0" not in response.text


async def test_a_caller_without_certificate_gets_401(call_as: CallAs, service: FakeKeyService) -> None:
    response = await call_as(None).get(f"{KEYS}/sae-b/status")
    assert assert_error(response, 401, with_details=False) == {"message": "no client certificate"}
    assert service.calls == []


async def test_a_certificate_without_sdqkd_identity_gets_401(
    call_as: CallAs, pki: Pki, service: FakeKeyService
) -> None:
    response = await call_as(pki.no_identity).post(f"{KEYS}/sae-b/enc_keys", json={})
    assert "sdqkd identity" in assert_error(response, 401)["message"]
    assert service.calls == []


@pytest.mark.parametrize(
    "route", ["sae-b/status", "sae-b/enc_keys", "sae-a/dec_keys?key_ID=" + str(UUID(int=1))]
)
async def test_a_role_that_is_not_allowed_gets_401(
    call_as: CallAs, pki: Pki, service: FakeKeyService, route: str
) -> None:
    response = await call_as(pki.operator).get(f"{KEYS}/{route}")
    assert "operator:alice" in assert_error(response, 401)["message"]
    assert service.calls == []


async def test_the_table_restricts_the_callers(pki: Pki, service: FakeKeyService) -> None:
    app = create_etsi014_app(service, table=etsi014_table("SAEs only", Role.SAE))

    async def status_as(certificate_pem: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=WithClientCertificate(app, certificate_pem))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.get(f"{KEYS}/sae-b/status")

    assert (await status_as(pki.sae_a.cert.read_text())).status_code == 200
    assert_error(await status_as(pki.kme_2.cert.read_text()), 401)


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/keys/sae-b", "/api/v1/keys/sae-b/other_keys", "/api/v2/keys/sae-b/status"]
)
async def test_unknown_routes_get_404_in_the_error_format(sae_a: httpx.AsyncClient, path: str) -> None:
    assert_error(await sae_a.get(path), 404, with_details=False)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "sae-b/status", "GET"),
        ("DELETE", "sae-b/enc_keys", "GET, POST"),
        ("PUT", "sae-a/dec_keys", "GET, POST"),
    ],
)
async def test_unsupported_methods_get_405_in_the_error_format(
    sae_a: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await sae_a.request(method, f"{KEYS}/{path}")
    assert_error(response, 405, with_details=False)
    assert sorted(response.headers["allow"].split(", ")) == allowed.split(", ")


async def test_successful_answers_are_not_cacheable(
    sae_a: httpx.AsyncClient, sae_b: httpx.AsyncClient
) -> None:
    status = await sae_a.get(f"{KEYS}/sae-b/status")
    enc = await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={})
    dec = await sae_b.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": enc.json()["keys"][0]["key_ID"]})
    assert [response.status_code for response in (status, enc, dec)] == [200, 200, 200]
    assert {response.headers["cache-control"] for response in (status, enc, dec)} == {"no-store"}


async def test_no_log_record_of_a_delivery_names_its_keys(
    sae_a: httpx.AsyncClient, sae_b: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        (key,) = (await sae_a.post(f"{KEYS}/sae-b/enc_keys", json={"size": 128})).json()["keys"]
        response = await sae_b.post(f"{KEYS}/sae-a/dec_keys", json={"key_IDs": [{"key_ID": key["key_ID"]}]})
    assert response.status_code == 200
    assert any(record.name == "sdqkd.etsi014.app" for record in caplog.records)  # deliveries are logged
    material = base64.b64decode(key["key"])
    secrets = {key["key"], key["key_ID"], key["key_ID"].replace("-", ""), material.hex()}
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r}"
        assert not any(secret in text for secret in secrets), record.name


async def test_the_openapi_document_is_the_operators_not_an_saes(sae_a: httpx.AsyncClient) -> None:
    assert_error(await sae_a.get("/openapi.json"), 401)


async def test_openapi_describes_mutual_tls_and_the_error_format(call_as: CallAs, pki: Pki) -> None:
    response = await call_as(pki.operator).get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")  # mutualTLS is an OpenAPI 3.1 scheme
    assert document["components"]["securitySchemes"]["mutualTLS"]["type"] == "mutualTLS"
    assert document["security"] == [{"mutualTLS": []}]
    schemas = document["components"]["schemas"]
    assert schemas["Error"]["required"] == ["message"]
    assert set(schemas["Error"]["properties"]) == {"message", "details"}
    assert not {"HTTPValidationError", "ValidationError"} & set(schemas)
    operations = {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == {
        (f"{KEYS}/{{slave_SAE_ID}}/status", "get"),
        (f"{KEYS}/{{slave_SAE_ID}}/enc_keys", "get"),
        (f"{KEYS}/{{slave_SAE_ID}}/enc_keys", "post"),
        (f"{KEYS}/{{master_SAE_ID}}/dec_keys", "get"),
        (f"{KEYS}/{{master_SAE_ID}}/dec_keys", "post"),
    }
    for (_, method), operation in operations.items():
        responses = operation["responses"]
        too_large = {"413"} if method == "post" else set()  # only a body can be too large
        assert set(responses) == {"200", "400", "401", "503"} | too_large
        for status_code in ("400", "401", "503", *too_large):
            schema = responses[status_code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}


async def test_openapi_uses_the_spec_wire_names(call_as: CallAs, pki: Pki) -> None:
    document = (await call_as(pki.operator).get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def properties(name: str) -> set[str]:
        (schema,) = [schema for key, schema in schemas.items() if key.split("-")[0] == name]
        return set(schema["properties"])

    assert properties("Status") == STATUS_MEMBERS | {"status_extension"}
    assert properties("Key") == {"key_ID", "key_ID_extension", "key", "key_extension"}
    assert properties("KeyRequest") == {
        "number",
        "size",
        "additional_slave_SAE_IDs",
        "extension_mandatory",
        "extension_optional",
    }
    assert properties("KeyIds") == {"key_IDs", "key_IDs_extension"}
    paths = document["paths"]
    enc_get = paths[f"{KEYS}/{{slave_SAE_ID}}/enc_keys"]["get"]["parameters"]
    dec_get = paths[f"{KEYS}/{{master_SAE_ID}}/dec_keys"]["get"]["parameters"]
    assert {(p["name"], p["in"]) for p in enc_get} == {
        ("slave_SAE_ID", "path"),
        ("number", "query"),
        ("size", "query"),
    }
    assert {(p["name"], p["in"]) for p in dec_get} == {("master_SAE_ID", "path"), ("key_ID", "query")}
