"""The OPoT data path's datagram: the OPoT metadata of :mod:`sdqkd.apps.opot` in front of the payload.

One UDP datagram per packet, all integers big-endian (docs/apps.md, "Ordered Proof of Transit")::

    version (1) | flags (1) | seq (8) | key ID (16) | masked RND (8) | masked CML (8) | payload (0..65 465)

- ``version`` is 1; a datagram of another version is refused (not guessed at).
- ``flags`` are all reserved and 0 in version 1; a datagram with a flag set is refused, so that a later
  version can give them a meaning that an old node does not silently ignore.
- ``seq`` is the packet's sequence number, set by the ingress: the masks are derived from it and the
  anti-replay windows of the nodes keep track of it.
- ``key ID`` is the ETSI GS QKD 014 key ID (a UUID, its 16 bytes) of the QKD key that masks the hop the
  datagram is on: the downstream node of the hop fetches that key with ``dec_keys``.
- ``masked RND`` and ``masked CML`` are the :class:`~sdqkd.apps.opot.PotField` values as they travel.

The whole datagram is at most 65 507 bytes (the largest UDP payload over IPv4), so the payload is at
most 65 507 − 42 = 65 465 bytes.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Final

from sdqkd.errors import OpotError
from sdqkd.opot import PotField

__all__ = ["HEADER", "MAX_DATAGRAM", "MAX_PAYLOAD", "VERSION", "OpotPacket", "decode", "encode"]

VERSION: Final = 1
HEADER: Final = struct.Struct(">BBQ16sQQ")
"""version, flags, seq, key ID, masked RND, masked CML: 42 bytes."""
MAX_DATAGRAM: Final = 65_507
MAX_PAYLOAD: Final = MAX_DATAGRAM - HEADER.size
_KNOWN_FLAGS: Final = 0


@dataclass(frozen=True)
class OpotPacket:
    """One datagram of the data path: the hop's key ID, the masked OPoT field and the payload."""

    key_id: uuid.UUID
    pot: PotField
    payload: bytes

    def __post_init__(self) -> None:
        if len(self.payload) > MAX_PAYLOAD:
            raise OpotError(f"a payload of {len(self.payload)} bytes is over {MAX_PAYLOAD}")


def encode(packet: OpotPacket) -> bytes:
    """The datagram of ``packet``."""
    pot = packet.pot
    return HEADER.pack(VERSION, 0, pot.seq, packet.key_id.bytes, pot.rnd, pot.cml) + packet.payload


def decode(datagram: bytes) -> OpotPacket:
    """The packet a datagram carries.

    Raises:
        OpotError: shorter than the header, longer than :data:`MAX_DATAGRAM`, another version, or a
            reserved flag set.
    """
    if not HEADER.size <= len(datagram) <= MAX_DATAGRAM:
        raise OpotError(f"a datagram of {len(datagram)} bytes is outside {HEADER.size}..{MAX_DATAGRAM}")
    version, flags, seq, key_id, rnd, cml = HEADER.unpack_from(datagram)
    if version != VERSION:
        raise OpotError(f"OPoT version {version}, not {VERSION}")
    if flags & ~_KNOWN_FLAGS:
        raise OpotError(f"reserved flags set: {flags:#04x}")
    return OpotPacket(uuid.UUID(bytes=key_id), PotField(seq, rnd, cml), datagram[HEADER.size :])
