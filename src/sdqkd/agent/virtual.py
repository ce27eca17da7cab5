"""Virtual (multi-hop) key association links of ETSI GS QKD 015 V2.1.1 for the node agent: the
``qkd_link`` entries of ``qkdl_type`` VIRT the controller writes into every node on a key-relay path,
read, checked against the node's physical links, and given a state. Pure functions, no I/O.

The controller writes the *same* entry (one ``qkdl_id``) into the agent of every node on the path::

    qkdl_local/qkdn_id    the source end node          qkdl_remote/qkdn_id   the far end node
    virt_prev_hop         the previous node on the path (absent at the source end)
    virt_next_hop         [the next node on the path]   (absent at the far end)
    virt_bandwidth        bit/s to reserve (kept, not acted on)

The ``virtual_link_spec`` grouping holds these members only ``when "qkdl_type =
'etsi-qkd-node-types:VIRT'"``, and a VIRT entry has no interface (its ends name nodes, no
``qkdi_id``) and no device to configure. The node's place on the path follows from the entry:

    source end     qkdl_local is this node, no previous hop, one next hop
    far end        qkdl_remote is this node, a previous hop, no next hop
    intermediate   neither end, both hops (different nodes)

and each hop must be a neighbour: the ``qkdl_remote/qkdn_id`` of one of the node's PHYS links. One
next hop only: ``virt_next_hop`` is a list for multicast over shared sub-paths, which the relay does
not do.

State. A hop's status is the best status of the node's PHYS links to that neighbour (ACTIVE >
PASSIVE > PENDING > OFF; none reported counts as OFF), its key rate the highest ``skr`` among them;
the virtual link takes its weakest hop::

    qkdl_status  OFF                    when qkdl_enable is false
                 the worst hop status   otherwise: ACTIVE only when every hop of this node is ACTIVE,
                                        PASSIVE when a hop has stopped with keys still buffered, PENDING
                                        when a hop waits for activation, OFF when a hop is off
    skr = eskr   the lowest hop skr (0 unless ACTIVE)

The state is this node's view of its own hops only: the path is ACTIVE end to end when every node
on it says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from sdqkd.errors import ConfigError
from sdqkd.etsi015 import TYPES_MODULE, LinkStatus

__all__ = [
    "HopLink",
    "PathPosition",
    "VirtualLink",
    "VirtualLinkError",
    "VirtualState",
    "check_hops",
    "hop_links",
    "is_virtual",
    "parse_virtual_link",
    "virtual_link_entry",
    "virtual_state",
]

_UINT32_MAX = 2**32 - 1
_VIRT = f"{TYPES_MODULE}:VIRT"
_RANK = {LinkStatus.ACTIVE: 3, LinkStatus.PASSIVE: 2, LinkStatus.PENDING: 1, LinkStatus.OFF: 0}
"""How far a link status is from making key: a hop takes its best link, a virtual link its worst hop."""


class VirtualLinkError(ConfigError):
    """A VIRT ``qkd_link`` the node cannot take.

    Attributes:
        qkdl_id: the link.
        member: the member at fault, relative to the entry (``virt_next_hop``,
            ``qkdl_local/qkdn_id``); None: the entry as a whole.
    """

    def __init__(self, qkdl_id: UUID, member: str | None, message: str) -> None:
        self.qkdl_id = qkdl_id
        self.member = member
        where = f"qkd_link[{qkdl_id}]" + (f"/{member}" if member else "")
        super().__init__(f"{where}: {message}")


class PathPosition(StrEnum):
    """Where a node stands on a virtual link's path."""

    SOURCE = "source"
    INTERMEDIATE = "intermediate"
    DESTINATION = "destination"


@dataclass(frozen=True)
class VirtualLink:
    """A virtual ``qkd_link`` as the controller writes it (its configuration, not its state).

    Attributes:
        qkdl_id: the link's id (the same at every node of the path).
        source: ``qkdl_local/qkdn_id``, the node at the source end.
        destination: ``qkdl_remote/qkdn_id``, the node at the far end.
        prev_hop: ``virt_prev_hop``, the previous node on the path; None at the source end.
        next_hop: ``virt_next_hop``, the next node on the path; None at the far end.
        enabled: ``qkdl_enable``.
        bandwidth_bps: ``virt_bandwidth``, bit/s; None: not set.
    """

    qkdl_id: UUID
    source: UUID
    destination: UUID
    prev_hop: UUID | None = None
    next_hop: UUID | None = None
    enabled: bool = True
    bandwidth_bps: int | None = None

    @property
    def hops(self) -> tuple[UUID, ...]:
        """The neighbours this node relays with: the previous hop, then the next (those set)."""
        return tuple(hop for hop in (self.prev_hop, self.next_hop) if hop is not None)

    def position(self, node: UUID) -> PathPosition:
        """Where ``node`` stands on the path (by its ends alone)."""
        if node == self.source:
            return PathPosition.SOURCE
        if node == self.destination:
            return PathPosition.DESTINATION
        return PathPosition.INTERMEDIATE


def is_virtual(entry: Mapping[str, Any]) -> bool:
    """Whether a ``qkd_link`` entry (RFC 7951 JSON) is a virtual link (``qkdl_type`` VIRT)."""
    return entry.get("qkdl_type") == _VIRT


def _node(entry: Mapping[str, Any], member: str, link_id: UUID) -> UUID:
    end = entry.get(member)
    if not isinstance(end, Mapping) or "qkdn_id" not in end:
        raise VirtualLinkError(link_id, f"{member}/qkdn_id", "missing")
    if "qkdi_id" in end:
        raise VirtualLinkError(
            link_id, f"{member}/qkdi_id", "a virtual link has no interface: name the node only"
        )
    return _uuid(end["qkdn_id"], link_id, f"{member}/qkdn_id")


def _uuid(value: object, link_id: UUID, member: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise VirtualLinkError(link_id, member, f"{value!r} is not a UUID") from None


def parse_virtual_link(entry: Mapping[str, Any], local_qkdn_id: UUID) -> VirtualLink:
    """The virtual link a controller wrote as a VIRT ``qkd_link`` entry (RFC 7951 JSON) at the node
    ``local_qkdn_id``, checked to fit the node's place on its path (its hops are checked against
    the node's links by :func:`check_hops`).

    Raises:
        VirtualLinkError: not a VIRT entry; a member missing or malformed; an interface named; both
            ends one node; several next hops (multicast, not supported); hops that do not fit the
            node's place on the path (module docstring), or a hop that is this node.
        ConfigError: ``qkdl_id`` missing or not a UUID.
    """
    if "qkdl_id" not in entry:
        raise ConfigError("qkd_link/qkdl_id: missing")
    try:
        link_id = UUID(str(entry["qkdl_id"]))
    except ValueError:
        raise ConfigError(f"qkd_link/qkdl_id: {entry['qkdl_id']!r} is not a UUID") from None
    if not is_virtual(entry):
        raise VirtualLinkError(link_id, "qkdl_type", f"{entry.get('qkdl_type')!r} is not {_VIRT}")
    source = _node(entry, "qkdl_local", link_id)
    destination = _node(entry, "qkdl_remote", link_id)
    if source == destination:
        raise VirtualLinkError(link_id, "qkdl_remote/qkdn_id", f"both ends are node {source}")
    enabled = entry.get("qkdl_enable", True)
    if not isinstance(enabled, bool):
        raise VirtualLinkError(link_id, "qkdl_enable", f"{enabled!r} is not a boolean")
    bandwidth = entry.get("virt_bandwidth")
    if bandwidth is not None and (
        not isinstance(bandwidth, int) or isinstance(bandwidth, bool) or not 0 <= bandwidth <= _UINT32_MAX
    ):
        raise VirtualLinkError(link_id, "virt_bandwidth", f"{bandwidth!r} is not a uint32 (bit/s)")
    prev = entry.get("virt_prev_hop")
    prev_hop = None if prev is None else _uuid(prev, link_id, "virt_prev_hop")
    nexts = entry.get("virt_next_hop", [])
    if not isinstance(nexts, list):
        raise VirtualLinkError(link_id, "virt_next_hop", f"{nexts!r} is not a list of UUIDs")
    if len(nexts) > 1:
        raise VirtualLinkError(
            link_id,
            "virt_next_hop",
            f"{len(nexts)} next hops: multicast over shared sub-paths is not supported (one next hop)",
        )
    next_hop = _uuid(nexts[0], link_id, "virt_next_hop") if nexts else None
    link = VirtualLink(link_id, source, destination, prev_hop, next_hop, enabled, bandwidth)
    _check_position(link, local_qkdn_id)
    return link


def _check_position(link: VirtualLink, node: UUID) -> None:
    """Refuse hops that do not fit ``node``'s place on the path."""
    position = link.position(node)
    has_prev, has_next = link.prev_hop is not None, link.next_hop is not None
    if position is PathPosition.SOURCE and has_prev:
        raise VirtualLinkError(link.qkdl_id, "virt_prev_hop", "this node is the source end: no previous hop")
    if position is PathPosition.DESTINATION and has_next:
        raise VirtualLinkError(link.qkdl_id, "virt_next_hop", "this node is the far end: no next hop")
    if position is not PathPosition.SOURCE and not has_prev:
        raise VirtualLinkError(link.qkdl_id, "virt_prev_hop", f"missing: this node is the {position} node")
    if position is not PathPosition.DESTINATION and not has_next:
        raise VirtualLinkError(link.qkdl_id, "virt_next_hop", f"missing: this node is the {position} node")
    for member, hop in (("virt_prev_hop", link.prev_hop), ("virt_next_hop", link.next_hop)):
        if hop == node:
            raise VirtualLinkError(link.qkdl_id, member, f"{hop} is this node")
    if has_prev and link.prev_hop == link.next_hop:
        raise VirtualLinkError(link.qkdl_id, "virt_next_hop", f"{link.next_hop} is also the previous hop")


def check_hops(link: VirtualLink, neighbours: Iterable[UUID]) -> None:
    """Refuse a virtual link whose hops are not all neighbours of the node.

    Args:
        link: the virtual link.
        neighbours: ``qkdl_remote/qkdn_id`` of each of the node's PHYS links.

    Raises:
        VirtualLinkError: a hop that is not a neighbour (the member names which).
    """
    known = set(neighbours)
    for member, hop in (("virt_prev_hop", link.prev_hop), ("virt_next_hop", link.next_hop)):
        if hop is not None and hop not in known:
            raise VirtualLinkError(
                link.qkdl_id, member, f"{hop} is not a neighbour: no PHYS qkd_link of this node reaches it"
            )


def virtual_link_entry(
    link: VirtualLink, *, status: LinkStatus | None = None, skr_bps: int | None = None
) -> dict[str, Any]:
    """A VIRT ``qkd_links/qkd_link`` entry: the link's configuration, and its state when given.

    Args:
        link: the link's configuration.
        status: ``qkdl_status``.
        skr_bps: ``qkdl_performance`` ``skr`` and ``eskr``, bit/s.
    """
    entry: dict[str, Any] = {
        "qkdl_id": str(link.qkdl_id),
        "qkdl_enable": link.enabled,
        "qkdl_local": {"qkdn_id": str(link.source)},
        "qkdl_remote": {"qkdn_id": str(link.destination)},
        "qkdl_type": _VIRT,
    }
    if link.prev_hop is not None:
        entry["virt_prev_hop"] = str(link.prev_hop)
    if link.next_hop is not None:
        entry["virt_next_hop"] = [str(link.next_hop)]
    if link.bandwidth_bps is not None:
        entry["virt_bandwidth"] = link.bandwidth_bps
    if status is not None:
        entry["qkdl_status"] = f"{TYPES_MODULE}:{status}"
    if skr_bps is not None:
        entry["qkdl_performance"] = {"skr": skr_bps, "eskr": skr_bps}
    return entry


# State ---------------------------------------------------------------------------------------------------


class HopLink(NamedTuple):
    """A PHYS link of the node as its datastore entry reports it: its ``qkdl_id``, ``qkdl_status``
    (None: not reported yet) and ``skr`` (bit/s)."""

    qkdl_id: UUID
    status: LinkStatus | None
    skr_bps: int


@dataclass(frozen=True)
class VirtualState:
    """A virtual link's state at one node.

    Attributes:
        status: ``qkdl_status``.
        skr_bps: ``skr`` and ``eskr``, bit/s: the lowest hop rate.
        reason: why it is not ACTIVE (for ``sdqkdn_link_down``); empty when it is.
    """

    status: LinkStatus
    skr_bps: int
    reason: str = ""


def _status(value: object) -> LinkStatus | None:
    prefix, _, name = str(value).rpartition(":")
    try:
        return LinkStatus(name) if prefix == TYPES_MODULE else None
    except ValueError:
        return None


def hop_links(entries: Iterable[Mapping[str, Any]]) -> dict[UUID, list[HopLink]]:
    """The node's PHYS links by neighbour (``qkdl_remote/qkdn_id``), from its ``qkd_link`` entries
    (RFC 7951 JSON, as the datastore holds them); VIRT entries and entries without a remote node are
    left out."""
    by_neighbour: dict[UUID, list[HopLink]] = {}
    for entry in entries:
        remote = entry.get("qkdl_remote")
        if is_virtual(entry) or not isinstance(remote, Mapping) or "qkdn_id" not in remote:
            continue
        try:
            neighbour, link_id = UUID(str(remote["qkdn_id"])), UUID(str(entry.get("qkdl_id")))
        except ValueError:
            continue  # malformed: the agent refuses the write that carries it
        performance = entry.get("qkdl_performance", {})
        skr = performance.get("skr", 0) if isinstance(performance, Mapping) else 0
        hop = HopLink(link_id, _status(entry.get("qkdl_status")), skr if isinstance(skr, int) else 0)
        by_neighbour.setdefault(neighbour, []).append(hop)
    return by_neighbour


def virtual_state(link: VirtualLink, hops: Mapping[UUID, Sequence[HopLink]]) -> VirtualState:
    """The state of ``link`` at a node, from the node's PHYS links (module docstring).

    Args:
        link: the virtual link.
        hops: the node's PHYS links by neighbour (:func:`hop_links`).
    """
    if not link.enabled:
        return VirtualState(LinkStatus.OFF, 0, "qkdl_enable is false")
    worst: tuple[LinkStatus, str] = (LinkStatus.ACTIVE, "")
    rates = []
    for name, hop in (("previous hop", link.prev_hop), ("next hop", link.next_hop)):
        if hop is None:
            continue
        links = hops.get(hop, [])
        status = max((h.status or LinkStatus.OFF for h in links), key=_RANK.__getitem__, default=None)
        rates.append(max((h.skr_bps for h in links), default=0))
        if status is None:
            status, why = LinkStatus.OFF, f"no PHYS qkd_link to the {name} {hop}"
        else:
            why = f"the {name} {hop} is {status} (qkd_link {', '.join(str(h.qkdl_id) for h in links)})"
        if _RANK[status] < _RANK[worst[0]]:
            worst = (status, why)
    status, reason = worst
    skr = min(rates, default=0) if status is LinkStatus.ACTIVE else 0
    return VirtualState(status, skr, reason)
