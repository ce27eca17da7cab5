"""The key of a pair of the ``protocol`` engine: two byte streams, one per end of the pipeline.

Each block the pair's post-processing completes (:mod:`sdqkd.emulator.protocol`) appends Alice's
final key to the transmitter's stream and Bob's to the receiver's, as two separate buffers. A take
by one side cuts its own next bytes and queues, under the same key IDs, the bytes at the same
positions of the *other* side's stream for the peer to claim (ETSI GS QKD 014 ``enc_keys`` at one
end, ``dec_keys`` at the other, as with the ``rate`` engine). Nothing compares the two streams: the
keys the two ends receive are equal because, and only when, reconciliation made the blocks' keys
equal, as in a real device pair.

Bits past a block's last whole byte are dropped (fewer than 8 per block); a block that does not fit
the buffer's capacity is cut to fit, as a full device buffer drops new key.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

from sdqkd.emulator.keys import SharedKeys, wipe

__all__ = ["BlockKeys"]


class BlockKeys(SharedKeys):
    """Two byte streams, the transmitter's (``sides[0]``, Alice) and the receiver's (``sides[1]``,
    Bob), always of equal length.

    Args:
        sides: the transmitter and the receiver module ids, in that order.
        capacity_bits: the most key bits the pair buffers (per side).
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
        super().__init__(sides, capacity_bits, max_pending_keys, pending_ttl_s)
        # one (transmitter bytes, receiver bytes) per block, oldest first; ``_offset`` bytes of the
        # first are handed out already (and wiped)
        self._blocks: deque[tuple[bytearray, bytearray]] = deque()
        self._offset = 0
        self._bytes = 0

    @property
    def available_bits(self) -> float:
        return float(self._bytes * 8)

    @property
    def full(self) -> bool:
        """Whether the buffer holds all it can (a block's key would be dropped)."""
        return self._bytes + 1 > self.capacity_bits // 8

    def deliver(self, transmitter_bits: NDArray[np.uint8], receiver_bits: NDArray[np.uint8]) -> int:
        """Append one block's final key: Alice's bits to the transmitter's stream, Bob's to the
        receiver's (0/1 values, the same length). Returns the bits stored."""
        if transmitter_bits.shape != receiver_bits.shape or transmitter_bits.ndim != 1:
            raise ValueError("a block's two keys must be bit arrays of the same length")
        room = self.capacity_bits // 8 - self._bytes
        size = min(transmitter_bits.size // 8, max(room, 0))
        if size == 0:
            return 0
        streams = []
        for bits in (transmitter_bits, receiver_bits):
            packed = np.packbits(bits[: size * 8])
            streams.append(bytearray(packed.data))  # copied from the buffer: no bytes object left
            packed.fill(0)
        self._blocks.append((streams[0], streams[1]))
        self._bytes += size
        return size * 8

    def _cut(self, size: int) -> tuple[bytearray, bytearray]:
        """The next ``size`` bytes of both streams (the caller checked they are there); wiped from
        the buffer."""
        cut_tx, cut_rx = bytearray(), bytearray()
        while len(cut_tx) < size:
            first_tx, first_rx = self._blocks[0]
            end = min(len(first_tx), self._offset + size - len(cut_tx))
            for source, target in ((first_tx, cut_tx), (first_rx, cut_rx)):
                with memoryview(source) as view:
                    target += view[self._offset : end]
                source[self._offset : end] = bytes(end - self._offset)
            self._offset = end
            if end == len(first_tx):
                self._blocks.popleft()
                self._offset = 0
        self._bytes -= size
        return cut_tx, cut_rx

    def _draw(self, side: str, number: int, size_bits: int) -> list[tuple[bytes, bytearray]]:
        own = 0 if side == self.sides[0] else 1
        drawn = []
        for _ in range(number):
            pieces = self._cut(size_bits // 8)
            material = bytes(pieces[own])
            wipe(pieces[own])
            drawn.append((material, pieces[1 - own]))
        return drawn

    def clear(self) -> None:
        super().clear()
        for transmitter, receiver in self._blocks:
            wipe(transmitter)
            wipe(receiver)
        self._blocks.clear()
        self._offset = 0
        self._bytes = 0
