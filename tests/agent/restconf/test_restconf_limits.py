"""A request body over the server's cap (1 MiB) is refused with 413 and an RFC 8040 §7 error,
error-tag ``too-big``, before the body is read."""

from __future__ import annotations

import httpx
import pytest
from restconf_support import MEDIA, Pki, assert_restconf_error, link_path

from raw_https import closed_by_peer, read_response, tls_connection
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration


def test_a_put_with_a_2_mib_body_is_answered_413_too_big(server: BackgroundServer, pki: Pki) -> None:
    with tls_connection(server.port, pki.controller, pki.ca.cert_path) as sock:
        sock.sendall(
            f"PUT /restconf/data/{link_path()} HTTP/1.1\r\nhost: localhost\r\n"
            f"content-type: {MEDIA}\r\ncontent-length: {2 * 1024 * 1024}\r\n\r\n".encode()
        )
        raw = read_response(sock)
        answer = httpx.Response(raw.status, headers=raw.headers, content=raw.body)

        error = assert_restconf_error(answer, 413, "too-big")
        assert error["error-type"] == "protocol"
        assert closed_by_peer(sock, within_s=3)
