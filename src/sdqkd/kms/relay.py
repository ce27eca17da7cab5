"""Key relay over trusted nodes: the KME↔KME message of one hop and its protection.

The message follows ETSI GS QKD 020 V1.1.1 ``POST /kmapi/v1/ext_keys`` in its synchronous mode (no
``ack_callback_url``: the answer comes when the far end has stored the keys, or the call fails):

``keys``                 [{``key_id``, ``value``}]: ``value`` is the key one-time-padded with this
                         hop's link key (base64), not the plain key 020 carries between KMEs in one
                         protected room
``initiator_sae_id``     the master SAE
``target_sae_ids``       the slave SAEs (all attached to the far end KME)
``extension_mandatory``  ``{"sdqkd_relay": {virtual_link, hop_link, source_kme_id, target_kme_id,
                         size, pad_block_ids, mac_block_id, mac}}``: a KME that does not know it
                         must refuse the request (020's rule for mandatory extensions)

and the answer is 020's ``ack_container``: ``{key_id_container: [{key_id}], ack_status: "relayed",
initiator_sae_id, target_sae_ids}``.

One hop consumes ``⌈number · size / 256⌉`` 256-bit blocks for the one-time pad (the pad blocks'
bytes in order, the unused tail of the last one discarded) plus one block for the MAC
(:mod:`sdqkd.kms.mac`: r and s, 128 bits each). The blocks are the sending KME's own ready blocks
of the hop's physical link; the receiving KME holds their copies (ETSI 014 ``dec_keys`` from its
own module, as for direct keys) and finds them by the IDs the message names. The MAC covers every
field of the message but the tag (a canonical JSON encoding), so neither the keys nor whom they are
for can be changed on the way.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.errors import KeyRequestInvalid
from sdqkd.kms.mac import MAC_KEY_BYTES, TAG_BYTES, mac_tag, mac_verify

__all__ = [
    "AckContainer",
    "ExtKeysRequest",
    "HopRefused",
    "Plaintext",
    "RelayExtension",
    "RelayHop",
    "RelayedKey",
    "blocks_per_hop",
    "new_plaintext",
    "open_hop",
    "seal_hop",
]

_MAX_KEYS = 1024


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelayedKey(_Wire):
    """One key of an ``ext_keys`` request; ``value`` is its ciphertext (base64), redacted in reprs."""

    key_id: uuid.UUID
    value: str = Field(repr=False, max_length=8192)


class RelayHop(_Wire):
    """The ``sdqkd_relay`` mandatory extension: what the receiving KME needs to open the hop."""

    virtual_link: str = Field(min_length=1, max_length=128)
    hop_link: str = Field(min_length=1)
    source_kme_id: str = Field(min_length=1)
    target_kme_id: str = Field(min_length=1)
    size: int = Field(ge=8, le=65536, description="bits per key, a multiple of 8")
    pad_block_ids: list[uuid.UUID] = Field(min_length=1, max_length=65536)
    mac_block_id: uuid.UUID
    mac: str = Field(default="", max_length=64, description="base64 of the 16-byte tag")


class RelayExtension(_Wire):
    sdqkd_relay: RelayHop


class ExtKeysRequest(_Wire):
    """ETSI GS QKD 020 ``ext_key_container`` (synchronous mode) with the relay extension."""

    keys: list[RelayedKey] = Field(min_length=1, max_length=_MAX_KEYS)
    initiator_sae_id: str = Field(min_length=1, max_length=64)
    target_sae_ids: list[str] = Field(min_length=1, max_length=64)
    extension_mandatory: RelayExtension

    @property
    def hop(self) -> RelayHop:
        return self.extension_mandatory.sdqkd_relay


class AckKeyId(_Wire):
    key_id: uuid.UUID


class AckContainer(_Wire):
    """ETSI GS QKD 020 ``ack_container``: the far end stored these keys."""

    key_id_container: list[AckKeyId]
    ack_status: Literal["relayed"] = "relayed"
    initiator_sae_id: str
    target_sae_ids: list[str]


def blocks_per_hop(number: int, size_bits: int) -> int:
    """256-bit link-key blocks one hop consumes for ``number`` keys of ``size_bits``: the pad, and
    one block for the MAC."""
    return -(-number * size_bits // 256) + 1


def _authenticated_bytes(request: ExtKeysRequest) -> bytes:
    """Everything the MAC covers: the request without its tag, as canonical JSON."""
    data: dict[str, Any] = request.model_dump(mode="json")
    data["extension_mandatory"]["sdqkd_relay"]["mac"] = ""
    return b"sdqkd-relay-v1\x00" + json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _xor(a: bytes | bytearray, b: bytes | bytearray) -> bytearray:
    n = len(a)
    return bytearray((int.from_bytes(a, "little") ^ int.from_bytes(b[:n], "little")).to_bytes(n, "little"))


@dataclass
class Plaintext:
    """Key bytes in transit through a KME: one buffer, zeroed by :meth:`wipe` (Python keeps no
    other copy of a ``bytearray`` it mutates in place). Redacted in reprs."""

    key_ids: list[uuid.UUID]
    size_bits: int
    buffer: bytearray = field(repr=False)

    def split(self) -> list[tuple[uuid.UUID, bytes]]:
        step = self.size_bits // 8
        return [(k, bytes(self.buffer[i * step : (i + 1) * step])) for i, k in enumerate(self.key_ids)]

    def wipe(self) -> None:
        self.buffer[:] = bytes(len(self.buffer))


def seal_hop(
    plaintext: Plaintext,
    blocks: Sequence[tuple[uuid.UUID, bytes]],
    *,
    virtual_link: str,
    hop_link: str,
    source_kme_id: str,
    target_kme_id: str,
    initiator_sae_id: str,
    target_sae_ids: Sequence[str],
) -> ExtKeysRequest:
    """The ``ext_keys`` request carrying ``plaintext`` over one hop, one-time-padded and
    authenticated with ``blocks`` (:func:`blocks_per_hop` of them: pad blocks, then the MAC block)."""
    if len(blocks) != blocks_per_hop(len(plaintext.key_ids), plaintext.size_bits):
        raise ValueError("wrong number of link-key blocks for this hop")
    pads, (mac_block_id, mac_key) = blocks[:-1], blocks[-1]
    cipher = _xor(plaintext.buffer, b"".join(material for _, material in pads))
    step = plaintext.size_bits // 8
    unsigned = ExtKeysRequest(
        keys=[
            RelayedKey(key_id=key_id, value=base64.b64encode(cipher[i * step : (i + 1) * step]).decode())
            for i, key_id in enumerate(plaintext.key_ids)
        ],
        initiator_sae_id=initiator_sae_id,
        target_sae_ids=list(target_sae_ids),
        extension_mandatory=RelayExtension(
            sdqkd_relay=RelayHop(
                virtual_link=virtual_link,
                hop_link=hop_link,
                source_kme_id=source_kme_id,
                target_kme_id=target_kme_id,
                size=plaintext.size_bits,
                pad_block_ids=[block_id for block_id, _ in pads],
                mac_block_id=mac_block_id,
            )
        ),
    )
    tag = mac_tag(mac_key[:MAC_KEY_BYTES], _authenticated_bytes(unsigned))
    hop = unsigned.hop.model_copy(update={"mac": base64.b64encode(tag).decode()})
    return unsigned.model_copy(update={"extension_mandatory": RelayExtension(sdqkd_relay=hop)})


class HopRefused(KeyRequestInvalid):
    """A hop message that does not open: malformed, or its MAC does not verify.

    A refusal of the message (400 to the KME that sent it), not an unavailability: sending the same
    message again cannot succeed, and the link-key blocks it names are spent."""


def open_hop(request: ExtKeysRequest, pads: Sequence[bytes], mac_key: bytes) -> Plaintext:
    """Verify ``request``'s MAC and remove the one-time pad.

    Args:
        request: the hop's message.
        pads: the pad blocks' bytes, in the order the message names them.
        mac_key: the MAC block's bytes.

    Raises:
        HopRefused: the MAC does not verify or the message is inconsistent.
    """
    hop = request.hop
    if hop.size % 8 or len(pads) != blocks_per_hop(len(request.keys), hop.size) - 1:
        raise HopRefused("the message's sizes and blocks do not match")
    try:
        tag = base64.b64decode(hop.mac, validate=True)
        values = [base64.b64decode(key.value, validate=True) for key in request.keys]
    except ValueError as exc:
        raise HopRefused("not base64") from exc
    if len(tag) != TAG_BYTES or not mac_verify(mac_key[:MAC_KEY_BYTES], _authenticated_bytes(request), tag):
        raise HopRefused("message authentication failed")
    if any(len(value) != hop.size // 8 for value in values):
        raise HopRefused("a key's length is not the message's size")
    buffer = _xor(b"".join(values), b"".join(pads))
    return Plaintext(key_ids=[key.key_id for key in request.keys], size_bits=hop.size, buffer=buffer)


def new_plaintext(key_ids: list[uuid.UUID], size_bits: int, material: bytes) -> Plaintext:
    return Plaintext(key_ids=key_ids, size_bits=size_bits, buffer=bytearray(material))
