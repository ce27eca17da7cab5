"""A request body over the server's cap (1 MiB) is refused with 413 in the ETSI GS QKD 014 §6.5
error format, before the body is read, and the connection is closed after."""

from __future__ import annotations

import pytest
from etsi014_support import Pki

from raw_https import closed_by_peer, read_response, tls_connection
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration


def test_an_enc_keys_request_with_a_2_mib_body_is_answered_413_in_the_etsi_014_format(
    kme_server: BackgroundServer, pki: Pki
) -> None:
    with tls_connection(kme_server.port, pki.sae_a, pki.ca.cert_path) as sock:
        sock.sendall(
            b"POST /api/v1/keys/sae-b/enc_keys HTTP/1.1\r\nhost: localhost\r\n"
            b"content-type: application/json\r\ncontent-length: 2097152\r\n\r\n"  # answered before the body
        )
        answer = read_response(sock)

        assert answer.status == 413
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {"message": "the request body is over the limit of 1048576 bytes"}  # §6.5
        assert closed_by_peer(sock, within_s=3)
