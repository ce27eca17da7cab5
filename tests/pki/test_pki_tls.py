"""TLS contexts for mutual authentication, checked by their settings and by real handshakes in memory."""

from __future__ import annotations

import ssl

import pytest

from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role, client_ssl_context, server_ssl_context


def _handshake(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext, server_hostname: str = "localhost"
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake between two contexts through memory buffers (no sockets).

    Raises:
        ssl.SSLError: either side refused the handshake.
    """
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname=server_hostname)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    # TLS 1.3: the client finishes first; the server judges the client's certificate afterwards.
    done = {client: False, server: False}
    for _ in range(10):
        for side, outbox, peer_inbox in ((client, client_out, server_in), (server, server_out, client_in)):
            if not done[side]:
                try:
                    side.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_inbox.write(outbox.read())
        if all(done.values()):
            return client, server
    raise AssertionError("handshake did not finish")


@pytest.fixture(scope="module")
def server_cert(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.KME, "tls-server")


@pytest.fixture(scope="module")
def client_cert(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.SAE, "tls-client")


@pytest.fixture
def server_context(ca: CertificateAuthority, server_cert: IssuedCertificate) -> ssl.SSLContext:
    return server_ssl_context(server_cert.cert, server_cert.key, ca.cert_path)


@pytest.fixture
def client_context(ca: CertificateAuthority, client_cert: IssuedCertificate) -> ssl.SSLContext:
    return client_ssl_context(client_cert.cert, client_cert.key, ca.cert_path)


def test_server_context_requires_a_client_certificate_and_tls_1_2_or_newer(
    server_context: ssl.SSLContext,
) -> None:
    assert server_context.verify_mode == ssl.CERT_REQUIRED
    assert server_context.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = [c for c in server_context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    assert all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)  # AEAD ECDHE only


def test_client_context_verifies_the_server_and_its_hostname(client_context: ssl.SSLContext) -> None:
    assert client_context.check_hostname is True
    assert client_context.verify_mode == ssl.CERT_REQUIRED
    assert client_context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_contexts_of_the_same_ca_authenticate_each_other(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    client, server = _handshake(client_context, server_context)
    client_seen, server_seen = server.getpeercert(), client.getpeercert()

    assert client.version() == "TLSv1.3"  # preferred: both sides offer it
    assert client_seen is not None
    assert ("URI", "urn:sdqkd:sae:tls-client") in client_seen["subjectAltName"]
    assert server_seen is not None
    assert ("URI", "urn:sdqkd:kme:tls-server") in server_seen["subjectAltName"]


def test_client_refuses_a_server_whose_certificate_does_not_name_the_host(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(client_context, server_context, server_hostname="kme.elsewhere.example")


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=str)
def test_server_refuses_a_client_without_a_certificate(
    ca: CertificateAuthority, server_context: ssl.SSLContext, maximum: ssl.TLSVersion
) -> None:
    anonymous = ssl.create_default_context(cafile=str(ca.cert_path))
    anonymous.maximum_version = maximum

    with pytest.raises(ssl.SSLError, match=r"(?i)certificate"):
        _handshake(anonymous, server_context)


def test_server_refuses_a_client_certificate_of_another_ca(
    server_context: ssl.SSLContext, ca: CertificateAuthority, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # deliberately a second CA, not the session's: its certificate must be refused
    stranger = CertificateAuthority.create(tmp_path_factory.mktemp("other-ca")).issue(Role.SAE, "stranger")
    context = client_ssl_context(stranger.cert, stranger.key, ca.cert_path)

    with pytest.raises(ssl.SSLError, match=r"(?i)certificate"):
        _handshake(context, server_context)
