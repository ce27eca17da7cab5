"""The RESTCONF API (RFC 8040) in process: discovery, the data resources and their methods, status
codes, the ``ietf-restconf:errors`` body of every refusal, and who may read and write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from restconf_support import (
    APPS,
    JSON_HEADERS,
    LINK_ID,
    LINKS,
    MEDIA,
    NODE,
    TYPES,
    CallAs,
    Pki,
    app_path,
    assert_restconf_error,
    assert_valid_answer,
    body_of,
    link,
    link_path,
    node_tree,
    qkd_app,
)

from sdqkd.agent.datastore import ChangeKind, Datastore
from sdqkd.errors import RestconfError

pytestmark = pytest.mark.anyio

DATA = "/restconf/data"


async def create_link(client: httpx.AsyncClient, entry: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(
        f"{DATA}/{LINKS}", json=body_of("qkd_link", [entry or link()]), headers=JSON_HEADERS
    )


async def test_host_meta_points_to_the_restconf_root(controller: httpx.AsyncClient) -> None:
    response = await controller.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xrd+xml"
    assert '<Link rel="restconf" href="/restconf"/>' in response.text
    assert 'xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"' in response.text


async def test_the_api_resource_names_the_yang_library_and_the_event_stream(
    controller: httpx.AsyncClient,
) -> None:
    response = await controller.get("/restconf")
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA
    body = response.json()
    assert body["ietf-restconf:restconf"] == {
        "data": {},
        "operations": {},
        "yang-library-version": "2016-06-21",
    }
    (stream,) = body["ietf-restconf-monitoring:restconf-state"]["streams"]["stream"]
    assert stream["name"] == "etsi-qkd-sdn-node"
    assert stream["access"] == [
        {"encoding": "json", "location": "https://agent.test/restconf/streams/etsi-qkd-sdn-node/json"}
    ]
    assert (await controller.get("/restconf/operations")).json() == {"ietf-restconf:operations": {}}
    version = await controller.get("/restconf/yang-library-version")
    assert version.json() == {"ietf-restconf:yang-library-version": "2016-06-21"}


async def test_the_datastore_is_served_as_yang_json_and_validates(
    controller: httpx.AsyncClient, model: Any
) -> None:
    response = await controller.get(DATA)
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"ietf-restconf:data": node_tree()}
    assert_valid_answer(model, node_tree(), "", response.json())
    attachment = await controller.get(f"{DATA}/{NODE}/qkd_interfaces/qkd_interface=1/qkdi_att_point")
    assert attachment.json() == {"etsi-qkd-sdn-node:qkdi_att_point": {"device": "switch-norte", "port": 3}}


async def test_a_link_is_created_read_replaced_merged_and_deleted(
    controller: httpx.AsyncClient, datastore: Datastore, model: Any
) -> None:
    created = await create_link(controller)
    assert created.status_code == 201
    assert created.headers["location"] == f"https://agent.test{DATA}/{link_path()}"
    assert created.content == b""

    read = await controller.get(created.headers["location"])
    assert read.json() == body_of("qkd_link", [link()])
    assert_valid_answer(model, datastore.tree(), link_path(), read.json())

    replaced = await controller.put(
        f"{DATA}/{link_path()}", json=body_of("qkd_link", [link(phys_wavelength="40")]), headers=JSON_HEADERS
    )
    assert replaced.status_code == 204
    merged = await controller.patch(
        f"{DATA}/{link_path()}/qkdl_remote", json=body_of("qkdl_remote", {"qkdi_id": 8}), headers=JSON_HEADERS
    )
    assert merged.status_code == 204
    remote = (await controller.get(f"{DATA}/{link_path()}/qkdl_remote")).json()
    assert remote == body_of("qkdl_remote", link()["qkdl_remote"] | {"qkdi_id": 8})

    deleted = await controller.delete(f"{DATA}/{link_path()}")
    assert deleted.status_code == 204
    assert_restconf_error(await controller.get(f"{DATA}/{link_path()}"), 404, "invalid-value")


async def test_put_answers_201_when_it_creates(controller: httpx.AsyncClient) -> None:
    response = await controller.put(
        f"{DATA}/{link_path()}", json=body_of("qkd_link", [link()]), headers=JSON_HEADERS
    )
    assert response.status_code == 201


async def test_an_error_does_not_echo_a_large_member_name(controller: httpx.AsyncClient) -> None:
    name = "x" * 200_000  # not in the model: the error names it
    response = await controller.put(
        f"{DATA}/{link_path()}", json=body_of("qkd_link", [{**link(), name: 1}]), headers=JSON_HEADERS
    )
    assert_restconf_error(response, 400, "unknown-element")
    assert len(response.content) < 4096


async def test_an_application_is_registered_and_removed(controller: httpx.AsyncClient) -> None:
    await create_link(controller)
    created = await controller.post(
        f"{DATA}/{APPS}", json=body_of("qkd_app", [qkd_app()]), headers=JSON_HEADERS
    )
    assert created.status_code == 201
    # a leaf-list value as a key, percent-encoded (RFC 8040 §3.5.3)
    client = await controller.get(f"{DATA}/{app_path()}/client_app_id=urn%3Asdqkd%3Asae%3Abob")
    assert client.json() == body_of("client_app_id", ["urn:sdqkd:sae:bob"])
    assert (await controller.delete(f"{DATA}/{app_path()}")).status_code == 204
    assert (await controller.get(f"{DATA}/{APPS}")).json() == body_of("qkd_applications", {})


async def test_head_and_options_describe_a_resource(controller: httpx.AsyncClient) -> None:
    head = await controller.head(f"{DATA}/{NODE}")
    assert head.status_code == 200
    assert head.headers["content-type"] == MEDIA
    assert head.content == b""
    options = await controller.options(f"{DATA}/{NODE}")
    assert options.status_code == 200
    assert options.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert options.headers["accept-patch"] == MEDIA
    assert (await controller.options(DATA)).headers["allow"] == "GET, HEAD, OPTIONS, POST"


async def test_content_config_hides_the_operational_state(controller: httpx.AsyncClient) -> None:
    node = (await controller.get(f"{DATA}/{NODE}", params={"content": "config"})).json()
    interfaces = node["etsi-qkd-sdn-node:qkd_node"]["qkd_interfaces"]["qkd_interface"]
    assert all("qkdi_status" not in interface for interface in interfaces)
    assert "qkdn_status" not in node["etsi-qkd-sdn-node:qkd_node"]
    state = (await controller.get(f"{DATA}/{NODE}", params={"content": "nonconfig"})).json()
    assert state["etsi-qkd-sdn-node:qkd_node"]["qkdn_status"] == f"{TYPES}OPERATING"
    shallow = (await controller.get(f"{DATA}/{NODE}", params={"depth": "1"})).json()
    assert shallow == {"etsi-qkd-sdn-node:qkd_node": {}}


@pytest.mark.parametrize(
    "query",
    [
        {"content": "state"},
        {"depth": "0"},
        {"depth": "deep"},
        {"fields": "qkdn_id"},
        {"with-defaults": "trim"},
    ],
)
async def test_a_query_parameter_that_is_not_supported_is_an_invalid_value(
    controller: httpx.AsyncClient, query: dict[str, str]
) -> None:
    assert_restconf_error(await controller.get(f"{DATA}/{NODE}", params=query), 400, "invalid-value")


async def test_a_repeated_query_parameter_is_refused(controller: httpx.AsyncClient) -> None:
    response = await controller.get(f"{DATA}/{NODE}?content=config&content=all")
    assert "repeated" in assert_restconf_error(response, 400, "invalid-value")["error-message"]


@pytest.mark.parametrize(
    "path",
    [
        f"{DATA}/etsi-qkd-sdn-node:qkd_nodes",
        f"{DATA}/{NODE}/qkd_interfaces/qkd_interface=9",
        f"{DATA}/{link_path()}",
        "/restconf/nothing",
        "/restconf/streams/other/json",
        "/",
    ],
)
async def test_an_unknown_resource_is_404(controller: httpx.AsyncClient, path: str) -> None:
    assert_restconf_error(await controller.get(path), 404, "invalid-value")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", DATA, "GET, HEAD, OPTIONS, POST"),
        ("PUT", DATA, "GET, HEAD, OPTIONS, POST"),
        ("POST", "/restconf", "GET"),
        ("PUT", "/.well-known/host-meta", "GET"),
        ("DELETE", "/restconf/streams/etsi-qkd-sdn-node/json", "GET"),
        ("TRACE", f"{DATA}/{NODE}", None),
    ],
)
async def test_a_method_that_is_not_supported_is_405(
    controller: httpx.AsyncClient, method: str, path: str, allow: str | None
) -> None:
    response = await controller.request(method, path, json=body_of("qkd_node", {}), headers=JSON_HEADERS)
    assert_restconf_error(response, 405, "operation-not-supported")
    if allow is not None:
        assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{", "not JSON"),
        (b"", "no body"),
        (b'{"etsi-qkd-sdn-node:qkd_link": [], "etsi-qkd-sdn-node:qkd_link": []}', "repeated"),
        (b'{"etsi-qkd-sdn-node:qkd_link": [{"phys_channel_att": NaN}]}', "NaN"),
        (b'["etsi-qkd-sdn-node:qkd_link"]', "one member"),
        (b"\xff\xfe", "not JSON"),
        # deep nesting: a RecursionError in the parser was a 500 with a traceback in the log
        (b'{"etsi-qkd-sdn-node:qkd_link": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested deeper"),
        (b'{"etsi-qkd-sdn-node:qkd_link": [{"x": ' + b"[" * 100 + b"]" * 100 + b"}]}", "nested deeper"),
    ],
)
async def test_a_body_that_is_not_json_is_a_malformed_message(
    controller: httpx.AsyncClient, datastore: Datastore, content: bytes, reason: str
) -> None:
    response = await controller.put(f"{DATA}/{link_path()}", content=content, headers=JSON_HEADERS)
    assert reason in assert_restconf_error(response, 400, "malformed-message")["error-message"]
    assert datastore.tree() == node_tree()


@pytest.mark.parametrize(
    ("entry", "tag", "path_ends"),
    [
        (link(qkdl_local={"qkdn_id": "not-a-uuid", "qkdi_id": 1}), "invalid-value", "qkdl_local/qkdn_id"),
        (link(qkdl_colour="blue"), "unknown-element", f'qkd_link[qkdl_id="{LINK_ID}"]'),
        (link(qkdl_performance={"skr": 1}), "invalid-value", "qkdl_performance/skr"),
        (link(phys_qkd_role=f"{TYPES}CV-QKD"), "invalid-value", "phys_qkd_role"),
    ],
)
async def test_an_invalid_write_gets_an_error_body_naming_the_node(
    controller: httpx.AsyncClient, datastore: Datastore, entry: dict[str, Any], tag: str, path_ends: str
) -> None:
    response = await controller.put(
        f"{DATA}/{link_path()}", json=body_of("qkd_link", [entry]), headers=JSON_HEADERS
    )
    error = assert_restconf_error(response, 400, tag)
    assert error["error-path"].startswith("/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link")
    assert error["error-path"].endswith(path_ends)
    assert datastore.tree() == node_tree()


async def test_a_key_in_the_body_that_differs_from_the_uri_is_refused(controller: httpx.AsyncClient) -> None:
    other = "d2b6f8e3-5c4a-4f7b-8e9d-2a3b4c5d6e7f"
    response = await controller.put(
        f"{DATA}/{link_path()}", json=body_of("qkd_link", [link(other)]), headers=JSON_HEADERS
    )
    assert "differ" in assert_restconf_error(response, 400, "invalid-value")["error-message"]


async def test_conflicts_are_409(controller: httpx.AsyncClient) -> None:
    assert (await create_link(controller)).status_code == 201
    assert_restconf_error(await create_link(controller), 409, "data-exists")
    missing = f"{DATA}/{LINKS}/qkd_link=d2b6f8e3-5c4a-4f7b-8e9d-2a3b4c5d6e7f"
    assert_restconf_error(await controller.delete(missing), 409, "data-missing")


async def test_media_types_other_than_yang_json_are_refused(controller: httpx.AsyncClient) -> None:
    xml = await controller.put(
        f"{DATA}/{link_path()}", content=b"<qkd_link/>", headers={"Content-Type": "application/yang-data+xml"}
    )
    assert_restconf_error(xml, 415, "invalid-value")
    yang_patch = await controller.patch(
        f"{DATA}/{NODE}",
        json={"ietf-yang-patch:yang-patch": {}},
        headers={"Content-Type": "application/yang-patch+json"},
    )
    assert_restconf_error(yang_patch, 415, "invalid-value")
    wants_xml = await controller.get(f"{DATA}/{NODE}", headers={"Accept": "application/yang-data+xml"})
    assert_restconf_error(wants_xml, 406, "invalid-value")
    plain_json = await controller.put(f"{DATA}/{link_path()}", json=body_of("qkd_link", [link()]))
    assert plain_json.status_code == 201  # application/json is taken as RFC 7951 JSON


async def test_a_veto_answers_with_the_callback_s_error_and_changes_nothing(
    controller: httpx.AsyncClient, datastore: Datastore
) -> None:
    def refuse(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        raise RestconfError(
            "application", "resource-denied", "channel 59 is in use on this fibre", error_path="/x"
        )

    datastore.on_change(refuse)
    error = assert_restconf_error(await create_link(controller), 409, "resource-denied")
    assert error == {
        "error-type": "application",
        "error-tag": "resource-denied",
        "error-path": "/x",
        "error-message": "channel 59 is in use on this fibre",
    }
    assert datastore.tree() == node_tree()


async def test_an_unexpected_failure_is_a_500_that_reveals_nothing(
    controller: httpx.AsyncClient, datastore: Datastore
) -> None:
    def broken(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        raise RuntimeError("secret detail")

    datastore.on_change(broken)
    response = await create_link(controller)
    error = assert_restconf_error(response, 500, "operation-failed")
    assert "secret" not in response.text
    assert error["error-type"] == "application"
    assert datastore.tree() == node_tree()


async def test_without_a_client_certificate_the_answer_is_401(call_as: CallAs) -> None:
    anonymous = call_as(None)
    for response in (
        await anonymous.get(DATA),
        await anonymous.get("/.well-known/host-meta"),
        await create_link(anonymous),
    ):
        assert_restconf_error(response, 401, "access-denied")


async def test_a_reader_reads_but_does_not_write(call_as: CallAs, pki: Pki, datastore: Datastore) -> None:
    reader = call_as(pki.reader)
    assert (await reader.get(f"{DATA}/{NODE}")).status_code == 200
    for response in (
        await create_link(reader),
        await reader.put(f"{DATA}/{link_path()}", json=body_of("qkd_link", [link()]), headers=JSON_HEADERS),
        await reader.delete(f"{DATA}/{NODE}/qkdn_version"),
    ):
        error = assert_restconf_error(response, 403, "access-denied")
        assert "agent:quintin" in error["error-message"]
    assert datastore.tree() == node_tree()


async def test_a_role_that_is_neither_reader_nor_writer_is_403(call_as: CallAs, pki: Pki) -> None:
    sae = call_as(pki.sae)
    assert_restconf_error(await sae.get(DATA), 403, "access-denied")
    assert_restconf_error(await sae.get("/restconf/streams/etsi-qkd-sdn-node/json"), 403, "access-denied")


async def test_the_operator_writes_too(call_as: CallAs, pki: Pki) -> None:
    assert (await create_link(call_as(pki.operator))).status_code == 201
