"""Revocation and rotation: the CA's CRL, and servers (ServerContexts) that pick up a new CRL or a
rotated certificate at the next connection, over real TLS handshakes on loopback."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from sdqkd.errors import PkiError
from sdqkd.pki import (
    CertificateAuthority,
    Identity,
    IssuedCertificate,
    Role,
    ServerContexts,
    client_ssl_context,
)
from tls_support import LoopbackTlsServer

StartServer = Callable[[Callable[[], ssl.SSLContext]], LoopbackTlsServer]


def _crl(ca: CertificateAuthority) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(ca.crl_path.read_bytes())


def _serial(issued: IssuedCertificate) -> int:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes()).serial_number


def _get(server: LoopbackTlsServer, me: IssuedCertificate, ca: CertificateAuthority, **kwargs: object) -> str:
    context = client_ssl_context(me.cert, me.key, ca.cert_path, **kwargs)  # type: ignore[arg-type]
    with httpx.Client(verify=context, timeout=5) as client:
        return client.get(server.url).text


def test_revoke_signs_a_crl_with_increasing_numbers_and_the_reason(fresh_ca_dir: Path) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    alice, bob = ca.issue(Role.SAE, "alice"), ca.issue(Role.SAE, "bob")

    first = ca.revoke(Identity(Role.SAE, "alice"), x509.ReasonFlags.key_compromise)
    number_1 = _crl(ca).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    ca.revoke(_serial(bob))
    ca.revoke(first)  # again: kept once
    crl = _crl(ca)

    assert first == _serial(alice)
    assert crl.is_signature_valid(ca.certificate.public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number_1 + 2
    assert sorted(entry.serial_number for entry in crl) == sorted([_serial(alice), _serial(bob)])
    reason = crl.get_revoked_certificate_by_serial_number(first).extensions  # type: ignore[union-attr]
    assert reason.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    assert ca.revoked_serials() == {_serial(alice), _serial(bob)}


def test_revoke_refuses_a_holder_without_a_certificate_and_a_crl_of_another_ca(
    fresh_ca_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    with pytest.raises(PkiError, match="no certificate"):
        ca.revoke(Identity(Role.SAE, "nobody"))
    other = CertificateAuthority.create(tmp_path_factory.mktemp("other-ca"))
    other.publish_crl()
    ca.crl_path.write_bytes(other.crl_path.read_bytes())
    with pytest.raises(PkiError, match="not signed by this CA"):
        ca.revoke(1234)


def test_rotate_issues_a_new_key_and_serial_for_the_same_hosts_and_may_revoke_the_old(
    fresh_ca_dir: Path,
) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    old = ca.issue(Role.KME, "north", hosts=("kme-north.example", "10.0.0.7"))
    old_serial, old_key = _serial(old), old.key.read_bytes()

    new = ca.rotate(Identity(Role.KME, "north"), revoke_old=True)
    certificate = x509.load_pem_x509_certificate(new.cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert (new.cert, new.key) == (old.cert, old.key)  # in place
    assert certificate.serial_number != old_serial
    assert new.key.read_bytes() != old_key
    assert names.get_values_for_type(x509.DNSName) == ["kme-north.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    assert ca.revoked_serials() == {old_serial}


def test_a_server_refuses_a_revoked_client_from_its_next_context_without_being_recreated(
    fresh_ca_dir: Path, tls_server: StartServer
) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    kme, sae = ca.issue(Role.KME, "north"), ca.issue(Role.SAE, "alice")
    contexts = ServerContexts(kme.cert, kme.key, ca.cert_path, ca.crl_path, check_interval_s=0)
    server = tls_server(contexts.current)
    assert _get(server, sae, ca) == "sae:alice"  # no CRL yet: not checked

    ca.revoke(Identity(Role.SAE, "alice"))

    # TLS 1.3: the client's handshake ends first; the server's alert comes with the answer
    with pytest.raises((httpx.ConnectError, httpx.ReadError), match="certificate revoked"):
        _get(server, sae, ca)
    assert _get(server, ca.issue(Role.SAE, "bob"), ca) == "sae:bob"  # others still admitted
    assert contexts.reloads == 1


def test_a_client_given_the_crl_refuses_a_revoked_server(fresh_ca_dir: Path, tls_server: StartServer) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    kme, sae = ca.issue(Role.KME, "north"), ca.issue(Role.SAE, "alice")
    server = tls_server(ServerContexts(kme.cert, kme.key, ca.cert_path).current)
    ca.revoke(Identity(Role.KME, "north"))

    with pytest.raises(httpx.ConnectError, match="revoked"):
        _get(server, sae, ca, crl=ca.crl_path)
    assert _get(server, sae, ca) == "sae:alice"  # the same client without the CRL: the test can fail


def test_a_rotated_server_certificate_is_served_from_the_next_connection(
    fresh_ca_dir: Path, tls_server: StartServer
) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    kme, sae = ca.issue(Role.KME, "north"), ca.issue(Role.SAE, "alice")
    contexts = ServerContexts(kme.cert, kme.key, ca.cert_path, ca.crl_path, check_interval_s=0)
    server = tls_server(contexts.current)
    seen: list[int] = []

    def served_serial() -> int:
        context = client_ssl_context(sae.cert, sae.key, ca.cert_path, peer=Identity(Role.KME, "north"))
        with httpx.Client(verify=context, timeout=5) as client, client.stream("GET", server.url) as response:
            der = response.extensions["network_stream"].get_extra_info("ssl_object").getpeercert(True)
            seen.append(x509.load_der_x509_certificate(der).serial_number)
        return seen[-1]

    before = served_serial()
    rotated = ca.rotate(Identity(Role.KME, "north"), revoke_old=True)

    assert served_serial() == _serial(rotated) != before
    assert _get(server, sae, ca, crl=ca.crl_path) == "sae:alice"  # the new one is not the revoked one


def test_contexts_look_at_the_files_at_most_once_per_interval(fresh_ca_dir: Path) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    kme = ca.issue(Role.KME, "north")
    now = [0.0]
    contexts = ServerContexts(kme.cert, kme.key, ca.cert_path, ca.crl_path, clock=lambda: now[0])
    first = contexts.current()
    ca.publish_crl()

    now[0] = 0.5
    assert contexts.current() is first  # not looked at yet
    now[0] = 1.0
    assert contexts.current() is not first
    assert contexts.current().verify_flags & ssl.VERIFY_CRL_CHECK_LEAF


def test_a_bad_new_file_keeps_the_old_context_and_warns(
    fresh_ca_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    kme = ca.issue(Role.KME, "north")
    contexts = ServerContexts(kme.cert, kme.key, ca.cert_path, ca.crl_path, check_interval_s=0)
    first = contexts.current()
    ca.crl_path.write_text("not a CRL\n")

    with caplog.at_level(logging.WARNING, logger="sdqkd.pki.server_contexts"):
        assert contexts.current() is first
        assert contexts.current() is first  # reported once, not at every connection
    assert [r.message for r in caplog.records if "cannot be used" in r.message] != []
    assert len([r for r in caplog.records if "cannot be used" in r.message]) == 1

    ca.crl_path.unlink()
    ca.publish_crl()  # a good one again
    assert contexts.current() is not first


def test_contexts_refuse_to_start_with_files_they_cannot_use(fresh_ca_dir: Path) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    kme, other = ca.issue(Role.KME, "north"), ca.issue(Role.KME, "south")

    with pytest.raises(PkiError, match="cannot serve"):
        ServerContexts(kme.cert, other.key, ca.cert_path)
