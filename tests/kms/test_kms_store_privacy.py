"""A key store is its owner's only (0600 files, including SQLite's -wal and -shm, in a 0700 directory
it creates), whatever the umask; ``wipe`` leaves none of the key bytes anywhere in the file."""

from __future__ import annotations

import os
import secrets
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdqkd.kms import SqliteKeyStore
from sdqkd.kms.store import BLOCK_BITS


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fill(store: SqliteKeyStore, count: int = 64) -> list[bytes]:
    blocks = [(uuid.uuid4(), secrets.token_bytes(BLOCK_BITS // 8)) for _ in range(count)]
    store.add_blocks("l1", "self", blocks, ready=True)
    store.add_blocks("l1", "peer", [(uuid.uuid4(), m) for _, m in blocks[: count // 2]], ready=True)
    return [material for _, material in blocks]


def test_a_new_store_and_its_side_files_are_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "kme" / "n1.db"
    store = SqliteKeyStore(path)
    try:
        fill(store)
        side_files = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(file.exists() for file in side_files)  # WAL mode: both are there while it is open
        assert {file.name: mode(file) for file in (path, *side_files)} == {
            "n1.db": 0o600,
            "n1.db-wal": 0o600,
            "n1.db-shm": 0o600,
        }
        assert mode(path.parent) == 0o700  # the directory it created
    finally:
        store.close()


def test_files_of_an_earlier_run_are_narrowed(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "n1.db"
    tmp_path.chmod(0o755)
    SqliteKeyStore(path).close()
    for file in tmp_path.iterdir():
        file.chmod(0o644)
    store = SqliteKeyStore(path)
    try:
        assert {file.name: mode(file) for file in tmp_path.iterdir()} == {
            name: 0o600 for name in ("n1.db", "n1.db-wal", "n1.db-shm") if (tmp_path / name).exists()
        }
        assert mode(tmp_path) == 0o755  # an existing directory is the user's: left as it is
    finally:
        store.close()


def test_wipe_leaves_no_key_bytes_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "n1.db"
    store = SqliteKeyStore(path)
    materials = fill(store)
    taken = store.take_keys("l1", "a", ["b"], 4, 512)  # keys made of blocks, with their records
    store.checkpoint()
    assert any(material in path.read_bytes() for material in materials)  # the test can fail
    store.wipe()
    store.close()
    content = b"".join(file.read_bytes() for file in tmp_path.iterdir() if file.name.startswith("n1.db"))
    assert not [m for m in materials if m in content]
    assert not [material for _, material in taken if material[:16] in content]
    reopened = SqliteKeyStore(path)
    try:
        assert reopened.levels("l1").ready_self == 0
        assert reopened.levels("l1").held_for_peer == 0
    finally:
        reopened.close()
