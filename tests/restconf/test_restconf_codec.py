"""The ``ietf-restconf:errors`` codec (RFC 8040 §7.1) both ways: every field of every entry survives a
round trip, each error-tag gets §7's status, and a body that is not an errors body is named as such."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sdqkd.errors import ResourceNotFound, RestconfError
from sdqkd.restconf import (
    MEDIA_TYPE,
    STATUS_OF_TAG,
    MalformedErrorBody,
    decode_errors,
    encode_errors,
    error_response,
    status_of,
)

FULL = RestconfError(
    "application",
    "data-exists",
    "the link is there already",
    error_path='/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link[qkdl_id="c1a5"]',
    error_app_tag="sdqkd:duplicate",
    error_info={"sdqkd:existing": {"qkdl_id": "c1a5", "since": 3}},
)


def fields(error: RestconfError) -> tuple[Any, ...]:
    return (
        error.error_type,
        error.error_tag,
        error.error_app_tag,
        error.error_path,
        error.error_message,
        error.error_info,
    )


def wire(error: RestconfError) -> bytes:
    return json.dumps(encode_errors(error)).encode()


def test_every_field_survives_a_round_trip() -> None:
    decoded = decode_errors(wire(FULL), 409)

    assert type(decoded) is RestconfError
    assert fields(decoded) == fields(FULL)
    assert decoded.others == ()
    assert decoded.errors == (decoded,)


def test_the_body_has_the_members_of_the_error_grouping_in_order() -> None:
    (entry,) = encode_errors(FULL)["ietf-restconf:errors"]["error"]

    assert list(entry) == [
        "error-type",
        "error-tag",
        "error-app-tag",
        "error-path",
        "error-message",
        "error-info",
    ]


def test_optional_members_that_are_not_set_are_left_out() -> None:
    body = encode_errors(RestconfError("protocol", "invalid-value", "no"))
    (entry,) = body["ietf-restconf:errors"]["error"]

    assert entry == {"error-type": "protocol", "error-tag": "invalid-value", "error-message": "no"}


def test_several_errors_are_all_kept_in_order_the_first_as_the_main_fields() -> None:
    second = RestconfError("protocol", "unknown-element", "'x' is not in the data model", error_path="/a")
    third = RestconfError("application", "invalid-value", "too long", error_app_tag="length")
    body = json.dumps(encode_errors(FULL, second, third))

    decoded = decode_errors(body, 409)

    assert fields(decoded) == fields(FULL)
    assert [fields(error) for error in decoded.errors] == [fields(e) for e in (FULL, second, third)]
    assert json.loads(json.dumps(encode_errors(decoded))) == json.loads(body)  # re-encoded whole


def test_an_error_with_others_encodes_them_after_itself() -> None:
    others = (RestconfError("rpc", "in-use", "locked"),)
    error = RestconfError("protocol", "lock-denied", "busy", others=others)

    entries = encode_errors(error)["ietf-restconf:errors"]["error"]

    assert [entry["error-tag"] for entry in entries] == ["lock-denied", "in-use"]


def test_a_404_decodes_to_resource_not_found_keeping_its_fields() -> None:
    sent = ResourceNotFound("no such link", error_path="/etsi-qkd-sdn-node:qkd_node/qkd_links")

    decoded = decode_errors(wire(sent), 404)

    assert isinstance(decoded, ResourceNotFound)
    assert fields(decoded) == fields(sent)
    assert str(decoded) == str(sent)


@pytest.mark.parametrize(("tag", "status"), sorted(STATUS_OF_TAG.items()))
def test_each_error_tag_has_the_status_of_rfc_8040_section_7(tag: str, status: int) -> None:
    error = RestconfError("protocol", tag, "refused")

    response = error_response(error)

    assert status_of(error) == response.status_code == status
    assert response.media_type == MEDIA_TYPE
    assert json.loads(response.body) == encode_errors(error)


def test_the_table_covers_every_tag_of_rfc_8040() -> None:
    assert len(STATUS_OF_TAG) == 19
    assert STATUS_OF_TAG["access-denied"] == 403
    assert STATUS_OF_TAG["operation-not-supported"] == 405


def test_no_such_resource_is_404_whatever_its_tag_says() -> None:
    assert status_of(ResourceNotFound("gone")) == 404
    assert error_response(ResourceNotFound("gone")).status_code == 404


def test_a_status_given_by_the_server_wins_over_the_tag() -> None:
    response = error_response(RestconfError("protocol", "access-denied", "who are you"), 401)

    assert response.status_code == 401


def errors_of(*entries: object) -> bytes:
    return json.dumps({"ietf-restconf:errors": {"error": list(entries)}}).encode()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<html>Bad gateway</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not one 'ietf-restconf:errors' member"),
        (b'{"errors": {"error": []}}', "not one 'ietf-restconf:errors' member"),
        (b'{"ietf-restconf:errors": {}}', "no 'error' entry"),
        (errors_of(), "no 'error' entry"),
        (errors_of("boom"), "not an object"),
        (errors_of({"error-tag": "x"}), "error-type None"),
        (errors_of({"error-type": "web", "error-tag": "x"}), "error-type 'web'"),
        (errors_of({"error-type": "rpc"}), "error-tag None"),
        (errors_of({"error-type": "rpc", "error-tag": "x", "error-message": 3}), "error-message 3 is not"),
        (errors_of({"error-type": "rpc", "error-tag": "x", "error-info": []}), "error-info [] is not"),
        (errors_of({"error-type": "rpc", "error-tag": "x"}, {"error-type": "rpc"}), "error-tag None"),
    ],
)
def test_a_body_that_is_not_an_errors_body_says_why(content: bytes, reason: str) -> None:
    decoded = decode_errors(content, 502)

    assert isinstance(decoded, MalformedErrorBody)
    assert (decoded.error_type, decoded.error_tag) == ("transport", "operation-failed")
    assert decoded.status_code == 502
    assert decoded.error_message.startswith("HTTP 502 without a RESTCONF error body: ")
    assert reason in decoded.error_message


def test_a_malformed_404_is_malformed_not_a_missing_resource() -> None:
    decoded = decode_errors(b"Not Found", 404)

    assert isinstance(decoded, MalformedErrorBody)
    assert not isinstance(decoded, ResourceNotFound)


def test_an_error_message_may_be_absent() -> None:
    decoded = decode_errors(b'{"ietf-restconf:errors": {"error": [{"error-type": "rpc", "error-tag": "x"}]}}')

    assert (decoded.error_type, decoded.error_tag, decoded.error_message) == ("rpc", "x", "")
