"""The central SDN controller: one façade over the parts that do its work.

    registry    the nodes that called home, and following each (a watcher and a listener per node)
    network     the topology's QKD links as the agents report them: ends, status, key rate
    alarms      state changes of nodes, interfaces and links as alarms, raised and cleared
    relay       which node pairs get a relayed association (virtual link), along which path
    optical     the shared fibres: classical power and wavelengths for the quantum channels, switches
    reconcile   what each agent and KME should hold vs what it holds, and the writes between
    admission   applications admitted against key capacity, and what they reserve
    services    service intents (encrypted tunnels): an application and processes at two nodes' managers

At each read of a node (its watcher's round, :meth:`Controller.refresh`) the controller reads the
agent's tree, writes what the node lacks, reads its KME, then evaluates the node's interfaces and
links (alarms) and the relay plan; a plan that changes wakes the nodes it touches.

State the controller cannot read again (an agent's tree, a KME's pools) is never persisted; the
registry, the applications and the alarms are (:class:`~sdqkd.controller.store.ControllerStore`), so
a restarted controller resumes at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import networkx as nx

from sdqkd.controller.admission import Admission, AppRequest
from sdqkd.controller.alarms import Alarms
from sdqkd.controller.links import EndState, LinkState, PlannedLink
from sdqkd.controller.network import Network
from sdqkd.controller.optical.manager import OpticalManager
from sdqkd.controller.optical.plant import PlantClient
from sdqkd.controller.optical.scheduling import Switching
from sdqkd.controller.paths import PathPolicy
from sdqkd.controller.reconcile import Reconciler
from sdqkd.controller.registry import NodeView, Registry
from sdqkd.controller.relay import RelayPlanner
from sdqkd.controller.services import Services
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import AppRecord, ControllerStore, NodeRecord
from sdqkd.controller.virtual import VirtualLink
from sdqkd.errors import AgentUnavailable, RestconfError
from sdqkd.etsi015 import AppStatus, qkdn_id
from sdqkd.pki.identity import Identity, Role
from sdqkd.topology.models import Topology

__all__ = ["Controller"]


class Controller:
    """The central SDN controller of ``topology``.

    Args:
        topology: the network whose links the controller provisions.
        store: the durable registry, applications and alarms.
        southbound: HTTPS to the agents and KMEs with the controller's certificate.
        poll_interval_s: how often each agent and KME is read.
        relay_policy: how key-relay paths weigh their hops.
        plant: the optical plant API (None: the controller does not manage the optical layer).
        world_time_scale: how much faster than wall-clock time the (emulated) world runs: its key
            rates per wall-clock second, and its devices' dead times, scale with it.
        links_before_read: provision a node's links once the node at the other end has called home,
            without waiting to read it (QKD-TLS control channel: reading it may need those links' keys).
        service_managers: each node's service manager URL (where services order their processes).
        service_sae_id: the SAE of a node's service processes (``{node}-app``).
    """

    def __init__(
        self,
        topology: Topology,
        store: ControllerStore,
        southbound: Southbound,
        poll_interval_s: float = 1.0,
        relay_policy: PathPolicy = PathPolicy.BALANCED,
        plant: PlantClient | None = None,
        world_time_scale: float = 1.0,
        links_before_read: bool = False,
        service_managers: Mapping[str, str] | None = None,
        service_sae_id: str = "{node}-app",
    ) -> None:
        self.topology = topology
        self.store = store
        self.southbound = southbound
        self.poll_interval_s = poll_interval_s
        self.relay_policy = relay_policy
        self.registry = Registry(store, southbound, poll_interval_s, self.refresh, self._notified)
        self.network = Network(topology, self.registry.nodes)
        self.alarms = Alarms(store)
        self.relay = RelayPlanner(self.network, self.registry.nodes, relay_policy)
        self.reconciler = Reconciler(
            southbound, self.network.links, self.registry.nodes, links_before_read=links_before_read
        )
        self.admission = Admission(
            store, self.network, self.relay, self.reconciler, self.registry.nodes, self._plan
        )
        self.optical = OpticalManager(
            topology,
            self.network,
            store,
            self.alarms,
            self.admission.reserved_bps,
            self.registry.wake,
            plant,
            poll_interval_s,
            Switching(topology, self.network, self.registry.nodes, world_time_scale),
        )
        for node_id, url in (
            service_managers or {}
        ).items():  # a manager serves with its node's agent certificate
            southbound.expect(url, Identity(Role.AGENT, node_id))
        self.services = Services(
            store, self.admission, southbound, service_managers or {}, service_sae_id, poll_interval_s
        )
        self.started_at = dt.datetime.now(dt.UTC)

    # What the API reads -----------------------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, NodeView]:
        return self.registry.nodes

    @property
    def links(self) -> list[PlannedLink]:
        return self.network.links

    @property
    def link_states(self) -> dict[str, LinkState]:
        return self.network.states

    @property
    def virtual(self) -> dict[frozenset[str], VirtualLink]:
        return self.relay.virtual

    @property
    def apps(self) -> dict[UUID, AppRecord]:
        return self.admission.apps

    def link(self, link_id: str) -> PlannedLink:
        return self.network.link(link_id)

    def link_between(self, a: str, b: str) -> PlannedLink:
        return self.network.link_between(a, b)

    def ends(self, link: PlannedLink) -> dict[str, EndState | None]:
        return self.network.ends(link)

    def state_of(self, link: PlannedLink) -> LinkState:
        return self.network.state_of(link)

    def capacity_bps(self, link: PlannedLink) -> int:
        return self.network.capacity_bps(link)

    def reserved_bps(self, link_id: str) -> int:
        return self.admission.reserved_bps(link_id)

    def virtual_state(self, virtual: VirtualLink) -> LinkState:
        return self.relay.state(virtual)

    def virtual_capacity_bps(self, virtual: VirtualLink) -> int:
        return self.admission.virtual_capacity_bps(virtual)

    def virtual_reserved_bps(self, virtual_id: str) -> int:
        return self.admission.virtual_reserved_bps(virtual_id)

    def app_status(self, app: AppRecord) -> AppStatus:
        return self.admission.app_status(app)

    # Life cycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume from the store: follow every node registered before, with the applications admitted."""
        self.admission.resume()
        self.registry.resume()
        self.optical.start()
        self.services.start()

    async def stop(self) -> None:
        """Stop following the agents, the plant and the services."""
        await self.services.stop()
        await self.optical.stop()
        await self.registry.stop()

    async def register(self, record: NodeRecord) -> bool:
        """A node called home: record it and (re)start following its agent; True if it is new.

        Raises:
            ConfigError: its ``qkdn_id`` is not the one derived from its id.
        """
        return self.registry.register(record)

    async def create_app(self, request: AppRequest) -> AppRecord:
        """Admit an application and write it into both nodes' agents (see :meth:`Admission.create`)."""
        return await self.admission.create(request)

    async def delete_app(self, app_id: UUID) -> None:
        """Remove an application from the registry and from both agents.

        Raises:
            UnknownResource: no such application.
        """
        await self.admission.delete(app_id)

    # A node's round ---------------------------------------------------------------------------------------

    async def refresh(self, node_id: str) -> None:
        """Read a node's agent (and KME), provision what it lacks, re-evaluate its links and alarms."""
        view = self.registry.nodes[node_id]
        try:
            await self.registry.read(view)
        except (AgentUnavailable, RestconfError) as exc:
            self.alarms.node_unanswered(node_id, view.failed_reads, exc)
            self._evaluate(view)
            return
        self.alarms.node_answered(node_id)
        if await self.reconciler.provision(view, list(self.relay.virtual.values()), list(self.apps.values())):
            await self.registry.read_again(view)
        await self.registry.read_kme(view)
        self._evaluate(view)

    def _evaluate(self, view: NodeView) -> None:
        if view.tree is not None:
            self.alarms.interfaces(view.node_id, view.tree)
        for link, previous, state in self.network.evaluate(view.node_id):
            reserved, capacity = self.admission.reserved_bps(link.id), self.network.capacity_bps(link)
            self.alarms.link(link, previous, state, reserved, capacity)
        self._plan()

    def _plan(self) -> None:
        self.registry.wake(self.relay.plan(self.apps.values()))

    def _notified(self, _: NodeView, notification: dict[str, Any]) -> None:
        self.alarms.notified(notification, self.network.links)

    # The graph --------------------------------------------------------------------------------------------

    def graph(self) -> nx.MultiGraph:  # type: ignore[type-arg]
        """The network now: nodes (registered, reachable), fibres and QKD links (state, key rate)."""
        graph: nx.MultiGraph = nx.MultiGraph()  # type: ignore[type-arg]
        for node in self.topology.nodes:
            view = self.nodes.get(node.id)
            graph.add_node(
                node.id,
                name=node.name,
                qkdn_id=str(qkdn_id(node.id)),
                registered=view is not None,
                reachable=bool(view and view.reachable),
            )
        for fibre in self.topology.fibres:
            graph.add_edge(
                fibre.a,
                fibre.b,
                key=f"fibre:{fibre.id}",
                kind="fibre",
                id=fibre.id,
                length_km=fibre.length_km,
            )
        for link in self.links:
            graph.add_edge(
                *link.nodes,
                key=f"qkd:{link.id}",
                kind="qkd",
                id=link.id,
                qkdl_id=str(link.qkdl_id),
                state=str(self.link_states.get(link.id, LinkState.UNKNOWN)),
                skr_bps=self.capacity_bps(link),
            )
        for virtual in self.virtual.values():
            graph.add_edge(
                virtual.path[0],
                virtual.path[-1],
                key=f"virtual:{virtual.id}",
                kind="virtual",
                id=virtual.id,
                path=list(virtual.path),
                state=str(self.virtual_state(virtual)),
            )
        return graph
