"""Virtual links: key associations between nodes without a working direct QKD link, relayed over
trusted nodes (ETSI GS QKD 015 ``qkdl_type`` VIRT).

The controller keeps one association per pair of registered nodes that no *up* QKD link joins: a pair
of the topology without a direct link (``n1``–``n3`` of ``chain:3``), or one whose direct link is down
or on standby (Concepción–Quintín of Madrid while the switch serves Norte). Its path is computed over the
links that are up (:mod:`sdqkd.controller.paths`) and kept while every hop stays up; when a hop goes
down, a new path is computed at once (the association keeps its id), and when no path exists, or the
direct link is up again, the association is removed.

Each node of the path gets, from the controller:

- in its agent's datastore, the same ``qkd_link`` (``qkdl_id`` =
  :func:`sdqkd.etsi015.virtual_qkdl_id` of its ends, named ``v-a-b`` at the KMEs and in the API; ends
  ``a`` → ``b`` as ``qkdl_local``/``qkdl_remote``; ``virt_prev_hop`` and ``virt_next_hop`` the
  neighbours' ``qkdn_id``; ``virt_bandwidth`` the rate reserved by the applications over it), and,
  while that rate is not 0, per hop one INTERNAL ``qkd_app`` at both nodes of the hop that reserves
  it on the physical link;
- at its KME, the virtual link with the whole path (``PUT /api/v1/kme/virtual_links/{id}``): the ETSI 015
  entry names only the neighbours, while the KME relays towards either end and so needs the path.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sdqkd.etsi015 import SDQKD_NAMESPACE, AppType, LinkType, identity, qkdn_id, virtual_qkdl_id

__all__ = ["VirtualLink", "internal_app_id", "virtual_name"]


def virtual_name(a: str, b: str) -> str:
    """The name of the association between nodes ``a`` and ``b`` (either order): ``v-A-B``, sorted."""
    first, second = sorted((a, b))
    return f"v-{first}-{second}"


def internal_app_id(virtual_id: UUID, hop_link_id: str) -> UUID:
    """The ``app_id`` of the INTERNAL application that reserves a virtual link's rate on one hop."""
    return uuid.uuid5(SDQKD_NAMESPACE, f"internal:{virtual_id}:{hop_link_id}")


@dataclass(frozen=True)
class VirtualLink:
    """An association relayed along ``path`` (node ids from ``path[0]`` to ``path[-1]``) over the
    physical links ``hops`` (``hops[i]`` joins ``path[i]`` and ``path[i + 1]``).

    Attributes:
        reserved_bps: the key rate the applications over it reserve (``virt_bandwidth``).
    """

    path: tuple[str, ...]
    hops: tuple[str, ...]
    hop_qkdl_ids: tuple[UUID, ...]
    reserved_bps: int = 0

    @property
    def qkdl_id(self) -> UUID:
        return virtual_qkdl_id(self.path[0], self.path[-1])

    @property
    def id(self) -> str:
        """Its name at the KMEs and in the controller's API: ``v-A-B``."""
        return virtual_name(self.path[0], self.path[-1])

    @property
    def ends(self) -> frozenset[str]:
        return frozenset({self.path[0], self.path[-1]})

    def hop_nodes(self) -> list[tuple[str, str, str, UUID]]:
        """``(node, node, link id, link qkdl_id)`` per hop."""
        return [
            (a, b, link, link_qkdl)
            for (a, b), link, link_qkdl in zip(
                itertools.pairwise(self.path), self.hops, self.hop_qkdl_ids, strict=True
            )
        ]

    def entry(self, node: str) -> dict[str, Any]:
        """The VIRT ``qkd_link`` entry (configuration) the agent of ``node`` gets."""
        index = self.path.index(node)
        entry: dict[str, Any] = {
            "qkdl_id": str(self.qkdl_id),
            "qkdl_enable": True,
            "qkdl_type": identity(LinkType.VIRT),
            "qkdl_local": {"qkdn_id": str(qkdn_id(self.path[0]))},
            "qkdl_remote": {"qkdn_id": str(qkdn_id(self.path[-1]))},
            "virt_bandwidth": self.reserved_bps,
        }
        if index > 0:
            entry["virt_prev_hop"] = str(qkdn_id(self.path[index - 1]))
        if index < len(self.path) - 1:
            entry["virt_next_hop"] = [str(qkdn_id(self.path[index + 1]))]
        return entry

    def kme_body(self, node: str) -> dict[str, Any]:
        """The virtual link as the KME of ``node`` takes it (``PUT /api/v1/kme/virtual_links/{id}``)."""
        index = self.path.index(node)
        return {
            "id": self.id,
            "path": list(self.path),
            "prev_hop": self.hops[index - 1] if index > 0 else None,
            "next_hop": self.hops[index] if index < len(self.hops) else None,
        }

    def internal_apps(self, node: str) -> dict[UUID, dict[str, Any]]:
        """The INTERNAL ``qkd_app`` entries ``node``'s agent holds for this association: one per hop
        that touches ``node``, reserving :attr:`reserved_bps` on that physical link (none while the
        association reserves nothing)."""
        apps: dict[UUID, dict[str, Any]] = {}
        if not self.reserved_bps:
            return apps  # nothing to reserve: no application uses the association
        for a, b, link, link_qkdl in self.hop_nodes():
            if node not in (a, b):
                continue
            app_id = internal_app_id(self.qkdl_id, link)
            apps[app_id] = {
                "app_id": str(app_id),
                "app_type": identity(AppType.INTERNAL),
                "server_app_id": f"urn:sdqkd:virtual-link:{self.qkdl_id}",
                "client_app_id": [f"urn:sdqkd:virtual-link:{self.qkdl_id}"],
                "app_qos": {"min_bandwidth": self.reserved_bps},
                "backing_qkdl_id": [str(link_qkdl)],
                "local_qkdn_id": str(qkdn_id(node)),
                "remote_qkdn_id": str(qkdn_id(b if node == a else a)),
            }
        return apps
