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

Relay: for a slave SAE whose KME is the far end of a virtual link, ``enc_keys`` draws fresh keys
from the operating system's CSPRNG and sends them hop by hop along the link's path
(:mod:`sdqkd.kms.relay`, ETSI GS QKD 020 ``ext_keys``); each intermediate KME verifies, decrypts,
re-encrypts with the next hop's link key and forwards, keeping nothing; the far end stores the keys
for its slaves. The master SAE gets the keys only once the far end acknowledged; otherwise 503.

Local keys: two SAEs of the same KME get keys from its CSPRNG: no QKD link is involved, both are at
one trusted site. ``enc_keys`` for a slave (and every additional slave) attached to this KME draws
the keys from :func:`secrets.token_bytes`, stores them for the slaves (pseudo link ``local``,
committed before the answer) and returns them to the master; ``dec_keys`` delivers each once to
each slave, as keys of a link.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass

from sdqkd.errors import (
    ConfigError,
    Forbidden,
    KeyRequestInvalid,
    KeyServiceUnavailable,
    Unauthorized,
)
from sdqkd.etsi014.client import Etsi014Client, Etsi014ClientError
from sdqkd.etsi014.models import Key, KeyContainer, KeyIds, KeyRequest, Status, encode_key
from sdqkd.kms.config import KmeConfig, KmeLinkConfig, VirtualLinkConfig, VirtualLinkHops
from sdqkd.kms.peer import BlocksResponse, PeerClient
from sdqkd.kms.relay import (
    AckContainer,
    AckKeyId,
    ExtKeysRequest,
    HopRefused,
    Plaintext,
    blocks_per_hop,
    new_plaintext,
    open_hop,
    seal_hop,
)
from sdqkd.kms.store import BLOCK_BITS, LOCAL_SCOPE, Assignment, KeyStore, PoolLevels
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.loops import Idle, Loops, RoundBody

__all__ = ["Kme", "KmeLimits"]

log = logging.getLogger(__name__)


def _own_slave(master: str) -> str:
    return f"SAE {master!r} cannot be its own slave"


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
        self.virtual_links: dict[str, VirtualLinkHops] = {
            virtual.id: virtual.hops_at(self.id, config.links) for virtual in config.virtual_links
        }
        self._devices: dict[str, Etsi014Client] = {}
        self._peers: dict[str, PeerClient] = {}
        self.loops = Loops(logger=log, backoff_s=0.2, max_backoff_s=2.0)
        """The key supply of each link and the housekeeping: never ended by an error (``/health``)."""
        self.keys_served: Counter[tuple[str, str, str]] = Counter()
        """Keys handed to SAEs since the KME started, by (``enc_keys`` or ``dec_keys``, master SAE,
        slave SAE: the first one named for ``enc_keys``); for the metrics."""

    # Life cycle --------------------------------------------------------------------------------------

    async def start(self, supply: bool = True) -> None:
        tls = self.config.tls
        for link in self.config.links:
            self._devices[link.id] = Etsi014Client(
                link.device.etsi014_url, cert=tls.cert, key=tls.key, ca=tls.ca
            )
            self._peers[link.id] = PeerClient(
                link.peer_url, tls.cert, tls.key, tls.ca, peer_kme_id=link.peer_kme_id, crl=tls.crl
            )
            if supply:
                self.loops.start(f"kme-{self.id}-supply-{link.id}", self._supply_round(link))
        if supply:
            self.loops.start(f"kme-{self.id}-expire", self._expire_round(), interval_s=2.0, delay_s=2.0)

    async def stop(self) -> None:
        await self.loops.stop()
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

    def _virtual_to(self, kme_id: str | None) -> list[VirtualLinkHops]:
        """The virtual links from this KME whose far end is ``kme_id`` (in configuration order)."""
        return [
            v
            for v in self.virtual_links.values()
            if kme_id is not None and v.config.far_end(self.id) == kme_id
        ]

    def levels(self) -> list[PoolLevels]:
        return [self.store.levels(link_id) for link_id in self.links]

    def put_virtual_link(self, virtual: VirtualLinkConfig) -> bool:
        """Add or replace a virtual link at run time (the controller re-routes); True if new.

        Raises:
            KeyRequestInvalid: it does not fit this KME's links (not on its path, no such hop).
        """
        if virtual.id in self.links or virtual.id == LOCAL_SCOPE:
            raise KeyRequestInvalid(f"{virtual.id!r} is a physical link or reserved")
        try:
            hops = virtual.hops_at(self.id, list(self.links.values()))
        except ConfigError as exc:
            raise KeyRequestInvalid(str(exc)) from exc
        new = virtual.id not in self.virtual_links
        self.virtual_links[virtual.id] = hops
        log.info("virtual link %s %s", virtual.id, "added" if new else "replaced")
        return new

    def remove_virtual_link(self, virtual_link_id: str) -> bool:
        """Remove a virtual link (keys already stored for slaves stay deliverable); True if it existed."""
        removed = self.virtual_links.pop(virtual_link_id, None) is not None
        if removed:
            log.info("virtual link %s removed", virtual_link_id)
        return removed

    # ETSI GS QKD 014 (the KeyService) ---------------------------------------------------------------

    async def status(self, caller: Identity, slave_sae_id: str) -> Status:
        master = self._local_sae(caller)
        limits = self.limits
        max_keys = self.config.pool_target_blocks * BLOCK_BITS // limits.key_size_bits
        slave_kme = self.config.saes.get(slave_sae_id)
        virtual = self._virtual_to(slave_kme)
        if slave_kme == self.id:
            if slave_sae_id == master:
                raise KeyRequestInvalid(_own_slave(master))
            # local keys come from the CSPRNG, which never runs dry: always a full pool's worth
            target_kme, stored = self.id, max_keys
        elif virtual:
            # What the first hop can carry now: one block of each request goes to the MAC.
            first_hop = virtual[0].hop_towards(virtual[0].config.far_end(self.id) or "")
            target_kme = virtual[0].config.far_end(self.id) or ""
            ready = max(0, self.store.levels(first_hop).ready_self - 1) if first_hop else 0
            stored = ready * BLOCK_BITS // limits.key_size_bits
        else:
            link = self._link_to_sae(slave_sae_id)
            target_kme, ready = link.peer_kme_id, self.store.levels(link.id).ready_self
            stored = ready * BLOCK_BITS // limits.key_size_bits
        return Status(
            source_kme_id=self.id,
            target_kme_id=target_kme,
            master_sae_id=master,
            slave_sae_id=slave_sae_id,
            key_size=limits.key_size_bits,
            stored_key_count=stored,
            max_key_count=max_keys,
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
                # their names only: the values may be large, and an error never echoes a request
                details=[
                    {"extension_mandatory": sorted({n[:64] for e in request.extension_mandatory for n in e})}
                ],
            )
        number = request.number or 1
        size = request.size or limits.key_size_bits
        if number > limits.max_keys_per_request:
            raise KeyRequestInvalid(f"number exceeds max_key_per_request ({limits.max_keys_per_request})")
        if not limits.min_key_size_bits <= size <= limits.max_key_size_bits or size % 8:
            low, high = limits.min_key_size_bits, limits.max_key_size_bits
            raise KeyRequestInvalid(f"size must be a multiple of 8 from {low} to {high} bits")
        slave_kme = self.config.saes.get(slave_sae_id)
        local = slave_kme == self.id
        virtual = [] if local else self._virtual_to(slave_kme)
        link = None if virtual or local else self._link_to_sae(slave_sae_id)
        slaves = list(dict.fromkeys([slave_sae_id, *request.additional_slave_sae_ids]))
        if len(slaves) - 1 > limits.max_additional_slaves:
            raise KeyRequestInvalid(f"at most {limits.max_additional_slaves} additional slave SAEs")
        for other in slaves[1:]:
            if self.config.saes.get(other) != slave_kme:
                raise KeyRequestInvalid(
                    f"additional slave SAE {other[:64]!r} is not attached to KME {slave_kme!r}"
                )
        if local:
            container = self._local_keys(master, slaves, number, size)
        elif link is None:
            relayed = await self._relay(virtual, master, slaves, number, size)
            container = KeyContainer(keys=[Key(key_id=key_id, key=encode_key(m)) for key_id, m in relayed])
        else:
            taken = self.store.take_keys(link.id, master, slaves, number, size)
            log.debug("enc_keys: %d key(s) of %d bits for %s", number, size, master)
            container = KeyContainer(keys=[Key(key_id=k, key=encode_key(material)) for k, material in taken])
        self.keys_served[("enc_keys", master, slave_sae_id)] += len(container.keys)
        return container

    async def dec_keys(self, caller: Identity, master_sae_id: str, key_ids: KeyIds) -> KeyContainer:
        slave = self._local_sae(caller)
        if len(key_ids.key_ids) > self.limits.max_keys_per_request:  # before any is looked up
            raise KeyRequestInvalid(
                f"more key IDs than max_key_per_request ({self.limits.max_keys_per_request})"
            )
        ids = [k.key_id for k in key_ids.key_ids]
        master_kme = self.config.saes.get(master_sae_id)
        link = self._by_peer.get(master_kme) if master_kme is not None else None
        if link is None and master_kme != self.id and not self._virtual_to(master_kme):
            # the same answer as for any key that is not the caller's
            raise Unauthorized("one or more key IDs are not available to this SAE")
        # Relayed and local keys are stored here before their master gets them: an unknown one
        # does not exist; only keys of a direct link may still be the peer's to tell about.
        unknown = self.store.unknown_keys(ids) if link is not None else []
        if link is not None and unknown:
            assignments = await self._peers[link.id].assignments(link.id, unknown, slave)
            self.store.record_assignments(link.id, [a for a in assignments if a.master == master_sae_id])
        delivered = self.store.deliver(master_sae_id, slave, ids)
        log.debug("dec_keys: %d key(s) for %s", len(delivered), slave)
        self.keys_served[("dec_keys", master_sae_id, slave)] += len(delivered)
        return KeyContainer(
            keys=[Key(key_id=key_id, key=encode_key(material)) for key_id, material in delivered]
        )

    def _local_keys(self, master: str, slaves: list[str], number: int, size_bits: int) -> KeyContainer:
        """New keys from the OS CSPRNG for ``master`` and ``slaves``, all attached to this KME: one
        trusted site, no QKD link to cross. Stored for the slaves before the master gets them.

        Raises:
            KeyRequestInvalid: the master names itself as a slave.
        """
        if master in slaves:
            raise KeyRequestInvalid(_own_slave(master))
        keys = [(uuid.uuid4(), secrets.token_bytes(size_bits // 8)) for _ in range(number)]
        self.store.store_local_keys(master, slaves, size_bits, keys)
        log.debug("enc_keys: %d local key(s) of %d bits for %s", number, size_bits, master)
        return KeyContainer(keys=[Key(key_id=key_id, key=encode_key(material)) for key_id, material in keys])

    # KME↔KME (served to the peer) --------------------------------------------------------------------

    def _peer_link(self, caller: Identity, link_id: str) -> KmeLinkConfig:
        link = self.links.get(link_id)
        if link is None or caller.role is not Role.KME or caller.name != link.peer_kme_id:
            raise Forbidden("only the peer KME of this link may call")
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

    # Relay ---------------------------------------------------------------------------------------------

    async def _relay(
        self, paths: list[VirtualLinkHops], master: str, slaves: list[str], number: int, size_bits: int
    ) -> list[tuple[uuid.UUID, bytes]]:
        """New keys relayed to the far end over the first path that delivers them.

        Raises:
            KeyServiceUnavailable: no path delivered (the link key each attempt used is spent).
        """
        key_ids = [uuid.uuid4() for _ in range(number)]
        failure: KeyServiceUnavailable | None = None
        for virtual in paths:
            target = virtual.config.far_end(self.id) or ""
            plaintext = new_plaintext(key_ids, size_bits, secrets.token_bytes(number * size_bits // 8))
            try:
                await self._send_hop(virtual, plaintext, self.id, target, master, slaves)
            except KeyServiceUnavailable as exc:
                plaintext.wipe()
                self.store.count(virtual.id, "relay_failures")
                log.warning("relay over %s failed: %s", virtual.id, type(exc).__name__)
                failure = exc
                continue
            keys = plaintext.split()
            plaintext.wipe()
            self.store.record_relayed_keys(virtual.id, master, slaves, size_bits, key_ids)
            # one line per relayed request (not per key), at every KME on the path: with the request
            # ID (sdqkd.server.request_id) it shows an SAE's enc_keys across the KMEs' logs
            log.info(
                "relayed %d key(s) of %d bits over %s", number, size_bits, virtual.id,
                extra={"virtual_link": virtual.id, "keys": number},
            )  # fmt: skip
            return keys
        raise KeyServiceUnavailable(f"no path relayed the keys: {failure.message if failure else 'none'}")

    async def _send_hop(
        self, virtual: VirtualLinkHops, plaintext: Plaintext, source: str, target: str, master: str,
        slaves: list[str],
    ) -> None:  # fmt: skip
        """Protect ``plaintext`` with fresh blocks of the next physical link towards ``target`` and
        send it; returns once the far end acknowledged.

        Raises:
            KeyServiceUnavailable: no key on the hop, or the next KME (or one after it) failed.
        """
        hop_link = virtual.hop_towards(target)
        if hop_link is None or hop_link not in self._peers:
            raise KeyServiceUnavailable(f"virtual link {virtual.id}: no hop towards {target}")
        blocks = self.store.take_relay_blocks(
            hop_link, blocks_per_hop(len(plaintext.key_ids), plaintext.size_bits)
        )
        self.store.count(virtual.id, "blocks_used", len(blocks))
        request = seal_hop(
            plaintext, blocks, virtual_link=virtual.id, hop_link=hop_link, source_kme_id=source,
            target_kme_id=target, initiator_sae_id=master, target_sae_ids=slaves,
        )  # fmt: skip
        ack = await self._peers[hop_link].ext_keys(request)
        if [k.key_id for k in ack.key_id_container] != plaintext.key_ids:
            raise KeyServiceUnavailable("the far end acknowledged other keys")

    async def ext_keys(self, caller: Identity, request: ExtKeysRequest) -> AckContainer:
        """One relay hop received from the peer KME of ``hop_link`` (ETSI GS QKD 020 ``ext_keys``,
        synchronous): store the keys if this KME is the far end, otherwise forward them.

        Raises:
            Forbidden: the caller is not the peer of the hop's link, or the link is not a hop of
                the virtual link here.
            HopRefused: the message does not open (MAC wrong, sizes inconsistent); nothing is kept.
            KeyRequestInvalid: blocks it names are not held here, or it names SAEs that are not
                the ends'; nothing is kept.
            KeyServiceUnavailable: forwarding failed.
        """
        hop = request.hop
        link = self._peer_link(caller, hop.hop_link)
        virtual = self.virtual_links.get(hop.virtual_link)
        path = virtual.config.path if virtual is not None else []
        ends = {path[0], path[-1]} if path else set()
        if (
            virtual is None
            or {hop.source_kme_id, hop.target_kme_id} != ends
            or virtual.hop_towards(hop.source_kme_id) != link.id
        ):
            raise Forbidden("this link is not a hop of that virtual link here")
        blocks = self.store.use_peer_blocks(link.id, [*hop.pad_block_ids, hop.mac_block_id])
        self.store.count(virtual.id, "blocks_used", len(blocks))
        try:
            plaintext = open_hop(request, blocks[:-1], blocks[-1])
        except HopRefused as exc:
            self.store.count(virtual.id, "hops_refused")
            log.warning("relay hop on %s refused: %s", link.id, exc)
            raise HopRefused(f"relay hop refused: {exc}") from exc
        ack = AckContainer(
            key_id_container=[AckKeyId(key_id=k) for k in plaintext.key_ids],
            initiator_sae_id=request.initiator_sae_id,
            target_sae_ids=request.target_sae_ids,
        )
        count = len(plaintext.key_ids)
        fields = {"virtual_link": virtual.id, "hop_link": link.id, "keys": count}  # for JSON logs
        try:
            if hop.target_kme_id == self.id:
                if self.config.saes.get(request.initiator_sae_id) != hop.source_kme_id or any(
                    self.config.saes.get(slave) != self.id for slave in request.target_sae_ids
                ):
                    raise KeyRequestInvalid("the relayed keys' SAEs are not attached to the ends")
                self.store.store_relayed_keys(
                    virtual.id, request.initiator_sae_id, request.target_sae_ids, hop.size, plaintext.split()
                )
                log.info(
                    "relay hop on %s delivered %d key(s) over %s", link.id, count, virtual.id, extra=fields
                )
                return ack
            await self._send_hop(
                virtual, plaintext, hop.source_kme_id, hop.target_kme_id, request.initiator_sae_id,
                list(request.target_sae_ids),
            )  # fmt: skip
            self.store.count(virtual.id, "keys_forwarded", len(plaintext.key_ids))
            log.info("relay hop on %s forwarded %d key(s) over %s", link.id, count, virtual.id, extra=fields)
            return ack
        finally:
            plaintext.wipe()

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

    def _supply_round(self, link: KmeLinkConfig) -> RoundBody:
        """One round of filling ``link``'s pool, for :attr:`loops`.

        A round that fails (the module or the peer KME did not answer, or not as its protocol says,
        or anything unexpected) is retried by the loop with a growing pause, up to 2 s: the blocks it
        left pending are asked about again once the peer answers. While blocks flow the rounds follow
        each other quickly; with nothing to do the pause grows to 0.5 s.
        """
        pause = 0.05

        async def fill() -> float | Idle:
            nonlocal pause
            made = await self.fill_once(link)
            pause = 0.05 if made else min(pause * 2, 0.5)
            # a round with nothing to ask the peer proves nothing after failures: resumed once blocks flow
            return pause if made else Idle(pause)

        return fill

    def _expire_round(self) -> RoundBody:
        """Housekeeping, for :attr:`loops` (every 2 s): wipe keys past their TTL, and checkpoint the
        store so that used key bytes do not linger in its write-ahead log."""
        last_expiry = 0.0

        async def housekeeping() -> None:
            nonlocal last_expiry
            now = asyncio.get_running_loop().time()
            if now - last_expiry >= min(10.0, self.config.key_ttl_s / 4):
                self.store.expire(self.config.key_ttl_s)
                last_expiry = now
            self.store.checkpoint()

        return housekeeping
