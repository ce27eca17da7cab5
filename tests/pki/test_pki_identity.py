"""Reading the sdqkd identity (``urn:sdqkd:ROLE:NAME``) out of a certificate."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sdqkd.errors import PkiError
from sdqkd.pki import Identity, Role, identity_of_certificate


def _certificate(*alt_names: x509.GeneralName) -> x509.Certificate:
    """A self-signed certificate with exactly these subject alternative names (none: no SAN)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alt_names)), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_identity_is_read_from_the_sdqkd_urn_among_other_names() -> None:
    certificate = _certificate(
        x509.DNSName("kme.example"),
        x509.UniformResourceIdentifier("https://kme.example/"),
        x509.UniformResourceIdentifier("urn:sdqkd:kme:kme-a"),
    )

    assert identity_of_certificate(certificate) == Identity(Role.KME, "kme-a")


def test_a_certificate_without_subject_alternative_names_has_no_identity() -> None:
    with pytest.raises(PkiError, match="no subject alternative names"):
        identity_of_certificate(_certificate())


def test_a_certificate_without_an_sdqkd_urn_has_no_identity() -> None:
    certificate = _certificate(x509.DNSName("localhost"), x509.UniformResourceIdentifier("urn:other:kme:a"))

    with pytest.raises(PkiError, match="no urn:sdqkd"):
        identity_of_certificate(certificate)


def test_a_certificate_naming_an_unknown_role_has_no_identity() -> None:
    with pytest.raises(PkiError, match="unknown role 'wizard'"):
        identity_of_certificate(_certificate(x509.UniformResourceIdentifier("urn:sdqkd:wizard:merlin")))


@pytest.mark.parametrize(
    "urn",
    ["urn:sdqkd:sae:alice\n", "urn:sdqkd:sae:alice/bob", "urn:sdqkd:sae:", "urn:sdqkd:SAE:alice"],
    ids=["trailing-newline", "slash", "empty-name", "upper-case-role"],
)
def test_a_malformed_sdqkd_urn_is_no_identity(urn: str) -> None:
    # A name must match whole: 'alice\n' must not be read as 'alice'.
    with pytest.raises(PkiError):
        identity_of_certificate(_certificate(x509.UniformResourceIdentifier(urn)))


def test_identity_renders_as_its_urn_and_as_role_colon_name() -> None:
    identity = Identity(Role.OPERATOR, "ops-1")

    assert identity.urn == "urn:sdqkd:operator:ops-1"
    assert str(identity) == "operator:ops-1"
