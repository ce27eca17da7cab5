"""A key management entity: key pools per QKD link, ETSI GS QKD 014 for its SAEs, and the
synchronisation with its peer KMEs.

Key supply: for each link the KME pulls 256-bit blocks from its QKD module as master (ETSI 014
``enc_keys``, slave = the peer KME), stores them ``pending``, and asks the peer KME to pull its
copies (``dec_keys`` on the peer's module); blocks the peer confirms become ``ready``. Only ready
blocks of its own are handed out, so the two ends of a link never give out the same material.

Serving: a master SAE's ``enc_keys`` takes own ready blocks in one transaction, committed before
the answer. A slave SAE's ``dec_keys`` at the peer asks this KME which keys it made for that slave
(``assignments``) the first time it sees them, builds them from the blocks it holds, and delivers
each to each slave once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass

from sdqkd.errors import KeyRequestInvalid, KeyServiceUnavailable, SdqkdError, Unauthorized
from sdqkd.etsi014.client import Etsi014Client, Etsi014ClientError
from sdqkd.etsi014.models import Key, KeyContainer, KeyIds, KeyRequest, Status, encode_key
from sdqkd.kms.config import KmeConfig, KmeLinkConfig
from sdqkd.kms.peer import BlocksResponse, PeerClient
from sdqkd.kms.store import BLOCK_BITS, Assignment, KeyStore, PoolLevels
from sdqkd.pki.identity import Identity, Role

__all__ = ["Kme", "KmeLimits"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KmeLimits:
    """What the KME offers SAEs (ETSI GS QKD 014 §6.1 status fields)."""

    key_size_bits: int = 256
    min_key_size_bits: int = 64
    max_key_size_bits: int = 4096
    max_keys_per_request: int = 128
    max_additional_slaves: int = 8
    device_batch: int = 256


class Kme:
    """One KME. Create it, ``await start()`` (opens clients, starts the supply), ``await stop()``."""

    def __init__(self, config: KmeConfig, store: KeyStore, limits: KmeLimits | None = None) -> None:
        self.config = config
        self.id = config.kme_id
        self.store = store
        self.limits = limits or KmeLimits()
        self.links = {link.id: link for link in config.links}
        self._by_peer = {link.peer_kme_id: link for link in config.links}
        self._devices: dict[str, Etsi014Client] = {}
        self._peers: dict[str, PeerClient] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # Life cycle --------------------------------------------------------------------------------------

    async def start(self, supply: bool = True) -> None:
        tls = self.config.tls
        for link in self.config.links:
            self._devices[link.id] = Etsi014Client(
                link.device.etsi014_url, cert=tls.cert, key=tls.key, ca=tls.ca
            )
            self._peers[link.id] = PeerClient(link.peer_url, tls.cert, tls.key, tls.ca)
            if supply:
                self._tasks.append(asyncio.create_task(self._supply(link), name=f"kme-supply-{link.id}"))
        if supply:
            self._tasks.append(asyncio.create_task(self._expire(), name="kme-expire"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for device in self._devices.values():
            await device.aclose()
        for peer in self._peers.values():
            await peer.aclose()
        self._devices.clear()
        self._peers.clear()

    # Directory -----------------------------------------------------------------------------------------

    def _local_sae(self, caller: Identity) -> str:
        if caller.role is not Role.SAE or self.config.saes.get(caller.name) != self.id:
            raise Unauthorized("this KME serves only the SAEs attached to it")
        return caller.name

    def _link_to_sae(self, sae_id: str) -> KmeLinkConfig:
        kme = self.config.saes.get(sae_id)
        link = self._by_peer.get(kme) if kme is not None else None
        if link is None:
            raise KeyRequestInvalid(f"no key association with SAE {sae_id!r} from this KME")
        return link

    def levels(self) -> list[PoolLevels]:
        return [self.store.levels(link_id) for link_id in self.links]

    # ETSI GS QKD 014 (the KeyService) ---------------------------------------------------------------

    async def status(self, caller: Identity, slave_sae_id: str) -> Status:
        master = self._local_sae(caller)
        link = self._link_to_sae(slave_sae_id)
        limits = self.limits
        levels = self.store.levels(link.id)
        return Status(
            source_kme_id=self.id,
            target_kme_id=link.peer_kme_id,
            master_sae_id=master,
            slave_sae_id=slave_sae_id,
            key_size=limits.key_size_bits,
            stored_key_count=levels.ready_self * BLOCK_BITS // limits.key_size_bits,
            max_key_count=self.config.pool_target_blocks * BLOCK_BITS // limits.key_size_bits,
            max_key_per_request=limits.max_keys_per_request,
            max_key_size=limits.max_key_size_bits,
            min_key_size=limits.min_key_size_bits,
            max_sae_id_count=limits.max_additional_slaves,
        )

    async def enc_keys(self, caller: Identity, slave_sae_id: str, request: KeyRequest) -> KeyContainer:
        master = self._local_sae(caller)
        limits = self.limits
        if request.extension_mandatory:
            raise KeyRequestInvalid(
                "unsupported mandatory extension",
                details=[{"extension_mandatory": request.extension_mandatory}],
            )
        number = request.number or 1
        size = request.size or limits.key_size_bits
        if number > limits.max_keys_per_request:
            raise KeyRequestInvalid(f"number exceeds max_key_per_request ({limits.max_keys_per_request})")
        if not limits.min_key_size_bits <= size <= limits.max_key_size_bits or size % 8:
            low, high = limits.min_key_size_bits, limits.max_key_size_bits
            raise KeyRequestInvalid(f"size must be a multiple of 8 from {low} to {high} bits")
        link = self._link_to_sae(slave_sae_id)
        slaves = list(dict.fromkeys([slave_sae_id, *request.additional_slave_sae_ids]))
        if len(slaves) - 1 > limits.max_additional_slaves:
            raise KeyRequestInvalid(f"at most {limits.max_additional_slaves} additional slave SAEs")
        for other in slaves[1:]:
            if self.config.saes.get(other) != link.peer_kme_id:
                raise KeyRequestInvalid(
                    f"additional slave SAE {other!r} is not attached to KME {link.peer_kme_id!r}"
                )
        taken = self.store.take_keys(link.id, master, slaves, number, size)
        log.debug("enc_keys: %d key(s) of %d bits for %s", number, size, master)
        return KeyContainer(keys=[Key(key_id=key_id, key=encode_key(material)) for key_id, material in taken])

    async def dec_keys(self, caller: Identity, master_sae_id: str, key_ids: KeyIds) -> KeyContainer:
        slave = self._local_sae(caller)
        ids = [k.key_id for k in key_ids.key_ids]
        master_kme = self.config.saes.get(master_sae_id)
        link = self._by_peer.get(master_kme) if master_kme is not None else None
        if link is None:  # the same answer as for any key that is not the caller's
            raise Unauthorized("one or more key IDs are not available to this SAE")
        unknown = self.store.unknown_keys(ids)
        if unknown:
            assignments = await self._peers[link.id].assignments(link.id, unknown, slave)
            self.store.record_assignments(link.id, [a for a in assignments if a.master == master_sae_id])
        delivered = self.store.deliver(master_sae_id, slave, ids)
        log.debug("dec_keys: %d key(s) for %s", len(delivered), slave)
        return KeyContainer(
            keys=[Key(key_id=key_id, key=encode_key(material)) for key_id, material in delivered]
        )

    # KME↔KME (served to the peer) --------------------------------------------------------------------

    def _peer_link(self, caller: Identity, link_id: str) -> KmeLinkConfig:
        link = self.links.get(link_id)
        if link is None or caller.role is not Role.KME or caller.name != link.peer_kme_id:
            raise Unauthorized("only the peer KME of this link may call")
        return link

    async def hold_blocks(self, caller: Identity, link_id: str, block_ids: list[uuid.UUID]) -> BlocksResponse:
        """The peer pulled ``block_ids`` as master: pull our copies from our module as slave."""
        link = self._peer_link(caller, link_id)
        known = self.store.known_blocks(link.id, "peer", block_ids)
        wanted = [b for b in block_ids if b not in known]
        missing: list[uuid.UUID] = []
        if wanted:
            try:
                container = await self._devices[link.id].dec_keys(link.device.peer_sae_id, wanted)
            except Etsi014ClientError as exc:
                if exc.status_code in (400, 401):  # the device does not have them (any more)
                    return BlocksResponse(held=sorted(known, key=str), missing=wanted)
                raise KeyServiceUnavailable(f"our QKD module did not answer ({exc.status_code})") from exc
            got = {k.key_id: k.material() for k in container.keys}
            self.store.add_blocks(link.id, "peer", list(got.items()), ready=True)
            missing = [b for b in wanted if b not in got]
            known |= set(got)
        return BlocksResponse(held=[b for b in block_ids if b in known], missing=missing)

    async def assignments(
        self, caller: Identity, link_id: str, key_ids: list[uuid.UUID], slave: str
    ) -> list[Assignment]:
        link = self._peer_link(caller, link_id)
        return self.store.assignments(link.id, key_ids, slave)

    # Supply --------------------------------------------------------------------------------------------

    async def fill_once(self, link: KmeLinkConfig) -> int:
        """One round of pool filling on ``link``; returns the blocks made ready."""
        levels = self.store.levels(link.id)
        device = self._devices[link.id]
        peer = self._peers[link.id]
        ready = 0
        # Blocks the peer has not confirmed yet (e.g. it was down): ask again.
        retry = self.store.pending_blocks(link.id, older_than_s=2.0)
        if retry:
            answer = await peer.hold_blocks(link.id, retry)
            self.store.mark_ready(link.id, answer.held)
            self.store.drop_blocks(link.id, answer.missing)
            ready += len(answer.held)
        deficit = self.config.pool_target_blocks - levels.ready_self - levels.pending_self
        if deficit <= 0:
            return ready
        status = await device.status(link.device.peer_sae_id)
        available = status.stored_key_count * status.key_size // BLOCK_BITS
        number = min(deficit, self.limits.device_batch, status.max_key_per_request, available)
        if number <= 0:
            return ready
        container = await device.enc_keys(link.device.peer_sae_id, number=number, size=BLOCK_BITS)
        blocks = [(k.key_id, k.material()) for k in container.keys]
        self.store.add_blocks(link.id, "self", blocks, ready=False)
        answer = await peer.hold_blocks(link.id, [b for b, _ in blocks])
        self.store.mark_ready(link.id, answer.held)
        self.store.drop_blocks(link.id, answer.missing)
        return ready + len(answer.held)

    async def _supply(self, link: KmeLinkConfig) -> None:
        pause = 0.05
        while True:
            try:
                made = await self.fill_once(link)
                pause = 0.05 if made else min(pause * 2, 0.5)
            except (SdqkdError, Etsi014ClientError) as exc:
                log.warning("key supply on %s: %s", link.id, type(exc).__name__)
                pause = min(max(pause * 2, 0.2), 2.0)
            await asyncio.sleep(pause)

    async def _expire(self) -> None:
        """Housekeeping: wipe keys past their TTL, and checkpoint the store so that used key bytes
        do not linger in its write-ahead log (every 2 s)."""
        last_expiry = 0.0
        while True:
            await asyncio.sleep(2.0)
            now = asyncio.get_running_loop().time()
            if now - last_expiry >= min(10.0, self.config.key_ttl_s / 4):
                self.store.expire(self.config.key_ttl_s)
                last_expiry = now
            self.store.checkpoint()
