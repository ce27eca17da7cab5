"""The key store of the ``protocol`` engine: two byte streams, one per end of the pipeline; a take
hands out the side's own bytes and queues the other side's bytes at the same positions for the
peer, all or nothing, never more than both streams hold."""

from __future__ import annotations

import numpy as np
import pytest

from sdqkd.emulator.block_keys import BlockKeys
from sdqkd.errors import KeyExhausted, KeyServiceUnavailable, Unauthorized

TX, RX = "concepcion-tx", "norte-rx"
TX_NODE, RX_NODE = "concepcion", "norte"


def bits(seed: int, size: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size, dtype=np.uint8)


def stocked(alice: np.ndarray, bob: np.ndarray, capacity_bits: int = 1 << 20) -> BlockKeys:
    keys = BlockKeys((TX, RX), capacity_bits=capacity_bits)
    keys.deliver(alice, bob)
    return keys


def test_equal_blocks_give_equal_keys_at_both_ends_from_the_two_streams() -> None:
    block = bits(1, 4096)
    keys = stocked(block, block.copy())

    taken = keys.take(TX, TX_NODE, 4, 256)
    claimed = keys.claim(RX, TX_NODE, [key_id for key_id, _ in taken])

    assert claimed == taken
    assert b"".join(material for _, material in taken) == np.packbits(block[: 4 * 256]).tobytes()


def test_each_side_gets_its_own_stream_and_the_peer_the_same_positions_of_the_other() -> None:
    alice, bob = bits(1, 2048), bits(2, 2048)  # reconciliation did not make them equal
    keys = stocked(alice, bob)

    from_tx = keys.take(TX, TX_NODE, 1, 512)
    from_rx = keys.take(RX, RX_NODE, 1, 512)
    at_rx = keys.claim(RX, TX_NODE, [from_tx[0][0]])
    at_tx = keys.claim(TX, RX_NODE, [from_rx[0][0]])

    alice_bytes, bob_bytes = np.packbits(alice).tobytes(), np.packbits(bob).tobytes()
    assert from_tx[0][1] == alice_bytes[:64]
    assert at_rx[0][1] == bob_bytes[:64]
    assert from_rx[0][1] == bob_bytes[64:128]
    assert at_tx[0][1] == alice_bytes[64:128]


def test_keys_cross_block_boundaries_in_order() -> None:
    first, second = bits(1, 800), bits(2, 800)  # 100 bytes each
    keys = stocked(first, first)
    keys.deliver(second, second)

    taken = keys.take(TX, TX_NODE, 3, 512)  # 64 bytes each: the second spans both blocks

    joined = np.packbits(np.concatenate([first, second])).tobytes()
    assert b"".join(material for _, material in taken) == joined[:192]
    assert keys.available_bits == (200 - 192) * 8


def test_a_take_is_all_or_nothing_and_never_more_than_the_streams_hold() -> None:
    keys = stocked(bits(1, 1000), bits(1, 1000))  # 125 whole bytes; 0 bits dropped

    with pytest.raises(KeyExhausted):
        keys.take(TX, TX_NODE, 4, 256)  # 128 bytes asked

    assert keys.available_bits == 1000
    assert keys.waiting(RX) == 0
    assert len(keys.take(TX, TX_NODE, 3, 256)) == 3
    with pytest.raises(KeyExhausted):
        keys.take(RX, RX_NODE, 1, 256)
    assert keys.stored_keys(64) == 3  # 29 bytes left


def test_bits_past_a_blocks_last_whole_byte_are_dropped() -> None:
    keys = BlockKeys((TX, RX), capacity_bits=1 << 20)

    assert keys.deliver(bits(1, 1003), bits(1, 1003)) == 1000
    assert keys.deliver(bits(1, 7), bits(1, 7)) == 0
    assert keys.available_bits == 1000


def test_the_buffer_keeps_at_most_its_capacity() -> None:
    keys = BlockKeys((TX, RX), capacity_bits=1024)

    assert keys.deliver(bits(1, 800), bits(1, 800)) == 800
    assert keys.deliver(bits(2, 800), bits(2, 800)) == 224
    assert keys.full
    assert keys.deliver(bits(3, 800), bits(3, 800)) == 0


def test_the_two_keys_of_a_block_must_have_the_same_length() -> None:
    keys = BlockKeys((TX, RX), capacity_bits=1 << 20)

    with pytest.raises(ValueError, match="same length"):
        keys.deliver(bits(1, 800), bits(1, 808))


def test_a_claimed_key_is_delivered_once_and_only_to_its_master() -> None:
    block = bits(1, 4096)
    keys = stocked(block, block)
    (key_id, _), *_ = keys.take(TX, TX_NODE, 1, 256)

    with pytest.raises(Unauthorized):
        keys.claim(RX, "quintin", [key_id])
    keys.claim(RX, TX_NODE, [key_id])
    with pytest.raises(Unauthorized):
        keys.claim(RX, TX_NODE, [key_id])
    assert keys.delivered_keys == 1


def test_the_pending_limit_holds_and_leaves_the_streams_as_they_were() -> None:
    block = bits(1, 4096)
    keys = BlockKeys((TX, RX), capacity_bits=1 << 20, max_pending_keys=2)
    keys.deliver(block, block)
    keys.take(TX, TX_NODE, 2, 256)

    with pytest.raises(KeyServiceUnavailable):
        keys.take(TX, TX_NODE, 1, 256)
    assert keys.available_bits == 4096 - 512


def test_unclaimed_keys_expire_and_clear_wipes_everything() -> None:
    block = bits(1, 4096)
    keys = BlockKeys((TX, RX), capacity_bits=1 << 20, pending_ttl_s=10.0)
    keys.deliver(block, block)
    keys.take(TX, TX_NODE, 2, 256)

    assert keys.expire(now_s=1e12) == 2
    assert keys.waiting(RX) == 0
    keys.take(TX, TX_NODE, 1, 256)
    keys.clear()
    assert keys.available_bits == 0
    assert keys.waiting(RX) == 0
    with pytest.raises(KeyExhausted):
        keys.take(TX, TX_NODE, 1, 64)
