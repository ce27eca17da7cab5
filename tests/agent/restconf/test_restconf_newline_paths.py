"""What a RESTCONF request is checked for before its body is read: who calls, then whether the
resource takes the method. A resource path with a newline (``%0A`` in a key) is a path like any
other (the framework's own pattern would have missed it and answered 404 before the caller was
checked)."""

from __future__ import annotations

import httpx
import pytest
from restconf_support import CallAs, Pki, assert_restconf_error

pytestmark = pytest.mark.anyio

DATA = "/restconf/data"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_a_write_to_the_datastore_itself_is_405_even_without_a_body(
    controller: httpx.AsyncClient, method: str
) -> None:
    response = await controller.request(method, DATA)  # no body, no content type: not 415

    assert_restconf_error(response, 405, "operation-not-supported")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


async def test_a_write_to_the_datastore_by_a_reader_is_403_first(call_as: CallAs, pki: Pki) -> None:
    response = await call_as(pki.reader).put(DATA)

    assert_restconf_error(response, 403, "access-denied")


@pytest.mark.parametrize("caller", ["controller", None])
async def test_a_resource_path_with_a_newline_is_checked_like_any_other(
    call_as: CallAs, pki: Pki, caller: str | None
) -> None:
    client = call_as(getattr(pki, caller) if caller else None)
    response = await client.get(f"{DATA}/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link=a%0Ab")

    if caller is None:
        assert_restconf_error(response, 401, "access-denied")  # the caller first: was a 404
    else:
        error = assert_restconf_error(response, 400, "invalid-value")
        assert error["error-message"] == "'a\\nb' is not a valid key of qkd_link"  # the datastore's verdict
