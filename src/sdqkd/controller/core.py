"""The controller's work: the registry of nodes, following each agent, provisioning, admission, alarms.

Per registered node, two tasks run:

- a *watcher* reads the agent's whole ``qkd_node`` tree every ``poll_interval_s`` (and at once when a
  notification arrives), provisions what the node lacks (the topology's links once both their nodes
  have called home, and the admitted applications), re-evaluates the node's links, raises and clears
  alarms, and reads the pool levels of the node's KME;
- a *listener* follows the agent's notification stream (RFC 8040 §6) and wakes the watcher on each
  ``sdqkdn_interface_down``, ``sdqkdn_link_down`` or other state change, so a failure reaches the
  controller's view within one round trip of the event, not of the poll.

Alarms follow state, not events: an alarm is raised when a link goes from up (or standby) to down,
when an interface is FAILED, when an agent stops answering, when a link carries more reserved key
rate than it makes; and cleared when that is over. State the controller cannot read again (an
agent's tree, a KME's pools) is never persisted; the registry, the applications and the alarms are
(:class:`~sdqkd.controller.store.ControllerStore`), so a restarted controller resumes at once.

Agents keep their datastore in memory: an agent that restarts calls home again and the watcher
writes back its links and applications, since both are compared with what the agent holds at every
read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import networkx as nx

from sdqkd.controller.links import (
    EndState,
    LinkState,
    PlannedLink,
    end_state,
    find_interface,
    link_state,
    needs_write,
    planned_links,
)
from sdqkd.controller.paths import Hop, PathPolicy, RelayGraph
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import Alarm, AlarmKind, AppRecord, ControllerStore, NodeRecord, Severity
from sdqkd.controller.virtual import VirtualLink, virtual_name
from sdqkd.errors import AdmissionRefused, AgentUnavailable, ConfigError, RestconfError, UnknownResource
from sdqkd.etsi015 import QKD_NODE, qkdn_id
from sdqkd.pki.identity import Identity, Role
from sdqkd.topology.models import Topology

__all__ = ["AppRequest", "Controller", "NodeView"]

log = logging.getLogger(__name__)

_LINKS = f"{QKD_NODE}/qkd_links/qkd_link"
_APPS = f"{QKD_NODE}/qkd_applications/qkd_app"
_WAKE_DELAY_S = 0.1  # after a notification: the agent publishes it, then refreshes its datastore
_STREAM_RETRY_S = (0.2, 5.0)  # first and longest wait before re-opening a broken event stream
_PROVISION_RETRY_S = 5.0  # after an agent refused a write, before writing it again
_REASON_FRESH_S = 10.0  # how long a sdqkdn_link_down reason may explain a link found down
_UNREACHABLE_AFTER = 2  # failed reads in a row before an agent is reported unreachable (not one blip)
_STATE_CHANGES = frozenset(
    {
        "sdqkdn_interface_new",
        "sdqkdn_interface_down",
        "sdqkdn_interface_out",
        "sdqkdn_link_down",
        "sdqkdn_link_overloaded",
        "sdqkdn_application_disconnected",
        "alarm",
        "event",
    }
)


@dataclass
class NodeView:
    """A registered node as the controller sees it now."""

    record: NodeRecord
    reachable: bool | None = None  # None: not read yet
    error: str | None = None
    failed_reads: int = 0
    last_seen: dt.datetime | None = None
    tree: dict[str, Any] | None = None
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    kme_virtual: dict[str, dict[str, Any]] | None = None  # the KME's virtual links; None: not read
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(frozen=True)
class AppRequest:
    """An application to admit: keys between two SAEs on two nodes, with the ETSI 015 QoS."""

    server_sae_id: str
    server_node: str
    client_sae_id: str
    client_node: str
    qos: dict[str, Any]
    priority: int = 0


def _sae_uri(sae_id: str) -> str:
    return Identity(Role.SAE, sae_id).urn


class Controller:
    """The central SDN controller of ``topology``.

    Args:
        topology: the network whose links the controller provisions.
        store: the durable registry, applications and alarms.
        southbound: HTTPS to the agents and KMEs with the controller's certificate.
        poll_interval_s: how often each agent and KME is read.
        relay_policy: how key-relay paths weigh their hops.
    """

    def __init__(
        self,
        topology: Topology,
        store: ControllerStore,
        southbound: Southbound,
        poll_interval_s: float = 1.0,
        relay_policy: PathPolicy = PathPolicy.BALANCED,
    ) -> None:
        self.topology = topology
        self.store = store
        self.southbound = southbound
        self.poll_interval_s = poll_interval_s
        self.links = planned_links(topology)
        self._links_by_id = {link.id: link for link in self.links}
        self.nodes: dict[str, NodeView] = {}
        self.apps: dict[UUID, AppRecord] = {}
        self.link_states: dict[str, LinkState] = {}
        self.relay_policy = relay_policy
        self.virtual: dict[frozenset[str], VirtualLink] = {}  # the relayed associations, by their two ends
        self._planned_on: object = None  # what the last plan of the associations was made from
        # the last sdqkdn_link_down reason per link id, and when it came (monotonic s)
        self._link_reasons: dict[str, tuple[str, float]] = {}
        self._refused: dict[tuple[str, str], float] = {}  # (node, path) → when an agent refused it
        self._admission = asyncio.Lock()
        self._stopping = False
        self.started_at = dt.datetime.now(dt.UTC)

    # Life cycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume from the store: follow every node registered before, with the applications admitted."""
        self.apps = {app.app_id: app for app in self.store.apps()}
        for record in self.store.nodes():
            self._follow(record)

    async def stop(self) -> None:
        """Stop following the agents: close the connections first, so that no task is cancelled while it
        opens one, then end the tasks."""
        self._stopping = True
        for view in self.nodes.values():
            view.wake.set()
        await self.southbound.aclose()
        tasks = [task for view in self.nodes.values() for task in view.tasks]
        _, pending = await asyncio.wait(tasks, timeout=2.0) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def register(self, record: NodeRecord) -> bool:
        """A node called home: record it and (re)start following its agent; True if it is new.

        Raises:
            ConfigError: its ``qkdn_id`` is not the one derived from its id.
        """
        if record.qkdn_id != qkdn_id(record.node_id):
            raise ConfigError(
                f"qkdn_id {record.qkdn_id} is not node {record.node_id!r}'s ({qkdn_id(record.node_id)})"
            )
        new = self.store.upsert_node(record)
        view = self.nodes.get(record.node_id)
        if view is None:
            self._follow(record)
        else:
            # The tasks read the record at every round: no need to stop them (cancelling a task while
            # it opens a TLS connection would leak the connection). A restarted agent's old event
            # stream has ended; one at a new address is opened at the next round.
            view.record = record
            view.wake.set()
        log.info(
            "node %s %s at %s", record.node_id, "registered" if new else "re-registered", record.agent_url
        )
        return new

    def _follow(self, record: NodeRecord) -> None:
        view = NodeView(record)
        self.nodes[record.node_id] = view
        view.tasks = [
            asyncio.create_task(self._watch(view), name=f"controller-watch-{record.node_id}"),
            asyncio.create_task(self._listen(view), name=f"controller-listen-{record.node_id}"),
        ]

    # Following an agent -----------------------------------------------------------------------------------

    async def _watch(self, view: NodeView) -> None:
        while not self._stopping:
            view.wake.clear()
            try:
                await self.refresh(view.record.node_id)
            except Exception:  # a bug must not stop following the node
                if self._stopping:
                    return
                log.exception("controller: reading node %s failed", view.record.node_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(view.wake.wait(), self.poll_interval_s)

    async def refresh(self, node_id: str) -> None:
        """Read a node's agent (and KME), provision what it lacks, re-evaluate its links and alarms."""
        view = self.nodes[node_id]
        source = f"node:{node_id}"
        try:
            view.tree = await self.southbound.node_tree(view.record.agent_url)
        except (AgentUnavailable, RestconfError) as exc:
            if view.reachable is not False:
                log.warning("controller: agent %s does not answer: %s", node_id, exc)
            view.reachable, view.error = False, str(exc)
            view.tree = None
            view.failed_reads += 1
            if view.failed_reads >= _UNREACHABLE_AFTER:
                self._alarm(
                    AlarmKind.NODE_UNREACHABLE, source, Severity.CRITICAL, f"agent of {node_id}: {exc}"
                )
            self._evaluate(node_id)
            return
        view.reachable, view.error, view.last_seen = True, None, dt.datetime.now(dt.UTC)
        view.failed_reads = 0
        self.store.clear_alarms(AlarmKind.NODE_UNREACHABLE, source)
        if await self._provision(view):
            view.tree = await self._read_again(view)
        if view.record.kme_url:
            try:
                view.pools, view.kme_virtual = await self.southbound.kme_state(view.record.kme_url)
            except AgentUnavailable as exc:
                log.debug("controller: KME of %s: %s", node_id, exc)
                view.pools, view.kme_virtual = {}, None
        self._evaluate(node_id)

    async def _read_again(self, view: NodeView) -> dict[str, Any] | None:
        try:
            return await self.southbound.node_tree(view.record.agent_url)
        except (AgentUnavailable, RestconfError):
            return view.tree

    async def _listen(self, view: NodeView) -> None:
        """Follow the agent's notifications; wake the watcher on every change of state."""
        wait_s = _STREAM_RETRY_S[0]
        while not self._stopping:
            try:
                async for notification in self.southbound.notifications(view.record.agent_url):
                    wait_s = _STREAM_RETRY_S[0]
                    self._notified(view, notification)
            except (AgentUnavailable, RestconfError) as exc:
                log.debug("controller: event stream of %s: %s", view.record.node_id, exc)
            if self._stopping:
                return
            view.wake.set()  # a stream that ended may mean the agent restarted: read it now
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, _STREAM_RETRY_S[1])

    def _notified(self, view: NodeView, notification: dict[str, Any]) -> None:
        for member, body in notification.items():
            name = member.split(":", 1)[-1]
            if name == "sdqkdn_link_down" and isinstance(body, dict):
                qkd_link = body.get("qkd_link", {})
                for link in self.links:
                    if str(link.qkdl_id) == qkd_link.get("qkdl_id"):
                        reason = str(qkd_link.get("reason") or "link down")
                        self._link_reasons[link.id] = (reason, time.monotonic())
                        # the state may have been read before the notification came: name the cause now
                        message = f"QKD link {link.id} down: {reason}"
                        self.store.describe_alarm(AlarmKind.LINK_DOWN, f"link:{link.id}", message)
            if name in _STATE_CHANGES:
                asyncio.get_running_loop().call_later(_WAKE_DELAY_S, view.wake.set)

    # Provisioning ---------------------------------------------------------------------------------------

    async def _provision(self, view: NodeView) -> bool:
        """Write what the node's agent lacks: its links (once the other end has called home and both
        interfaces are discovered) and its applications. True if anything was written."""
        assert view.tree is not None
        node = view.record.node_id
        wrote = False
        for link in self.links:
            if node not in link.nodes:
                continue
            other = self.nodes.get(link.nodes[1] if link.nodes[0] == node else link.nodes[0])
            if other is None or other.tree is None:
                continue  # provisioned once the other end has called home and been read
            here, there = link.end_at(node), link.end_at(other.record.node_id)
            if (
                find_interface(view.tree, here.qkdi_id) is None
                or find_interface(other.tree, there.qkdi_id) is None
            ):
                continue
            entry = link.entry(node)
            if needs_write(view.tree, entry):
                wrote |= await self._write(
                    view, f"{_LINKS}={link.qkdl_id}", {"etsi-qkd-sdn-node:qkd_link": [entry]}
                )
        wrote |= await self._provision_virtual(view)
        present = {a.get("app_id") for a in view.tree.get("qkd_applications", {}).get("qkd_app", [])}
        for app in list(self.apps.values()):
            if node in (app.server_node, app.client_node) and str(app.app_id) not in present:
                entry = self._app_entry(app, node)
                wrote |= await self._write(
                    view, f"{_APPS}={app.app_id}", {"etsi-qkd-sdn-node:qkd_app": [entry]}
                )
        return wrote

    async def _provision_virtual(self, view: NodeView) -> bool:
        """Make the node's agent and KME hold exactly the virtual links (and their INTERNAL applications)
        that pass through it. True if the agent's tree was written."""
        assert view.tree is not None
        node = view.record.node_id
        mine = [virtual for virtual in self.virtual.values() if node in virtual.path]
        wrote = False
        # the KME first: a relay must find the path configured where the agent says it is
        if view.record.kme_url and view.kme_virtual is not None:
            wanted = {virtual.id: virtual.kme_body(node) for virtual in mine}
            for virtual_id, body in wanted.items():
                held = view.kme_virtual.get(virtual_id)
                if held is None or any(held.get(k) != body[k] for k in ("path", "prev_hop", "next_hop")):
                    try:
                        await self.southbound.put_kme_virtual_link(view.record.kme_url, body)
                        view.kme_virtual[virtual_id] = body
                        log.info(
                            "controller: virtual link %s via %s at KME %s", virtual_id, body["path"], node
                        )
                    except AgentUnavailable as exc:
                        log.warning(
                            "controller: KME %s did not take virtual link %s: %s", node, virtual_id, exc
                        )
            for virtual_id in [v for v in view.kme_virtual if v not in wanted and v.startswith("v-")]:
                try:
                    await self.southbound.delete_kme_virtual_link(view.record.kme_url, virtual_id)
                    del view.kme_virtual[virtual_id]
                except AgentUnavailable as exc:
                    log.warning("controller: KME %s kept virtual link %s: %s", node, virtual_id, exc)
        # the agent's VIRT links and the INTERNAL applications that reserve their rate on each hop
        for virtual in mine:
            entry = virtual.entry(node)
            if needs_write(view.tree, entry):
                path = f"{_LINKS}={virtual.qkdl_id}"
                wrote |= await self._write(view, path, {"etsi-qkd-sdn-node:qkd_link": [entry]})
        wanted_apps = {app_id: app for virtual in mine for app_id, app in virtual.internal_apps(node).items()}
        held_apps = {
            a.get("app_id"): a
            for a in view.tree.get("qkd_applications", {}).get("qkd_app", [])
            if str(a.get("app_type", "")).endswith("INTERNAL")
        }
        for app_id, app in wanted_apps.items():
            held = held_apps.get(str(app_id))
            if (
                held is None
                or held.get("app_qos", {}).get("min_bandwidth") != app["app_qos"]["min_bandwidth"]
            ):
                path = f"{_APPS}={app_id}"
                wrote |= await self._write(view, path, {"etsi-qkd-sdn-node:qkd_app": [app]})
        for app_id in [a for a in held_apps if a not in {str(k) for k in wanted_apps}]:
            wrote |= await self._remove(view, f"{_APPS}={app_id}")
        wanted_links = {str(virtual.qkdl_id) for virtual in mine}
        for entry in view.tree.get("qkd_links", {}).get("qkd_link", []):
            virtual_type = str(entry.get("qkdl_type", "")).endswith("VIRT")
            if virtual_type and entry.get("qkdl_id") not in wanted_links:
                wrote |= await self._remove(view, f"{_LINKS}={entry.get('qkdl_id')}")
        return wrote

    async def _remove(self, view: NodeView, path: str) -> bool:
        try:
            removed = await self.southbound.delete(view.record.agent_url, path)
        except (AgentUnavailable, RestconfError) as exc:
            log.warning(
                "controller: removing %s at %s failed: %s", path.rsplit("/", 1)[-1], view.record.node_id, exc
            )
            return False
        if removed:
            log.info("controller: removed %s at %s", path.rsplit("/", 1)[-1], view.record.node_id)
        return removed

    async def _write(self, view: NodeView, path: str, body: dict[str, Any]) -> bool:
        key = (view.record.node_id, path)
        refused_at = self._refused.get(key)
        if refused_at is not None and time.monotonic() - refused_at < _PROVISION_RETRY_S:
            return False
        try:
            await self.southbound.put(view.record.agent_url, path, body)
        except RestconfError as exc:
            self._refused[key] = time.monotonic()
            log.error(
                "controller: agent %s refused %s: %s: %s",
                view.record.node_id,
                path,
                exc.error_tag,
                exc.error_message,
            )
            return False
        except AgentUnavailable as exc:
            log.warning("controller: writing %s to %s failed: %s", path, view.record.node_id, exc)
            return False
        self._refused.pop(key, None)
        log.info("controller: provisioned %s at %s", path.rsplit("/", 1)[-1], view.record.node_id)
        return True

    # Link state and alarms --------------------------------------------------------------------------------

    def ends(self, link: PlannedLink) -> dict[str, EndState | None]:
        """Each end of ``link`` as its agent reported it at the last read (None: unknown)."""
        found: dict[str, EndState | None] = {}
        for node in link.nodes:
            view = self.nodes.get(node)
            found[node] = (
                end_state(view.tree, link, node) if view is not None and view.tree is not None else None
            )
        return found

    def state_of(self, link: PlannedLink) -> LinkState:
        """The link's status now, from what its agents said at their last read."""
        state = link_state(link, self.ends(link))
        if state is LinkState.DOWN and link.switched:
            sharing = [other for other in self.links if other is not link and other.modules & link.modules]
            if any(link_state(other, self.ends(other)) is LinkState.UP for other in sharing):
                return link_state(link, self.ends(link), sharing_up=True)
        return state

    def _evaluate(self, node_id: str) -> None:
        view = self.nodes[node_id]
        if view.tree is not None:
            for interface in view.tree.get("qkd_interfaces", {}).get("qkd_interface", []):
                source = f"interface:{node_id}/{interface.get('qkdi_id')}"
                if str(interface.get("qkdi_status", "")).endswith("FAILED"):
                    model = interface.get("qkdi_model", "?")
                    message = f"QKD interface {interface.get('qkdi_id')} ({model}) at {node_id} failed"
                    self._alarm(AlarmKind.INTERFACE_DOWN, source, Severity.CRITICAL, message)
                else:
                    self.store.clear_alarms(AlarmKind.INTERFACE_DOWN, source)
        for link in self.links:
            if node_id not in link.nodes:
                continue
            previous = self.link_states.get(link.id)
            state = self.state_of(link)
            self.link_states[link.id] = state
            source = f"link:{link.id}"
            if state is LinkState.DOWN and previous in (LinkState.UP, LinkState.STANDBY):
                said, at = self._link_reasons.get(link.id, ("", 0.0))
                # the agent's reason, if it came lately: the notification and the state change may reach
                # the controller in either order, and the ends' trees at different reads
                reason = said if said and time.monotonic() - at < _REASON_FRESH_S else "not generating key"
                self._alarm(AlarmKind.LINK_DOWN, source, Severity.MAJOR, f"QKD link {link.id} down: {reason}")
            elif state in (LinkState.UP, LinkState.STANDBY):
                self.store.clear_alarms(AlarmKind.LINK_DOWN, source)
            reserved, capacity = self.reserved_bps(link.id), self.capacity_bps(link)
            if state is LinkState.UP and reserved > capacity:
                message = f"QKD link {link.id} makes {capacity} bit/s of key, {reserved} bit/s are reserved"
                self._alarm(AlarmKind.LINK_OVERLOADED, source, Severity.WARNING, message)
            elif state is LinkState.UP:
                self.store.clear_alarms(AlarmKind.LINK_OVERLOADED, source)
        self._plan_virtual()

    # Key relay: virtual links ---------------------------------------------------------------------------

    def _ready_bits(self, link: PlannedLink) -> float:
        """Key ready for relaying over ``link``: the lower of its two KMEs' ready blocks, bits."""
        levels = [
            view.pools[link.id].get("ready_blocks", 0) * 256.0
            for node in link.nodes
            if (view := self.nodes.get(node)) is not None and link.id in view.pools
        ]
        return min(levels) if len(levels) == 2 else 0.0

    def virtual_reserved_bps(self, virtual_id: str) -> int:
        return sum(app.reserved_bps for app in self.apps.values() if app.link_id == virtual_id)

    def _plan_virtual(self) -> None:
        """Decide which associations are relayed, and along which path (see :mod:`.virtual`); wake the
        nodes whose configuration changes."""
        up = {link.id for link in self.links if self.link_states.get(link.id) is LinkState.UP}
        # The plan depends only on the links' states, which nodes are known and what the apps
        # reserve (a working path is not moved for pool levels): unchanged, nothing to do. This runs
        # at every read of every agent.
        basis = (
            frozenset(self.nodes),
            frozenset(self.link_states.items()),
            tuple(sorted((str(app.app_id), app.link_id, app.reserved_bps) for app in self.apps.values())),
        )
        if basis == self._planned_on:
            return
        self._planned_on = basis
        graph = RelayGraph(
            (
                Hop(link.id, *link.nodes, float(self.capacity_bps(link)), self._ready_bits(link))
                for link in self.links
                if link.id in up
            ),
            self.relay_policy,
        )
        changed: set[str] = set()
        for a, b in itertools.combinations(sorted(self.nodes), 2):
            pair = frozenset({a, b})
            current = self.virtual.get(pair)
            direct = [link for link in self.links if set(link.nodes) == pair]
            reserved = self.virtual_reserved_bps(virtual_name(a, b))
            wanted: VirtualLink | None
            if any(link.id in up for link in direct) and not reserved:
                wanted = None  # the direct link serves the pair (an association in use stays)
            elif any(self.link_states.get(link.id) in (None, LinkState.UNPROVISIONED) for link in direct):
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
                    qkdl_ids = tuple(self._links_by_id[hop].qkdl_id for hop in path.links)
                    wanted = VirtualLink(path.nodes, path.links, qkdl_ids)
            if wanted is not None and wanted.reserved_bps != reserved:
                wanted = VirtualLink(wanted.path, wanted.hops, wanted.hop_qkdl_ids, reserved)
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
        for node in changed:
            if (view := self.nodes.get(node)) is not None:
                view.wake.set()

    def virtual_state(self, virtual: VirtualLink) -> LinkState:
        """Up while every hop is up, down otherwise."""
        up = all(self.link_states.get(hop) is LinkState.UP for hop in virtual.hops)
        return LinkState.UP if up else LinkState.DOWN

    def virtual_capacity_bps(self, virtual: VirtualLink) -> int:
        """The key rate the association can still be given: the least that any hop has left unreserved,
        plus what it holds already."""
        spare = min(
            self.capacity_bps(self._links_by_id[hop]) - self.reserved_bps(hop) for hop in virtual.hops
        )
        return max(spare, 0) + virtual.reserved_bps

    def _alarm(self, kind: AlarmKind, source: str, severity: Severity, message: str) -> Alarm | None:
        alarm = self.store.raise_alarm(kind, source, severity, message)
        if alarm is not None:
            log.warning("alarm %s (%s) %s: %s", alarm.id, severity, kind, message)
        return alarm

    # Capacity and applications ----------------------------------------------------------------------------

    def capacity_bps(self, link: PlannedLink) -> int:
        """The key rate the link makes now, bit/s: the lower of its two ends' ``skr`` (0 unless up)."""
        ends = self.ends(link)
        if link_state(link, ends) is not LinkState.UP:
            return 0
        return min(end.skr_bps for end in ends.values() if end is not None)

    def reserved_bps(self, link_id: str) -> int:
        """Key rate reserved on a link: by the applications on it, and by the associations relayed over it."""
        direct = sum(app.reserved_bps for app in self.apps.values() if app.link_id == link_id)
        relayed = sum(virtual.reserved_bps for virtual in self.virtual.values() if link_id in virtual.hops)
        return direct + relayed

    def link(self, link_id: str) -> PlannedLink:
        try:
            return self._links_by_id[link_id]
        except KeyError:
            raise UnknownResource(f"no QKD link {link_id!r}") from None

    def link_between(self, a: str, b: str) -> PlannedLink:
        """The QKD link joining nodes ``a`` and ``b`` (the first, if several).

        Raises:
            AdmissionRefused: none does.
        """
        for link in self.links:
            if set(link.nodes) == {a, b}:
                return link
        raise AdmissionRefused(f"no QKD link joins {a} and {b}")

    def _app_entry(self, app: AppRecord, node: str) -> dict[str, Any]:
        """The ``qkd_app`` entry the agent of ``node`` holds for ``app``."""
        other = app.client_node if node == app.server_node else app.server_node
        qos = {k: v for k, v in app.qos.items() if v is not None}
        return {
            "app_id": str(app.app_id),
            "app_type": "etsi-qkd-node-types:CLIENT",
            "server_app_id": _sae_uri(app.server_sae_id),
            "client_app_id": [_sae_uri(app.client_sae_id)],
            "app_priority": app.priority,
            "app_qos": qos,
            "backing_qkdl_id": [str(app.qkdl_id)],
            "local_qkdn_id": str(qkdn_id(node)),
            "remote_qkdn_id": str(qkdn_id(other)),
        }

    def app_status(self, app: AppRecord) -> str:
        """``ON`` while the application's link makes key, ``DISCONNECTED`` otherwise (ETSI 015 app-status)."""
        virtual = next((v for v in self.virtual.values() if v.id == app.link_id), None)
        if virtual is not None:
            return "ON" if self.virtual_state(virtual) is LinkState.UP else "DISCONNECTED"
        return "ON" if self.link_states.get(app.link_id) is LinkState.UP else "DISCONNECTED"

    async def create_app(self, request: AppRequest) -> AppRecord:
        """Admit an application and write it into both nodes' agents.

        Raises:
            UnknownResource: a node never called home.
            AdmissionRefused: no QKD link joins the nodes, it is not up, or it lacks the key rate
                (``min_bandwidth`` beyond what it makes less what is reserved already).
            AgentUnavailable, RestconfError: an agent did not take it (nothing is kept).
        """
        for node in (request.server_node, request.client_node):
            if node not in self.nodes:
                raise UnknownResource(f"node {node!r} has not called home")
        if request.server_node == request.client_node:
            raise AdmissionRefused("both SAEs are at the same node: no QKD link serves them")
        async with self._admission:
            a, b = request.server_node, request.client_node
            wanted = int(request.qos.get("min_bandwidth") or 0)
            direct = [link for link in self.links if set(link.nodes) == {a, b}]
            up = [link for link in direct if self.link_states.get(link.id) is LinkState.UP]
            virtual = self.virtual.get(frozenset({a, b}))
            link_id: str
            link_qkdl_id: UUID
            if up and (virtual is None or not virtual.reserved_bps):
                link = up[0]
                capacity, reserved = self.capacity_bps(link), self.reserved_bps(link.id)
                if reserved + wanted > capacity:
                    raise AdmissionRefused(
                        f"QKD link {link.id} makes {capacity} bit/s of key and {reserved} bit/s are "
                        f"reserved: {wanted} bit/s more do not fit"
                    )
                link_id, link_qkdl_id = link.id, link.qkdl_id
            elif virtual is not None and self.virtual_state(virtual) is LinkState.UP:
                capacity, reserved = self.virtual_capacity_bps(virtual), virtual.reserved_bps
                if reserved + wanted > capacity:
                    raise AdmissionRefused(
                        f"the relay path {' → '.join(virtual.path)} can carry {capacity} bit/s of key and "
                        f"{reserved} bit/s are reserved: {wanted} bit/s more do not fit"
                    )
                link_id, link_qkdl_id = virtual.id, virtual.qkdl_id
            else:
                states = ", ".join(
                    f"QKD link {link.id} is {self.link_states.get(link.id, LinkState.UNKNOWN)}"
                    for link in direct
                )
                raise AdmissionRefused(
                    f"{states + ' and ' if states else ''}no QKD link or relay path joins {a} and {b} now"
                )
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
            written: list[str] = []
            try:
                for node in (app.server_node, app.client_node):
                    body = {"etsi-qkd-sdn-node:qkd_app": [self._app_entry(app, node)]}
                    await self.southbound.put(
                        self.nodes[node].record.agent_url, f"{_APPS}={app.app_id}", body
                    )
                    written.append(node)
            except (AgentUnavailable, RestconfError):
                for node in written:  # all or nothing
                    with contextlib.suppress(AgentUnavailable, RestconfError):
                        await self.southbound.delete(
                            self.nodes[node].record.agent_url, f"{_APPS}={app.app_id}"
                        )
                raise
            self.store.add_app(app)
            self.apps[app.app_id] = app
            log.info("controller: admitted application %s on %s (%s bit/s)", app.app_id, link_id, wanted)
            self._plan_virtual()  # a relayed association now reserves more on its hops
            return app

    async def delete_app(self, app_id: UUID) -> None:
        """Remove an application from both agents and from the registry.

        Raises:
            UnknownResource: no such application.
        """
        async with self._admission:
            app = self.apps.get(app_id)
            if app is None:
                raise UnknownResource(f"no application {app_id}")
            self.store.remove_app(app_id)
            del self.apps[app_id]
            self._plan_virtual()
        for node in (app.server_node, app.client_node):
            view = self.nodes.get(node)
            if view is None:
                continue
            try:
                await self.southbound.delete(view.record.agent_url, f"{_APPS}={app_id}")
            except (AgentUnavailable, RestconfError) as exc:
                # The registry no longer has it; the agent is told again when it is read next.
                log.warning("controller: removing application %s from %s failed: %s", app_id, node, exc)

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
