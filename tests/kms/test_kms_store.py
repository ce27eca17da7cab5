"""SqliteKeyStore on its own: block pools, keys made all-or-nothing, the peer's copy of each key
composed from the same blocks, delivery exactly once per slave, wiping, expiry, durability."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kms_support import rows

from sdqkd.errors import KeyExhausted, Unauthorized
from sdqkd.kms import Assignment, PoolLevels, SqliteKeyStore
from sdqkd.kms.store import BLOCK_BITS

LINK = "n1-n2"
MASTER, SLAVE, OTHER_SLAVE = "n1-app", "n2-app", "n2-other"

Blocks = list[tuple[uuid.UUID, bytes]]


def new_blocks(count: int) -> Blocks:
    return [(uuid.uuid4(), os.urandom(BLOCK_BITS // 8)) for _ in range(count)]


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[SqliteKeyStore]:
    """The master's KME (n1): pulls blocks as master."""
    store = SqliteKeyStore(tmp_path / "n1.db")
    yield store
    store.close()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[SqliteKeyStore]:
    """The slave's KME (n2): holds copies of n1's blocks."""
    store = SqliteKeyStore(tmp_path / "n2.db")
    yield store
    store.close()


def supply(owner: SqliteKeyStore, peer: SqliteKeyStore, count: int) -> Blocks:
    """``count`` blocks as a QKD pair delivers them: ready at the owner, held for it at the peer."""
    blocks = new_blocks(count)
    peer.add_blocks(LINK, "peer", blocks, ready=True)
    owner.add_blocks(LINK, "self", blocks, ready=True)
    return blocks


def hand_over(
    owner: SqliteKeyStore, peer: SqliteKeyStore, key_ids: list[uuid.UUID], slave: str = SLAVE
) -> None:
    """What the peer KME does on a slave's first dec_keys: fetch the assignments, record them."""
    peer.record_assignments(LINK, owner.assignments(LINK, key_ids, slave))


def material_of(store: SqliteKeyStore, key_id: uuid.UUID) -> bytes | None:
    (found,) = rows(store.path, "SELECT material FROM keys WHERE key_id = ?", str(key_id))
    return None if found[0] is None else bytes(found[0])


# Pools ----------------------------------------------------------------------------------------------


def test_blocks_start_pending_and_count_as_ready_once_marked(owner: SqliteKeyStore) -> None:
    blocks = new_blocks(5)
    owner.add_blocks(LINK, "self", blocks, ready=False)
    owner.add_blocks(LINK, "peer", new_blocks(3), ready=True)
    assert owner.levels(LINK) == PoolLevels(LINK, ready_self=0, pending_self=5, held_for_peer=3,
                                            keys_awaiting_slaves=0)  # fmt: skip
    owner.mark_ready(LINK, [block_id for block_id, _ in blocks[:2]])
    assert (owner.levels(LINK).ready_self, owner.levels(LINK).pending_self) == (2, 3)
    assert owner.levels("another-link") == PoolLevels("another-link", 0, 0, 0, 0)


def test_adding_a_known_block_again_changes_nothing(owner: SqliteKeyStore) -> None:
    blocks = new_blocks(2)
    owner.add_blocks(LINK, "self", blocks, ready=True)
    owner.add_blocks(LINK, "self", [(blocks[0][0], os.urandom(32))], ready=False)
    assert owner.levels(LINK).ready_self == 2
    (stored,) = rows(owner.path, "SELECT material FROM blocks WHERE block_id = ?", str(blocks[0][0]))
    assert bytes(stored[0]) == blocks[0][1]


def test_mark_ready_does_not_touch_blocks_held_for_the_peer(owner: SqliteKeyStore) -> None:
    held = new_blocks(2)
    owner.add_blocks(LINK, "peer", held, ready=True)
    owner.mark_ready(LINK, [block_id for block_id, _ in held])
    assert owner.levels(LINK).ready_self == 0
    assert owner.known_blocks(LINK, "peer", [b for b, _ in held]) == {b for b, _ in held}
    assert owner.known_blocks(LINK, "self", [b for b, _ in held]) == set()


def test_pending_blocks_lists_only_old_unconfirmed_own_blocks(owner: SqliteKeyStore) -> None:
    pending = new_blocks(3)
    owner.add_blocks(LINK, "self", pending, ready=False)
    owner.add_blocks(LINK, "self", new_blocks(2), ready=True)
    assert owner.pending_blocks(LINK, older_than_s=60) == []
    assert set(owner.pending_blocks(LINK, older_than_s=0)) == {b for b, _ in pending}
    owner.drop_blocks(LINK, [pending[0][0]])
    assert set(owner.pending_blocks(LINK, older_than_s=0)) == {b for b, _ in pending[1:]}


# Keys at the master's KME ------------------------------------------------------------------------


@pytest.mark.parametrize(("size_bits", "blocks_per_key"), [(64, 1), (256, 1), (264, 2), (512, 2), (4096, 16)])
def test_take_keys_uses_whole_blocks_and_returns_size_over_8_bytes(
    owner: SqliteKeyStore, peer: SqliteKeyStore, size_bits: int, blocks_per_key: int
) -> None:
    blocks = supply(owner, peer, 3 * blocks_per_key + 1)
    keys = owner.take_keys(LINK, MASTER, [SLAVE], 3, size_bits)
    assert [len(material) for _, material in keys] == [size_bits // 8] * 3
    # oldest blocks first, each key the prefix of its own blocks' concatenation
    for index, (_, material) in enumerate(keys):
        chunk = blocks[index * blocks_per_key : (index + 1) * blocks_per_key]
        assert material == b"".join(part for _, part in chunk)[: size_bits // 8]
    assert owner.levels(LINK).ready_self == 1
    assert len({key_id for key_id, _ in keys}) == 3


def test_take_keys_is_all_or_nothing(owner: SqliteKeyStore, peer: SqliteKeyStore) -> None:
    supply(owner, peer, 5)
    owner.add_blocks(LINK, "self", new_blocks(4), ready=False)  # pending: not for handing out
    before = rows(owner.path, "SELECT block_id, state FROM blocks ORDER BY block_id")
    with pytest.raises(KeyExhausted, match="need 6 blocks, 5 available"):
        owner.take_keys(LINK, MASTER, [SLAVE], 3, 512)
    assert rows(owner.path, "SELECT block_id, state FROM blocks ORDER BY block_id") == before
    assert rows(owner.path, "SELECT COUNT(*) FROM keys") == [(0,)]
    assert owner.levels(LINK).ready_self == 5
    assert len(owner.take_keys(LINK, MASTER, [SLAVE], 5, 256)) == 5  # what there is, it still gives


def test_take_keys_deletes_its_blocks_and_keeps_no_key_bytes(
    owner: SqliteKeyStore, peer: SqliteKeyStore
) -> None:
    blocks = supply(owner, peer, 4)
    keys = owner.take_keys(LINK, MASTER, [SLAVE], 2, 512)
    assert rows(owner.path, "SELECT COUNT(*) FROM blocks") == [(0,)]
    stored = rows(owner.path, "SELECT key_id, owner, material, block_ids FROM keys ORDER BY created_s")
    assert {row[0] for row in stored} == {str(key_id) for key_id, _ in keys}
    assert all(row[1] == "self" and row[2] is None for row in stored)
    assert owner.levels(LINK).keys_awaiting_slaves == 0
    # once closed (the WAL checkpointed and removed) the files hold none of the key bytes:
    # secure_delete overwrote the deleted rows
    owner.close()
    image = b"".join(path.read_bytes() for path in owner.path.parent.glob("n1.db*"))
    assert all(material not in image for _, material in blocks)


def test_used_key_bytes_linger_in_the_wal_only_until_the_next_checkpoint(
    owner: SqliteKeyStore, peer: SqliteKeyStore
) -> None:
    blocks = supply(owner, peer, 4)
    owner.take_keys(LINK, MASTER, [SLAVE], 2, 512)
    image = b"".join(path.read_bytes() for path in owner.path.parent.glob("n1.db*"))
    assert any(material in image for _, material in blocks)  # WAL frames still hold them
    owner.checkpoint()  # the KME's housekeeping does this every 2 s
    image = b"".join(path.read_bytes() for path in owner.path.parent.glob("n1.db*"))
    assert all(material not in image for _, material in blocks)


def test_a_key_is_never_handed_out_again_by_its_owner(owner: SqliteKeyStore, peer: SqliteKeyStore) -> None:
    supply(owner, peer, 6)
    first = owner.take_keys(LINK, MASTER, [SLAVE], 3, 256)
    second = owner.take_keys(LINK, MASTER, [SLAVE], 3, 256)
    assert not {k for k, _ in first} & {k for k, _ in second}
    assert not {m for _, m in first} & {m for _, m in second}


def test_assignments_answer_only_for_keys_naming_the_slave(
    owner: SqliteKeyStore, peer: SqliteKeyStore
) -> None:
    supply(owner, peer, 4)
    (for_slave,) = owner.take_keys(LINK, MASTER, [SLAVE], 1, 256)
    (multicast,) = owner.take_keys(LINK, MASTER, [SLAVE, OTHER_SLAVE], 1, 512)
    ids = [for_slave[0], multicast[0], uuid.uuid4()]
    assert [a.key_id for a in owner.assignments(LINK, ids, SLAVE)] == [for_slave[0], multicast[0]]
    (only,) = owner.assignments(LINK, ids, OTHER_SLAVE)
    assert only == Assignment(
        key_id=multicast[0],
        master=MASTER,
        slaves=(SLAVE, OTHER_SLAVE),
        size_bits=512,
        block_ids=only.block_ids,
    )
    assert len(only.block_ids) == 2
    assert owner.assignments(LINK, ids, "stranger") == []
    assert owner.assignments("another-link", ids, SLAVE) == []


# The peer's copy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size_bits", [64, 200, 256, 264, 512, 4096])
def test_the_peer_composes_the_same_bytes_from_its_blocks(
    owner: SqliteKeyStore, peer: SqliteKeyStore, size_bits: int
) -> None:
    supply(owner, peer, 40)
    keys = owner.take_keys(LINK, MASTER, [SLAVE], 2, size_bits)
    hand_over(owner, peer, [key_id for key_id, _ in keys])
    assert peer.levels(LINK).keys_awaiting_slaves == 2
    assert peer.deliver(MASTER, SLAVE, [key_id for key_id, _ in keys]) == keys
    per_key = -(-size_bits // BLOCK_BITS)
    assert peer.levels(LINK).held_for_peer == 40 - 2 * per_key  # the blocks went into the keys


def test_recording_an_assignment_twice_keeps_the_first(owner: SqliteKeyStore, peer: SqliteKeyStore) -> None:
    supply(owner, peer, 2)
    keys = owner.take_keys(LINK, MASTER, [SLAVE], 1, 256)
    assignments = owner.assignments(LINK, [keys[0][0]], SLAVE)
    peer.record_assignments(LINK, assignments)
    peer.record_assignments(LINK, assignments)
    assert peer.deliver(MASTER, SLAVE, [keys[0][0]]) == keys
    assert peer.levels(LINK).held_for_peer == 1


def test_an_assignment_whose_blocks_are_not_held_stays_unknown(
    owner: SqliteKeyStore, peer: SqliteKeyStore
) -> None:
    blocks = supply(owner, peer, 2)
    peer.drop_blocks(LINK, [blocks[1][0]])
    (key,) = owner.take_keys(LINK, MASTER, [SLAVE], 1, 512)
    hand_over(owner, peer, [key[0]])
    assert peer.unknown_keys([key[0]]) == [key[0]]
    assert peer.levels(LINK).held_for_peer == 1  # the block it had is not consumed
    with pytest.raises(Unauthorized):
        peer.deliver(MASTER, SLAVE, [key[0]])


def test_an_assignment_naming_a_block_twice_is_not_recorded(peer: SqliteKeyStore) -> None:
    # a key is made of distinct blocks: one naming the same block twice (a faulty or hostile peer)
    # would hand out the block's bytes twice within one key
    (block,) = new_blocks(1)
    peer.add_blocks(LINK, "peer", [block], ready=True)
    key_id = uuid.uuid4()
    peer.record_assignments(LINK, [Assignment(key_id, MASTER, (SLAVE,), 512, (block[0], block[0]))])
    assert peer.unknown_keys([key_id]) == [key_id]
    assert peer.levels(LINK).held_for_peer == 1
    assert rows(peer.path, "SELECT COUNT(*) FROM blocks") == [(1,)]


def test_key_link_and_unknown_keys(owner: SqliteKeyStore, peer: SqliteKeyStore) -> None:
    supply(owner, peer, 1)
    (key,) = owner.take_keys(LINK, MASTER, [SLAVE], 1, 256)
    stranger = uuid.uuid4()
    assert owner.key_link(key[0]) == LINK
    assert owner.key_link(stranger) is None
    assert owner.unknown_keys([key[0], stranger]) == [stranger]


# Delivery -------------------------------------------------------------------------------------------


@pytest.fixture
def handed(owner: SqliteKeyStore, peer: SqliteKeyStore) -> list[tuple[uuid.UUID, bytes]]:
    """Three keys n1-app got for n2-app, recorded at n2."""
    supply(owner, peer, 3)
    keys = owner.take_keys(LINK, MASTER, [SLAVE], 3, 256)
    hand_over(owner, peer, [key_id for key_id, _ in keys])
    return keys


def test_a_slave_gets_each_key_once(peer: SqliteKeyStore, handed: list[tuple[uuid.UUID, bytes]]) -> None:
    assert peer.deliver(MASTER, SLAVE, [handed[0][0]]) == handed[:1]
    with pytest.raises(Unauthorized, match="not available to this SAE"):
        peer.deliver(MASTER, SLAVE, [handed[0][0]])
    assert peer.deliver(MASTER, SLAVE, [handed[2][0], handed[1][0]]) == [handed[2], handed[1]]


@pytest.mark.parametrize("bad", ["unknown", "delivered", "duplicate"])
def test_delivery_is_all_or_none(
    peer: SqliteKeyStore, handed: list[tuple[uuid.UUID, bytes]], bad: str
) -> None:
    ids = [key_id for key_id, _ in handed]
    if bad == "delivered":
        peer.deliver(MASTER, SLAVE, ids[2:])
    asked = {"unknown": [ids[0], uuid.uuid4()], "delivered": ids, "duplicate": [ids[0], ids[1], ids[0]]}[bad]
    with pytest.raises(Unauthorized) as refused:
        peer.deliver(MASTER, SLAVE, asked)
    assert refused.value.message == "one or more key IDs are not available to this SAE"
    assert rows(peer.path, "SELECT COUNT(*) FROM deliveries") == [(1 if bad == "delivered" else 0,)]
    assert peer.deliver(MASTER, SLAVE, ids[:2]) == handed[:2]  # nothing was used up by the refusal


@pytest.mark.parametrize(("master", "slave"), [("n1-other", SLAVE), (MASTER, OTHER_SLAVE), (SLAVE, MASTER)])
def test_delivery_refuses_another_master_or_slave(
    peer: SqliteKeyStore, handed: list[tuple[uuid.UUID, bytes]], master: str, slave: str
) -> None:
    with pytest.raises(Unauthorized, match="not available to this SAE"):
        peer.deliver(master, slave, [handed[0][0]])
    assert peer.deliver(MASTER, SLAVE, [handed[0][0]]) == handed[:1]


def test_the_owner_never_delivers_its_own_keys(
    owner: SqliteKeyStore, handed: list[tuple[uuid.UUID, bytes]]
) -> None:
    with pytest.raises(Unauthorized):
        owner.deliver(MASTER, SLAVE, [handed[0][0]])


def test_key_bytes_are_wiped_once_the_slave_has_them(
    peer: SqliteKeyStore, handed: list[tuple[uuid.UUID, bytes]]
) -> None:
    assert material_of(peer, handed[0][0]) == handed[0][1]
    peer.deliver(MASTER, SLAVE, [handed[0][0]])
    assert material_of(peer, handed[0][0]) is None
    assert material_of(peer, handed[1][0]) == handed[1][1]
    assert peer.levels(LINK).keys_awaiting_slaves == 2


def test_a_multicast_key_is_wiped_only_once_every_slave_has_it(
    owner: SqliteKeyStore, peer: SqliteKeyStore
) -> None:
    supply(owner, peer, 2)
    (key,) = owner.take_keys(LINK, MASTER, [SLAVE, OTHER_SLAVE], 1, 512)
    hand_over(owner, peer, [key[0]], slave=OTHER_SLAVE)
    assert peer.deliver(MASTER, OTHER_SLAVE, [key[0]]) == [key]
    assert material_of(peer, key[0]) == key[1]  # n2-app has not fetched it yet
    with pytest.raises(Unauthorized):
        peer.deliver(MASTER, OTHER_SLAVE, [key[0]])
    assert peer.deliver(MASTER, SLAVE, [key[0]]) == [key]
    assert material_of(peer, key[0]) is None
    with pytest.raises(Unauthorized):
        peer.deliver(MASTER, SLAVE, [key[0]])
    assert rows(peer.path, "SELECT sae_id FROM deliveries ORDER BY sae_id") == [(SLAVE,), (OTHER_SLAVE,)]


# Time and durability -------------------------------------------------------------------------------


def test_expire_removes_old_blocks_and_keys_only(owner: SqliteKeyStore, peer: SqliteKeyStore) -> None:
    supply(owner, peer, 4)
    old = owner.take_keys(LINK, MASTER, [SLAVE], 1, 256)
    hand_over(owner, peer, [old[0][0]])
    now = time.time()
    assert owner.expire(ttl_s=60, now_s=now) == 0
    assert peer.expire(ttl_s=60, now_s=now) == 0
    # an hour later: the 3 unused blocks and the key's metadata at n1; 3 blocks and the key at n2
    assert owner.expire(ttl_s=60, now_s=now + 3600) == 4
    assert peer.expire(ttl_s=60, now_s=now + 3600) == 4
    for store in (owner, peer):
        assert store.levels(LINK) == PoolLevels(LINK, 0, 0, 0, 0)
        assert rows(store.path, "SELECT COUNT(*) FROM keys") == [(0,)]
        assert rows(store.path, "SELECT COUNT(*) FROM deliveries") == [(0,)]
    assert owner.assignments(LINK, [old[0][0]], SLAVE) == []
    with pytest.raises(Unauthorized):
        peer.deliver(MASTER, SLAVE, [old[0][0]])


def test_a_reopened_store_keeps_everything(tmp_path: Path) -> None:
    owner, peer = SqliteKeyStore(tmp_path / "n1.db"), SqliteKeyStore(tmp_path / "n2.db")
    supply(owner, peer, 5)
    owner.add_blocks(LINK, "self", new_blocks(2), ready=False)
    keys = owner.take_keys(LINK, MASTER, [SLAVE], 2, 256)
    hand_over(owner, peer, [key_id for key_id, _ in keys])
    peer.deliver(MASTER, SLAVE, [keys[0][0]])
    levels = owner.levels(LINK), peer.levels(LINK)
    owner.close()
    peer.close()
    owner, peer = SqliteKeyStore(tmp_path / "n1.db"), SqliteKeyStore(tmp_path / "n2.db")
    try:
        assert (owner.levels(LINK), peer.levels(LINK)) == levels
        assert [a.key_id for a in owner.assignments(LINK, [k for k, _ in keys], SLAVE)] == [
            k for k, _ in keys
        ]
        with pytest.raises(Unauthorized):
            peer.deliver(MASTER, SLAVE, [keys[0][0]])  # delivered before the restart: not again
        assert peer.deliver(MASTER, SLAVE, [keys[1][0]]) == keys[1:]
    finally:
        owner.close()
        peer.close()


def test_the_database_is_in_wal_mode_with_secure_delete(owner: SqliteKeyStore) -> None:
    connection = sqlite3.connect(owner.path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # persistent in the file
    finally:
        connection.close()
    # secure_delete is per connection: ask the store's own
    assert owner._db.execute("PRAGMA secure_delete").fetchone() == (1,)
    assert owner._db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_synchronous_full_is_honoured(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "full.db", synchronous="FULL")
    try:
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)
    finally:
        store.close()


def test_the_repr_names_the_file_only(owner: SqliteKeyStore) -> None:
    assert repr(owner) == f"SqliteKeyStore({str(owner.path)!r})"


# The invariant --------------------------------------------------------------------------------------

_supply_step = st.tuples(st.just("supply"), st.sampled_from(["n1", "n2"]), st.integers(1, 12))
_take_step = st.tuples(
    st.just("take"),
    st.sampled_from(["n1", "n2"]),
    st.tuples(st.integers(1, 4), st.sampled_from([64, 128, 256, 264, 512, 1024])),
)
_deliver_step = st.tuples(st.just("deliver"), st.sampled_from(["n1", "n2"]), st.just(0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_supply_step, _take_step, _deliver_step), min_size=1, max_size=25))
def test_every_key_reaches_the_peer_once_with_equal_bytes_and_no_block_serves_two_keys(
    steps: list[tuple[str, str, object]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        stores = {node: SqliteKeyStore(Path(directory) / f"{node}.db") for node in ("n1", "n2")}
        other = {"n1": "n2", "n2": "n1"}
        apps = {"n1": ("n1-app", "n2-app"), "n2": ("n2-app", "n1-app")}  # master, slave of keys made there
        taken: dict[uuid.UUID, tuple[str, bytes]] = {}  # key ID → (maker, bytes)
        outstanding: dict[str, list[uuid.UUID]] = {"n1": [], "n2": []}
        blocks_of_keys: set[uuid.UUID] = set()
        delivered: dict[uuid.UUID, bytes] = {}
        try:

            def deliver_all(maker: str) -> None:
                ids, outstanding[maker] = outstanding[maker], []
                if not ids:
                    return
                master, slave = apps[maker]
                assignments = stores[maker].assignments(LINK, ids, slave)
                for assignment in assignments:
                    assert not blocks_of_keys & set(assignment.block_ids)
                    blocks_of_keys.update(assignment.block_ids)
                stores[other[maker]].record_assignments(LINK, assignments)
                for key_id, material in stores[other[maker]].deliver(master, slave, ids):
                    assert key_id not in delivered
                    delivered[key_id] = material
                with pytest.raises(Unauthorized):
                    stores[other[maker]].deliver(master, slave, ids[:1])

            for action, node, argument in steps:
                if action == "supply":
                    assert isinstance(argument, int)
                    blocks = new_blocks(argument)
                    stores[other[node]].add_blocks(LINK, "peer", blocks, ready=True)
                    stores[node].add_blocks(LINK, "self", blocks, ready=True)
                elif action == "take":
                    assert isinstance(argument, tuple)
                    number, size_bits = argument
                    master, slave = apps[node]
                    before = stores[node].levels(LINK)
                    try:
                        keys = stores[node].take_keys(LINK, master, [slave], number, size_bits)
                    except KeyExhausted:
                        assert stores[node].levels(LINK) == before
                        continue
                    for key_id, material in keys:
                        assert key_id not in taken
                        assert len(material) == size_bits // 8
                        taken[key_id] = (node, material)
                        outstanding[node].append(key_id)
                else:
                    deliver_all(node)
            deliver_all("n1")
            deliver_all("n2")
            assert delivered == {key_id: material for key_id, (_, material) in taken.items()}
            for store in stores.values():
                assert store.levels(LINK).keys_awaiting_slaves == 0
        finally:
            for store in stores.values():
                store.close()
