"""Key-relay paths: which chain of trusted nodes carries keys between two nodes without a direct QKD link.

A path runs over QKD links that are up. Each hop's cost is

    cost = 1 + w_rate · (R_ref / SKR) + w_pool · (P_ref / (ready_bits + P_ref))

so a path prefers few hops, then links that make key fast, then links whose pools hold key now (a relayed
key spends that much link key at every hop). ``R_ref`` and ``P_ref`` set the scale: with the defaults a hop
over a 10 kbit/s link costs as much as two over 100 kbit/s links, and an empty pool adds ``w_pool``. The
policy is configurable: ``hops`` (w_rate = w_pool = 0), ``rate`` (pools ignored) or ``balanced``
(the default, both).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import networkx as nx

from sdqkd.errors import AdmissionRefused

__all__ = ["Hop", "KeyPath", "PathPolicy", "RelayGraph", "hop_cost", "key_path"]

_R_REF_BPS = 10_000.0
_P_REF_BITS = 256.0 * 1000


class PathPolicy(StrEnum):
    HOPS = "hops"
    RATE = "rate"
    BALANCED = "balanced"

    @property
    def weights(self) -> tuple[float, float]:
        """(w_rate, w_pool)."""
        return {PathPolicy.HOPS: (0.0, 0.0), PathPolicy.RATE: (1.0, 0.0), PathPolicy.BALANCED: (1.0, 1.0)}[
            self
        ]


@dataclass(frozen=True)
class Hop:
    """A QKD link a path may use: its id, its two nodes, its key rate now and the key its pools hold.

    Attributes:
        ready_bits: the key ready for relaying over it (the lower of its two ends' pools), bits.
    """

    link_id: str
    a: str
    b: str
    skr_bps: float
    ready_bits: float


@dataclass(frozen=True)
class KeyPath:
    """A relay path: its nodes in order from source to target, and the link of each hop."""

    nodes: tuple[str, ...]
    links: tuple[str, ...]
    cost: float

    @property
    def hops(self) -> int:
        return len(self.links)


def hop_cost(hop: Hop, policy: PathPolicy = PathPolicy.BALANCED) -> float:
    """The cost of relaying over ``hop`` (see the module docstring); infinite if it makes no key."""
    if hop.skr_bps <= 0:
        return float("inf")
    w_rate, w_pool = policy.weights
    return (
        1.0
        + w_rate * _R_REF_BPS / hop.skr_bps
        + w_pool * _P_REF_BITS / (max(hop.ready_bits, 0.0) + _P_REF_BITS)
    )


class RelayGraph:
    """The links that make key, weighed by ``policy``: built once, asked for many paths.

    Args:
        hops: the QKD links that are up, with their rate and pool level.
        policy: how hops are weighed.
        avoid_links: links not to use (e.g. one that just failed).
    """

    def __init__(
        self, hops: Iterable[Hop], policy: PathPolicy = PathPolicy.BALANCED, avoid_links: Iterable[str] = ()
    ) -> None:
        avoided = set(avoid_links)
        self._graph: nx.Graph[str] = nx.Graph()
        for hop in hops:
            cost = hop_cost(hop, policy)
            if hop.link_id in avoided or cost == float("inf"):
                continue
            current = self._graph.get_edge_data(hop.a, hop.b)
            if current is None or cost < current["cost"]:  # parallel links: the cheaper one
                self._graph.add_edge(hop.a, hop.b, cost=cost, link_id=hop.link_id)

    def path(self, source: str, target: str) -> KeyPath:
        """The cheapest relay path from ``source`` to ``target``.

        Raises:
            AdmissionRefused: no path joins the two nodes.
        """
        if source == target:
            raise AdmissionRefused(f"{source} and {target} are the same node: no path to compute")
        try:
            nodes = nx.shortest_path(self._graph, source, target, weight="cost")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            raise AdmissionRefused(
                f"no QKD path joins {source} and {target} over links that make key"
            ) from None
        edges = [self._graph.edges[a, b] for a, b in itertools.pairwise(nodes)]
        return KeyPath(
            nodes=tuple(nodes),
            links=tuple(edge["link_id"] for edge in edges),
            cost=sum(edge["cost"] for edge in edges),
        )


def key_path(
    hops: Iterable[Hop],
    source: str,
    target: str,
    policy: PathPolicy = PathPolicy.BALANCED,
    avoid_links: Iterable[str] = (),
) -> KeyPath:
    """The cheapest relay path from ``source`` to ``target`` over the links in ``hops`` that make key
    (one question: :class:`RelayGraph` answers many).

    Raises:
        AdmissionRefused: no path joins the two nodes.
    """
    return RelayGraph(hops, policy, avoid_links).path(source, target)
