"""The topology's QKD links as the agents report them: each link's ends, status and key rate.

A link's status combines what the agents of its two nodes said at their last reads
(:func:`~sdqkd.controller.links.link_state`); a switched link that waits while the switch serves
another link of its module is on standby, not down. The status is kept per link, so that a change
(up → down) can be told from a state that lasts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sdqkd.controller.links import EndState, LinkState, PlannedLink, end_state, link_state, planned_links
from sdqkd.controller.registry import NodeView
from sdqkd.errors import AdmissionRefused, UnknownResource
from sdqkd.topology.models import Topology

__all__ = ["LinkChange", "Network"]

LinkChange = tuple[PlannedLink, LinkState | None, LinkState]
"""A link evaluated again: the link, its status before (None: never evaluated) and now."""


class Network:
    """The QKD links of ``topology`` and their status, from the nodes' views.

    Args:
        topology: the network.
        nodes: the registered nodes (read, never changed, here).
    """

    def __init__(self, topology: Topology, nodes: Mapping[str, NodeView]) -> None:
        self.topology = topology
        self.links = planned_links(topology)
        self.states: dict[str, LinkState] = {}
        self._nodes = nodes
        self._by_id = {link.id: link for link in self.links}

    def link(self, link_id: str) -> PlannedLink:
        """The QKD link ``link_id``.

        Raises:
            UnknownResource: the topology has none of that id.
        """
        try:
            return self._by_id[link_id]
        except KeyError:
            raise UnknownResource(f"no QKD link {link_id!r}") from None

    def link_between(self, a: str, b: str) -> PlannedLink:
        """The QKD link joining nodes ``a`` and ``b`` (the first, if several).

        Raises:
            AdmissionRefused: none does.
        """
        for link in self.direct(a, b):
            return link
        raise AdmissionRefused(f"no QKD link joins {a} and {b}")

    def retune(self, link_id: str, dwdm_channel: int) -> PlannedLink:
        """Give the link another quantum channel; the agents get it at their next reads (the
        reconciler writes what differs).

        Raises:
            UnknownResource: no such link.
        """
        link = self.link(link_id)
        if link.dwdm_channel == dwdm_channel:
            return link
        retuned = replace(link, dwdm_channel=dwdm_channel)
        self.links[self.links.index(link)] = retuned
        self._by_id[link_id] = retuned
        return retuned

    def direct(self, a: str, b: str) -> list[PlannedLink]:
        """The QKD links joining nodes ``a`` and ``b``."""
        return [link for link in self.links if set(link.nodes) == {a, b}]

    def state(self, link_id: str) -> LinkState | None:
        """The link's status at its last evaluation (None: never evaluated)."""
        return self.states.get(link_id)

    def ends(self, link: PlannedLink) -> dict[str, EndState | None]:
        """Each end of ``link`` as its agent reported it at the last read (None: unknown)."""
        found: dict[str, EndState | None] = {}
        for node in link.nodes:
            view = self._nodes.get(node)
            tree = view.tree if view is not None else None
            found[node] = end_state(tree, link, node) if tree is not None else None
        return found

    def state_of(self, link: PlannedLink) -> LinkState:
        """The link's status now, from what its agents said at their last read."""
        state = link_state(link, self.ends(link))
        if state is LinkState.DOWN and link.switched:
            sharing = [other for other in self.links if other is not link and other.modules & link.modules]
            if any(link_state(other, self.ends(other)) is LinkState.UP for other in sharing):
                return link_state(link, self.ends(link), sharing_up=True)
        return state

    def capacity_bps(self, link: PlannedLink) -> int:
        """The key rate the link makes now, bit/s: the lower of its two ends' ``skr`` (0 unless up)."""
        ends = self.ends(link)
        if link_state(link, ends) is not LinkState.UP:
            return 0
        return min(end.skr_bps for end in ends.values() if end is not None)

    def ready_bits(self, link: PlannedLink) -> float:
        """Key ready for relaying over ``link``: the lower of its two KMEs' ready blocks, bits."""
        levels = [
            view.pools[link.id].get("ready_blocks", 0) * 256.0
            for node in link.nodes
            if (view := self._nodes.get(node)) is not None and link.id in view.pools
        ]
        return min(levels) if len(levels) == 2 else 0.0

    def evaluate(self, node_id: str) -> list[LinkChange]:
        """Evaluate again every link of ``node_id`` (its agent was just read, or not answered)."""
        changes: list[LinkChange] = []
        for link in self.links:
            if node_id not in link.nodes:
                continue
            previous = self.states.get(link.id)
            state = self.state_of(link)
            self.states[link.id] = state
            changes.append((link, previous, state))
        return changes
