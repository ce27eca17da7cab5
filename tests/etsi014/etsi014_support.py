"""Test support for the ETSI GS QKD 014 tests (imported by the conftest and the tests): an in-memory
:class:`KeyService`, the session's certificates, and an ASGI middleware that presents a client
certificate to the app through the ASGI TLS extension exactly as uvicorn (``sdqkd.server``) does."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from asgi_support import CallAs as CallAs  # shared with the other in-process tests; re-exported
from asgi_support import WithClientCertificate as WithClientCertificate
from sdqkd.errors import KeyRequestInvalid, Unauthorized
from sdqkd.etsi014 import Key, KeyContainer, KeyIds, KeyRequest, Status, encode_key
from sdqkd.pki import CertificateAuthority, Identity, IssuedCertificate, Role

BASE_URL = "http://kme-1.test"
KEYS = "/api/v1/keys"


class FakeKeyService:
    """An in-memory KeyService: deterministic keys, each delivered once to its slave SAE.

    Limits (bits): default 256, 64..1024, at most 16 keys per request, no extensions, no additional
    slave SAEs. ``fail_with``: an exception every call raises (to test the error mapping).
    """

    KEY_SIZE, MIN_KEY_SIZE, MAX_KEY_SIZE, MAX_KEY_PER_REQUEST = 256, 64, 1024, 16

    def __init__(self) -> None:
        self._rng = random.Random(20240611)
        self._issued: dict[UUID, tuple[str, str, bytes]] = {}  # key ID → (master, slave, key)
        self.fail_with: Exception | None = None
        self.calls: list[tuple[str, Identity, str, Any]] = []

    def _enter(self, operation: str, caller: Identity, sae_id: str, argument: Any) -> None:
        self.calls.append((operation, caller, sae_id, argument))
        if self.fail_with is not None:
            raise self.fail_with

    async def status(self, caller: Identity, slave_sae_id: str) -> Status:
        self._enter("status", caller, slave_sae_id, None)
        return Status(
            source_kme_id="kme-1",
            target_kme_id="kme-2",
            master_sae_id=caller.name,
            slave_sae_id=slave_sae_id,
            key_size=self.KEY_SIZE,
            stored_key_count=500,
            max_key_count=1000,
            max_key_per_request=self.MAX_KEY_PER_REQUEST,
            max_key_size=self.MAX_KEY_SIZE,
            min_key_size=self.MIN_KEY_SIZE,
            max_sae_id_count=0,
        )

    async def enc_keys(self, caller: Identity, slave_sae_id: str, request: KeyRequest) -> KeyContainer:
        self._enter("enc_keys", caller, slave_sae_id, request)
        if request.extension_mandatory:
            names = sorted(name for extension in request.extension_mandatory for name in extension)
            details = [{"extension_mandatory": names}]
            raise KeyRequestInvalid("unsupported mandatory extension", details=details)
        number, size = request.number or 1, request.size or self.KEY_SIZE
        if not self.MIN_KEY_SIZE <= size <= self.MAX_KEY_SIZE:
            raise KeyRequestInvalid(
                f"size {size} outside {self.MIN_KEY_SIZE}..{self.MAX_KEY_SIZE} bits",
                details=[{"min_key_size": self.MIN_KEY_SIZE, "max_key_size": self.MAX_KEY_SIZE}],
            )
        if number > self.MAX_KEY_PER_REQUEST:
            details = [{"max_key_per_request": self.MAX_KEY_PER_REQUEST}]
            raise KeyRequestInvalid(f"at most {self.MAX_KEY_PER_REQUEST} keys per request", details=details)
        keys = []
        for _ in range(number):
            key_id, material = UUID(int=self._rng.getrandbits(128), version=4), self._rng.randbytes(size // 8)
            self._issued[key_id] = (caller.name, slave_sae_id, material)
            keys.append(Key(key_id=key_id, key=encode_key(material)))
        return KeyContainer(keys=keys)

    async def dec_keys(self, caller: Identity, master_sae_id: str, key_ids: KeyIds) -> KeyContainer:
        self._enter("dec_keys", caller, master_sae_id, key_ids)
        wanted = [entry.key_id for entry in key_ids.key_ids]
        owners = [self._issued[key_id][:2] if key_id in self._issued else None for key_id in wanted]
        # the same answer whether a key is unknown or another SAE's: 401 reveals nothing more
        if any(owner != (master_sae_id, caller.name) for owner in owners):
            raise Unauthorized("not authorised for these keys")
        return KeyContainer(
            keys=[Key(key_id=key_id, key=encode_key(self._issued.pop(key_id)[2])) for key_id in wanted]
        )


@dataclass(frozen=True)
class Pki:
    """The session's certificates. ``no_identity`` is signed by the CA but carries no sdqkd URN;
    ``foreign_ca`` is another CA, ``foreign_sae`` an SAE certificate it issued."""

    ca: CertificateAuthority
    kme: IssuedCertificate
    sae_a: IssuedCertificate
    sae_b: IssuedCertificate
    kme_2: IssuedCertificate
    operator: IssuedCertificate
    no_identity: IssuedCertificate
    foreign_ca: CertificateAuthority
    foreign_sae: IssuedCertificate


def certificate_without_identity(ca: CertificateAuthority, directory: Path) -> IssuedCertificate:
    """A client certificate of ``ca`` with a CN and a DNS name but no ``urn:sdqkd:`` URI."""
    ca_key = serialization.load_pem_private_key((ca.directory / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sae-anonymous")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("sae-anonymous.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "no-identity.crt", directory / "no-identity.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # The identity field is only a label here: the certificate itself carries none.
    return IssuedCertificate(identity=Identity(Role.SAE, "sae-anonymous"), cert=cert_path, key=key_path)


def assert_error(response: httpx.Response, status_code: int, *, with_details: bool | None = None) -> Any:
    """``response`` is a §6.5 Error with ``status_code``, not cacheable; returns its body."""
    assert response.status_code == status_code
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) <= {"message", "details"}
    assert isinstance(body["message"], str)
    assert body["message"]
    if with_details is not None:
        assert ("details" in body) is with_details
    if "details" in body:
        assert isinstance(body["details"], list)
        assert body["details"]
        assert all(isinstance(detail, dict) for detail in body["details"])
    return body
