"""The QKD keys that mask one hop of an OPoT path, taken over ETSI GS QKD 014.

The two nodes of a hop are the two SAEs of a key: the upstream node asks its KME for a new key with
``enc_keys`` (as its node's SAE, for the downstream node's SAE) and names the key's ID in every datagram
it masks with it; the downstream node asks its own KME for that key with ``dec_keys`` the first time it
sees the ID, and keeps it. A KME gives a key ID to the slave once, so an ID that was never made for this
hop, or one taken already, is refused — and the packets that name it fail.

:class:`HopSender` is the upstream end (a new key every N packets or S seconds, never an ID twice);
:class:`HopReceiver` the downstream end (a bounded cache of keys, a bounded memory of refused IDs).
Key material is never logged, only key IDs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from sdqkd.errors import ConfigError, OpotError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.etsi014.client import Etsi014ClientError
from sdqkd.opot import MIN_KEY_BYTES

__all__ = ["HopReceiver", "HopSender", "RefreshPolicy"]

log = logging.getLogger(__name__)

_KEYS_KEPT: Final = 8
"""Keys a downstream node keeps: the current one and a few before it, for packets still on their way."""
_REFUSED_KEPT: Final = 1024
_IDS_REPORTED: Final = 20


@dataclass(frozen=True)
class RefreshPolicy:
    """When the upstream node of a hop takes a new key.

    Attributes:
        packets: a new key after this many packets under the current one (0: not by count).
        seconds: a new key once the current one is this old, at the next packet (0: not by time).
        key_bits: the size of each key, bits (at least 128: the masks' HMAC key).
        retry_s: the wait before asking again after the KME gave no key (the current key goes on).
    """

    packets: int = 10_000
    seconds: float = 60.0
    key_bits: int = 256
    retry_s: float = 1.0

    def __post_init__(self) -> None:
        if self.packets < 0 or self.seconds < 0 or self.retry_s < 0:
            raise ConfigError("the refresh packets, seconds and retry must be 0 or more")
        if self.key_bits < 8 * MIN_KEY_BYTES or self.key_bits % 8:
            raise ConfigError(f"a mask key needs a whole number of bytes, at least {MIN_KEY_BYTES}")


class HopSender:
    """The upstream end of a hop: the key the next datagrams are masked with, renewed by the policy.

    A renewal runs in the background; datagrams go on under the current key meanwhile, so the data path
    never waits for the KME. Only :meth:`start` waits, for the first key.

    Args:
        kme: this node's KME, as the SAE ``me``.
        peer: the downstream node's SAE ID (the keys' slave).
        hop: the hop's name, for logs and stats (``"n1->n2"``).
    """

    def __init__(self, kme: Etsi014Client, peer: str, hop: str, policy: RefreshPolicy) -> None:
        self.kme, self.peer, self.hop, self.policy = kme, peer, hop, policy
        self.key_ids: list[uuid.UUID] = []
        """Every key ID this end took, oldest first (each once)."""
        self._key: tuple[uuid.UUID, bytes] | None = None
        self._packets = 0
        self._since = 0.0
        self._not_before = 0.0
        self._renewal: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the first key.

        Raises:
            OpotError: the KME gave none.
        """
        await self._renew()
        if self._key is None:
            raise OpotError(f"hop {self.hop}: no first QKD key from the KME")

    def current(self) -> tuple[uuid.UUID, bytes]:
        """The key ID and key for the next datagram, counted; starts a renewal when one is due."""
        if self._key is None:
            raise OpotError(f"hop {self.hop}: no QKD key yet (start() first)")
        self._packets += 1
        if self._due() and self._renewal is None:
            self._renewal = asyncio.get_running_loop().create_task(self._renew())
            self._renewal.add_done_callback(self._renewed)
        return self._key

    def recent_key_ids(self) -> list[str]:
        """The last key IDs taken, for the stats."""
        return [str(k) for k in self.key_ids[-_IDS_REPORTED:]]

    async def aclose(self) -> None:
        """Stop a renewal under way."""
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)

    def _due(self) -> bool:
        now = time.monotonic()
        if now < self._not_before:
            return False
        by_count = self.policy.packets > 0 and self._packets >= self.policy.packets
        by_time = self.policy.seconds > 0 and now - self._since >= self.policy.seconds
        return by_count or by_time

    def _renewed(self, task: asyncio.Task[None]) -> None:
        self._renewal = None

    async def _renew(self) -> None:
        try:
            container = await self.kme.enc_keys(self.peer, number=1, size=self.policy.key_bits)
            (key,) = container.keys
            key_id, material = key.key_id, key.material()
        except (Etsi014ClientError, ValueError) as exc:
            self._not_before = time.monotonic() + self.policy.retry_s
            log.warning("opot hop %s: no new QKD key (%s); the current key goes on", self.hop, exc)
            return
        if key_id in self.key_ids:  # a KME never gives an ID twice; should one, it is not used again
            log.error("opot hop %s: the KME gave key ID %s a second time; refused", self.hop, key_id)
            self._not_before = time.monotonic() + self.policy.retry_s
            return
        if len(material) < MIN_KEY_BYTES:
            log.error("opot hop %s: key %s is under %d bytes; refused", self.hop, key_id, MIN_KEY_BYTES)
            self._not_before = time.monotonic() + self.policy.retry_s
            return
        self.key_ids.append(key_id)
        self._key, self._packets, self._since = (key_id, material), 0, time.monotonic()
        log.info("opot hop %s: QKD key %s", self.hop, key_id)


class HopReceiver:
    """The downstream end of a hop: the keys the upstream node named, fetched once each by ID.

    Args:
        kme: this node's KME, as its SAE.
        peer: the upstream node's SAE ID (the keys' master).
        hop: the hop's name, for logs and stats.
    """

    def __init__(self, kme: Etsi014Client, peer: str, hop: str) -> None:
        self.kme, self.peer, self.hop = kme, peer, hop
        self._keys: OrderedDict[uuid.UUID, bytes] = OrderedDict()
        self._refused: OrderedDict[uuid.UUID, None] = OrderedDict()
        self.key_ids: list[uuid.UUID] = []
        """Every key ID fetched, oldest first."""

    def known(self, key_id: uuid.UUID) -> bytes | None:
        """The key of ``key_id`` if it was fetched (and is still kept)."""
        return self._keys.get(key_id)

    def refused(self, key_id: uuid.UUID) -> bool:
        """Whether the KME refused ``key_id`` before (unknown, or taken already)."""
        return key_id in self._refused

    async def fetch(self, key_id: uuid.UUID) -> bytes | None:
        """The key of ``key_id`` from the KME (``dec_keys``), kept; None when the KME refuses it."""
        try:
            container = await self.kme.dec_keys(self.peer, [key_id])
            (key,) = container.keys
            material: bytes = key.material()
            if key.key_id != key_id or len(material) < MIN_KEY_BYTES:
                raise ValueError("another key than the one asked for, or one too short")
        except (Etsi014ClientError, ValueError) as exc:
            log.warning("opot hop %s: key ID %s refused: %s", self.hop, key_id, exc)
            self._refused[key_id] = None
            if len(self._refused) > _REFUSED_KEPT:
                self._refused.popitem(last=False)
            return None
        self._keys[key_id] = material
        self.key_ids.append(key_id)
        if len(self._keys) > _KEYS_KEPT:
            self._keys.popitem(last=False)  # a later packet naming it is refused by the KME: fails
        log.info("opot hop %s: QKD key %s", self.hop, key_id)
        return material

    def recent_key_ids(self) -> list[str]:
        """The last key IDs fetched, for the stats."""
        return [str(k) for k in self.key_ids[-_IDS_REPORTED:]]
