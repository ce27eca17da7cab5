"""A KME's client of a peer KME reaches the link's other end and no other: a server presenting another
KME's certificate (or an agent's) is refused at the TLS handshake, before the relay hop is sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from sdqkd.kms.peer import PeerClient, PeerKmeUnavailable
from sdqkd.pki import CertificateAuthority, Role, server_ssl_context
from tls_support import serving

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pki_ca(ca_issuing_into: Callable[[str], CertificateAuthority]) -> CertificateAuthority:
    return ca_issuing_into("kms-peer-identity")


@pytest.mark.parametrize(("role", "name", "reached"), [(Role.KME, "n2", True), (Role.KME, "n3", False),
                                                        (Role.AGENT, "n2", False)])  # fmt: skip
async def test_a_peer_client_reaches_only_the_links_other_kme(
    pki_ca: CertificateAuthority, role: Role, name: str, reached: bool
) -> None:
    me, server_holder = pki_ca.issue(Role.KME, "n1"), pki_ca.issue(role, name)
    context = server_ssl_context(server_holder.cert, server_holder.key, pki_ca.cert_path)

    with serving(lambda: context) as server:
        client = PeerClient(server.url, me.cert, me.key, pki_ca.cert_path, timeout_s=5, peer_kme_id="n2")
        with pytest.raises(PeerKmeUnavailable) as failed:  # the stand-in's answer is not a relay answer
            await client.hold_blocks("n1-n2", [uuid.uuid4()])
        await client.aclose()

    assert server.paths == (["/kmeapi/v1/links/n1-n2/blocks"] if reached else [])
    assert ("ConnectError" in str(failed.value)) is not reached
