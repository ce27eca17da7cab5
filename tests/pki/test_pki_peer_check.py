"""Clients check whom they reached: the server's sdqkd identity against the one they meant, over
real TLS handshakes on loopback with httpx's sync client (``wrap_socket``) and async client
(``wrap_bio``), and the TLS 1.2 suites servers accept."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable

import httpx
import pytest

from sdqkd.pki import (
    CertificateAuthority,
    ExpectedPeer,
    Identity,
    IssuedCertificate,
    Role,
    client_ssl_context,
    server_ssl_context,
)
from sdqkd.pki.tls import async_https_client
from tls_support import LoopbackTlsServer

StartServer = Callable[[Callable[[], ssl.SSLContext]], LoopbackTlsServer]


@pytest.fixture(scope="module")
def agent_north(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.AGENT, "north")


@pytest.fixture(scope="module")
def controller(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.CONTROLLER, "controller")


def serving_as(start: StartServer, ca: CertificateAuthority, holder: IssuedCertificate) -> LoopbackTlsServer:
    context = server_ssl_context(holder.cert, holder.key, ca.cert_path)
    return start(lambda: context)


def get_sync(
    server: LoopbackTlsServer, me: IssuedCertificate, ca: CertificateAuthority, peer: ExpectedPeer
) -> str:
    context = client_ssl_context(me.cert, me.key, ca.cert_path, peer=peer)
    with httpx.Client(verify=context, timeout=5) as client:
        return client.get(server.url).text


async def get_async(
    server: LoopbackTlsServer, me: IssuedCertificate, ca: CertificateAuthority, peer: ExpectedPeer
) -> str:
    client, _ = async_https_client("test", me.cert, me.key, ca.cert_path, 5, peer=peer)
    async with client:
        return (await client.get(server.url)).text


@pytest.mark.parametrize(
    "peer", [Identity(Role.AGENT, "north"), Role.AGENT, (Role.KME, Identity(Role.AGENT, "north"))], ids=str
)
def test_a_sync_client_reaches_the_peer_it_expects(
    tls_server: StartServer,
    ca: CertificateAuthority,
    agent_north: IssuedCertificate,
    controller: IssuedCertificate,
    peer: ExpectedPeer,
) -> None:
    server = serving_as(tls_server, ca, agent_north)

    assert get_sync(server, controller, ca, peer) == "controller:controller"  # the server saw us


@pytest.mark.parametrize("peer", [Identity(Role.AGENT, "south"), Role.KME, (Role.KME, Role.SAE)], ids=str)
def test_a_sync_client_refuses_a_server_of_another_role_or_node(
    tls_server: StartServer,
    ca: CertificateAuthority,
    agent_north: IssuedCertificate,
    controller: IssuedCertificate,
    peer: ExpectedPeer,
) -> None:
    server = serving_as(tls_server, ca, agent_north)

    with pytest.raises(httpx.ConnectError, match="certificate is agent:north's, expected"):
        get_sync(server, controller, ca, peer)


@pytest.mark.anyio
async def test_an_async_client_reaches_the_peer_it_expects_and_refuses_another(
    tls_server: StartServer,
    ca: CertificateAuthority,
    agent_north: IssuedCertificate,
    controller: IssuedCertificate,
) -> None:
    server = serving_as(tls_server, ca, agent_north)

    assert await get_async(server, controller, ca, Identity(Role.AGENT, "north")) == "controller:controller"
    with pytest.raises(httpx.ConnectError, match="certificate is agent:north's, expected agent:south"):
        await get_async(server, controller, ca, Identity(Role.AGENT, "south"))


@pytest.mark.anyio
async def test_an_sae_refuses_a_kme_address_served_with_an_agent_certificate(
    tls_server: StartServer, ca: CertificateAuthority, agent_north: IssuedCertificate
) -> None:
    from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError

    sae = ca.issue(Role.SAE, "sae-north")
    server = serving_as(tls_server, ca, agent_north)
    client = Etsi014Client(
        server.url, cert=sae.cert, key=sae.key, ca=ca.cert_path, timeout_s=5, peer=Identity(Role.KME, "north")
    )

    async with client:
        with pytest.raises(Etsi014ClientError, match="expected kme:north"):
            await client.status("sae-south")


def test_without_a_peer_a_client_checks_the_chain_and_host_only(
    tls_server: StartServer,
    ca: CertificateAuthority,
    agent_north: IssuedCertificate,
    controller: IssuedCertificate,
) -> None:
    server = serving_as(tls_server, ca, agent_north)

    assert get_sync(server, controller, ca, peer=None) == "controller:controller"  # type: ignore[arg-type]


def _tls12_client(ca: CertificateAuthority, me: IssuedCertificate, ciphers: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    context.load_cert_chain(me.cert, me.key)
    return context


def test_a_tls_1_2_client_offering_only_cbc_suites_is_refused(
    tls_server: StartServer,
    ca: CertificateAuthority,
    agent_north: IssuedCertificate,
    controller: IssuedCertificate,
) -> None:
    server = serving_as(tls_server, ca, agent_north)
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("DEFAULT")  # OpenSSL's defaults: CBC suites accepted
    permissive.load_cert_chain(agent_north.cert, agent_north.key)
    baseline = tls_server(lambda: permissive)
    cbc = _tls12_client(ca, controller, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")

    with httpx.Client(verify=cbc, timeout=5) as client:
        assert client.get(baseline.url).status_code == 200  # the suite works where it is allowed
        with pytest.raises(httpx.ConnectError, match=r"(?i)handshake failure|no shared cipher"):
            client.get(server.url)
    gcm = _tls12_client(ca, controller, "ECDHE-ECDSA-AES128-GCM-SHA256")
    with httpx.Client(verify=gcm, timeout=5) as client:
        assert client.get(server.url).text == "controller:controller"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_s_client_with_a_tls_1_2_cbc_suite_is_refused(
    tls_server: StartServer,
    ca: CertificateAuthority,
    agent_north: IssuedCertificate,
    controller: IssuedCertificate,
) -> None:
    server = serving_as(tls_server, ca, agent_north)
    port = server.server_address[1]
    command = [
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-tls1_2",
        "-CAfile",
        str(ca.cert_path),
    ]
    command += ["-cert", str(controller.cert), "-key", str(controller.key)]

    cbc = subprocess.run(
        [*command, "-cipher", "ECDHE-ECDSA-AES128-SHA"], input=b"", capture_output=True, timeout=10
    )
    gcm = subprocess.run(
        [*command, "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"], input=b"", capture_output=True, timeout=10
    )

    assert cbc.returncode != 0
    assert b"handshake failure" in cbc.stdout + cbc.stderr
    assert gcm.returncode == 0, gcm.stderr
    assert b"Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" in gcm.stdout
