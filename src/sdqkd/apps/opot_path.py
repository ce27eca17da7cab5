"""The OPoT data path over UDP: one :class:`OpotNode` per node of a path ``[n0, n1, …, nk]``.

- The **ingress** ``n0`` takes plain datagrams, numbers them, draws RND, does its CML update and sends
  the OPoT datagram (:mod:`sdqkd.apps.opot_wire`) masked with the key of hop ``n0→n1``.
- A **transit** node un-masks with the key its upstream hop's datagram names, updates CML, re-masks with
  its downstream hop's key and sends on.
- The **verifier** ``nk`` un-masks, does its update and checks ``CML = SECRET + RND``; it strips the OPoT
  metadata of the packets that verify and sends their payload to its target, and drops the others.

Each hop's masks come from QKD keys of its two nodes (:mod:`sdqkd.apps.opot_keys`): the upstream node takes
keys with ``enc_keys`` and names them in the datagrams, the downstream one fetches each named key once with
``dec_keys``. Datagrams that name a key still being fetched wait for it (a bounded queue), so a change of
key loses nothing. Every node but the ingress keeps an anti-replay window (:mod:`sdqkd.apps.opot_replay`).

What each node counts (:class:`NodeStats`, written to a JSON file): datagrams in and out, and the dropped
ones by reason — ``malformed`` (not an OPoT datagram), ``oversize`` (a plain datagram too big to carry,
at the ingress), ``replayed`` (a sequence number taken already or below the window), ``unknown_key`` (a key
ID the KME refuses, or too many fetches at once), ``overflow`` (the queue for a key being fetched is full),
``out_of_field`` (un-masked values outside the field: masked for another hop) and, at the verifier,
``proof_failed``; the verifier also counts ``valid`` and ``invalid`` (every datagram it dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, cast

from sdqkd.apps.opot_keys import HopReceiver, HopSender, RefreshPolicy
from sdqkd.apps.opot_replay import DEFAULT_WINDOW, MAX_WINDOW, ReplayWindow
from sdqkd.apps.opot_wire import MAX_PAYLOAD, OpotPacket, decode, encode
from sdqkd.errors import ConfigError, OpotError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.opot import (
    NodeProfile,
    NodeShare,
    PathProfile,
    PotField,
    new_rnd,
    opot_ingress,
    opot_transit,
    opot_verify,
)

__all__ = ["DROP_REASONS", "NodeConfig", "NodeStats", "OpotNode", "Role", "path_context"]

log = logging.getLogger(__name__)

Address = tuple[str, int]

DROP_REASONS: Final = (
    "malformed",
    "oversize",
    "replayed",
    "unknown_key",
    "overflow",
    "out_of_field",
    "proof_failed",
)
_MAX_FETCHES: Final = 4
"""Key IDs fetched at once: a flood of made-up IDs costs the KME at most this many requests at a time."""
_QUEUE_PER_KEY: Final = 512
"""Datagrams that wait for one key being fetched."""


class Role(StrEnum):
    INGRESS = "ingress"
    TRANSIT = "transit"
    VERIFIER = "verifier"


def path_context(path: PathProfile | NodeShare) -> bytes:
    """The mask context of a path: its node names in order, so two paths sharing a hop key get other masks."""
    names = path.path if isinstance(path, NodeShare) else tuple(n.node for n in path.nodes)
    return ("sdqkd-opot-path:" + ",".join(names)).encode()


@dataclass
class NodeStats:
    """What one node counted, and the key IDs of its hops (the last ones)."""

    node: str
    role: Role
    packets_in: int = 0
    packets_out: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    valid: int = 0
    hops: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "node": self.node,
            "role": self.role.value,
            "pid": os.getpid(),  # whose stats: a restarted node's file is its own once it serves
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "dropped": dict(self.dropped),
            "hops": {hop: list(ids) for hop, ids in self.hops.items()},
        }
        if self.role is Role.VERIFIER:
            doc |= {"valid": self.valid, "invalid": self.dropped_total}
        return doc

    def save(self) -> None:
        """Write the stats file (whole, replaced at once), if there is one."""
        if self.path is None:
            return
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        os.replace(partial, self.path)


@dataclass(frozen=True)
class NodeConfig:
    """One node of a path.

    Attributes:
        profile: what the node holds of the path — its :class:`~sdqkd.opot.NodeShare`, or the whole
            path's profiles (a test's, or ``sdqkd opot profile``'s), of which it takes its own share.
        node: this node's name on the path.
        saes: each node's SAE ID (at least this node's neighbours'), for the hops' keys.
        listen: where this node takes datagrams (port 0: any free port).
        next_hop: where it sends them: the next node's address, or the verifier's target (None: the
            verifier counts the packets that verify and delivers them nowhere).
        refresh: when this node takes a new key for its downstream hop.
        window: the anti-replay window, packets.
        stats_file: the JSON stats file, rewritten every ``stats_interval_s`` when something changed.
        first_seq: the ingress's first sequence number (default: microseconds since the Unix epoch,
            so a restarted ingress goes on above the numbers the windows downstream have taken).
    """

    profile: PathProfile | NodeShare
    node: str
    saes: Mapping[str, str]
    listen: Address
    next_hop: Address | None
    refresh: RefreshPolicy = field(default_factory=RefreshPolicy)
    window: int = DEFAULT_WINDOW
    stats_file: Path | None = None
    stats_interval_s: float = 0.2
    first_seq: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.window <= MAX_WINDOW:
            raise ConfigError(f"the replay window must hold 1 to {MAX_WINDOW} packets, not {self.window}")
        if self.stats_interval_s <= 0 or (self.first_seq is not None and not 0 <= self.first_seq < 2**63):
            raise ConfigError("stats_interval_s must be over 0, first_seq 0 to 2^63 − 1")
        if self.next_hop is None and self.role is not Role.VERIFIER:
            raise ConfigError(f"node {self.node!r} is not the verifier: it needs a next hop")

    @property
    def share(self) -> NodeShare:
        """This node's share of the path.

        Raises:
            ConfigError: the node is not on the path, or the share is another node's.
        """
        if isinstance(self.profile, PathProfile):
            return self.profile.share_for(self.node)
        if self.profile.node.node != self.node:
            raise ConfigError(f"the share is {self.profile.node.node!r}'s, not {self.node!r}'s")
        return self.profile

    @property
    def index(self) -> int:
        return self.share.path.index(self.node)

    @property
    def role(self) -> Role:
        path = self.share.path
        if self.index == 0:
            return Role.INGRESS
        return Role.VERIFIER if self.index == len(path) - 1 else Role.TRANSIT


class OpotNode(asyncio.DatagramProtocol):
    """One node of the data path on one UDP socket (it receives and sends on it).

    Args:
        config: the node.
        upstream_kme: this node's KME for the keys of its upstream hop (None at the ingress).
        downstream_kme: this node's KME for its downstream hop (None at the verifier). A node has one
            KME; the two are separate only so that tests can give each hop its own stand-in.

    Raises:
        ConfigError: a node not on the path, a missing SAE or KME.
    """

    def __init__(
        self,
        config: NodeConfig,
        *,
        upstream_kme: Etsi014Client | None = None,
        downstream_kme: Etsi014Client | None = None,
    ) -> None:
        self.config = config
        self.role = config.role
        share = config.share
        nodes = share.path
        i = config.index
        self.me: NodeProfile = share.node
        self.verifier = share.verifier
        self.context = path_context(share)
        self.next_hop = config.next_hop
        """Where datagrams go; a test driver may re-point it to play a misrouted path."""
        self.stats = NodeStats(config.node, self.role, path=config.stats_file)
        self.upstream: HopReceiver | None = None
        self.downstream: HopSender | None = None
        self.window: ReplayWindow | None = None
        if self.role is not Role.INGRESS:
            if upstream_kme is None:
                raise ConfigError(f"node {config.node!r} needs a KME for its upstream hop")
            before = nodes[i - 1]
            self.upstream = HopReceiver(upstream_kme, _sae(config, before), f"{before}->{config.node}")
            self.window = ReplayWindow(config.window)
        if self.role is not Role.VERIFIER:
            if downstream_kme is None:
                raise ConfigError(f"node {config.node!r} needs a KME for its downstream hop")
            after = nodes[i + 1]
            self.downstream = HopSender(
                downstream_kme, _sae(config, after), f"{config.node}->{after}", config.refresh
            )
        self.seq = config.first_seq if config.first_seq is not None else time.time_ns() // 1000
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[uuid.UUID, list[OpotPacket]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._saved: tuple[Any, ...] = ()

    # life ----------------------------------------------------------------------------------------------

    async def start(self) -> Address:
        """Take the first downstream key, then listen; the address it listens on.

        Raises:
            OpotError: no first key from the KME.
            OSError: the address cannot be bound.
        """
        if self.downstream is not None:
            await self.downstream.start()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=self.config.listen)
        self.transport = transport
        if self.config.stats_file is not None:
            self._spawn(self._keep_stats())
        self._save_stats()
        address = transport.get_extra_info("sockname")
        return str(address[0]), int(address[1])

    async def aclose(self) -> None:
        """Stop: close the socket, end the fetches and renewals, write the stats a last time."""
        if self.transport is not None:
            self.transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.downstream is not None:
            await self.downstream.aclose()
        with contextlib.suppress(OSError):
            self._save_stats(force=True)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a next hop that is down: the datagram is lost, like any on UDP
        log.debug("opot %s: %s", self.config.node, exc)

    # the data path -------------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.stats.packets_in += 1
        if self.role is Role.INGRESS:
            self._ingress(data)
            return
        try:
            packet = decode(data)
        except OpotError as exc:
            log.debug("opot %s: malformed datagram: %s", self.config.node, exc)
            self.stats.drop("malformed")
            return
        self._received(packet)

    def _ingress(self, payload: bytes) -> None:
        assert self.downstream is not None
        if len(payload) > MAX_PAYLOAD:
            self.stats.drop("oversize")
            return
        seq, self.seq = self.seq, self.seq + 1
        key_id, key = self.downstream.current()
        pot = opot_ingress(self.me, new_rnd(self.me.p, secrets), seq, key, context=self.context)
        self._send(OpotPacket(key_id, pot, payload))

    def _received(self, packet: OpotPacket) -> None:
        assert self.upstream is not None
        assert self.window is not None
        if not self.window.is_fresh(packet.pot.seq):
            self.stats.drop("replayed")
            return
        key = self.upstream.known(packet.key_id)
        if key is not None:
            self._work(packet, key)
            return
        waiting = self._waiting.get(packet.key_id)
        if waiting is not None:
            if len(waiting) >= _QUEUE_PER_KEY:
                self.stats.drop("overflow")
            else:
                waiting.append(packet)
            return
        if self.upstream.refused(packet.key_id) or len(self._waiting) >= _MAX_FETCHES:
            self.stats.drop("unknown_key")
            return
        self._waiting[packet.key_id] = [packet]
        self._spawn(self._fetch(packet.key_id))

    async def _fetch(self, key_id: uuid.UUID) -> None:
        assert self.upstream is not None
        try:
            key = await self.upstream.fetch(key_id)
        finally:
            waiting = self._waiting.pop(key_id, [])
        for packet in waiting:
            if key is None:
                self.stats.drop("unknown_key")
            elif not self.window or self.window.is_fresh(packet.pot.seq):  # a copy may have waited too
                self._work(packet, key)
            else:
                self.stats.drop("replayed")

    def _work(self, packet: OpotPacket, key: bytes) -> None:
        """Un-mask, update, and re-mask and send (transit) or check and deliver (verifier)."""
        assert self.window is not None
        if self.role is Role.VERIFIER:
            assert self.verifier is not None
            if not opot_verify(self.me, self.verifier, packet.pot, key, context=self.context):
                self.stats.drop("proof_failed")
                return
            self.window.take(packet.pot.seq)  # only a packet that verified moves the verifier's window
            self.stats.valid += 1
            self._sendto(packet.payload)
            return
        assert self.downstream is not None
        down_id, down_key = self.downstream.current()
        pot: PotField | None = opot_transit(self.me, packet.pot, key, down_key, context=self.context)
        if pot is None:
            self.stats.drop("out_of_field")
            return
        self.window.take(packet.pot.seq)
        self._send(OpotPacket(down_id, pot, packet.payload))

    def _send(self, packet: OpotPacket) -> None:
        self._sendto(encode(packet))

    def _sendto(self, datagram: bytes) -> None:
        if self.transport is None or self.transport.is_closing() or self.next_hop is None:
            return
        self.transport.sendto(datagram, self.next_hop)
        self.stats.packets_out += 1

    # stats ---------------------------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report(self) -> dict[str, Any]:
        """The stats as the stats file has them, with the hops' key IDs as of now."""
        self.stats.hops = {}
        if self.upstream is not None:
            self.stats.hops[self.upstream.hop] = self.upstream.recent_key_ids()
        if self.downstream is not None:
            self.stats.hops[self.downstream.hop] = self.downstream.recent_key_ids()
        return self.stats.as_json()

    def _save_stats(self, force: bool = False) -> None:
        self.report()
        stats = self.stats
        state = (stats.packets_in, stats.packets_out, stats.dropped_total, stats.valid, str(stats.hops))
        if force or state != self._saved:
            self._saved = state
            self.stats.save()

    async def _keep_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval_s)
            try:
                self._save_stats()
            except OSError as exc:
                log.warning("opot %s: stats file not written: %s", self.config.node, exc)


def _sae(config: NodeConfig, node: str) -> str:
    try:
        return config.saes[node]
    except KeyError:
        raise ConfigError(f"no SAE ID for node {node!r}") from None
