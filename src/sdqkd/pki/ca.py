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
from sdqkd.pki.private import private_directory

__all__ = ["CertificateAuthority", "IssuedCertificate"]

_CA_CERT, _CA_KEY, _CRL = "ca.crt", "ca.key", "crl.pem"
_CA_VALIDITY = dt.timedelta(days=3650)
_LEAF_VALIDITY = dt.timedelta(days=825)
# A CRL past its nextUpdate makes OpenSSL refuse every peer it checks: a year, and every revocation
# re-signs it (so does CertificateAuthority.publish_crl).
_CRL_VALIDITY = dt.timedelta(days=365)
_SERVER_AUTH, _CLIENT_AUTH = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
# RFC 5280 §4.2.1.12: what each role's key may be used for. SAEs and operators only call services,
# the dashboard only serves browsers; the others both serve and call their peers.
_EXTENDED_KEY_USAGE: dict[Role, tuple[x509.ObjectIdentifier, ...]] = {
    Role.SAE: (_CLIENT_AUTH,),
    Role.OPERATOR: (_CLIENT_AUTH,),
    Role.WEB: (_SERVER_AUTH,),
    Role.KME: (_SERVER_AUTH, _CLIENT_AUTH),
    Role.AGENT: (_SERVER_AUTH, _CLIENT_AUTH),
    Role.CONTROLLER: (_SERVER_AUTH, _CLIENT_AUTH),
    Role.EMULATOR: (_SERVER_AUTH, _CLIENT_AUTH),
}
_LEAF_KEY_USAGE = x509.KeyUsage(  # ECDHE-ECDSA: the key only signs the handshake
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
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
    _replace(path, data, 0o600)


def _replace(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it): a service that reloads
    its certificate, key or CRL while it is rewritten never reads half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, mode)  # a file that already existed keeps its mode through open(): set it first
        handle.write(data)
    os.replace(temporary, path)


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
        private_directory(directory)  # it holds the CA's key: owner only, whatever the umask
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
        _replace(directory / _CA_CERT, certificate.public_bytes(serialization.Encoding.PEM))
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

    @property
    def crl_path(self) -> Path:
        """The CA's certificate revocation list (``crl.pem`` beside ``ca.crt``; absent until the
        first :meth:`revoke` or :meth:`publish_crl`)."""
        return self.directory / _CRL

    def issue(
        self,
        role: Role,
        name: str,
        hosts: Sequence[str] = _DEFAULT_HOSTS,
        directory: Path | None = None,
    ) -> IssuedCertificate:
        """Issue a certificate for ``ROLE:NAME`` (a new key; files replaced whole if they exist).

        Its extended key usage follows the role (RFC 5280 §4.2.1.12): SAEs and operators only
        authenticate as TLS clients, the dashboard (``web``) only as a server, KMEs, agents, the
        controller and the emulator as both.

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
            .add_extension(_LEAF_KEY_USAGE, critical=True)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.ExtendedKeyUsage(list(_EXTENDED_KEY_USAGE[role])), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        target = directory or self.directory
        if not target.exists():
            private_directory(target)  # it will hold a private key
        cert_path, key_path = target / f"{role}-{name}.crt", target / f"{role}-{name}.key"
        # the key first: a service reloading between the two writes sees a new key with the old
        # certificate (refused, the old context kept) rather than a new certificate it cannot use
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        _replace(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
        return IssuedCertificate(identity=identity, cert=cert_path, key=key_path)

    def rotate(
        self, identity: Identity, directory: Path | None = None, *, revoke_old: bool = False
    ) -> IssuedCertificate:
        """Re-issue ``identity``'s certificate in place: a new key and serial, the same host names.
        Services that reload their files (:class:`~sdqkd.pki.server_contexts.ServerContexts`) serve
        with it from their next connection.

        Args:
            identity: whose certificate.
            directory: where it is (default: the CA's directory).
            revoke_old: also revoke the certificate it replaces (``superseded``).

        Raises:
            PkiError: no such certificate there, or it was not issued by this CA.
        """
        target = directory or self.directory
        old = self._issued_certificate(target / f"{identity.role}-{identity.name}.crt")
        try:
            names = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:  # not one of ours (issue always writes them)
            hosts: list[str] = list(_DEFAULT_HOSTS)
        else:
            hosts = names.get_values_for_type(x509.DNSName)
            hosts += [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
        issued = self.issue(identity.role, identity.name, hosts, target)
        if revoke_old:
            self.revoke(old.serial_number, x509.ReasonFlags.superseded)
        return issued

    def revoke(
        self,
        target: Identity | int,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        directory: Path | None = None,
    ) -> int:
        """Revoke a certificate: add it to the CA's CRL (``crl.pem``, re-signed with the next CRL
        number, RFC 5280 §5.2.3). Returns the revoked serial number; revoking one twice keeps its
        first entry.

        Args:
            target: the holder (its current certificate in ``directory``) or a serial number.
            reason: RFC 5280 §5.3.1 reason code (``unspecified`` is left out of the entry, as the
                RFC asks).
            directory: where the holder's certificate is (default: the CA's directory).

        Raises:
            PkiError: no such certificate, one of another CA, or an unreadable CRL.
        """
        if isinstance(target, Identity):
            path = (directory or self.directory) / f"{target.role}-{target.name}.crt"
            serial = self._issued_certificate(path).serial_number
        else:
            serial = target
        revoked, number = self._revoked_and_number()
        if all(entry.serial_number != serial for entry in revoked):
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_now())
            if reason is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            revoked.append(entry.build())
        self._sign_crl(revoked, number + 1)
        return serial

    def publish_crl(self) -> Path:
        """Re-sign the CRL with the same entries and a new ``nextUpdate`` (creating an empty one if
        there is none): run before the old one's ``nextUpdate``, after which peers are refused.

        Raises:
            PkiError: the existing CRL cannot be read.
        """
        revoked, number = self._revoked_and_number()
        self._sign_crl(revoked, number + 1)
        return self.crl_path

    def revoked_serials(self) -> set[int]:
        """The serial numbers the CRL lists (none without a CRL)."""
        return {entry.serial_number for entry in self._revoked_and_number()[0]}

    def _issued_certificate(self, path: Path) -> x509.Certificate:
        try:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise PkiError(f"no certificate to use at {path}: {exc}") from exc
        if certificate.issuer != self.certificate.subject:
            raise PkiError(f"{path} was not issued by the CA in {self.directory}")
        return certificate

    def _revoked_and_number(self) -> tuple[list[x509.RevokedCertificate], int]:
        if not self.crl_path.exists():
            return [], 0
        try:
            crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except (OSError, ValueError, x509.ExtensionNotFound) as exc:
            raise PkiError(f"cannot read the CRL {self.crl_path}: {exc}") from exc
        if not crl.is_signature_valid(self._key.public_key()):
            raise PkiError(f"the CRL {self.crl_path} is not signed by this CA")
        return list(crl), number

    def _sign_crl(self, revoked: list[x509.RevokedCertificate], number: int) -> None:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - dt.timedelta(minutes=5))  # peers whose clocks lag a little accept it
            .next_update(now + _CRL_VALIDITY)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        for entry in revoked:
            builder = builder.add_revoked_certificate(entry)
        crl = builder.sign(self._key, hashes.SHA256())
        _replace(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
