"""The relay plan: which pairs of registered nodes are served by a key association relayed over
trusted nodes (a virtual link, :mod:`.virtual`), and along which path (:mod:`.paths`).

A pair gets an association when no QKD link that joins it is up (a pair without a direct link, or one
whose link is down or on standby), or while applications use the association it has. Its path is the
cheapest over the links that are up (:class:`~sdqkd.controller.paths.RelayGraph`, weighted by
``relay_policy``), and stays while every hop is up: it moves only to a shorter path, never for pool
levels (no flapping). While the direct link's state is not known yet, nothing changes.

The plan is made again when what it depends on changes: the links' states, the registered nodes, or
what the applications reserve; each change wakes the nodes whose configuration it touches.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping

from sdqkd.controller.links import LinkState
from sdqkd.controller.network import Network
from sdqkd.controller.paths import Hop, PathPolicy, RelayGraph
from sdqkd.controller.registry import NodeView
from sdqkd.controller.store import AppRecord
from sdqkd.controller.virtual import VirtualLink, virtual_name
from sdqkd.errors import AdmissionRefused

__all__ = ["RelayPlanner"]

log = logging.getLogger(__name__)


class RelayPlanner:
    """The relayed associations, by their two ends.

    Args:
        network: the QKD links and their states.
        nodes: the registered nodes (read, never changed, here).
        policy: how key-relay paths weigh their hops.
    """

    def __init__(self, network: Network, nodes: Mapping[str, NodeView], policy: PathPolicy) -> None:
        self.network = network
        self.policy = policy
        self.virtual: dict[frozenset[str], VirtualLink] = {}
        self._nodes = nodes
        self._planned_on: object = None  # what the last plan was made from

    def find(self, virtual_id: str) -> VirtualLink | None:
        """The association named ``virtual_id`` (``v-A-B``), if there is one now."""
        return next((virtual for virtual in self.virtual.values() if virtual.id == virtual_id), None)

    def between(self, a: str, b: str) -> VirtualLink | None:
        """The association of nodes ``a`` and ``b``, if there is one now."""
        return self.virtual.get(frozenset({a, b}))

    def state(self, virtual: VirtualLink) -> LinkState:
        """Up while every hop is up, down otherwise."""
        up = all(self.network.state(hop) is LinkState.UP for hop in virtual.hops)
        return LinkState.UP if up else LinkState.DOWN

    def plan(self, apps: Iterable[AppRecord]) -> set[str]:
        """Decide which associations are relayed, and along which path, given the applications admitted;
        the nodes whose configuration changes."""
        apps = list(apps)
        states = self.network.states
        up = {link.id for link in self.network.links if states.get(link.id) is LinkState.UP}
        # The plan depends only on the links' states, which nodes are known and what the apps
        # reserve (a working path is not moved for pool levels): unchanged, nothing to do. This runs
        # at every read of every agent.
        basis = (
            frozenset(self._nodes),
            frozenset(states.items()),
            tuple(sorted((str(app.app_id), app.link_id, app.reserved_bps) for app in apps)),
        )
        if basis == self._planned_on:
            return set()
        self._planned_on = basis
        reserved_by_virtual: dict[str, int] = {}
        for app in apps:
            reserved_by_virtual[app.link_id] = reserved_by_virtual.get(app.link_id, 0) + app.reserved_bps
        network = self.network
        hops = (
            Hop(link.id, *link.nodes, float(network.capacity_bps(link)), network.ready_bits(link))
            for link in network.links
            if link.id in up
        )
        graph = RelayGraph(hops, self.policy)
        changed: set[str] = set()
        for a, b in itertools.combinations(sorted(self._nodes), 2):
            pair = frozenset({a, b})
            current = self.virtual.get(pair)
            wanted = self._wanted(a, b, current, graph, up, reserved_by_virtual.get(virtual_name(a, b), 0))
            if wanted == current:
                continue
            if wanted is None:
                del self.virtual[pair]
                log.info("controller: association %s removed", virtual_name(a, b))
            else:
                self.virtual[pair] = wanted
                if current is None or current.path != wanted.path:
                    log.info("controller: association %s relayed via %s", wanted.id, " → ".join(wanted.path))
            for virtual in (current, wanted):
                if virtual is not None:
                    changed.update(virtual.path)
        return changed

    def _wanted(
        self,
        a: str,
        b: str,
        current: VirtualLink | None,
        graph: RelayGraph,
        up: set[str],
        reserved_bps: int,
    ) -> VirtualLink | None:
        """The association ``a``–``b`` should have now (None: none)."""
        direct = self.network.direct(a, b)
        wanted: VirtualLink | None
        if any(link.id in up for link in direct) and not reserved_bps:
            wanted = None  # the direct link serves the pair (an association in use stays)
        elif any(self.network.state(link.id) in (None, LinkState.UNPROVISIONED) for link in direct):
            wanted = current  # not known yet whether the direct link will work
        else:
            try:
                path = graph.path(a, b)
            except AdmissionRefused:
                path = None
            intact = current is not None and all(hop in up for hop in current.hops)
            if intact and current is not None and (path is None or len(path.links) >= len(current.hops)):
                # a working path stays (no flapping with pool levels) unless a shorter one exists
                wanted = current
            elif path is None:
                wanted = None
            else:
                qkdl_ids = tuple(self.network.link(hop).qkdl_id for hop in path.links)
                wanted = VirtualLink(path.nodes, path.links, qkdl_ids)
        if wanted is not None and wanted.reserved_bps != reserved_bps:
            wanted = VirtualLink(wanted.path, wanted.hops, wanted.hop_qkdl_ids, reserved_bps)
        return wanted
