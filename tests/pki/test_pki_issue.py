"""Certificates the CA issues: the identity, names, usages and signature each carries."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sdqkd.errors import PkiError
from sdqkd.pki import CertificateAuthority, Identity, IssuedCertificate, Role, identity_of_certificate

LEAF_ROLES = [role for role in Role if role is not Role.CA]


def _load(issued: IssuedCertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes())


def _san(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


@pytest.fixture(scope="module")
def sae_alice(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue(Role.SAE, "alice")


@pytest.mark.parametrize("role", LEAF_ROLES, ids=str)
def test_every_role_but_ca_gets_a_certificate_whose_identity_is_its_role_and_name(
    ca: CertificateAuthority, role: Role
) -> None:
    issued = ca.issue(role, f"{role}-1")

    assert issued.identity == Identity(role, f"{role}-1")
    assert identity_of_certificate(_load(issued)) == Identity(role, f"{role}-1")
    assert issued.cert == ca.directory / f"{role}-{role}-1.crt"
    assert issued.key == ca.directory / f"{role}-{role}-1.key"


def test_issue_refuses_the_ca_role(ca: CertificateAuthority) -> None:
    with pytest.raises(PkiError, match=r"CertificateAuthority\.create"):
        ca.issue(Role.CA, "root2")


def test_subject_names_carry_the_urn_and_loopback_hosts_by_default(sae_alice: IssuedCertificate) -> None:
    san = _san(_load(sae_alice))

    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:sdqkd:sae:alice"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]


def test_custom_hosts_replace_the_defaults_and_are_told_apart_as_dns_names_or_ip_addresses(
    ca: CertificateAuthority,
) -> None:
    issued = ca.issue(Role.KME, "kme-madrid", hosts=["kme.madrid.example", "10.0.0.5", "fd00::5"])
    san = _san(_load(issued))

    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:sdqkd:kme:kme-madrid"]
    assert san.get_values_for_type(x509.DNSName) == ["kme.madrid.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.5"),
        ipaddress.ip_address("fd00::5"),
    ]


def test_subject_has_the_name_as_cn_and_the_role_as_ou(sae_alice: IssuedCertificate) -> None:
    subject = _load(sae_alice).subject

    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["sae"]


SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
USAGES = {
    Role.SAE: {CLIENT},
    Role.OPERATOR: {CLIENT},
    Role.WEB: {SERVER},
    Role.KME: {SERVER, CLIENT},
    Role.AGENT: {SERVER, CLIENT},
    Role.CONTROLLER: {SERVER, CLIENT},
    Role.EMULATOR: {SERVER, CLIENT},
}


@pytest.mark.parametrize("role", LEAF_ROLES, ids=str)
def test_certificate_key_usages_follow_the_role_and_none_is_a_ca(
    ca: CertificateAuthority, role: Role
) -> None:
    extensions = _load(ca.issue(role, f"usage-{role}")).extensions
    usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    key_usage = extensions.get_extension_for_class(x509.KeyUsage)

    assert set(usages) == USAGES[role]
    assert key_usage.critical
    assert key_usage.value.digital_signature
    assert not key_usage.value.key_cert_sign
    assert not key_usage.value.crl_sign
    assert not key_usage.value.key_encipherment
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_certificate_is_signed_by_the_ca_and_by_no_other(
    ca: CertificateAuthority, sae_alice: IssuedCertificate, tmp_path: Path
) -> None:
    certificate = _load(sae_alice)
    other_ca = CertificateAuthority.create(tmp_path)  # deliberately a second CA, not the session's

    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_path.read_bytes()))
    with pytest.raises((ValueError, InvalidSignature)):
        certificate.verify_directly_issued_by(other_ca.certificate)


def test_private_key_is_readable_by_its_owner_only_and_matches_the_certificate(
    sae_alice: IssuedCertificate,
) -> None:
    key = serialization.load_pem_private_key(sae_alice.key.read_bytes(), password=None)

    assert stat.S_IMODE(sae_alice.key.stat().st_mode) == 0o600
    assert key.public_key() == _load(sae_alice).public_key()


def test_reissuing_over_a_key_file_with_wider_permissions_narrows_them_to_the_owner(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    (tmp_path / "sae-bob.key").write_bytes(b"old key")
    (tmp_path / "sae-bob.key").chmod(0o644)

    issued = ca.issue(Role.SAE, "bob", directory=tmp_path)

    assert issued.key == tmp_path / "sae-bob.key"
    assert stat.S_IMODE(issued.key.stat().st_mode) == 0o600
    assert (tmp_path / "sae-bob.crt").is_file()


def test_a_name_of_64_characters_is_accepted(ca: CertificateAuthority) -> None:
    name = "n" * 64

    assert identity_of_certificate(_load(ca.issue(Role.AGENT, name))) == Identity(Role.AGENT, name)


@pytest.mark.parametrize(
    "name",
    ["", "two words", "a/b", "../escape", "n" * 65, "-dash-first", ".hidden", "alice\n", "ümlaut"],
    ids=["empty", "space", "slash", "path", "65-chars", "dash-first", "dot-first", "newline", "non-ascii"],
)
def test_issue_refuses_an_invalid_name(ca: CertificateAuthority, tmp_path: Path, name: str) -> None:
    with pytest.raises(PkiError, match="invalid certificate name"):
        ca.issue(Role.SAE, name, directory=tmp_path)

    assert list(tmp_path.iterdir()) == []
