"""Application admission: an application (``qkd_app``) gets keys between two SAEs on two nodes only if a
QKD link, or a relayed association, between the nodes can give it the key rate it asks for.

An application is admitted over the direct QKD link of its nodes while that link is up, and over
their relayed association (:mod:`.relay`) otherwise. Either way its ``min_bandwidth`` must fit in
what the link makes less what is reserved on it already: by the applications over it and, for a
physical link, by the associations relayed over it (each reserves what its own applications do, on
every hop). An admitted application is written into both nodes' agents, all or nothing, and kept in
the store; a relayed one only after the virtual link that backs it is in every agent of its path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from sdqkd.controller.links import LinkState
from sdqkd.controller.network import Network
from sdqkd.controller.reconcile import Reconciler
from sdqkd.controller.registry import NodeView
from sdqkd.controller.relay import RelayPlanner
from sdqkd.controller.store import AppRecord, ControllerStore
from sdqkd.controller.virtual import VirtualLink
from sdqkd.errors import AdmissionRefused, UnknownResource
from sdqkd.etsi015 import AppStatus

__all__ = ["Admission", "AppRequest"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppRequest:
    """An application to admit: keys between two SAEs on two nodes, with the ETSI 015 QoS."""

    server_sae_id: str
    server_node: str
    client_sae_id: str
    client_node: str
    qos: dict[str, Any]
    priority: int = 0


class Admission:
    """The admitted applications and what they reserve.

    Args:
        store: where the applications are kept.
        network: the QKD links, their states and key rates.
        relay: the relayed associations.
        reconciler: writes the applications into the agents.
        nodes: the registered nodes (read, never changed, here).
        replan: makes the relay plan again (an admission changes what an association reserves).
    """

    def __init__(
        self,
        store: ControllerStore,
        network: Network,
        relay: RelayPlanner,
        reconciler: Reconciler,
        nodes: Mapping[str, NodeView],
        replan: Callable[[], None],
    ) -> None:
        self.store = store
        self.network = network
        self.relay = relay
        self.reconciler = reconciler
        self.apps: dict[UUID, AppRecord] = {}
        self._nodes = nodes
        self._replan = replan
        self._lock = asyncio.Lock()  # one admission at a time: each sees what the previous reserved

    def resume(self) -> None:
        """Take back the applications admitted before a restart."""
        self.apps = {app.app_id: app for app in self.store.apps()}

    # Capacity ---------------------------------------------------------------------------------------------

    def reserved_bps(self, link_id: str) -> int:
        """Key rate reserved on a link: by the applications on it, and by the associations relayed over it."""
        direct = sum(app.reserved_bps for app in self.apps.values() if app.link_id == link_id)
        relayed = sum(v.reserved_bps for v in self.relay.virtual.values() if link_id in v.hops)
        return direct + relayed

    def virtual_reserved_bps(self, virtual_id: str) -> int:
        """Key rate the applications over the association ``virtual_id`` reserve."""
        return sum(app.reserved_bps for app in self.apps.values() if app.link_id == virtual_id)

    def virtual_capacity_bps(self, virtual: VirtualLink) -> int:
        """The key rate the association can still be given: the least that any hop has left unreserved,
        plus what it holds already."""
        spare = min(
            self.network.capacity_bps(self.network.link(hop)) - self.reserved_bps(hop) for hop in virtual.hops
        )
        return max(spare, 0) + virtual.reserved_bps

    def app_status(self, app: AppRecord) -> AppStatus:
        """``ON`` while the application's link makes key, ``DISCONNECTED`` otherwise (ETSI 015 app-status)."""
        virtual = self.relay.find(app.link_id)
        up = (
            self.relay.state(virtual) is LinkState.UP
            if virtual is not None
            else self.network.state(app.link_id) is LinkState.UP
        )
        return AppStatus.ON if up else AppStatus.DISCONNECTED

    def carrier_problem(self, app: AppRecord) -> str | None:
        """Why the application's keys are not as asked for, or None: they come over a relay path while
        its nodes have a direct QKD link (a fallback, e.g. after a fibre cut), its carrier makes no
        key, or it makes less key than is reserved on it."""
        relayed = self._relayed_instead(app)
        if relayed is not None:
            return relayed
        if self.app_status(app) is not AppStatus.ON:
            return f"its key source {app.link_id} makes no key"
        virtual = self.relay.find(app.link_id)
        if virtual is not None:
            short = [
                hop
                for hop in virtual.hops
                if self.network.capacity_bps(self.network.link(hop)) < self.reserved_bps(hop)
            ]
            if short:
                return f"relay hop {short[0]} makes less key than is reserved on it"
            return None
        link = self.network.link(app.link_id)
        capacity, reserved = self.network.capacity_bps(link), self.reserved_bps(link.id)
        if capacity < reserved:
            return f"QKD link {link.id} makes {capacity} bit/s of key, below the {reserved} bit/s reserved"
        return None

    def _relayed_instead(self, app: AppRecord) -> str | None:
        """Why the application's keys come over a relay path though its nodes have a direct QKD link,
        or None. Either it was admitted on their association (the direct link was down then), or on
        the direct link, which is down now: the relay plan gives the nodes an association whenever no
        direct link of theirs is up, and their KMEs then relay every new key over it (a KME prefers
        an association to the direct link, :mod:`sdqkd.kms.kme`), so the application keeps getting
        keys, over a longer path."""
        direct = self.network.direct(app.server_node, app.client_node)
        if not direct:
            return None
        virtual = self.relay.find(app.link_id)
        if virtual is None and self.network.state(app.link_id) is not LinkState.UP:
            virtual = self.relay.between(app.server_node, app.client_node)
        if virtual is None or self.relay.state(virtual) is not LinkState.UP:
            return None
        states = ", ".join(
            f"the direct QKD link {link.id} is {self.network.state(link.id) or LinkState.UNKNOWN}"
            for link in direct
        )
        return f"its keys are relayed over {' → '.join(virtual.path)}: {states}"

    # Admitting and removing -------------------------------------------------------------------------------

    async def create(self, request: AppRequest) -> AppRecord:
        """Admit an application and write it into both nodes' agents.

        Raises:
            UnknownResource: a node never called home.
            AdmissionRefused: no QKD link joins the nodes, it is not up, or it lacks the key rate
                (``min_bandwidth`` beyond what it makes less what is reserved already).
            AgentUnavailable, RestconfError: an agent did not take it (nothing is kept).
        """
        for node in (request.server_node, request.client_node):
            if node not in self._nodes:
                raise UnknownResource(f"node {node!r} has not called home")
        if request.server_node == request.client_node:
            raise AdmissionRefused("both SAEs are at the same node: no QKD link serves them")
        async with self._lock:
            wanted = int(request.qos.get("min_bandwidth") or 0)
            link_id, link_qkdl_id, virtual = self._carrier(request.server_node, request.client_node, wanted)
            app = AppRecord(
                app_id=uuid4(),
                server_sae_id=request.server_sae_id,
                server_node=request.server_node,
                client_sae_id=request.client_sae_id,
                client_node=request.client_node,
                link_id=link_id,
                qkdl_id=link_qkdl_id,
                qos=dict(request.qos),
                priority=request.priority,
                created_at=dt.datetime.now(dt.UTC),
            )
            if virtual is not None:
                # the agents refuse an app whose backing link they do not hold: the VIRT link first
                await self.reconciler.ensure_virtual(virtual)
            await self.reconciler.put_app(app)
            self.store.add_app(app)
            self.apps[app.app_id] = app
            log.info("controller: admitted application %s on %s (%s bit/s)", app.app_id, app.link_id, wanted)
            self._replan()  # a relayed association now reserves more on its hops
            return app

    def _carrier(self, a: str, b: str, wanted_bps: int) -> tuple[str, UUID, VirtualLink | None]:
        """What carries a new application between nodes ``a`` and ``b`` that reserves ``wanted_bps``:
        the direct link, or else the relayed association (returned too); its id and ``qkdl_id``.

        Raises:
            AdmissionRefused: neither is up, or the one that is lacks the key rate.
        """
        direct = self.network.direct(a, b)
        up = [link for link in direct if self.network.state(link.id) is LinkState.UP]
        virtual = self.relay.between(a, b)
        if up and (virtual is None or not virtual.reserved_bps):
            link = up[0]
            capacity, reserved = self.network.capacity_bps(link), self.reserved_bps(link.id)
            if reserved + wanted_bps > capacity:
                raise AdmissionRefused(
                    f"QKD link {link.id} makes {capacity} bit/s of key and {reserved} bit/s are "
                    f"reserved: {wanted_bps} bit/s more do not fit"
                )
            return link.id, link.qkdl_id, None
        if virtual is not None and self.relay.state(virtual) is LinkState.UP:
            capacity, reserved = self.virtual_capacity_bps(virtual), virtual.reserved_bps
            if reserved + wanted_bps > capacity:
                raise AdmissionRefused(
                    f"the relay path {' → '.join(virtual.path)} can carry {capacity} bit/s of key and "
                    f"{reserved} bit/s are reserved: {wanted_bps} bit/s more do not fit"
                )
            return virtual.id, virtual.qkdl_id, virtual
        states = ", ".join(
            f"QKD link {link.id} is {self.network.state(link.id) or LinkState.UNKNOWN}" for link in direct
        )
        raise AdmissionRefused(
            f"{states + ' and ' if states else ''}no QKD link or relay path joins {a} and {b} now",
            no_path_now=True,
        )

    async def delete(self, app_id: UUID) -> None:
        """Remove an application from the registry and from both agents.

        Raises:
            UnknownResource: no such application.
        """
        async with self._lock:
            app = self.apps.get(app_id)
            if app is None:
                raise UnknownResource(f"no application {app_id}")
            self.store.remove_app(app_id)
            del self.apps[app_id]
            self._replan()
        await self.reconciler.remove_app(app)
