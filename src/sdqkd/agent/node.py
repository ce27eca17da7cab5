"""The SD-QKD node agent: one node's QKD devices (through a driver) as an ETSI GS QKD 015 datastore.

- At start it discovers the node's modules and fills ``qkd_interfaces`` (announcing each with
  ``sdqkdn_interface_new`` on the event stream).
- A ``qkd_link`` written by the controller is applied to the devices before it is accepted: the
  links of the node become module configurations (peers, quantum channel, enabled) and the driver
  configures the modules; a device that refuses vetoes the write (a RESTCONF error, nothing changes).
  A link the agent cannot use (an unknown interface, a channel outside the module's range) is
  refused as ``invalid-value`` (400); a device's refusal as ``operation-failed`` (500).
- A ``qkd_app`` written by the controller is checked against the node before it is accepted: its
  ``local_qkdn_id`` (when given) must be this node's and every ``backing_qkdl_id`` a link of this
  node (else ``invalid-value``, naming the member); a link an app still uses cannot be removed
  (``in-use``, 409). An accepted app gets its ``creation_time`` and ``app_status`` and is announced
  with ``sdqkdn_application_new``; ``sdqkdn_application_disconnected`` follows when its status
  turns DISCONNECTED or it is removed.
- A virtual (multi-hop) ``qkd_link`` (``qkdl_type`` VIRT, the same entry at every node of a key-relay
  path) configures no device: it is checked to fit the node's place on the path, its hops to be
  neighbours (the remote node of a PHYS link), else ``invalid-value`` naming the member; a PHYS link
  it relays over cannot be removed (``in-use``). Its status and rate follow its hops' PHYS links
  (:mod:`sdqkd.agent.virtual`), and ``sdqkdn_link_down`` announces it leaving ACTIVE.
- Every second it refreshes the live state: interface and link status, ``skr``/``eskr``, app
  status; device events (module or link down) update it at once and raise
  ``sdqkdn_interface_down`` / ``sdqkdn_link_down``; ``sdqkdn_link_perf_update`` carries the SNR
  (see ``etsi015`` on why the datastore cannot).
- With the node's KME (``kme``), the same loop first reads the KME's consumption counters
  (:mod:`sdqkd.agent.kme`): a PHYS link's ``eskr`` is its ``skr`` less the rate the key relay
  consumes its key here, and the apps the KME counts get an ``app_statistics`` entry per reading
  (:mod:`sdqkd.agent.consumption`). A KME that does not answer changes nothing (the last values
  stay; a warning once, until it answers again) and never delays a write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sdqkd.agent.applications import (
    app_configuration,
    app_disconnected_notification,
    app_new_notification,
    app_status,
    date_and_time,
    link_statuses,
    parse_app,
)
from sdqkd.agent.consumption import (
    RATE_WINDOW_S,
    ConsumptionPeriod,
    app_consumed_bits,
    consumption_period,
    effective_skr_bps,
    merged_statistics,
    relay_rates_bps,
    statistics_entry,
)
from sdqkd.agent.datastore import ChangeKind, Datastore
from sdqkd.agent.drivers import DeviceDescription, DeviceEventKind, ModuleStatus, Performance, QkdDeviceDriver
from sdqkd.agent.kme import KmeCounters, KmeReader, KmeUnavailable
from sdqkd.agent.mapping import (
    InterfaceDirectory,
    interface_down_notification,
    interface_entry,
    interface_new_notification,
    interface_status,
    link_device_call,
    link_down_notification,
    link_perf_update_notification,
    link_status,
    module_configurations,
    node_tree,
)
from sdqkd.agent.virtual import (
    VirtualLink,
    VirtualLinkError,
    check_hops,
    hop_links,
    is_virtual,
    parse_virtual_link,
    virtual_state,
)
from sdqkd.errors import ConfigError, DeviceError, RestconfError
from sdqkd.etsi015 import (
    QKD_NODE,
    TYPES_MODULE,
    AppStatus,
    LinkStatus,
    PhysicalLink,
    link_entry,
    parse_link,
    qkdi_id,
    qkdn_id,
)
from sdqkd.restconf.notifications import NotificationStream
from sdqkd.restconf.paths import JsonValue
from sdqkd.server.loops import Loops

__all__ = ["NodeAgent"]

log = logging.getLogger(__name__)
_LINKS = f"{QKD_NODE}/qkd_links/qkd_link"
_INTERFACES = f"{QKD_NODE}/qkd_interfaces/qkd_interface"
_APPS = f"{QKD_NODE}/qkd_applications/qkd_app"
_REFRESH_S = 1.0

_ModuleConfig = tuple[tuple[str, ...], int | None, bool]
"""A module's configuration as the driver sets it: its peers, its quantum channel, whether it runs."""


@dataclasses.dataclass
class _AcceptedApp:
    """An app the agent accepted: its configuration as written, and the status it last gave it."""

    configuration: dict[str, Any]
    status: AppStatus | None = None
    statistics: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Its ``app_statistics/statistics`` entries, oldest first (the last ``STATISTICS_PERIODS``)."""


@dataclasses.dataclass
class _AcceptedVirtual:
    """A virtual link the agent accepted: its configuration, and the status it last gave it."""

    link: VirtualLink
    status: LinkStatus | None = None


class NodeAgent:
    """The agent of node ``node_id``.

    Args:
        node_id: the node (its ``qkdn_id`` is derived from it).
        location: free text for ``qkdn_location_id``.
        driver: the node's devices.
        model: the ETSI GS QKD 015 yangson data model.
        kme: the node's KME, read for key consumption (``eskr``, ``app_statistics``); None: not
            read (``eskr`` = ``skr``, no statistics). The agent closes it when it stops.
    """

    def __init__(
        self, node_id: str, location: str, driver: QkdDeviceDriver, model: Any, kme: KmeReader | None = None
    ) -> None:
        self.node_id = node_id
        self.qkdn_id: UUID = qkdn_id(node_id)
        self.location = location
        self.driver = driver
        self.model = model
        self.stream = NotificationStream(model=model)
        self.modules: list[DeviceDescription] = []
        self.directory: InterfaceDirectory | None = None
        self._datastore: Datastore | None = None
        self.loops = Loops(logger=log, backoff_s=0.5, max_backoff_s=30.0)
        """Following the devices' events and refreshing the operational state (``GET /health``)."""
        # what each module is configured with now (peers, channel, enabled), as last read or set
        self._configured: dict[str, _ModuleConfig] = {}
        # the apps accepted so far, by app_id (changed only once a write is past every veto)
        self._apps: dict[str, _AcceptedApp] = {}
        # the links accepted so far, by qkdl_id (changed, like the apps, only once a write is accepted)
        self._physical: dict[UUID, PhysicalLink] = {}
        self._virtual: dict[UUID, _AcceptedVirtual] = {}
        self.kme = kme
        # the KME readings of the last RATE_WINDOW_S seconds (at least two once there are), oldest first
        self._kme_readings: deque[KmeCounters] = deque()
        self._relay_bps: dict[UUID, float] = {}  # per PHYS qkdl_id, from the readings
        self.performance: dict[UUID, Performance] = {}  # per PHYS qkdl_id, as last read (the metrics)
        self._kme_failing = False

    @property
    def datastore(self) -> Datastore:
        if self._datastore is None:
            raise RuntimeError("the agent has not started")
        return self._datastore

    async def start(self) -> None:
        """Discover the devices, build the datastore, and start following the devices."""
        self.modules = await self.driver.discover()
        peers = await self.driver.peer_modules()
        self.directory = InterfaceDirectory([*self.modules, *peers])
        statuses = {m.id: await self.driver.status(m.id) for m in self.modules}
        self._configured = {i: (s.peers, s.dwdm_channel, s.enabled) for i, s in statuses.items()}
        interfaces = [interface_entry(qkdi_id(m.id), m, statuses[m.id].state) for m in self.modules]
        self._datastore = Datastore(self.model, node_tree(self.qkdn_id, self.location, interfaces, [], []))
        self._datastore.on_change(self._on_change)
        for module in self.modules:
            self.stream.publish(interface_new_notification(qkdi_id(module.id), module))
        # never ended by an error: a failed round is logged and retried (GET /health shows them)
        self.loops.start(f"agent-{self.node_id}-events", self._follow_events)
        self.loops.start(
            f"agent-{self.node_id}-refresh", self._refresh_round, interval_s=_REFRESH_S, delay_s=_REFRESH_S
        )

    async def stop(self) -> None:
        """Stop following the devices and release the driver (also after a failed :meth:`start`)."""
        try:
            await self.loops.stop()
        finally:
            try:
                await self.driver.aclose()
            finally:
                if self.kme is not None:
                    await self.kme.aclose()

    # Links written by the controller -----------------------------------------------------------------

    def _links(self, tree: Mapping[str, Any]) -> list[PhysicalLink]:
        """The PHYS links of ``tree`` (the virtual ones configure no device)."""
        entries = tree.get(QKD_NODE, {}).get("qkd_links", {}).get("qkd_link", [])
        return [parse_link(entry, self.qkdn_id) for entry in entries if not is_virtual(entry)]

    async def _on_change(self, kind: ChangeKind, path: str, old: JsonValue, new: JsonValue) -> None:
        """Check the node's apps against its links and apply its links to its devices; a refusal
        vetoes the change."""
        links_changed = "qkd_links" in path or path.endswith(QKD_NODE)
        if not links_changed and "qkd_applications" not in path:
            return
        tree = self.datastore.tree()
        self._check_apps(tree)  # before any device is touched: a refused app changes nothing
        if links_changed:
            where = self.datastore.resolve(path).instance_id
            try:
                links = self._links(tree)
                self._check_virtual(tree, links)
                await self._apply(links)
            except ConfigError as exc:  # a link the agent cannot use: the client's to fix
                raise RestconfError("application", "invalid-value", str(exc), error_path=where) from exc
            except DeviceError as exc:  # a device refused what the agent asked of it
                raise RestconfError("application", "operation-failed", str(exc), error_path=where) from exc
        if links_changed:
            self._accept_links(self.datastore.tree())
        self._accept_apps(self.datastore.tree())  # as it is now, the refresh loop's updates included
        try:
            await self._refresh()
        except (DeviceError, RestconfError, ConfigError) as exc:
            # The devices took the change: a status read that fails now must not undo it in the
            # datastore (the refresh loop catches up).
            log.warning("agent %s: refresh after a change failed: %s", self.node_id, exc)

    async def _apply(self, links: list[PhysicalLink]) -> None:
        """Configure the modules for ``links``: all of it or, when a device refuses, none of it (the
        modules configured before the refusal are put back as they were)."""
        assert self.directory is not None
        calls = [link_device_call(link, self.directory) for link in links]
        before = dict(self._configured)
        changed: list[str] = []
        try:
            for config in module_configurations(calls, [m.id for m in self.modules]):
                wanted = (config.peers, config.dwdm_channel, config.enabled)
                if self._configured.get(config.module_id) == wanted:
                    continue
                changed.append(config.module_id)
                await self.driver.configure(
                    config.module_id, list(config.peers), config.dwdm_channel, config.enabled
                )
                self._configured[config.module_id] = wanted
        except DeviceError:
            await self._restore(changed, before)
            raise

    async def _restore(self, module_ids: list[str], configured: dict[str, _ModuleConfig]) -> None:
        """Put modules back to their configuration in ``configured`` (a veto's undo, best effort)."""
        for module_id in reversed(module_ids):
            previous = configured.get(module_id)
            if previous is None:
                continue
            peers, channel, enabled = previous
            try:
                await self.driver.configure(module_id, list(peers), channel, enabled)
            except DeviceError as exc:
                self._configured.pop(module_id, None)  # unknown now: the next write configures it again
                log.error("agent %s: cannot restore module %s after a veto: %s", self.node_id, module_id, exc)
            else:
                self._configured[module_id] = previous

    # Virtual links written by the controller ----------------------------------------------------------

    def _link_path(self, qkdl_id: UUID) -> str:
        return self.datastore.resolve(f"{_LINKS}={qkdl_id}").instance_id

    def _check_virtual(self, tree: Mapping[str, Any], physical: list[PhysicalLink]) -> None:
        """Refuse a tree whose virtual links do not fit the node: a malformed entry, hops that do not
        fit the node's place on the path, or a hop that is no neighbour (``invalid-value``, naming
        the member), or a PHYS link removed while an unchanged virtual link relays over it
        (``in-use``, naming the PHYS link).

        Raises:
            RestconfError: the first problem found.
        """
        neighbours = {link.remote.qkdn_id for link in physical}
        for entry in tree.get(QKD_NODE, {}).get("qkd_links", {}).get("qkd_link", []):
            if not is_virtual(entry):
                continue
            try:
                link = parse_virtual_link(entry, self.qkdn_id)
            except VirtualLinkError as exc:
                raise self._invalid(exc) from exc
            except ConfigError as exc:  # no usable qkdl_id (the YANG check refuses it first)
                raise RestconfError("application", "invalid-value", str(exc)) from exc
            try:
                check_hops(link, neighbours)
            except VirtualLinkError as exc:
                accepted = self._virtual.get(link.qkdl_id)
                if accepted is None or accepted.link != link:
                    raise self._invalid(exc) from exc
                # The virtual link is as it was: what changed is a PHYS link it relays over.
                gone = [
                    known.qkdl_id
                    for known in self._physical.values()
                    if known.remote.qkdn_id in link.hops and known.remote.qkdn_id not in neighbours
                ]
                name = f"qkd_link {gone[0]}" if gone else f"the {exc.member}'s qkd_link"
                raise RestconfError(
                    "application",
                    "in-use",
                    f"{name} is a hop of virtual qkd_link {link.qkdl_id}: remove the virtual link first",
                    error_path=self._link_path(gone[0] if gone else link.qkdl_id),
                ) from exc

    def _invalid(self, error: VirtualLinkError) -> RestconfError:
        """``invalid-value`` for a virtual link, its path naming the member at fault."""
        where = self._link_path(error.qkdl_id)
        path = f"{where}/{error.member}" if error.member else where
        return RestconfError("application", "invalid-value", str(error), error_path=path)

    def _accept_links(self, tree: Mapping[str, Any]) -> None:
        """Take the links of an accepted write, and set the state of its virtual links."""
        self._physical = {link.qkdl_id: link for link in self._links(tree)}
        virtual: dict[UUID, _AcceptedVirtual] = {}
        for entry in tree.get(QKD_NODE, {}).get("qkd_links", {}).get("qkd_link", []):
            if is_virtual(entry):
                link = parse_virtual_link(entry, self.qkdn_id)
                known = self._virtual.get(link.qkdl_id)
                virtual[link.qkdl_id] = _AcceptedVirtual(link, None if known is None else known.status)
        self._virtual = virtual
        self._refresh_virtual()

    def _refresh_virtual(self) -> None:
        """Each accepted virtual link's status and rate from its hops' PHYS links in the datastore (no
        I/O); one that leaves ACTIVE is announced with ``sdqkdn_link_down``."""
        entries = self.datastore.tree().get(QKD_NODE, {}).get("qkd_links", {}).get("qkd_link", [])
        hops = hop_links(entries)
        for entry in entries:
            accepted = self._virtual.get(UUID(str(entry["qkdl_id"])))
            if accepted is None or not is_virtual(entry):
                continue  # a PHYS link, or a write not yet past its veto: _accept_links takes it
            state = virtual_state(accepted.link, hops)
            base = f"{_LINKS}={accepted.link.qkdl_id}"
            status = f"{TYPES_MODULE}:{state.status}"
            if entry.get("qkdl_status") != status:
                self.datastore.set_operational(f"{base}/qkdl_status", status)
            performance = {"skr": state.skr_bps, "eskr": state.skr_bps}
            if entry.get("qkdl_performance") != performance:
                self.datastore.set_operational(f"{base}/qkdl_performance", performance)
            if accepted.status is LinkStatus.ACTIVE and state.status is not LinkStatus.ACTIVE:
                self.stream.publish(link_down_notification(accepted.link.qkdl_id, state.reason))
            accepted.status = state.status

    # Applications written by the controller --------------------------------------------------------

    def _check_apps(self, tree: Mapping[str, Any]) -> None:
        """Refuse a tree whose apps do not fit the node: another node's ``local_qkdn_id`` or a
        ``backing_qkdl_id`` that names no link here (``invalid-value``, for an app this write adds
        or changes), or a link removed while an app it backs stays (``in-use``).

        Raises:
            RestconfError: the first problem found (its path names the member or the link).
        """
        node = tree.get(QKD_NODE, {})
        links = link_statuses(node.get("qkd_links", {}).get("qkd_link", []))
        for entry in node.get("qkd_applications", {}).get("qkd_app", []):
            try:
                app = parse_app(entry)
            except ConfigError as exc:
                raise RestconfError("application", "invalid-value", str(exc)) from exc
            key = str(entry["app_id"])  # as written: keys compare as strings in the datastore
            where = self.datastore.resolve(f"{_APPS}={key}").instance_id
            if app.local_qkdn_id is not None and app.local_qkdn_id != self.qkdn_id:
                raise RestconfError(
                    "application",
                    "invalid-value",
                    f"local_qkdn_id {app.local_qkdn_id} of qkd_app {app.app_id} is not this node "
                    f"({self.qkdn_id})",
                    error_path=f"{where}/local_qkdn_id",
                )
            missing = [link for link in app.backing_links if link not in links]
            if not missing:
                continue
            accepted = self._apps.get(key)
            if accepted is not None and accepted.configuration == app_configuration(entry):
                # The app is as it was: what changed is the link it needs.
                link_where = self.datastore.resolve(f"{_LINKS}={missing[0]}").instance_id
                raise RestconfError(
                    "application",
                    "in-use",
                    f"qkd_link {missing[0]} backs qkd_app {app.app_id}: remove the app (or its "
                    "backing_qkdl_id) first",
                    error_path=link_where,
                )
            raise RestconfError(
                "application",
                "invalid-value",
                f"backing_qkdl_id {missing[0]} of qkd_app {app.app_id} names no qkd_link of this node",
                error_path=f"{where}/backing_qkdl_id",
            )

    def _accept_apps(self, tree: Mapping[str, Any]) -> None:
        """Take the apps of an accepted write: a new one gets its ``creation_time`` and is announced,
        a removed one is announced as disconnected, and every status is set."""
        entries = {
            str(entry["app_id"]): entry
            for entry in tree.get(QKD_NODE, {}).get("qkd_applications", {}).get("qkd_app", [])
        }
        for app_id, entry in entries.items():
            accepted = self._apps.get(app_id)
            if accepted is not None:
                accepted.configuration = app_configuration(entry)
                continue
            if "creation_time" not in entry:
                now = date_and_time(dt.datetime.now(dt.UTC))
                self.datastore.set_operational(f"{_APPS}={app_id}/creation_time", now)
            self._apps[app_id] = _AcceptedApp(app_configuration(entry))
            self.stream.publish(app_new_notification(entry, self.qkdn_id))
        for app_id in [app_id for app_id in self._apps if app_id not in entries]:
            del self._apps[app_id]
            self.stream.publish(app_disconnected_notification(UUID(app_id)))
        self._refresh_apps()

    def _refresh_apps(self) -> None:
        """Each accepted app's status from its links' status in the datastore (no I/O); an app that
        turns DISCONNECTED is announced."""
        node = self.datastore.tree().get(QKD_NODE, {})
        statuses = link_statuses(node.get("qkd_links", {}).get("qkd_link", []))
        for entry in node.get("qkd_applications", {}).get("qkd_app", []):
            accepted = self._apps.get(str(entry["app_id"]))
            if accepted is None:
                continue  # a write not yet past its veto: _accept_apps takes it
            status = app_status(parse_app(entry), statuses)
            if status is not accepted.status or "app_status" not in entry:
                self.datastore.set_operational(
                    f"{_APPS}={entry['app_id']}/app_status", f"{TYPES_MODULE}:{status}"
                )
            if status is AppStatus.DISCONNECTED and accepted.status is AppStatus.ON:
                self.stream.publish(app_disconnected_notification(UUID(str(entry["app_id"]))))
            accepted.status = status

    # Live state -------------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        """Interface and link status and performance from the devices, into the datastore (one
        validation for all of them)."""
        assert self.directory is not None
        statuses: dict[str, ModuleStatus] = {m.id: await self.driver.status(m.id) for m in self.modules}
        changes: list[tuple[str | None, JsonValue]] = [
            (
                f"{_INTERFACES}={qkdi_id(module.id)}/qkdi_status",
                f"etsi-qkd-node-types:{interface_status(statuses[module.id].state)}",
            )
            for module in self.modules
        ]
        updates = []
        for link in self._links(self.datastore.tree()):
            call = link_device_call(link, self.directory)
            performance = await self.driver.performance(call.module_id)
            paired = statuses[call.module_id].paired_with == call.peer_module_id
            if not paired:
                # A module reports the performance of the pair it is in now (a switched transmitter
                # serves one receiver at a time): this link makes no key and holds none of its keys.
                performance = dataclasses.replace(
                    performance, skr_bps=0.0, snr=None, keys_available=0, keys_waiting=0
                )
            self.performance[link.qkdl_id] = performance
            state = link_status(statuses[call.module_id], call.peer_module_id, performance.keys_available)
            eskr = effective_skr_bps(performance.skr_bps, self._relay_bps.get(link.qkdl_id, 0.0))
            entry = link_entry(link, status=state, skr_bps=performance.skr_bps, eskr_bps=eskr)  # RFC 7951
            base = f"{_LINKS}={link.qkdl_id}"
            changes.append((f"{base}/qkdl_status", entry["qkdl_status"]))
            changes.append((f"{base}/qkdl_performance", entry["qkdl_performance"]))
            if paired:
                updates.append(link_perf_update_notification(link.qkdl_id, performance, eskr_bps=eskr))
        self.datastore.set_operational_many(changes)
        for update in updates:
            self.stream.publish(update)
        self._refresh_virtual()
        self._refresh_apps()

    async def _refresh_round(self) -> None:
        """One refresh of the operational state (every ``_REFRESH_S``, by :attr:`loops`)."""
        await self._read_kme()
        await self._refresh()

    # Key consumption (the node's KME) ---------------------------------------------------------------

    async def _read_kme(self) -> None:
        """Read the KME's counters: the relay rate of each PHYS link, and a statistics period for the
        apps. A KME that does not answer leaves both as they were."""
        if self.kme is None:
            return
        try:
            reading = await self.kme.read()
        except KmeUnavailable as exc:
            if not self._kme_failing:
                log.warning("agent %s: cannot read the KME (keeping the last values): %s", self.node_id, exc)
                self._kme_failing = True
            else:
                log.debug("agent %s: still cannot read the KME: %s", self.node_id, exc)
            return
        if self._kme_failing:
            log.info("agent %s: the KME at %s answers again", self.node_id, self.kme.url)
            self._kme_failing = False
        previous = self._kme_readings[-1] if self._kme_readings else None
        readings = self._kme_readings
        readings.append(reading)
        # keep the readings of the window, and the one before it (the average spans at least the window)
        while len(readings) >= 3 and reading.monotonic_s - readings[1].monotonic_s >= RATE_WINDOW_S:
            readings.popleft()
        if previous is None:
            return
        self._relay_bps = relay_rates_bps(readings[0], reading)
        self._record_statistics(consumption_period(previous, reading))

    def _record_statistics(self, period: ConsumptionPeriod) -> None:
        """One ``app_statistics`` entry for each accepted app the KME counts (one validation)."""
        changes: list[tuple[str | None, JsonValue]] = []
        for entry in self.datastore.tree().get(QKD_NODE, {}).get("qkd_applications", {}).get("qkd_app", []):
            app_id = str(entry["app_id"])
            accepted = self._apps.get(app_id)
            consumed = app_consumed_bits(entry, period)
            if accepted is None or consumed is None:
                continue  # a write not yet past its veto, or an app the KME does not count
            accepted.statistics = merged_statistics(accepted.statistics, statistics_entry(period, consumed))
            statistics: JsonValue = {"statistics": [dict(item) for item in accepted.statistics]}
            changes.append((f"{_APPS}={app_id}/app_statistics", statistics))
        self.datastore.set_operational_many(changes)

    async def _follow_events(self) -> float:
        """Device events: a module or link going down is announced at once. One subscription to the
        driver's events, until it ends (or fails: :attr:`loops` subscribes again)."""
        async for event in self.driver.events():
            try:
                if event.kind is DeviceEventKind.MODULE_DOWN:
                    for module_id in event.modules:
                        if any(m.id == module_id for m in self.modules):
                            reason = event.reason or "module down"
                            self.stream.publish(interface_down_notification(qkdi_id(module_id), reason))
                if event.kind is DeviceEventKind.LINK_DOWN:
                    for link in self._links(self.datastore.tree()):
                        assert self.directory is not None
                        call = link_device_call(link, self.directory)
                        if {call.module_id, call.peer_module_id} == {event.transmitter, event.receiver}:
                            reason = event.reason or "link down"
                            self.stream.publish(link_down_notification(link.qkdl_id, reason))
                if event.kind is not DeviceEventKind.RATE:
                    await self._refresh()
            except (DeviceError, RestconfError, ConfigError) as exc:
                log.warning("agent %s: event handling failed: %s", self.node_id, exc)
        return _REFRESH_S  # the stream ended: subscribe again after a pause
