"""The secret key a pair of emulated QKD modules shares.

A pair accumulates secret bits at its link's key rate (a reservoir, capped like a device's buffer).
A side that takes keys (ETSI 014 ``enc_keys``) draws them from a CSPRNG against that reservoir and
becomes their master; the same bytes wait, under the same key IDs, for the other side to claim
them (``dec_keys``). Each key ID is delivered once per side; key bytes are zeroed in memory once
the other side has them or when they expire unclaimed.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field

from sdqkd.errors import KeyExhausted, KeyServiceUnavailable, Unauthorized

__all__ = ["PairKeys"]

# 401 for a key that does not exist, is another SAE's, or was already delivered: the answer is the
# same so that a caller learns nothing about keys that are not its own.
_NOT_YOURS = "one or more key IDs are not available to this SAE"


@dataclass
class _Pending:
    material: bytearray = field(repr=False)
    master: str
    issued_at_s: float


class PairKeys:
    """The key shared by the two modules of a pair.

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
        self.available_bits = 0.0
        self.delivered_keys = 0
        self._pending: dict[str, dict[uuid.UUID, _Pending]] = {side: {} for side in sides}

    def __repr__(self) -> str:
        return f"PairKeys({self.sides}, available_bits={self.available_bits:.0f})"

    def other(self, side: str) -> str:
        first, second = self.sides
        return second if side == first else first

    def accumulate(self, bits: float) -> None:
        """Add secret bits made by the link (capped at the buffer's capacity)."""
        self.available_bits = min(self.capacity_bits, self.available_bits + max(bits, 0.0))

    def stored_keys(self, size_bits: int) -> int:
        """Keys of ``size_bits`` the reservoir holds now."""
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
        self.available_bits -= needed
        now = time.monotonic()
        keys = []
        for _ in range(number):
            key_id = uuid.uuid4()
            material = secrets.token_bytes(size_bits // 8)
            peer_queue[key_id] = _Pending(bytearray(material), master, now)
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
            pending.material[:] = bytes(len(pending.material))  # wipe our copy
        self.delivered_keys += len(keys)
        return keys

    def expire(self, now_s: float | None = None) -> int:
        """Wipe keys left unclaimed past the TTL; returns how many."""
        now = time.monotonic() if now_s is None else now_s
        expired = 0
        for queue in self._pending.values():
            for key_id in [k for k, p in queue.items() if now - p.issued_at_s > self.pending_ttl_s]:
                material = queue.pop(key_id).material
                # overwrite, not ``[:] = b""``: shrinking a bytearray leaves its bytes in memory
                material[:] = bytes(len(material))
                expired += 1
        return expired

    def clear(self) -> None:
        """Drop everything (the pair was unconfigured)."""
        for queue in self._pending.values():
            for pending in queue.values():
                pending.material[:] = bytes(len(pending.material))
            queue.clear()
        self.available_bits = 0.0
