"""The ETSI GS QKD 014 app behind a real mutual-TLS server on loopback, called with Etsi014Client:
who may connect, who may get keys, and that master and slave get the same key."""

from __future__ import annotations

import ssl

import httpx
import pytest
from etsi014_support import Pki

from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError
from sdqkd.pki import IssuedCertificate
from sdqkd.server import BackgroundServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def client_of(server: BackgroundServer, pki: Pki, certificate: IssuedCertificate) -> Etsi014Client:
    return Etsi014Client(
        server.url, cert=certificate.cert, key=certificate.key, ca=pki.ca.cert_path, timeout_s=5
    )


async def test_master_and_slave_get_the_same_keys_over_mutual_tls(
    kme_server: BackgroundServer, pki: Pki
) -> None:
    async with (
        client_of(kme_server, pki, pki.sae_a) as master,
        client_of(kme_server, pki, pki.sae_b) as slave,
    ):
        status = await master.status("sae-b")
        delivered = await master.enc_keys("sae-b", number=2, size=256)
        fetched = await slave.dec_keys("sae-a", [key.key_id for key in delivered.keys])
        with pytest.raises(Etsi014ClientError) as again:  # a key is delivered once
            await slave.dec_keys("sae-a", [delivered.keys[0].key_id], use_get=True)
    assert (status.master_sae_id, status.slave_sae_id) == ("sae-a", "sae-b")
    assert [key.material() for key in fetched.keys] == [key.material() for key in delivered.keys]
    assert all(len(key.material()) == 32 for key in fetched.keys)
    assert again.value.status_code == 401


async def test_a_client_without_certificate_cannot_connect(kme_server: BackgroundServer, pki: Pki) -> None:
    # trusts the server, presents nothing: the TLS handshake is refused, before any HTTP
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    async with (
        httpx.AsyncClient(verify=context, timeout=5) as http_client,
        Etsi014Client(kme_server.url, http_client=http_client) as client,
    ):
        with pytest.raises(Etsi014ClientError) as refused:
            await client.status("sae-b")
    assert refused.value.status_code is None
    assert isinstance(refused.value.__cause__, httpx.TransportError)


async def test_a_client_certificate_of_another_ca_is_refused(kme_server: BackgroundServer, pki: Pki) -> None:
    async with client_of(kme_server, pki, pki.foreign_sae) as client:
        with pytest.raises(Etsi014ClientError) as refused:
            await client.enc_keys("sae-b")
    assert refused.value.status_code is None
    assert isinstance(refused.value.__cause__, httpx.TransportError)


async def test_a_server_of_another_ca_is_not_trusted(kme_server: BackgroundServer, pki: Pki) -> None:
    # The client verifies the KME: with another CA as its trust anchor, kme-1 is a stranger.
    foreign_ca = pki.foreign_ca.cert_path
    sae = pki.sae_a
    async with Etsi014Client(
        kme_server.url, cert=sae.cert, key=sae.key, ca=foreign_ca, timeout_s=5
    ) as client:
        with pytest.raises(Etsi014ClientError, match="ConnectError") as refused:
            await client.status("sae-b")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


@pytest.mark.parametrize("holder", ["no_identity", "operator"])
async def test_a_certificate_of_the_ca_without_an_allowed_identity_gets_401(
    kme_server: BackgroundServer, pki: Pki, holder: str
) -> None:
    async with client_of(kme_server, pki, getattr(pki, holder)) as client:
        with pytest.raises(Etsi014ClientError) as refused:
            await client.enc_keys("sae-b")
    assert refused.value.status_code == 401
