"""What a KME needs from its key storage: the :class:`KeyStore` interface, the records it passes
(:class:`Assignment`, :class:`PoolLevels`) and the constants every backend shares (SQLite:
:mod:`sdqkd.kms.store`; a PostgreSQL backend implements the same)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["BLOCK_BITS", "LOCAL_SCOPE", "Assignment", "Key", "KeyStore", "Owner", "PoolLevels"]

BLOCK_BITS = 256
Owner = Literal["self", "peer"]
Key = tuple[uuid.UUID, bytes]
"""A key's ID and bytes."""
LOCAL_SCOPE = "local"  # link ID and counter scope of keys between SAEs of this KME (no link's name)


@dataclass(frozen=True)
class Assignment:
    """A key this KME made for a master SAE, as the peer KME needs it to serve the slaves."""

    key_id: uuid.UUID
    master: str
    slaves: tuple[str, ...]
    size_bits: int
    block_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class PoolLevels:
    """Pool levels of one link, in 256-bit blocks."""

    link_id: str
    ready_self: int
    pending_self: int
    held_for_peer: int
    keys_awaiting_slaves: int


class KeyStore(Protocol):
    """What a KME needs from its storage (SQLite here; a PostgreSQL backend implements the same)."""

    def add_blocks(
        self, link_id: str, owner: Owner, blocks: Sequence[tuple[uuid.UUID, bytes]], ready: bool
    ) -> None: ...
    def mark_ready(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> None: ...
    def drop_blocks(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> None: ...
    def pending_blocks(self, link_id: str, older_than_s: float) -> list[uuid.UUID]: ...
    def known_blocks(self, link_id: str, owner: Owner, block_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]: ...
    def levels(self, link_id: str) -> PoolLevels: ...
    def take_keys(
        self, link_id: str, master: str, slaves: Sequence[str], number: int, size_bits: int
    ) -> list[Key]: ...
    def assignments(self, link_id: str, key_ids: Sequence[uuid.UUID], slave: str) -> list[Assignment]: ...
    def unknown_keys(self, key_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]: ...
    def record_assignments(self, link_id: str, assignments: Sequence[Assignment]) -> None: ...
    def deliver(self, master: str, slave: str, key_ids: Sequence[uuid.UUID]) -> list[Key]: ...
    def key_link(self, key_id: uuid.UUID) -> str | None: ...
    def take_relay_blocks(self, link_id: str, number: int) -> list[tuple[uuid.UUID, bytes]]: ...
    def use_peer_blocks(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> list[bytes]: ...
    def store_relayed_keys(
        self, virtual_link: str, master: str, slaves: Sequence[str], size_bits: int, keys: Sequence[Key]
    ) -> None: ...
    def record_relayed_keys(
        self,
        virtual_link: str,
        master: str,
        slaves: Sequence[str],
        size_bits: int,
        key_ids: Sequence[uuid.UUID],
    ) -> None: ...
    def store_local_keys(
        self, master: str, slaves: Sequence[str], size_bits: int, keys: Sequence[Key]
    ) -> None: ...
    def count(self, scope: str, name: str, delta: int = 1) -> None: ...
    def counters(self, scope: str) -> dict[str, int]: ...
    def expire(self, ttl_s: float, now_s: float | None = None) -> int: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
