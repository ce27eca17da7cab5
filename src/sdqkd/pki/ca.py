"""A certificate authority on disk and the certificates it issues (``cryptography``, ECDSA P-256)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sdqkd.errors import PkiError
from sdqkd.pki.identity import NAME_PATTERN, Identity, Role

__all__ = ["CertificateAuthority", "IssuedCertificate"]

_CA_CERT, _CA_KEY = "ca.crt", "ca.key"
_CA_VALIDITY = dt.timedelta(days=3650)
_LEAF_VALIDITY = dt.timedelta(days=825)
_DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key on disk."""

    identity: Identity
    cert: Path
    key: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (0600 from creation, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, 0o600)  # a file that already existed keeps its mode through open(): narrow it first
        handle.write(data)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertificateAuthority:
    """A CA whose certificate and key live in a directory (``ca.crt``, ``ca.key``); issued
    certificates go to ``ROLE-NAME.crt`` / ``ROLE-NAME.key`` beside them."""

    def __init__(
        self, directory: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> None:
        self.directory = directory
        self.certificate = certificate
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return f"CertificateAuthority({str(self.directory)!r})"

    @property
    def cert_path(self) -> Path:
        return self.directory / _CA_CERT

    @classmethod
    def create(cls, directory: Path, name: str = "sdqkd CA") -> CertificateAuthority:
        """Create a new CA in ``directory`` (created if missing).

        Raises:
            PkiError: a CA already exists there.
        """
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / _CA_CERT).exists() or (directory / _CA_KEY).exists():
            raise PkiError(f"a CA already exists in {directory}")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(
            directory / _CA_KEY,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        (directory / _CA_CERT).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(directory, certificate, key)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """Load the CA in ``directory``.

        Raises:
            PkiError: no readable CA there.
        """
        try:
            certificate = x509.load_pem_x509_certificate((directory / _CA_CERT).read_bytes())
            key = serialization.load_pem_private_key((directory / _CA_KEY).read_bytes(), password=None)
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:  # TypeError: encrypted key
            raise PkiError(f"no usable CA in {directory}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"the CA key in {directory} is not an EC key")
        if key.public_key() != certificate.public_key():
            # signing with it would issue certificates that chain to nothing
            raise PkiError(f"the CA key in {directory} does not match its certificate")
        return cls(directory, certificate, key)

    def issue(
        self,
        role: Role,
        name: str,
        hosts: Sequence[str] = _DEFAULT_HOSTS,
        directory: Path | None = None,
    ) -> IssuedCertificate:
        """Issue a certificate (usable as TLS server and client) for ``ROLE:NAME``.

        Args:
            role: the holder's role.
            name: the holder's name (an SAE ID, a node id, ...): letters, digits, ``_.-``.
            hosts: DNS names and IP addresses the holder serves on.
            directory: where to write the files (default: the CA's directory).

        Raises:
            PkiError: an invalid name or role.
        """
        if role is Role.CA:
            raise PkiError("issue a CA with CertificateAuthority.create")
        if not re.fullmatch(NAME_PATTERN, name):
            raise PkiError(f"invalid certificate name {name!r}: use letters, digits, '_', '.', '-' (max 64)")
        identity = Identity(role, name)
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.urn)]
        for host in hosts:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt_names.append(x509.DNSName(host))
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, str(role)),
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _LEAF_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        target = directory or self.directory
        target.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = target / f"{role}-{name}.crt", target / f"{role}-{name}.key"
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return IssuedCertificate(identity=identity, cert=cert_path, key=key_path)
