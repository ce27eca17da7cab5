"""The QKD links the controller provisions, from the topology, and what the agents' trees say of them.

Each QKD link of the topology becomes one ``qkd_link`` (``qkdl_type`` PHYS) written into the agents
of both its nodes, with the same ``qkdl_id`` at both ends (:func:`sdqkd.etsi015.link_qkdl_id` of the
link's id, the identifier scheme of :mod:`sdqkd.etsi015.ids`), so nothing needs to be exchanged.
Each end names its own module's interface as ``qkdl_local`` and the other end's as
``qkdl_remote``, with the quantum channel (``phys_wavelength``) and its module's role.

A link's status at the controller combines both ends' ``qkdl_status``:

    up              ACTIVE at both ends: making key
    standby         a switched link whose module serves another link now (the switch is set there),
                    no interface failed
    down            an end is not ACTIVE for another reason, or its interface FAILED
    unprovisioned   not (yet) in both agents' trees
    unknown         an end's agent does not answer
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from sdqkd.etsi015 import (
    InterfaceAddress,
    InterfaceStatus,
    LinkStatus,
    ModuleRole,
    NodeTree,
    PhysicalLink,
    QkdLink,
    link_entry,
    link_qkdl_id,
    qkdi_id,
    qkdn_id,
)
from sdqkd.topology.models import Role, Topology

__all__ = [
    "EndState",
    "LinkEnd",
    "LinkState",
    "PlannedLink",
    "end_state",
    "link_entries",
    "link_state",
    "needs_write",
    "planned_links",
]


class LinkState(StrEnum):
    UP = "up"
    STANDBY = "standby"
    DOWN = "down"
    UNPROVISIONED = "unprovisioned"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LinkEnd:
    """One end of a QKD link: the node, its module and the module's interface number."""

    node: str
    module: str
    qkdi_id: int
    role: ModuleRole

    @property
    def address(self) -> InterfaceAddress:
        return InterfaceAddress(qkdn_id(self.node), self.qkdi_id)


@dataclass(frozen=True)
class PlannedLink:
    """A QKD link of the topology as the controller provisions it.

    Attributes:
        id: the topology's link id.
        qkdl_id: its ETSI 015 id.
        transmitter, receiver: its ends.
        dwdm_channel: the quantum channel (100 GHz grid number).
        fibre: the fibre it runs over.
        switched: whether an optical switch lies on its way (it may then wait its turn).
        target_rate_bps: the key rate it should keep, if the topology says.
    """

    id: str
    qkdl_id: UUID
    transmitter: LinkEnd
    receiver: LinkEnd
    dwdm_channel: int
    fibre: str
    switched: bool
    target_rate_bps: float | None

    @property
    def modules(self) -> frozenset[str]:
        return frozenset({self.transmitter.module, self.receiver.module})

    @property
    def nodes(self) -> tuple[str, str]:
        return self.transmitter.node, self.receiver.node

    def end_at(self, node: str) -> LinkEnd:
        return self.transmitter if node == self.transmitter.node else self.receiver

    def entry(self, node: str) -> dict[str, Any]:
        """The ``qkd_link`` entry (configuration only) the agent of ``node`` gets."""
        here = self.end_at(node)
        there = self.receiver if here is self.transmitter else self.transmitter
        link = PhysicalLink(
            qkdl_id=self.qkdl_id,
            local=here.address,
            remote=there.address,
            enabled=True,
            dwdm_channel=self.dwdm_channel,
            role=here.role,
        )
        return link_entry(link)


def planned_links(topology: Topology) -> list[PlannedLink]:
    """Every QKD link of ``topology``, as the controller provisions it."""
    planned = []
    for link in topology.qkd_links:
        tx, rx = topology.module(link.transmitter), topology.module(link.receiver)
        profile = topology.profile(tx.profile)
        fibre, hops = topology.link_path(link)
        roles = {Role.TRANSMITTER: ModuleRole.TRANSMITTER, Role.RECEIVER: ModuleRole.RECEIVER}
        planned.append(
            PlannedLink(
                id=link.id,
                qkdl_id=link_qkdl_id(link.id),
                transmitter=LinkEnd(tx.node, tx.id, qkdi_id(tx.id), roles[tx.role]),
                receiver=LinkEnd(rx.node, rx.id, qkdi_id(rx.id), roles[rx.role]),
                dwdm_channel=link.quantum_dwdm_channel or profile.default_quantum_dwdm_channel,
                fibre=fibre.id,
                switched=bool(hops),
                target_rate_bps=link.target_rate_bps,
            )
        )
    return planned


def link_entries(topology: Topology) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The ``qkd_link`` entries each node's agent gets for the topology's links:
    ``{node: [(qkdl_id, entry)]}``."""
    entries: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for link in planned_links(topology):
        for node in link.nodes:
            entries.setdefault(node, []).append((str(link.qkdl_id), link.entry(node)))
    return entries


# What the agents' trees say ---------------------------------------------------------------------------


def needs_write(tree: NodeTree, wanted: dict[str, Any]) -> bool:
    """Whether the agent's ``qkd_link`` differs from ``wanted`` (an entry the controller writes) in its
    configuration, or is missing."""
    link = QkdLink.parse(wanted)
    held = tree.link(link.qkdl_id)
    return held is None or held.configuration() != link.configuration()


@dataclass(frozen=True)
class EndState:
    """One end of a link as its agent reports it.

    Attributes:
        provisioned: the agent holds the link.
        status: ``qkdl_status``, None if not reported.
        interface_status: its interface's ``qkdi_status``, None if not reported.
        skr_bps, eskr_bps: ``qkdl_performance``.
    """

    provisioned: bool
    status: LinkStatus | None
    interface_status: InterfaceStatus | None
    skr_bps: int
    eskr_bps: int


def end_state(tree: NodeTree, link: PlannedLink, node: str) -> EndState:
    """What the tree of ``node``'s agent says of its end of ``link``."""
    entry = tree.link(link.qkdl_id)
    interface = tree.interface(link.end_at(node).qkdi_id)
    interface_status = interface.qkdi_status if interface is not None else None
    if entry is None:
        return EndState(False, None, interface_status, 0, 0)
    performance = entry.qkdl_performance
    return EndState(True, entry.qkdl_status, interface_status, performance.skr, performance.eskr)


def link_state(link: PlannedLink, ends: dict[str, EndState | None], sharing_up: bool = False) -> LinkState:
    """The link's status from both ends (None: that end's agent did not answer or never called home).

    Args:
        link: the link.
        ends: what each end's agent says.
        sharing_up: another link that shares a module with this one is up (for a switched link:
            the switch serves that one now).
    """
    states = [ends.get(node) for node in link.nodes]
    if any(state is None for state in states):
        return LinkState.UNKNOWN
    known = [state for state in states if state is not None]
    if not all(state.provisioned for state in known):
        return LinkState.UNPROVISIONED
    if all(state.status is LinkStatus.ACTIVE for state in known):
        return LinkState.UP
    if any(state.interface_status is InterfaceStatus.FAILED for state in known):
        return LinkState.DOWN
    if link.switched and sharing_up:
        return LinkState.STANDBY
    return LinkState.DOWN
