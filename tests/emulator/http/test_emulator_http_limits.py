"""A request body over the server's cap (1 MiB) is refused with 413 as RFC 9457 problem details,
before the body is read."""

from __future__ import annotations

import pytest
from emulator_http_support import EmulatorPki

from raw_https import closed_by_peer, read_response, tls_connection
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration


def test_a_module_configuration_with_a_2_mib_body_is_answered_413_as_problem_details(
    server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    with tls_connection(server.port, emulator_pki.operator, emulator_pki.ca.cert_path) as sock:
        sock.sendall(
            b"PUT /api/v1/modules/any/config HTTP/1.1\r\nhost: localhost\r\n"
            b"content-type: application/json\r\ncontent-length: 2097152\r\n\r\n"
        )
        answer = read_response(sock)

        assert answer.status == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == 413
        assert answer.json()["detail"] == "the request body is over the limit of 1048576 bytes"
        assert closed_by_peer(sock, within_s=3)
