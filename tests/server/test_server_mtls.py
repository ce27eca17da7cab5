"""A real mutual-TLS server on loopback: who gets in, what the app learns about the caller, and how
roles are enforced."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable

import httpx
import pytest
from cryptography import x509

from sdqkd.pki import (
    CertificateAuthority,
    Identity,
    IssuedCertificate,
    client_ssl_context,
    identity_of_certificate,
)
from sdqkd.server import BackgroundServer, TlsFiles

pytestmark = pytest.mark.integration

ClientOf = Callable[[IssuedCertificate], httpx.Client]


def _handshakes_in_memory(client_context: ssl.SSLContext, server_context: ssl.SSLContext) -> bool:
    """Whether two contexts complete a TLS handshake through memory buffers (no sockets)."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    done = {client: False, server: False}
    try:
        for _ in range(10):
            for side, outbox, peer_inbox in (
                (client, client_out, server_in),
                (server, server_out, client_in),
            ):
                if not done[side]:
                    try:
                        side.do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
                peer_inbox.write(outbox.read())
            if all(done.values()):
                return True
    except ssl.SSLError:
        return False
    return False


def test_a_client_with_a_valid_certificate_gets_its_identity_back(
    client_of: ClientOf, operator_cert: IssuedCertificate
) -> None:
    response = client_of(operator_cert).get("/whoami")

    assert response.status_code == 200
    assert (response.json()["role"], response.json()["name"]) == ("operator", "alice-ops")


def test_the_identity_is_parsed_once_per_connection(
    client_of: ClientOf, operator_cert: IssuedCertificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[x509.Certificate] = []

    def counting(certificate: x509.Certificate) -> Identity:
        parsed.append(certificate)
        return identity_of_certificate(certificate)

    monkeypatch.setattr("sdqkd.server.identity.identity_of_certificate", counting)

    first = client_of(operator_cert)
    ports = {first.get("/whoami").json()["client_port"] for _ in range(3)}
    assert len(ports) == 1, "the three requests should share one keep-alive connection"
    assert len(parsed) == 1

    second = client_of(operator_cert)
    assert second.get("/whoami").json()["client_port"] not in ports
    assert len(parsed) == 2, "a new connection parses its own certificate"


def test_a_client_without_a_certificate_is_refused(
    server: BackgroundServer, ca: CertificateAuthority
) -> None:
    anonymous = ssl.create_default_context(cafile=str(ca.cert_path))

    with (
        httpx.Client(base_url=server.url, verify=anonymous, timeout=5) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/whoami")


def test_a_client_with_a_certificate_from_another_ca_is_refused(
    server: BackgroundServer, ca: CertificateAuthority, foreign_cert: IssuedCertificate
) -> None:
    context = client_ssl_context(foreign_cert.cert, foreign_cert.key, ca.cert_path)

    with (
        httpx.Client(base_url=server.url, verify=context, timeout=5) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/whoami")


def test_a_valid_client_limited_to_tls_1_1_is_refused(
    server: BackgroundServer,
    server_tls: TlsFiles,
    ca: CertificateAuthority,
    operator_cert: IssuedCertificate,
) -> None:
    context = client_ssl_context(operator_cert.cert, operator_cert.key, ca.cert_path)
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.load_cert_chain(server_tls.cert, server_tls.key)
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point of the test
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 disables TLS < 1.2 at level 1 and up
            permissive.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError) as exc:
            pytest.skip(f"the local OpenSSL cannot be limited to TLS 1.1: {exc}")
    # Control: this client does speak TLS 1.1 to a server that accepts it, so a refusal below is the
    # sdqkd server's doing and not the local OpenSSL's.
    if not _handshakes_in_memory(context, permissive):
        pytest.skip(f"{ssl.OPENSSL_VERSION} cannot negotiate TLS 1.1 even with a permissive peer")

    with (
        httpx.Client(base_url=server.url, verify=context, timeout=5) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/whoami")


def test_the_role_guard_admits_an_operator(client_of: ClientOf, operator_cert: IssuedCertificate) -> None:
    response = client_of(operator_cert).get("/operators-only")

    assert response.status_code == 200
    assert response.json() == {"admitted": "operator:alice-ops"}


def test_the_role_guard_refuses_a_known_caller_of_another_role_as_forbidden(
    client_of: ClientOf, kme_cert: IssuedCertificate
) -> None:
    response = client_of(kme_cert).get("/operators-only")

    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "message": "kme:kme-b may not GET /operators-only"}


def test_the_tls_extension_carries_the_client_certificate_its_name_and_the_tls_version(
    client_of: ClientOf, operator_cert: IssuedCertificate
) -> None:
    body = client_of(operator_cert).get("/whoami").json()
    presented = x509.load_pem_x509_certificate(operator_cert.cert.read_bytes())

    assert len(body["client_cert_chain"]) == 1
    assert x509.load_pem_x509_certificate(body["client_cert_chain"][0].encode()) == presented
    assert sorted(body["client_cert_name"].split(",")) == ["CN=alice-ops", "OU=operator"]
    assert body["tls_version"] in (0x0303, 0x0304)


@pytest.mark.parametrize(
    ("maximum", "code"), [(ssl.TLSVersion.TLSv1_2, 0x0303), (ssl.TLSVersion.TLSv1_3, 0x0304)], ids=str
)
def test_the_tls_extension_reports_the_negotiated_version(
    server: BackgroundServer,
    ca: CertificateAuthority,
    operator_cert: IssuedCertificate,
    maximum: ssl.TLSVersion,
    code: int,
) -> None:
    context = client_ssl_context(operator_cert.cert, operator_cert.key, ca.cert_path)
    context.maximum_version = maximum

    with httpx.Client(base_url=server.url, verify=context, timeout=5) as client:
        assert client.get("/whoami").json()["tls_version"] == code
