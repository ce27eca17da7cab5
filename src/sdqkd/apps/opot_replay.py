"""Anti-replay for the OPoT data path: a sliding window over sequence numbers.

An exact copy of a packet that verified once verifies again (the masks depend only on the key and the
sequence number), so every node that receives OPoT packets remembers which sequence numbers it took
(draft-ietf-sfc-proof-of-transit, "Anti-Replay"). The window is the one of IPsec (RFC 4303 §3.4.3,
RFC 6479): the highest number taken and a bitmap of the ``size`` numbers below it. A number above the
highest is new; one inside the window is new if its bit is clear; one below the window is refused, as
too old to tell.

Checking and taking are two steps, as RFC 4303 §3.4.3 asks: a node checks before it works on a packet
and takes the number only once the packet passed what that node can check, so a forged packet does not
move the verifier's window.
"""

from __future__ import annotations

from typing import Final

from sdqkd.errors import ConfigError

__all__ = ["DEFAULT_WINDOW", "MAX_WINDOW", "ReplayWindow"]

DEFAULT_WINDOW: Final = 1024
"""Packets that may arrive out of order behind the newest (RFC 6479 suggests at least 1024 at high rates)."""
MAX_WINDOW: Final = 1 << 16


class ReplayWindow:
    """The sequence numbers a node took, in a window of ``size`` below the highest.

    Args:
        size: the window, in packets (1 to 65 536).

    Raises:
        ConfigError: a size out of range.
    """

    def __init__(self, size: int = DEFAULT_WINDOW) -> None:
        if not 1 <= size <= MAX_WINDOW:
            raise ConfigError(f"the replay window must hold 1 to {MAX_WINDOW} packets, not {size}")
        self.size = size
        self.highest = -1
        self._seen = 0  # bit i: highest − i was taken
        self._all = (1 << size) - 1

    def is_fresh(self, seq: int) -> bool:
        """Whether ``seq`` was not taken and is not below the window."""
        if seq > self.highest:
            return True
        offset = self.highest - seq
        return offset < self.size and not (self._seen >> offset) & 1

    def take(self, seq: int) -> None:
        """Mark ``seq`` as taken, sliding the window when it is the highest yet."""
        if seq > self.highest:
            shift = seq - self.highest
            self._seen = ((self._seen << shift) | 1) & self._all if shift < self.size else 1
            self.highest = seq
        elif self.highest - seq < self.size:
            self._seen |= 1 << (self.highest - seq)
