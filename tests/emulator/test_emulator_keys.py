"""The key a pair of emulated modules shares: the reservoir, taking keys on one side, claiming them
once on the other, limits, expiry, and the quality of the key bytes."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sdqkd.emulator.keys import PairKeys
from sdqkd.errors import KeyExhausted, KeyServiceUnavailable, Unauthorized

TX, RX = "concepcion-tx", "norte-rx"
TX_NODE = "concepcion"  # the SAE (its node's KME) that becomes master of the keys TX takes
KEY_BITS = 256


@pytest.fixture
def keys() -> PairKeys:
    """A pair with room for 1000 keys of 256 bits and 100 of them made."""
    made = PairKeys((TX, RX), capacity_bits=1000 * KEY_BITS)
    made.accumulate(100 * KEY_BITS)
    return made


# The reservoir --------------------------------------------------------------------------------------


def test_accumulated_bits_are_capped_at_the_capacity() -> None:
    keys = PairKeys((TX, RX), capacity_bits=1000)

    keys.accumulate(600.0)
    keys.accumulate(600.0)

    assert keys.available_bits == 1000


def test_negative_accumulation_is_ignored(keys: PairKeys) -> None:
    keys.accumulate(-1e6)

    assert keys.available_bits == 100 * KEY_BITS


def test_stored_keys_counts_whole_keys_of_the_asked_size() -> None:
    keys = PairKeys((TX, RX), capacity_bits=10_000)
    keys.accumulate(1000.5)

    assert keys.stored_keys(256) == 3
    assert keys.stored_keys(64) == 15
    assert keys.stored_keys(2048) == 0

    keys.take(TX, TX_NODE, 1, 256)

    assert keys.available_bits == 744.5
    assert keys.stored_keys(256) == 2


# Taking and claiming --------------------------------------------------------------------------------


def test_taken_keys_have_the_asked_size_and_unique_ids(keys: PairKeys) -> None:
    taken = keys.take(TX, TX_NODE, 10, 512)

    assert len(taken) == 10
    assert all(len(material) == 512 // 8 for _, material in taken)
    assert len({key_id for key_id, _ in taken}) == 10
    assert keys.available_bits == (100 - 20) * KEY_BITS  # ten keys of twice the default size
    assert keys.waiting(RX) == 10
    assert keys.waiting(TX) == 0


def test_the_other_side_claims_the_same_bytes_under_the_same_ids(keys: PairKeys) -> None:
    taken = keys.take(TX, TX_NODE, 5, KEY_BITS)

    claimed = keys.claim(RX, TX_NODE, [key_id for key_id, _ in taken])

    assert claimed == taken
    assert keys.waiting(RX) == 0
    assert keys.delivered_keys == 5


def test_claimed_ids_may_come_in_any_order(keys: PairKeys) -> None:
    taken = keys.take(TX, TX_NODE, 3, KEY_BITS)

    claimed = keys.claim(RX, TX_NODE, [key_id for key_id, _ in reversed(taken)])

    assert claimed == list(reversed(taken))


def test_the_receiver_side_can_take_keys_for_the_transmitter_side(keys: PairKeys) -> None:
    taken = keys.take(RX, "norte", 2, KEY_BITS)

    assert keys.claim(TX, "norte", [key_id for key_id, _ in taken]) == taken


def test_take_is_all_or_nothing_when_the_reservoir_runs_short(keys: PairKeys) -> None:
    with pytest.raises(KeyExhausted, match="not enough key material"):
        keys.take(TX, TX_NODE, 101, KEY_BITS)

    assert keys.available_bits == 100 * KEY_BITS
    assert keys.waiting(RX) == 0


def test_take_refuses_when_the_other_side_has_too_many_keys_to_claim() -> None:
    keys = PairKeys((TX, RX), capacity_bits=100 * KEY_BITS, max_pending_keys=3)
    keys.accumulate(100 * KEY_BITS)
    keys.take(TX, TX_NODE, 3, KEY_BITS)

    with pytest.raises(KeyServiceUnavailable, match="not collected") as refused:
        keys.take(TX, TX_NODE, 1, KEY_BITS)

    assert not isinstance(refused.value, KeyExhausted)
    assert keys.available_bits == 97 * KEY_BITS
    # the limit is per waiting side: the other direction is not blocked
    assert len(keys.take(RX, "norte", 3, KEY_BITS)) == 3


def test_claiming_frees_room_under_the_pending_limit() -> None:
    keys = PairKeys((TX, RX), capacity_bits=100 * KEY_BITS, max_pending_keys=3)
    keys.accumulate(100 * KEY_BITS)
    taken = keys.take(TX, TX_NODE, 3, KEY_BITS)

    keys.claim(RX, TX_NODE, [taken[0][0]])

    assert len(keys.take(TX, TX_NODE, 1, KEY_BITS)) == 1


def test_a_key_is_claimed_once(keys: PairKeys) -> None:
    [(key_id, _)] = keys.take(TX, TX_NODE, 1, KEY_BITS)
    keys.claim(RX, TX_NODE, [key_id])

    with pytest.raises(Unauthorized):
        keys.claim(RX, TX_NODE, [key_id])


def test_the_side_that_took_a_key_cannot_claim_it(keys: PairKeys) -> None:
    [(key_id, _)] = keys.take(TX, TX_NODE, 1, KEY_BITS)

    with pytest.raises(Unauthorized):
        keys.claim(TX, TX_NODE, [key_id])

    assert keys.waiting(RX) == 1


def test_an_unknown_key_id_is_unauthorized(keys: PairKeys) -> None:
    with pytest.raises(Unauthorized):
        keys.claim(RX, TX_NODE, [uuid.uuid4()])


def test_a_claim_naming_another_master_is_unauthorized(keys: PairKeys) -> None:
    [(key_id, _)] = keys.take(TX, TX_NODE, 1, KEY_BITS)

    with pytest.raises(Unauthorized):
        keys.claim(RX, "quintin", [key_id])

    assert keys.waiting(RX) == 1


def test_refusals_say_nothing_about_why(keys: PairKeys) -> None:
    [(key_id, _)] = keys.take(TX, TX_NODE, 1, KEY_BITS)
    messages = set()
    for side, master, key_ids in [
        (RX, TX_NODE, [uuid.uuid4()]),
        (RX, "quintin", [key_id]),
        (TX, TX_NODE, [key_id]),
        (RX, TX_NODE, [key_id, key_id]),
    ]:
        with pytest.raises(Unauthorized) as refused:
            keys.claim(side, master, key_ids)
        messages.add(str(refused.value))

    assert len(messages) == 1


def test_a_batch_with_one_bad_id_claims_none_and_the_good_ones_stay_claimable(keys: PairKeys) -> None:
    taken = keys.take(TX, TX_NODE, 3, KEY_BITS)
    good = [key_id for key_id, _ in taken]

    with pytest.raises(Unauthorized):
        keys.claim(RX, TX_NODE, [*good[:2], uuid.uuid4(), good[2]])

    assert keys.waiting(RX) == 3
    assert keys.delivered_keys == 0
    assert keys.claim(RX, TX_NODE, good) == taken


def test_a_claim_repeating_an_id_is_unauthorized_and_claims_nothing(keys: PairKeys) -> None:
    taken = keys.take(TX, TX_NODE, 2, KEY_BITS)
    first, second = (key_id for key_id, _ in taken)

    with pytest.raises(Unauthorized):
        keys.claim(RX, TX_NODE, [first, second, first])

    assert keys.claim(RX, TX_NODE, [first, second]) == taken


# Expiry and clean-up --------------------------------------------------------------------------------


def test_unclaimed_keys_expire_after_the_ttl_and_become_unclaimable() -> None:
    keys = PairKeys((TX, RX), capacity_bits=100 * KEY_BITS, pending_ttl_s=60.0)
    keys.accumulate(100 * KEY_BITS)
    taken = keys.take(TX, TX_NODE, 2, KEY_BITS)
    taken_at_s = time.monotonic()

    assert keys.expire(now_s=taken_at_s + 30.0) == 0
    assert keys.waiting(RX) == 2
    assert keys.expire(now_s=taken_at_s + 61.0) == 2
    assert keys.waiting(RX) == 0
    with pytest.raises(Unauthorized):
        keys.claim(RX, TX_NODE, [taken[0][0]])


def test_expired_key_bytes_are_zeroed_in_place(keys: PairKeys) -> None:
    [(key_id, material)] = keys.take(TX, TX_NODE, 1, KEY_BITS)
    held = keys._pending[RX][key_id].material  # the copy that waits for the other side

    keys.expire(now_s=time.monotonic() + keys.pending_ttl_s + 1.0)

    assert held == bytes(len(material))


def test_claimed_key_bytes_are_zeroed_in_place(keys: PairKeys) -> None:
    [(key_id, material)] = keys.take(TX, TX_NODE, 1, KEY_BITS)
    held = keys._pending[RX][key_id].material

    keys.claim(RX, TX_NODE, [key_id])

    assert held == bytes(len(material))


def test_clear_drops_the_reservoir_and_zeroes_waiting_keys(keys: PairKeys) -> None:
    [(key_id, material)] = keys.take(TX, TX_NODE, 1, KEY_BITS)
    held = keys._pending[RX][key_id].material

    keys.clear()

    assert keys.available_bits == 0
    assert keys.waiting(RX) == 0
    assert held == bytes(len(material))


def test_repr_shows_no_key_bytes(keys: PairKeys) -> None:
    taken = keys.take(TX, TX_NODE, 3, KEY_BITS)

    for key_id, material in taken:
        waiting = repr(keys._pending[RX][key_id])  # what a debugger or a log line would show
        for text in (repr(keys), waiting):
            assert material.hex() not in text
            assert repr(material) not in text
            assert repr(bytearray(material)) not in text


# Concurrency and randomness -------------------------------------------------------------------------


def test_both_sides_taking_at_once_never_share_a_key_id() -> None:
    rounds, batch = 200, 5
    keys = PairKeys((TX, RX), capacity_bits=2 * rounds * batch * KEY_BITS)
    keys.accumulate(2 * rounds * batch * KEY_BITS)
    start = threading.Barrier(2)

    def take_many(side: str, master: str) -> list[tuple[uuid.UUID, bytes]]:
        start.wait()
        return [key for _ in range(rounds) for key in keys.take(side, master, batch, KEY_BITS)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        by_tx = pool.submit(take_many, TX, TX_NODE)
        by_rx = pool.submit(take_many, RX, "norte")
        from_tx, from_rx = by_tx.result(), by_rx.result()

    ids = [key_id for key_id, _ in from_tx + from_rx]
    assert len(ids) == len(set(ids)) == 2 * rounds * batch
    assert keys.claim(RX, TX_NODE, [key_id for key_id, _ in from_tx]) == from_tx
    assert keys.claim(TX, "norte", [key_id for key_id, _ in from_rx]) == from_rx


def test_key_bytes_look_uniformly_random() -> None:
    count = 1000
    keys = PairKeys((TX, RX), capacity_bits=count * KEY_BITS)
    keys.accumulate(count * KEY_BITS)

    materials = [
        material for _ in range(count // 250) for _, material in keys.take(TX, TX_NODE, 250, KEY_BITS)
    ]

    assert len(set(materials)) == count
    bits = np.unpackbits(np.frombuffer(b"".join(materials), dtype=np.uint8))
    ones, n = int(bits.sum()), bits.size
    # Binomial(n, 1/2): mean n/2, standard deviation sqrt(n)/2
    assert abs(ones - n / 2) < 5 * np.sqrt(n) / 2
    # every bit position of a key is balanced too: 256 positions, each over 1000 keys, at 6 sigma
    # so that the 256 chances together still fail a fair generator less than once in a million runs
    per_position = bits.reshape(count, KEY_BITS).sum(axis=0)
    assert np.all(np.abs(per_position - count / 2) < 6 * np.sqrt(count) / 2)
