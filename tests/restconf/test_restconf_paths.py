"""RESTCONF data resource paths (RFC 8040 §3.5.3) resolved against the ETSI GS QKD 015 model."""

from __future__ import annotations

from typing import Any

import pytest

from sdqkd.errors import ResourceNotFound, RestconfError
from sdqkd.restconf.paths import parse_resource_path

NODE = "etsi-qkd-sdn-node:qkd_node"
LINK_ID = "c1a5e7d2-4b3f-4e6a-9d8c-1f2e3d4c5b6a"
APP_ID = "e3c7a9f4-6d5b-4a8c-9fae-3b4c5d6e7f80"


def link_path(link_id: str = LINK_ID) -> str:
    return f"{NODE}/qkd_links/qkd_link={link_id}"


def app_path(app_id: str = APP_ID) -> str:
    return f"{NODE}/qkd_applications/qkd_app={app_id}"


def test_a_path_resolves_to_schema_nodes_and_typed_keys(model: Any) -> None:
    path = parse_resource_path(model, f"{NODE}/qkd_interfaces/qkd_interface=1/qkdi_att_point")
    assert [step.member for step in path.steps] == [
        NODE,
        "qkd_interfaces",
        "qkd_interface",
        "qkdi_att_point",
    ]
    assert path.steps[2].keys == (1,)  # uint32: a number, not the text "1"
    assert str(path) == f"{NODE}/qkd_interfaces/qkd_interface=1/qkdi_att_point"
    assert (
        path.instance_id
        == '/etsi-qkd-sdn-node:qkd_node/qkd_interfaces/qkd_interface[qkdi_id="1"]/qkdi_att_point'
    )


def test_the_datastore_itself_is_the_empty_path(model: Any) -> None:
    for text in (None, ""):
        path = parse_resource_path(model, text)
        assert path.steps == ()
        assert str(path) == ""
        assert path.instance_id == "/"


def test_key_values_are_percent_decoded_and_reencoded(model: Any) -> None:
    # RFC 8040 §3.5.3: a ',' or '/' inside a value is percent-encoded; here a leaf-list value (a URI).
    text = f"{app_path()}/client_app_id=urn%3Asdqkd%3Asae%3Ab%2Cc%2Fd"
    path = parse_resource_path(model, text)
    assert path.target.keys == ("urn:sdqkd:sae:b,c/d",)
    assert str(path) == f"{app_path()}/client_app_id=urn:sdqkd:sae:b%2Cc%2Fd"
    assert parse_resource_path(model, str(path)) == path


def test_a_module_prefix_that_is_repeated_needlessly_is_accepted(model: Any) -> None:
    path = parse_resource_path(model, f"{NODE}/etsi-qkd-sdn-node:qkd_links")
    assert str(path) == f"{NODE}/qkd_links"


@pytest.mark.parametrize(
    "text",
    [
        "etsi-qkd-sdn-node:qkd_nodes",
        "ietf-restconf-monitoring:restconf-state",
        f"{NODE}/qkd_link",
        f"{NODE}/qkdn_id/more",
        # notifications have data nodes of the same names, but they are not data
        "etsi-qkd-sdn-node:sdqkdn_interface_new",
    ],
)
def test_a_node_the_model_does_not_have_is_not_found(model: Any, text: str) -> None:
    with pytest.raises(ResourceNotFound, match="no node"):
        parse_resource_path(model, text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("qkd_node", "needs its module"),
        (f"{NODE}//qkd_links", "empty step"),
        (f"{NODE}/qkd_interfaces/qkd_interface=x", "not a valid key"),
        (f"{NODE}/qkd_interfaces/qkd_interface=4294967296", "not a valid key"),
        (f"{NODE}/qkd_interfaces/qkd_interface=1,2", "1 key"),
        (f"{NODE}/qkd_interfaces/qkd_interface/qkdi_model", "name an entry"),
        (f"{NODE}/qkdn_id=1", "no keys"),
        (f"{NODE}/qkd_interfaces/qkd_interface=%FF", "percent-encoded UTF-8"),
    ],
)
def test_a_malformed_path_is_an_invalid_value(model: Any, text: str, reason: str) -> None:
    with pytest.raises(RestconfError, match=reason) as caught:
        parse_resource_path(model, text)
    assert caught.value.error_tag == "invalid-value"
    assert not isinstance(caught.value, ResourceNotFound)


def test_a_whole_list_may_end_a_path(model: Any) -> None:
    path = parse_resource_path(model, f"{NODE}/qkd_links/qkd_link")
    assert path.target.keys is None
    assert not path.target.is_entry


def test_the_key_of_a_link_is_its_uuid(model: Any) -> None:
    path = parse_resource_path(model, link_path())
    assert path.target.key_texts() == [link_path().rsplit("=", 1)[1]]
    assert str(path) == link_path()
