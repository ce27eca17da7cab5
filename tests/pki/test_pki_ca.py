"""The certificate authority on disk: creation, loading, and what its certificate allows."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sdqkd.errors import PkiError
from sdqkd.pki import CertificateAuthority, Role


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def test_create_writes_the_certificate_and_a_key_only_its_owner_can_read(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "new" / "ca")

    assert ca.cert_path == tmp_path / "new" / "ca" / "ca.crt"
    assert x509.load_pem_x509_certificate(ca.cert_path.read_bytes()) == ca.certificate
    assert _mode(tmp_path / "new" / "ca" / "ca.key") == 0o600


def test_create_refuses_a_directory_that_already_holds_a_ca_and_keeps_its_key(tmp_path: Path) -> None:
    CertificateAuthority.create(tmp_path)
    key_before = (tmp_path / "ca.key").read_bytes()

    with pytest.raises(PkiError, match="already exists"):
        CertificateAuthority.create(tmp_path)

    assert (tmp_path / "ca.key").read_bytes() == key_before


@pytest.mark.parametrize("leftover", ["ca.crt", "ca.key"])
def test_create_refuses_a_directory_with_half_a_ca(tmp_path: Path, leftover: str) -> None:
    (tmp_path / leftover).write_bytes(b"left over")

    with pytest.raises(PkiError):
        CertificateAuthority.create(tmp_path)


def test_load_round_trips_the_certificate_and_the_signing_key(fresh_ca_dir: Path) -> None:
    original = x509.load_pem_x509_certificate((fresh_ca_dir / "ca.crt").read_bytes())

    loaded = CertificateAuthority.load(fresh_ca_dir)
    issued = loaded.issue(Role.SAE, "after-reload")

    assert loaded.certificate == original
    assert loaded.directory == fresh_ca_dir
    x509.load_pem_x509_certificate(issued.cert.read_bytes()).verify_directly_issued_by(original)


def test_load_of_a_directory_without_a_ca_raises_pki_error(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="no usable CA"):
        CertificateAuthority.load(tmp_path)
    with pytest.raises(PkiError, match="no usable CA"):
        CertificateAuthority.load(tmp_path / "missing")


@pytest.mark.parametrize("missing", ["ca.crt", "ca.key"])
def test_load_of_a_ca_missing_one_file_raises_pki_error(fresh_ca_dir: Path, missing: str) -> None:
    (fresh_ca_dir / missing).unlink()

    with pytest.raises(PkiError):
        CertificateAuthority.load(fresh_ca_dir)


@pytest.mark.parametrize("damaged", ["ca.crt", "ca.key"])
def test_load_of_a_corrupt_ca_file_raises_pki_error(fresh_ca_dir: Path, damaged: str) -> None:
    pem = (fresh_ca_dir / damaged).read_bytes()
    (fresh_ca_dir / damaged).write_bytes(pem[:40] + b"garbage" + pem[60:])

    with pytest.raises(PkiError):
        CertificateAuthority.load(fresh_ca_dir)


def test_load_refuses_a_key_that_is_not_an_ec_key(fresh_ca_dir: Path) -> None:
    (fresh_ca_dir / "ca.key").write_bytes(_pem_key(rsa.generate_private_key(65537, 2048)))

    with pytest.raises(PkiError, match="not an EC key"):
        CertificateAuthority.load(fresh_ca_dir)


def test_load_refuses_an_encrypted_key_with_pki_error(fresh_ca_dir: Path) -> None:
    key = serialization.load_pem_private_key((fresh_ca_dir / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    (fresh_ca_dir / "ca.key").write_bytes(_pem_key(key, password=b"secret"))

    with pytest.raises(PkiError):
        CertificateAuthority.load(fresh_ca_dir)


def test_load_refuses_a_key_that_does_not_belong_to_the_certificate(fresh_ca_dir: Path) -> None:
    # Signing with another key would issue certificates that chain to nothing.
    (fresh_ca_dir / "ca.key").write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))

    with pytest.raises(PkiError, match="does not match"):
        CertificateAuthority.load(fresh_ca_dir)


def test_the_ca_certificate_may_sign_certificates_and_signs_itself(ca: CertificateAuthority) -> None:
    certificate = ca.certificate
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)

    assert constraints.value.ca is True
    assert constraints.critical
    assert key_usage.value.key_cert_sign is True
    assert key_usage.critical
    assert certificate.subject == certificate.issuer
    certificate.verify_directly_issued_by(certificate)


def test_repr_never_contains_key_material(fresh_ca_dir: Path) -> None:
    ca = CertificateAuthority.load(fresh_ca_dir)
    key_pem = (fresh_ca_dir / "ca.key").read_bytes().decode()
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    secret = key.private_numbers().private_value
    key_body = "".join(key_pem.splitlines()[1:-1])

    for shown in (repr(ca), str(ca)):
        assert str(fresh_ca_dir) in shown
        assert "PRIVATE" not in shown
        assert str(secret) not in shown
        assert f"{secret:x}" not in shown
        assert key_body[:16] not in shown


def test_the_ca_directory_and_a_new_issue_directory_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        ca = CertificateAuthority.create(tmp_path / "run" / "pki")
        issued = ca.issue(Role.KME, "n1", directory=tmp_path / "host" / "pki")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "run" / "pki").stat().st_mode) == 0o700
    assert stat.S_IMODE(issued.key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(issued.key.stat().st_mode) == 0o600
