"""The secret key a pair of emulated QKD modules shares.

:class:`SharedKeys` is what both engines share: a side that takes keys (ETSI 014 ``enc_keys``)
becomes their master, and the other side's copy waits under the same key IDs for it to claim
(``dec_keys``). Each key ID is delivered once per side; key bytes are zeroed in memory once the
other side has them or when they expire unclaimed. Where the bytes come from is the subclass's:

- :class:`PairKeys` (the ``rate`` engine): the pair accumulates secret bits at its link's key rate
  (a reservoir, capped like a device's buffer) and a take draws the bytes from a CSPRNG against it,
  the same bytes for both sides;
- :class:`~sdqkd.emulator.block_keys.BlockKeys` (the ``protocol`` engine): each side's bytes come
  from its own end of the post-processing pipeline.
"""

from __future__ import annotations

import secrets
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from sdqkd.errors import KeyExhausted, KeyServiceUnavailable, Unauthorized

__all__ = ["PairKeys", "SharedKeys"]

# 401 for a key that does not exist, is another SAE's, or was already delivered: the answer is the
# same so that a caller learns nothing about keys that are not its own.
_NOT_YOURS = "one or more key IDs are not available to this SAE"


@dataclass
class _Pending:
    material: bytearray = field(repr=False)
    master: str
    issued_at_s: float


def wipe(material: bytearray) -> None:
    """Overwrite key bytes in place (not ``[:] = b""``: shrinking a bytearray leaves its bytes in
    memory)."""
    material[:] = bytes(len(material))


class SharedKeys(ABC):
    """The key shared by the two modules of a pair: the waiting copies and the rules of handing
    them out; where the bytes come from is the subclass's (:meth:`_draw`).

    Args:
        sides: the two module ids.
        capacity_bits: the most secret bits the pair buffers.
        max_pending_keys: the most keys one side may hold unclaimed by the other.
        pending_ttl_s: unclaimed keys are wiped after this long.
    """

    def __init__(
        self,
        sides: tuple[str, str],
        capacity_bits: int,
        max_pending_keys: int = 100_000,
        pending_ttl_s: float = 3600.0,
    ) -> None:
        self.sides = sides
        self.capacity_bits = capacity_bits
        self.max_pending_keys = max_pending_keys
        self.pending_ttl_s = pending_ttl_s
        self.delivered_keys = 0
        self._pending: dict[str, dict[uuid.UUID, _Pending]] = {side: {} for side in sides}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sides}, available_bits={self.available_bits:.0f})"

    @property
    @abstractmethod
    def available_bits(self) -> float:
        """Secret bits the pair can hand out now."""

    @abstractmethod
    def _draw(self, side: str, number: int, size_bits: int) -> list[tuple[bytes, bytearray]]:
        """Cut ``number`` keys of ``size_bits`` for ``side``: for each, ``side``'s bytes and the
        other side's copy (its own buffer, which the store wipes). Called only when
        :attr:`available_bits` covers them."""

    def other(self, side: str) -> str:
        first, second = self.sides
        return second if side == first else first

    def stored_keys(self, size_bits: int) -> int:
        """Keys of ``size_bits`` the pair holds now."""
        return int(self.available_bits // size_bits)

    def waiting(self, side: str) -> int:
        """Keys taken by the other side that wait for ``side`` to claim them."""
        return len(self._pending[side])

    def take(self, side: str, master: str, number: int, size_bits: int) -> list[tuple[uuid.UUID, bytes]]:
        """New keys for ``side`` (its SAE ``master`` becomes their master); all or none.

        Raises:
            KeyExhausted: not enough secret bits for the whole request.
            KeyServiceUnavailable: the other side has too many keys left to claim.
        """
        needed = number * size_bits
        if needed > self.available_bits:
            raise KeyExhausted(
                f"not enough key material: {number} x {size_bits} bits asked, "
                f"{int(self.available_bits)} bits available"
            )
        peer_queue = self._pending[self.other(side)]
        if len(peer_queue) + number > self.max_pending_keys:
            raise KeyServiceUnavailable("the peer has not collected earlier keys; try again later")
        now = time.monotonic()
        keys = []
        for material, peer_copy in self._draw(side, number, size_bits):
            key_id = uuid.uuid4()
            peer_queue[key_id] = _Pending(peer_copy, master, now)
            keys.append((key_id, material))
        return keys

    def claim(self, side: str, master: str, key_ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, bytes]]:
        """The keys ``master`` took for ``side``, by ID; all or none, each once.

        Raises:
            Unauthorized: an ID is unknown, not from ``master``, already claimed or repeated.
        """
        queue = self._pending[side]
        if len(set(key_ids)) != len(key_ids):
            raise Unauthorized(_NOT_YOURS)
        for key_id in key_ids:
            pending = queue.get(key_id)
            if pending is None or pending.master != master:
                raise Unauthorized(_NOT_YOURS)
        keys = []
        for key_id in key_ids:
            pending = queue.pop(key_id)
            keys.append((key_id, bytes(pending.material)))
            wipe(pending.material)  # our copy
        self.delivered_keys += len(keys)
        return keys

    def expire(self, now_s: float | None = None) -> int:
        """Wipe keys left unclaimed past the TTL; returns how many."""
        now = time.monotonic() if now_s is None else now_s
        expired = 0
        for queue in self._pending.values():
            for key_id in [k for k, p in queue.items() if now - p.issued_at_s > self.pending_ttl_s]:
                wipe(queue.pop(key_id).material)
                expired += 1
        return expired

    def clear(self) -> None:
        """Drop everything (the pair was unconfigured)."""
        for queue in self._pending.values():
            for pending in queue.values():
                wipe(pending.material)
            queue.clear()


class PairKeys(SharedKeys):
    """The key of a pair of the ``rate`` engine: a reservoir of secret bits, filled at the link's
    key rate (:meth:`accumulate`); a take draws the bytes from the operating system's CSPRNG, the
    same bytes for both sides."""

    def __init__(
        self,
        sides: tuple[str, str],
        capacity_bits: int,
        max_pending_keys: int = 100_000,
        pending_ttl_s: float = 3600.0,
    ) -> None:
        super().__init__(sides, capacity_bits, max_pending_keys, pending_ttl_s)
        self._available_bits = 0.0

    @property
    def available_bits(self) -> float:
        return self._available_bits

    def accumulate(self, bits: float) -> None:
        """Add secret bits made by the link (capped at the buffer's capacity)."""
        self._available_bits = min(self.capacity_bits, self._available_bits + max(bits, 0.0))

    def _draw(self, side: str, number: int, size_bits: int) -> list[tuple[bytes, bytearray]]:
        self._available_bits -= number * size_bits
        drawn = []
        for _ in range(number):
            material = secrets.token_bytes(size_bits // 8)
            drawn.append((material, bytearray(material)))
        return drawn

    def clear(self) -> None:
        super().clear()
        self._available_bits = 0.0
