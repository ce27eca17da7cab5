"""The relay's Wegman–Carter MAC and the sealing of one hop: what verifies, and what does not."""

from __future__ import annotations

import base64
import secrets
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdqkd.kms.mac import P, mac_tag, mac_verify, poly_hash
from sdqkd.kms.relay import ExtKeysRequest, HopRefused, blocks_per_hop, new_plaintext, open_hop, seal_hop


def naive_hash(r: int, message: bytes) -> int:
    """h_r(m) = Σ c_i r^(L−i+1) mod p, term by term (an independent formulation of Horner's rule)."""
    chunks = [message[i : i + 15] + b"\x01" for i in range(0, len(message), 15)]
    return sum(int.from_bytes(c, "little") * pow(r, len(chunks) - i, P) for i, c in enumerate(chunks)) % P


@given(st.integers(min_value=0, max_value=P - 1), st.binary(max_size=200))
def test_the_polynomial_hash_is_the_sum_of_its_terms(r: int, message: bytes) -> None:
    assert poly_hash(r, message) == naive_hash(r, message)


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300))
def test_a_tag_verifies_under_its_key(key: bytes, message: bytes) -> None:
    assert mac_verify(key, message, mac_tag(key, message))


@given(st.binary(min_size=1, max_size=300), st.data())
def test_a_flipped_bit_or_a_changed_length_fails(message: bytes, data: st.DataObject) -> None:
    key = secrets.token_bytes(32)
    tag = mac_tag(key, message)
    bit = data.draw(st.integers(min_value=0, max_value=8 * len(message) - 1))
    flipped = bytearray(message)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert not mac_verify(key, bytes(flipped), tag)
    assert not mac_verify(key, message + b"\x00", tag)
    assert not mac_verify(key, message[:-1], tag)


def test_the_same_message_gets_unrelated_tags_under_fresh_keys() -> None:
    tags = {mac_tag(secrets.token_bytes(32), b"the same message") for _ in range(64)}
    assert len(tags) == 64


def test_mac_keys_have_one_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        mac_tag(b"short", b"m")


def _sealed(
    number: int = 3, size_bits: int = 264
) -> tuple[ExtKeysRequest, bytes, list[tuple[uuid.UUID, bytes]]]:
    material = secrets.token_bytes(number * size_bits // 8)
    plaintext = new_plaintext([uuid.uuid4() for _ in range(number)], size_bits, material)
    blocks = [(uuid.uuid4(), secrets.token_bytes(32)) for _ in range(blocks_per_hop(number, size_bits))]
    request = seal_hop(
        plaintext, blocks, virtual_link="v", hop_link="l", source_kme_id="a", target_kme_id="c",
        initiator_sae_id="a-app", target_sae_ids=["c-app"],
    )  # fmt: skip
    return request, material, blocks


def test_a_sealed_hop_opens_with_the_same_blocks_and_names_them() -> None:
    request, material, blocks = _sealed()
    assert request.hop.pad_block_ids == [b for b, _ in blocks[:-1]]
    assert request.hop.mac_block_id == blocks[-1][0]
    assert material not in base64.b64decode(request.keys[0].value) + repr(request).encode()
    opened = open_hop(request, [m for _, m in blocks[:-1]], blocks[-1][1])
    assert b"".join(m for _, m in opened.split()) == material
    assert "buffer" not in repr(opened)
    opened.wipe()
    assert not any(opened.buffer)


@pytest.mark.parametrize("change", ["value", "target", "size", "mac"])
def test_a_hop_changed_on_the_way_does_not_open(change: str) -> None:
    request, _, blocks = _sealed()
    hop = request.hop
    if change == "value":
        first = request.keys[0]
        value = bytearray(base64.b64decode(first.value))
        value[0] ^= 1
        keys = [first.model_copy(update={"value": base64.b64encode(value).decode()}), *request.keys[1:]]
        tampered = request.model_copy(update={"keys": keys})
    elif change == "target":
        tampered = request.model_copy(update={"target_sae_ids": ["eve"]})
    else:
        new = {"size": 256} if change == "size" else {"mac": base64.b64encode(bytes(16)).decode()}
        extension = request.extension_mandatory.model_copy(update={"sdqkd_relay": hop.model_copy(update=new)})
        tampered = request.model_copy(update={"extension_mandatory": extension})
    with pytest.raises(HopRefused):
        open_hop(tampered, [m for _, m in blocks[:-1]], blocks[-1][1])
