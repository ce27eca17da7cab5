"""Test traffic for an OPoT path: N datagrams into the ingress, with one fault played on the way, and what
the verifier made of them.

The faults are what the OPoT data path must catch:

- :class:`Skip` — a node is left out: its upstream node sends straight to the node after it;
- :class:`Swap` — two transit nodes are crossed in the wrong order;
- :class:`Inject` — forged datagrams straight to the verifier, naming the key ID its upstream hop uses
  (seen on the wire) with made-up masked values;
- :class:`Replay` — datagrams recorded on the verifier's upstream hop, sent to the verifier again.

Skip and swap re-point the nodes' next hops for the run (what a misconfigured or hostile forwarder does),
so the driver works on the :class:`~sdqkd.apps.opot_path.OpotNode` objects of a path that runs in this
process; the routes are put back afterwards.

Packets go in batches of ``in_flight``, each sent once the one before is accounted for (verified, or
dropped at some node), so a loopback burst does not overrun the sockets' buffers; a datagram that is not
accounted for within ``timeout_s`` is reported as ``lost``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sdqkd.apps.opot_path import OpotNode, Role
from sdqkd.apps.opot_wire import OpotPacket, encode
from sdqkd.errors import ConfigError
from sdqkd.opot import PotField

__all__ = ["Fault", "Inject", "Replay", "Skip", "Swap", "TrafficResult", "forged_datagram", "send_traffic"]

_POLL_S: Final = 0.005


@dataclass(frozen=True)
class Skip:
    """Leave ``node`` (a transit node) out of the path."""

    node: str


@dataclass(frozen=True)
class Swap:
    """Cross transit nodes ``first`` and ``second`` in the wrong order."""

    first: str
    second: str


@dataclass(frozen=True)
class Inject:
    """After the traffic, ``count`` forged datagrams straight to the verifier."""

    count: int


@dataclass(frozen=True)
class Replay:
    """After the traffic, the last ``count`` datagrams of the verifier's upstream hop sent to it again."""

    count: int


Fault = Skip | Swap | Inject | Replay


@dataclass(frozen=True)
class TrafficResult:
    """What became of the datagrams the driver put on the path.

    Attributes:
        sent: datagrams the driver sent (to the ingress, and the injected or replayed ones).
        valid: those the verifier accepted and delivered.
        invalid: those the verifier dropped.
        lost: those dropped before the verifier, or not accounted for in time.
    """

    sent: int
    valid: int
    invalid: int
    lost: int

    def as_json(self) -> dict[str, int]:
        return {"sent": self.sent, "valid": self.valid, "invalid": self.invalid, "lost": self.lost}


class _Tap(asyncio.DatagramProtocol):
    """Records what it gets and passes it on (a wiretap on one hop)."""

    def __init__(self, onward: tuple[str, int]) -> None:
        self.onward, self.recorded = onward, list[bytes]()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.recorded.append(data)
        if self.transport is not None:
            self.transport.sendto(data, self.onward)


def _address(node: OpotNode) -> tuple[str, int]:
    if node.transport is None:
        raise ConfigError(f"node {node.config.node!r} is not started")
    host, port = node.transport.get_extra_info("sockname")[:2]
    return str(host), int(port)


def _reroute(nodes: Sequence[OpotNode], fault: Fault | None) -> None:
    """Re-point next hops for a skip or a swap."""
    names = [n.config.node for n in nodes]
    transit = set(names[1:-1])
    if isinstance(fault, Skip):
        if fault.node not in transit:
            raise ConfigError(f"only a transit node can be skipped ({sorted(transit)}), not {fault.node!r}")
        i = names.index(fault.node)
        nodes[i - 1].next_hop = _address(nodes[i + 1])
    elif isinstance(fault, Swap):
        if {fault.first, fault.second} - transit or fault.first == fault.second:
            raise ConfigError(f"a swap takes two transit nodes of {sorted(transit)}")
        i, j = names.index(fault.first), names.index(fault.second)
        order = list(nodes)
        order[i], order[j] = order[j], order[i]
        for here, there in itertools.pairwise(order):
            here.next_hop = _address(there)


async def send_traffic(
    nodes: Sequence[OpotNode],
    packets: int,
    fault: Fault | None = None,
    *,
    payload_bytes: int = 64,
    in_flight: int = 32,
    timeout_s: float = 30.0,
) -> TrafficResult:
    """Send ``packets`` datagrams of random payload into the ingress of a running path, with ``fault``.

    Args:
        nodes: the path's started nodes, ingress first and verifier last.
        packets: datagrams to the ingress.
        fault: the fault to play, or None for plain traffic.
        payload_bytes: the size of each payload.
        in_flight: datagrams sent before waiting for them to be accounted for.
        timeout_s: the longest wait for one batch.

    Raises:
        ConfigError: not a path of started nodes, or a fault it cannot play.
    """
    if len(nodes) < 2 or nodes[0].role is not Role.INGRESS or nodes[-1].role is not Role.VERIFIER:
        raise ConfigError("a path runs from its ingress to its verifier")
    if packets < 0 or payload_bytes < 0 or in_flight < 1:
        raise ConfigError("packets and payload_bytes must be 0 or more, in_flight 1 or more")
    verifier, upstream = nodes[-1], nodes[-2]
    routes = [n.next_hop for n in nodes]

    def accounted() -> int:
        return verifier.stats.valid + sum(n.stats.dropped_total for n in nodes)

    base_valid, base_invalid, base_all = verifier.stats.valid, verifier.stats.dropped_total, accounted()
    loop = asyncio.get_running_loop()
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    tap_transport: asyncio.DatagramTransport | None = None
    sent = 0

    async def settle() -> None:
        deadline = time.monotonic() + timeout_s
        while accounted() - base_all < sent and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_S)

    try:
        _reroute(nodes, fault)
        tap: _Tap | None = None
        if isinstance(fault, Replay):
            tap_transport, tap = await loop.create_datagram_endpoint(
                lambda: _Tap(_address(verifier)), local_addr=("127.0.0.1", 0)
            )
            upstream.next_hop = tap_transport.get_extra_info("sockname")[:2]
        ingress = _address(nodes[0])
        while sent < packets:
            batch = min(in_flight, packets - sent)
            for _ in range(batch):
                sender.sendto(secrets.token_bytes(payload_bytes), ingress)
            sent += batch
            await settle()
        extra: list[bytes] = []
        if isinstance(fault, Inject):
            key_ids = upstream.downstream.key_ids if upstream.downstream else []
            key_id = key_ids[-1] if key_ids else uuid.uuid4()
            extra = [forged_datagram(key_id, payload_bytes) for _ in range(fault.count)]
        elif isinstance(fault, Replay) and tap is not None and fault.count > 0:
            extra = tap.recorded[-fault.count :]
        for datagram in extra:
            sender.sendto(datagram, _address(verifier))
            sent += 1
        await settle()
    finally:
        for node, route in zip(nodes, routes, strict=True):
            node.next_hop = route
        sender.close()
        if tap_transport is not None:
            tap_transport.close()
    valid = verifier.stats.valid - base_valid
    invalid = verifier.stats.dropped_total - base_invalid
    return TrafficResult(sent, valid, invalid, sent - valid - invalid)


def forged_datagram(key_id: uuid.UUID, payload_bytes: int) -> bytes:
    """A well-formed datagram with made-up sequence number and masked values."""
    pot = PotField(*(int.from_bytes(secrets.token_bytes(8), "big") for _ in range(3)))
    return encode(OpotPacket(key_id, pot, secrets.token_bytes(payload_bytes)))
