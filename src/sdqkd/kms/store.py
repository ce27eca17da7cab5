"""Durable key storage of a KME: SQLite (WAL), the default backend of :class:`~sdqkd.kms.keystore.KeyStore`.

What is stored, per QKD link:
- **blocks**: 256-bit key blocks pulled from the link's QKD module. ``self`` blocks were pulled by
  this KME as master and are its to hand out (``pending`` until the peer KME confirms it holds the
  same block, then ``ready``); ``peer`` blocks were pulled as slave and are held for the peer KME's
  assignments. The two ends never hand out the same material.
- **keys**: keys handed to a master SAE, made of blocks. This KME's own keys keep only their
  metadata once returned to the master (the bytes are gone: the master has them, the peer holds its
  copy); keys the peer KME assigned keep their bytes until every slave SAE has them.
- **deliveries**: which SAE got which key — each (key, SAE) once.
- **counters**: consumption per link and per virtual link (e.g. ``blocks_used_for_relay``),
  counted in the transaction that consumes.

Relayed keys (trusted-node relay over a virtual link) are keys too: at the far end a key stored
from an ``ext_keys`` hop has owner ``peer`` and its bytes until every slave has it (``link_id`` is
the virtual link's); at the master end only its metadata. Intermediate KMEs store none.

Local keys (master and slaves all attached to this KME) are kept the same way under the pseudo link
``local`` (:data:`LOCAL_SCOPE`, counted as ``keys_local``).

Every state change is one transaction: a crash at any instant leaves either the state before or
the state after, so a key is never delivered twice, and a key returned to a master SAE (committed
before the answer) stays retrievable by its slaves.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sdqkd.errors import KeyExhausted, KeyRequestInvalid, Unauthorized
from sdqkd.kms.keystore import BLOCK_BITS, LOCAL_SCOPE, Assignment, Key, KeyStore, Owner, PoolLevels
from sdqkd.pki.private import private_database

__all__ = ["BLOCK_BITS", "LOCAL_SCOPE", "Assignment", "KeyStore", "PoolLevels", "SqliteKeyStore"]

_BLOCK_BYTES = BLOCK_BITS // 8
_NOT_YOURS = "one or more key IDs are not available to this SAE"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    link_id    TEXT NOT NULL,
    block_id   TEXT NOT NULL,
    owner      TEXT NOT NULL CHECK (owner IN ('self', 'peer')),
    state      TEXT NOT NULL CHECK (state IN ('pending', 'ready')),
    material   BLOB NOT NULL,
    created_s  REAL NOT NULL,
    PRIMARY KEY (link_id, block_id)
);
CREATE INDEX IF NOT EXISTS blocks_pool ON blocks (link_id, owner, state, created_s);
CREATE TABLE IF NOT EXISTS keys (
    key_id     TEXT PRIMARY KEY,
    link_id    TEXT NOT NULL,
    owner      TEXT NOT NULL CHECK (owner IN ('self', 'peer')),
    master_sae TEXT NOT NULL,
    slaves     TEXT NOT NULL,
    size_bits  INTEGER NOT NULL,
    block_ids  TEXT NOT NULL,
    material   BLOB,
    created_s  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_age ON keys (created_s);
CREATE INDEX IF NOT EXISTS keys_awaiting ON keys (link_id) WHERE material IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (
    scope  TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE IF NOT EXISTS deliveries (
    key_id       TEXT NOT NULL,
    sae_id       TEXT NOT NULL,
    delivered_s  REAL NOT NULL,
    PRIMARY KEY (key_id, sae_id)
);
"""


class SqliteKeyStore:
    """:class:`KeyStore` in one SQLite database (WAL mode).

    Args:
        path: the database file (created if missing).
        synchronous: SQLite's ``synchronous`` setting. ``NORMAL`` (default) survives a crash of
            the process at any instant; ``FULL`` also survives a power loss, at a cost per commit.
    """

    def __init__(self, path: Path, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        private_database(path)  # owner-only from creation, -wal and -shm too
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA secure_delete=ON")  # deleted key bytes are overwritten in the file
        self._db.executescript(_SCHEMA)
        # Pool levels are read often (status, the supply loop): counted once here, then kept exact
        # in every transaction below (this store is its database's only writer).
        self._counts: dict[tuple[str, str, str], int] = {}
        self._recount()

    def _recount(self) -> None:
        rows = self._db.execute(
            "SELECT link_id, owner, state, COUNT(*) FROM blocks GROUP BY link_id, owner, state"
        )
        self._counts = {(link, owner, state): count for link, owner, state, count in rows}

    def _count(self, link_id: str, owner: str, state: str, delta: int) -> None:
        key = (link_id, owner, state)
        self._counts[key] = self._counts.get(key, 0) + delta

    def __repr__(self) -> str:
        return f"SqliteKeyStore({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._recount()  # the counters may have moved before the failure
                raise
            self._db.execute("COMMIT")

    def checkpoint(self) -> None:
        """Write the WAL back into the database and truncate it: the WAL's copies of deleted key
        bytes are gone (``secure_delete`` already overwrote them in the database). The KME does this
        every few seconds."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def wipe(self) -> None:
        """Delete every block and key (bytes and records) and the deliveries, then rebuild the file:
        ``secure_delete`` overwrites the deleted rows, the checkpoint empties the write-ahead log,
        and ``VACUUM`` leaves no free page behind. Counters stay. For a store that is not meant to
        outlive its network (``sdqkd down``)."""
        with self._transaction() as db:
            db.execute("DELETE FROM deliveries")
            db.execute("DELETE FROM keys")
            db.execute("DELETE FROM blocks")
            self._counts.clear()
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Blocks -------------------------------------------------------------------------------------------

    def add_blocks(
        self, link_id: str, owner: Owner, blocks: Sequence[tuple[uuid.UUID, bytes]], ready: bool
    ) -> None:
        """Store blocks pulled from the link's module (an already known block ID is ignored)."""
        now = time.time()
        state = "ready" if ready else "pending"
        with self._transaction() as db:
            cursor = db.executemany(
                "INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?, ?, ?)",
                [(link_id, str(block_id), owner, state, material, now) for block_id, material in blocks],
            )
            self._count(link_id, owner, state, cursor.rowcount)

    def mark_ready(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> None:
        """The peer holds these blocks too: they may now be handed out."""
        with self._transaction() as db:
            cursor = db.executemany(
                "UPDATE blocks SET state = 'ready' "
                "WHERE link_id = ? AND block_id = ? AND owner = 'self' AND state = 'pending'",
                [(link_id, str(b)) for b in block_ids],
            )
            self._count(link_id, "self", "pending", -cursor.rowcount)
            self._count(link_id, "self", "ready", cursor.rowcount)

    def drop_blocks(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> None:
        """Delete blocks (the peer could not get its copy)."""
        with self._transaction() as db:
            for block_id in block_ids:
                row = db.execute(
                    "DELETE FROM blocks WHERE link_id = ? AND block_id = ? RETURNING owner, state",
                    (link_id, str(block_id)),
                ).fetchone()
                if row is not None:
                    self._count(link_id, row[0], row[1], -1)

    def pending_blocks(self, link_id: str, older_than_s: float) -> list[uuid.UUID]:
        """Own blocks still waiting for the peer's confirmation, older than ``older_than_s`` seconds."""
        cutoff = time.time() - older_than_s
        with self._lock:
            rows = self._db.execute(
                "SELECT block_id FROM blocks WHERE link_id = ? AND owner = 'self' AND state = 'pending' "
                "AND created_s <= ? ORDER BY created_s LIMIT 1024",
                (link_id, cutoff),
            ).fetchall()
        return [uuid.UUID(row[0]) for row in rows]

    def known_blocks(self, link_id: str, owner: Owner, block_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``block_ids`` this store holds for ``owner``."""
        with self._lock:
            found = set()
            for block_id in block_ids:
                row = self._db.execute(
                    "SELECT 1 FROM blocks WHERE link_id = ? AND block_id = ? AND owner = ?",
                    (link_id, str(block_id), owner),
                ).fetchone()
                if row:
                    found.add(block_id)
        return found

    def levels(self, link_id: str) -> PoolLevels:
        with self._lock:
            awaiting = self._db.execute(
                "SELECT COUNT(*) FROM keys WHERE link_id = ? AND material IS NOT NULL", (link_id,)
            ).fetchone()[0]
            counts = self._counts
            return PoolLevels(
                link_id=link_id,
                ready_self=counts.get((link_id, "self", "ready"), 0),
                pending_self=counts.get((link_id, "self", "pending"), 0),
                held_for_peer=counts.get((link_id, "peer", "ready"), 0),
                keys_awaiting_slaves=awaiting,
            )

    # Keys this KME makes (master side) ------------------------------------------------------------

    def take_keys(
        self, link_id: str, master: str, slaves: Sequence[str], number: int, size_bits: int
    ) -> list[tuple[uuid.UUID, bytes]]:
        """Make ``number`` keys of ``size_bits`` from own ready blocks, for ``master`` to share with
        ``slaves``; all or none. The bytes leave with the answer: only metadata stays here.

        Raises:
            KeyExhausted: not enough ready key material on the link.
        """
        per_key = -(-size_bits // BLOCK_BITS)
        needed = per_key * number
        now = time.time()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT block_id, material FROM blocks "
                "WHERE link_id = ? AND owner = 'self' AND state = 'ready' ORDER BY created_s LIMIT ?",
                (link_id, needed),
            ).fetchall()
            if len(rows) < needed:
                raise KeyExhausted(
                    f"not enough key material: {number} key(s) of {size_bits} bits need {needed} blocks, "
                    f"{len(rows)} available"
                )
            keys = []
            for index in range(number):
                chunk = rows[index * per_key : (index + 1) * per_key]
                key_id = uuid.uuid4()
                material = b"".join(row[1] for row in chunk)[: size_bits // 8]
                db.execute(
                    "INSERT INTO keys VALUES (?, ?, 'self', ?, ?, ?, ?, NULL, ?)",
                    (
                        str(key_id),
                        link_id,
                        master,
                        json.dumps(list(slaves)),
                        size_bits,
                        json.dumps([row[0] for row in chunk]),
                        now,
                    ),
                )
                db.execute("INSERT INTO deliveries VALUES (?, ?, ?)", (str(key_id), master, now))
                keys.append((key_id, material))
            db.executemany(
                "DELETE FROM blocks WHERE link_id = ? AND block_id = ?", [(link_id, row[0]) for row in rows]
            )
            self._count(link_id, "self", "ready", -len(rows))
            self._bump(db, link_id, "blocks_used_for_keys", len(rows))
        return keys

    def assignments(self, link_id: str, key_ids: Sequence[uuid.UUID], slave: str) -> list[Assignment]:
        """This KME's keys among ``key_ids`` that name ``slave`` (what the peer KME asks before it
        serves a slave SAE)."""
        found = []
        with self._lock:
            for key_id in key_ids:
                row = self._db.execute(
                    "SELECT master_sae, slaves, size_bits, block_ids FROM keys "
                    "WHERE key_id = ? AND link_id = ? AND owner = 'self'",
                    (str(key_id), link_id),
                ).fetchone()
                if row is None or slave not in json.loads(row[1]):
                    continue
                found.append(
                    Assignment(
                        key_id=key_id,
                        master=row[0],
                        slaves=tuple(json.loads(row[1])),
                        size_bits=row[2],
                        block_ids=tuple(uuid.UUID(b) for b in json.loads(row[3])),
                    )
                )
        return found

    # Keys the peer KME made (slave side) ---------------------------------------------------------

    def unknown_keys(self, key_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """The IDs among ``key_ids`` this store has no key for."""
        with self._lock:
            return [
                k
                for k in key_ids
                if self._db.execute("SELECT 1 FROM keys WHERE key_id = ?", (str(k),)).fetchone() is None
            ]

    def key_link(self, key_id: uuid.UUID) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT link_id FROM keys WHERE key_id = ?", (str(key_id),)).fetchone()
        return None if row is None else str(row[0])

    def record_assignments(self, link_id: str, assignments: Sequence[Assignment]) -> None:
        """Make the peer KME's keys from the blocks held for it (blocks are consumed). A key whose
        blocks are not all here, or that names a block twice, is skipped (it stays unknown, so its
        slaves get 401)."""
        now = time.time()
        with self._transaction() as db:
            for assignment in assignments:
                if len(set(assignment.block_ids)) != len(assignment.block_ids):
                    continue  # the same block's bytes twice in one key: never made by a sound peer
                if db.execute("SELECT 1 FROM keys WHERE key_id = ?", (str(assignment.key_id),)).fetchone():
                    continue
                parts = []
                for block_id in assignment.block_ids:
                    row = db.execute(
                        "SELECT material FROM blocks WHERE link_id = ? AND block_id = ? AND owner = 'peer'",
                        (link_id, str(block_id)),
                    ).fetchone()
                    if row is None:
                        break
                    parts.append(row[0])
                else:
                    material = b"".join(parts)[: assignment.size_bits // 8]
                    db.execute(
                        "INSERT INTO keys VALUES (?, ?, 'peer', ?, ?, ?, ?, ?, ?)",
                        (
                            str(assignment.key_id),
                            link_id,
                            assignment.master,
                            json.dumps(list(assignment.slaves)),
                            assignment.size_bits,
                            json.dumps([str(b) for b in assignment.block_ids]),
                            material,
                            now,
                        ),
                    )
                    db.executemany(
                        "DELETE FROM blocks WHERE link_id = ? AND block_id = ?",
                        [(link_id, str(b)) for b in assignment.block_ids],
                    )
                    self._count(link_id, "peer", "ready", -len(assignment.block_ids))

    def deliver(self, master: str, slave: str, key_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, bytes]]:
        """The keys ``master`` got for ``slave``; all or none, each once. Bytes are deleted once
        every slave of a key has it.

        Raises:
            Unauthorized: a key is unknown, not from ``master``, not for ``slave``, already
                delivered to it, or listed twice.
        """
        if len(set(key_ids)) != len(key_ids):
            raise Unauthorized(_NOT_YOURS)
        now = time.time()
        with self._transaction() as db:
            found = []
            for key_id in key_ids:
                row = db.execute(
                    "SELECT master_sae, slaves, material FROM keys WHERE key_id = ? AND owner = 'peer'",
                    (str(key_id),),
                ).fetchone()
                if row is None or row[0] != master or slave not in json.loads(row[1]) or row[2] is None:
                    raise Unauthorized(_NOT_YOURS)
                if db.execute(
                    "SELECT 1 FROM deliveries WHERE key_id = ? AND sae_id = ?", (str(key_id), slave)
                ).fetchone():
                    raise Unauthorized(_NOT_YOURS)
                found.append((key_id, bytes(row[2]), json.loads(row[1])))
            delivered = []
            for key_id, material, slaves in found:
                db.execute("INSERT INTO deliveries VALUES (?, ?, ?)", (str(key_id), slave, now))
                marks = ",".join("?" * len(slaves))
                done = db.execute(
                    f"SELECT COUNT(*) FROM deliveries WHERE key_id = ? AND sae_id IN ({marks})",
                    (str(key_id), *slaves),
                ).fetchone()[0]
                if done == len(slaves):
                    db.execute("UPDATE keys SET material = NULL WHERE key_id = ?", (str(key_id),))
                delivered.append((key_id, material))
        return delivered

    # Relay -------------------------------------------------------------------------------------------

    @staticmethod
    def _bump(db: sqlite3.Connection, scope: str, name: str, delta: int) -> None:
        db.execute(
            "INSERT INTO counters VALUES (?, ?, ?) "
            "ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value",
            (scope, name, delta),
        )

    def take_relay_blocks(self, link_id: str, number: int) -> list[tuple[uuid.UUID, bytes]]:
        """Take ``number`` own ready blocks of ``link_id`` to protect one relay hop: deleted in the
        same transaction (spent whatever happens to the hop), counted as ``blocks_used_for_relay``.

        Raises:
            KeyExhausted: fewer ready blocks.
        """
        with self._transaction() as db:
            rows = db.execute(
                "DELETE FROM blocks WHERE rowid IN (SELECT rowid FROM blocks "
                "WHERE link_id = ? AND owner = 'self' AND state = 'ready' ORDER BY created_s LIMIT ?) "
                "RETURNING block_id, material",
                (link_id, number),
            ).fetchall()
            if len(rows) < number:
                raise KeyExhausted(f"not enough key material on link {link_id} to relay ({number} blocks)")
            self._count(link_id, "self", "ready", -number)
            self._bump(db, link_id, "blocks_used_for_relay", number)
        return [(uuid.UUID(row[0]), bytes(row[1])) for row in rows]

    def use_peer_blocks(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> list[bytes]:
        """The bytes of the blocks held for the peer named by a relay hop, in that order; those
        found are deleted (spent, even if the hop is then refused) and counted as
        ``peer_blocks_used_for_relay``.

        Raises:
            KeyRequestInvalid: a block is not held (never was, already used, expired) or named twice.
        """
        if len(set(block_ids)) != len(block_ids):
            raise KeyRequestInvalid("a relay hop names a link-key block twice")
        found: list[bytes] = []
        with self._transaction() as db:
            for block_id in block_ids:
                row = db.execute(
                    "DELETE FROM blocks WHERE link_id = ? AND block_id = ? AND owner = 'peer' "
                    "RETURNING material",
                    (link_id, str(block_id)),
                ).fetchone()
                if row is not None:
                    found.append(bytes(row[0]))
            self._count(link_id, "peer", "ready", -len(found))
            self._bump(db, link_id, "peer_blocks_used_for_relay", len(found))
        if len(found) != len(block_ids):
            raise KeyRequestInvalid("a relay hop names link-key blocks this KME does not hold")
        return found

    def store_relayed_keys(
        self, virtual_link: str, master: str, slaves: Sequence[str], size_bits: int, keys: Sequence[Key]
    ) -> None:
        """Keep keys relayed to this KME (the far end) for their slaves; all or none.

        Raises:
            KeyRequestInvalid: a key ID already exists here.
        """
        with self._transaction() as db:
            self._keep_for_slaves(db, virtual_link, master, slaves, size_bits, keys)
            self._bump(db, virtual_link, "keys_relayed_in", len(keys))

    def store_local_keys(
        self, master: str, slaves: Sequence[str], size_bits: int, keys: Sequence[Key]
    ) -> None:
        """Keep keys this KME made for its own ``master`` and ``slaves`` (link ``local``, the master's
        delivery recorded); all or none, committed before the master gets them.

        Raises:
            KeyRequestInvalid: a key ID already exists here.
        """
        now = time.time()
        with self._transaction() as db:
            self._keep_for_slaves(db, LOCAL_SCOPE, master, slaves, size_bits, keys)
            db.executemany(
                "INSERT INTO deliveries VALUES (?, ?, ?)", [(str(k), master, now) for k, _ in keys]
            )
            self._bump(db, LOCAL_SCOPE, "keys_local", len(keys))

    @staticmethod
    def _keep_for_slaves(
        db: sqlite3.Connection,
        link_id: str,
        master: str,
        slaves: Sequence[str],
        size_bits: int,
        keys: Sequence[Key],
    ) -> None:
        """Insert keys with their bytes for :meth:`deliver` (owner ``peer``), in the caller's transaction."""
        now = time.time()
        for key_id, material in keys:
            if db.execute("SELECT 1 FROM keys WHERE key_id = ?", (str(key_id),)).fetchone():
                raise KeyRequestInvalid("a key ID is already in use")
            db.execute(
                "INSERT INTO keys VALUES (?, ?, 'peer', ?, ?, ?, '[]', ?, ?)",
                (str(key_id), link_id, master, json.dumps(list(slaves)), size_bits, material, now),
            )

    def record_relayed_keys(
        self,
        virtual_link: str,
        master: str,
        slaves: Sequence[str],
        size_bits: int,
        key_ids: Sequence[uuid.UUID],
    ) -> None:
        """The master end's record of keys the far end acknowledged (metadata only)."""
        now = time.time()
        with self._transaction() as db:
            for key_id in key_ids:
                db.execute(
                    "INSERT INTO keys VALUES (?, ?, 'self', ?, ?, ?, '[]', NULL, ?)",
                    (str(key_id), virtual_link, master, json.dumps(list(slaves)), size_bits, now),
                )
                db.execute("INSERT INTO deliveries VALUES (?, ?, ?)", (str(key_id), master, now))
            self._bump(db, virtual_link, "keys_relayed_out", len(key_ids))

    def count(self, scope: str, name: str, delta: int = 1) -> None:
        """Add ``delta`` to a counter (e.g. a virtual link's ``relay_failures``)."""
        with self._transaction() as db:
            self._bump(db, scope, name, delta)

    def counters(self, scope: str) -> dict[str, int]:
        """The counters of a link or virtual link."""
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters WHERE scope = ?", (scope,)).fetchall()
        return {str(name): int(value) for name, value in rows}

    # Time --------------------------------------------------------------------------------------------

    def expire(self, ttl_s: float, now_s: float | None = None) -> int:
        """Delete blocks and keys older than ``ttl_s`` (unused key material is wiped); returns how
        many rows went."""
        cutoff = (time.time() if now_s is None else now_s) - ttl_s
        with self._transaction() as db:
            blocks = db.execute("DELETE FROM blocks WHERE created_s < ?", (cutoff,)).rowcount
            old = [row[0] for row in db.execute("SELECT key_id FROM keys WHERE created_s < ?", (cutoff,))]
            db.executemany("DELETE FROM deliveries WHERE key_id = ?", [(k,) for k in old])
            db.executemany("DELETE FROM keys WHERE key_id = ?", [(k,) for k in old])
            if blocks:
                self._recount()
        return int(blocks) + len(old)
