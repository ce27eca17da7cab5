"""The store keeps pool levels as counters (reading them must not scan the pool): after any sequence
of operations they equal a fresh count of the database."""

from __future__ import annotations

import contextlib
import secrets
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdqkd.errors import KeyExhausted
from sdqkd.kms.store import Assignment, SqliteKeyStore

operations = st.lists(
    st.one_of(
        st.tuples(st.just("supply"), st.integers(1, 20), st.sampled_from(["pending", "ready", "peer"])),
        st.tuples(st.just("confirm"), st.integers(0, 20), st.booleans()),
        st.tuples(st.just("drop"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("take"), st.integers(1, 4), st.sampled_from([64, 256, 512, 1000 // 8 * 8])),
        st.tuples(st.just("assign"), st.integers(1, 3), st.booleans()),
        st.tuples(st.just("expire"), st.integers(0, 1), st.booleans()),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(steps=operations)
def test_pool_levels_always_equal_a_fresh_count(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, object]]
) -> None:
    path = tmp_path_factory.mktemp("counts") / "kme.db"
    store = SqliteKeyStore(path)
    pending: list[uuid.UUID] = []
    peer_blocks: list[uuid.UUID] = []
    try:
        for op, n, flag in steps:
            if op == "supply":
                blocks = [(uuid.uuid4(), secrets.token_bytes(32)) for _ in range(n)]
                owner = "peer" if flag == "peer" else "self"
                store.add_blocks("l", owner, blocks, ready=flag != "pending")
                if flag != "ready":
                    (pending if owner == "self" else peer_blocks).extend(b for b, _ in blocks)
                store.add_blocks("l", owner, blocks[:1], ready=True)  # a repeat is ignored
            elif op == "confirm":
                store.mark_ready("l", pending[:n])
                del pending[:n]
            elif op == "drop":
                store.drop_blocks("l", [*(pending if flag else peer_blocks)[:n], uuid.uuid4()])
                del (pending if flag else peer_blocks)[:n]
            elif op == "take":
                with contextlib.suppress(KeyExhausted):
                    store.take_keys("l", "m", ["s"], n, int(str(flag)))
            elif op == "assign":
                used, peer_blocks[:n] = peer_blocks[:n], []
                store.record_assignments(
                    "l", [Assignment(uuid.uuid4(), "m", ("s",), 256 * len(used), tuple(used))]
                )
            elif op == "expire":
                store.expire(ttl_s=3600, now_s=None if n else 1e12)
            levels = store.levels("l")
            fresh = SqliteKeyStore(path)  # counts from scratch
            try:
                assert levels == fresh.levels("l")
            finally:
                fresh.close()
    finally:
        store.close()
