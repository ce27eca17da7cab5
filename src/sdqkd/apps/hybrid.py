"""Hybrid key establishment: two applications (SAEs at two nodes) agree a key from a QKD key, an X25519
exchange and an ML-KEM-768 encapsulation, combined with CatKDF (ETSI TS 103 744 §8.2,
:func:`sdqkd.apps.kdf.cat_kdf`). The key is secret as long as any one of the three is.

The exchange, over any reliable byte stream (frames: a 4-byte big-endian length, then canonical JSON
with binary fields in base64; docs/apps.md)::

    initiator (A)                                               responder (B)
    enc_keys(B) at A's KME → (key ID, QKD key)
    HELLO   {v, type, initiator, responder, key_id, x25519, mlkem_ek, nonce}  ─▶   (MA: its bytes)
                                                                  dec_keys(A, key ID) at B's KME
                                                                  X25519, ML-KEM encapsulate(ek)
           ◀─  REPLY {v, type, x25519, mlkem_ct, nonce}   (MB: its bytes)
           ◀─  CONFIRM {type, mac}  HMAC(kc, "responder")
    CONFIRM {type, mac}  HMAC(kc, "initiator")  ─▶

Both sides compute ``cat_kdf(psk=QKD key, k1=X25519 secret, k2=ML-KEM secret, info, ma=HELLO, mb=REPLY,
label, 64)``: the first 32 bytes are the session key, the last 32 the confirmation key ``kc``. The
context binds both messages, so a changed byte anywhere gives other keys and the confirmation fails.
A QKD key ID is used once: the responder's KME delivers a key to its slave once (a second ``dec_keys``
is 401), and the initiator always asks a new one.

:class:`Initiator` and :class:`Responder` are the protocol without I/O; :func:`initiate` and
:func:`respond` run it over asyncio streams with an ETSI 014 client at each side's KME.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import struct
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sdqkd.apps.kdf import cat_kdf
from sdqkd.errors import HybridKeyError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.etsi014.client import Etsi014ClientError

__all__ = [
    "ALGORITHMS",
    "MAX_FRAME",
    "HybridKey",
    "Initiator",
    "Responder",
    "initiate",
    "read_frame",
    "respond",
    "write_frame",
]

VERSION = 1
INFO = b"sdqkd hybrid key establishment v1"
LABEL = b"sdqkd-hybrid"
KEY_BYTES = 32
ALGORITHMS = ("QKD (ETSI GS QKD 014)", "X25519", "ML-KEM-768", "CatKDF-HKDF-SHA256 (ETSI TS 103 744)")
MAX_FRAME = 16_384
"""The largest frame either side accepts (HELLO with its 1184-byte ML-KEM key is about 2 KiB)."""

_X25519_BYTES = 32
_MLKEM_EK_BYTES = 1184
_MLKEM_CT_BYTES = 1088
_NONCE_BYTES = 32


@dataclass(frozen=True)
class HybridKey:
    """The agreed key and what it was made of.

    Attributes:
        key: 32 bytes, secret if the QKD key, the X25519 exchange or ML-KEM-768 is.
        key_id: the ETSI 014 key ID of the QKD key used (once).
        initiator, responder: the two SAE IDs.
    """

    key: bytes
    key_id: uuid.UUID
    initiator: str
    responder: str

    @property
    def fingerprint(self) -> str:
        """A short name of the key both sides can compare aloud (an HMAC of a fixed string under it:
        it says nothing of the key)."""
        digest = hmac.new(self.key, b"sdqkd hybrid fingerprint", hashlib.sha256).hexdigest()
        return ":".join(digest[i : i + 4] for i in range(0, 16, 4))

    @property
    def algorithms(self) -> tuple[str, ...]:
        return ALGORITHMS

    def __repr__(self) -> str:  # never the key
        return f"HybridKey(key_id={self.key_id}, fingerprint={self.fingerprint})"


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode(frame: bytes, kind: str) -> dict[str, Any]:
    try:
        message = json.loads(frame)
    except ValueError:
        raise HybridKeyError(f"the {kind} is not JSON") from None
    if not isinstance(message, dict):
        raise HybridKeyError(f"the {kind} is not a JSON object")
    if message.get("type") == "error":
        raise HybridKeyError(f"the peer gave up: {str(message.get('message'))[:200]}")
    if message.get("type") != kind:
        raise HybridKeyError(f"expected a {kind}, got {str(message.get('type'))[:40]!r}")
    return message


def _binary(message: dict[str, Any], name: str, size: int, kind: str) -> bytes:
    value = message.get(name)
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except ValueError:
        data = None
    if data is None or len(data) != size:
        raise HybridKeyError(f"the {kind}'s {name} is not {size} bytes of base64")
    return data


def _derive(qkd_key: bytes, k1: bytes, k2: bytes, hello: bytes, reply: bytes) -> tuple[bytes, bytes]:
    derived = cat_kdf(qkd_key, k1, k2, info=INFO, ma=hello, mb=reply, label=LABEL, length=2 * KEY_BYTES)
    return derived[:KEY_BYTES], derived[KEY_BYTES:]


def _mac(kc: bytes, role: str) -> str:
    return _b64(hmac.new(kc, f"sdqkd hybrid confirm {role}".encode(), hashlib.sha256).digest())


def _check_mac(kc: bytes, role: str, message: dict[str, Any]) -> None:
    if not hmac.compare_digest(str(message.get("mac", "")), _mac(kc, role)):
        raise HybridKeyError(
            f"the {role}'s confirmation does not match: not the same key (tampered or wrong QKD key)"
        )


class Initiator:
    """The side that asks its KME for the QKD key (``enc_keys``) and opens the exchange.

    Args:
        me, peer: the two SAE IDs.
        key_id, qkd_key: the key ``enc_keys`` gave ``me`` for ``peer``.
    """

    def __init__(self, me: str, peer: str, key_id: uuid.UUID, qkd_key: bytes) -> None:
        self.me, self.peer, self.key_id = me, peer, key_id
        self._qkd_key = qkd_key
        self._x25519 = X25519PrivateKey.generate()
        self._mlkem = MLKEM768PrivateKey.generate()
        self.hello = _encode(
            {
                "v": VERSION,
                "type": "hello",
                "initiator": me,
                "responder": peer,
                "key_id": str(key_id),
                "x25519": _b64(self._x25519.public_key().public_bytes_raw()),
                "mlkem_ek": _b64(self._mlkem.public_key().public_bytes_raw()),
                "nonce": _b64(secrets.token_bytes(_NONCE_BYTES)),
            }
        )
        self._kc: bytes | None = None
        self._key: bytes | None = None

    def receive_reply(self, reply: bytes) -> None:
        """Take the responder's REPLY (its bytes as received: MB)."""
        message = _decode(reply, "reply")
        peer_x25519 = X25519PublicKey.from_public_bytes(_binary(message, "x25519", _X25519_BYTES, "reply"))
        ciphertext = _binary(message, "mlkem_ct", _MLKEM_CT_BYTES, "reply")
        try:
            k1 = self._x25519.exchange(peer_x25519)
            k2 = self._mlkem.decapsulate(ciphertext)
        except ValueError as exc:
            raise HybridKeyError(f"the reply's public values are unusable: {exc}") from None
        self._key, self._kc = _derive(self._qkd_key, k1, k2, self.hello, reply)

    def confirm(self, responder_confirm: bytes) -> tuple[bytes, HybridKey]:
        """Check the responder's CONFIRM; this side's CONFIRM and the key.

        Raises:
            HybridKeyError: not the same key at both sides.
        """
        if self._kc is None or self._key is None:
            raise HybridKeyError("no reply received yet")
        _check_mac(self._kc, "responder", _decode(responder_confirm, "confirm"))
        mine = _encode({"type": "confirm", "mac": _mac(self._kc, "initiator")})
        return mine, HybridKey(self._key, self.key_id, self.me, self.peer)


class Responder:
    """The side that gets the QKD key by its ID (``dec_keys``) and answers.

    Args:
        me: this side's SAE ID.
    """

    def __init__(self, me: str) -> None:
        self.me = me
        self._kc: bytes | None = None
        self._key: bytes | None = None
        self.key_id: uuid.UUID | None = None
        self.peer: str | None = None

    def receive_hello(self, hello: bytes) -> tuple[str, uuid.UUID]:
        """Read the HELLO: who opens the exchange, and the QKD key ID to fetch.

        Raises:
            HybridKeyError: not a HELLO for this SAE.
        """
        message = _decode(hello, "hello")
        if message.get("v") != VERSION:
            raise HybridKeyError(f"protocol version {str(message.get('v'))[:20]!r} is not {VERSION}")
        if message.get("responder") != self.me:
            raise HybridKeyError(f"the hello is for {str(message.get('responder'))[:80]!r}, not {self.me!r}")
        initiator = message.get("initiator")
        if not isinstance(initiator, str) or not initiator:
            raise HybridKeyError("the hello names no initiator")
        try:
            key_id = uuid.UUID(str(message.get("key_id")))
        except ValueError:
            raise HybridKeyError("the hello's key_id is not a UUID") from None
        self._hello = hello
        self._peer_x25519 = _binary(message, "x25519", _X25519_BYTES, "hello")
        self._peer_ek = _binary(message, "mlkem_ek", _MLKEM_EK_BYTES, "hello")
        self.peer, self.key_id = initiator, key_id
        return initiator, key_id

    def reply(self, qkd_key: bytes) -> tuple[bytes, bytes]:
        """With the QKD key of the HELLO's key ID: this side's REPLY and CONFIRM."""
        x25519 = X25519PrivateKey.generate()
        try:
            k1 = x25519.exchange(X25519PublicKey.from_public_bytes(self._peer_x25519))
            k2, ciphertext = MLKEM768PublicKey.from_public_bytes(self._peer_ek).encapsulate()
        except ValueError as exc:
            raise HybridKeyError(f"the hello's public values are unusable: {exc}") from None
        reply = _encode(
            {
                "v": VERSION,
                "type": "reply",
                "x25519": _b64(x25519.public_key().public_bytes_raw()),
                "mlkem_ct": _b64(ciphertext),
                "nonce": _b64(secrets.token_bytes(_NONCE_BYTES)),
            }
        )
        self._key, self._kc = _derive(qkd_key, k1, k2, self._hello, reply)
        return reply, _encode({"type": "confirm", "mac": _mac(self._kc, "responder")})

    def finish(self, initiator_confirm: bytes) -> HybridKey:
        """Check the initiator's CONFIRM; the key.

        Raises:
            HybridKeyError: not the same key at both sides.
        """
        if self._kc is None or self._key is None or self.key_id is None or self.peer is None:
            raise HybridKeyError("no hello answered yet")
        _check_mac(self._kc, "initiator", _decode(initiator_confirm, "confirm"))
        return HybridKey(self._key, self.key_id, self.peer, self.me)


# Over a stream ------------------------------------------------------------------------------------------


async def write_frame(writer: asyncio.StreamWriter, frame: bytes) -> None:
    writer.write(struct.pack(">I", len(frame)) + frame)
    await writer.drain()


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One frame (raises :class:`HybridKeyError` on a closed stream or a frame over :data:`MAX_FRAME`)."""
    try:
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        if size > MAX_FRAME:
            raise HybridKeyError(f"a frame of {size} bytes is over the limit of {MAX_FRAME}")
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise HybridKeyError("the peer closed the connection") from None


async def _give_up(writer: asyncio.StreamWriter, error: Exception) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        await write_frame(writer, _encode({"type": "error", "message": str(error)[:200]}))


async def initiate(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kme: Etsi014Client, me: str, peer: str
) -> HybridKey:
    """Agree a key with ``peer`` as the initiator (a new QKD key from ``kme``, this side's KME).

    Raises:
        HybridKeyError: the exchange failed (the peer refused, a check failed, the stream closed).
        Etsi014ClientError: the KME gave no key.
    """
    container = await kme.enc_keys(peer, number=1, size=8 * KEY_BYTES)
    (qkd,) = container.keys
    side = Initiator(me, peer, qkd.key_id, qkd.material())
    await write_frame(writer, side.hello)
    try:
        side.receive_reply(await read_frame(reader))
        mine, key = side.confirm(await read_frame(reader))
    except HybridKeyError as exc:
        await _give_up(writer, exc)
        raise
    await write_frame(writer, mine)
    return key


async def respond(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kme: Etsi014Client, me: str
) -> HybridKey:
    """Agree a key as the responder (the QKD key by its ID from ``kme``, this side's KME).

    Raises:
        HybridKeyError: the exchange failed; the initiator is told why.
    """
    side = Responder(me)
    try:
        initiator, key_id = side.receive_hello(await read_frame(reader))
        try:
            container = await kme.dec_keys(initiator, [key_id])
        except Etsi014ClientError as exc:
            raise HybridKeyError(f"QKD key {key_id} from {initiator!r} not delivered: {exc}") from None
        (qkd,) = container.keys
        reply, confirm = side.reply(qkd.material())
        await write_frame(writer, reply)
        await write_frame(writer, confirm)
        return side.finish(await read_frame(reader))
    except HybridKeyError as exc:
        await _give_up(writer, exc)
        raise
