"""What each agent and KME should hold, compared with what it holds, and the writes that close the
difference.

At every read of a node, the controller writes into its agent what it lacks or holds otherwise:

- the topology's physical links of the node (``qkd_link`` PHYS), once the node at the other end has
  called home and been read and both ends' interfaces are discovered (with a QKD-TLS control
  channel, once the other end has called home: reading it may need that link's own keys);
- the virtual links through the node (``qkd_link`` VIRT) and, while an association reserves key rate,
  the INTERNAL applications that reserve it on each hop; the node's KME gets the virtual links too,
  first (a relay must find the path configured where the agent says it is); what the node holds of
  associations that no longer pass through it is removed;
- the admitted applications of the node (``qkd_app`` CLIENT), once the link that backs each one is
  in the agent's tree: an agent refuses an application whose ``backing_qkdl_id`` names no link of its.

Agents keep their datastore in memory: an agent that restarts calls home again and gets all of this
back, since it is compared with what the agent holds at every read. A write an agent refused is not
tried again for ``_PROVISION_RETRY_S``: a refusal is the agent's verdict, not a blip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

from sdqkd.controller.links import PlannedLink, needs_write
from sdqkd.controller.registry import NodeView
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import AppRecord
from sdqkd.controller.virtual import VirtualLink
from sdqkd.errors import AgentUnavailable, RestconfError
from sdqkd.etsi015 import NODE_MODULE, QKD_NODE, AppType, NodeTree, identity, qkdn_id
from sdqkd.pki.identity import Identity, Role

__all__ = ["Reconciler", "app_entry"]

log = logging.getLogger(__name__)

_LINKS = f"{QKD_NODE}/qkd_links/qkd_link"
_APPS = f"{QKD_NODE}/qkd_applications/qkd_app"
_PROVISION_RETRY_S = 5.0  # after an agent refused a write, before writing it again


def _link_body(entry: dict[str, Any]) -> dict[str, Any]:
    """The body of a RESTCONF PUT of one ``qkd_link`` (RFC 8040 §4.5: the target resource itself)."""
    return {f"{NODE_MODULE}:qkd_link": [entry]}


def _app_body(entry: dict[str, Any]) -> dict[str, Any]:
    """The body of a RESTCONF PUT of one ``qkd_app``."""
    return {f"{NODE_MODULE}:qkd_app": [entry]}


def _sae_uri(sae_id: str) -> str:
    return Identity(Role.SAE, sae_id).urn


def app_entry(app: AppRecord, node: str) -> dict[str, Any]:
    """The ``qkd_app`` entry the agent of ``node`` holds for ``app``."""
    other = app.client_node if node == app.server_node else app.server_node
    qos = {k: v for k, v in app.qos.items() if v is not None}
    return {
        "app_id": str(app.app_id),
        "app_type": identity(AppType.CLIENT),
        "server_app_id": _sae_uri(app.server_sae_id),
        "client_app_id": [_sae_uri(app.client_sae_id)],
        "app_priority": app.priority,
        "app_qos": qos,
        "backing_qkdl_id": [str(app.qkdl_id)],
        "local_qkdn_id": str(qkdn_id(node)),
        "remote_qkdn_id": str(qkdn_id(other)),
    }


class Reconciler:
    """Writes into agents and KMEs what they should hold.

    Args:
        southbound: HTTPS to the agents and KMEs.
        links: the topology's physical links.
        nodes: the registered nodes (read, never changed, here).
        links_before_read: write a link once its other end has called home, without waiting to read
            that end (its interface is the topology's module, named alike at both ends). For a QKD-TLS
            control channel: there, reading the other end may need the keys of this very link, and
            a write without it would take the commissioned link away from the module.
    """

    def __init__(
        self,
        southbound: Southbound,
        links: Collection[PlannedLink],
        nodes: Mapping[str, NodeView],
        *,
        links_before_read: bool = False,
    ) -> None:
        self.southbound = southbound
        self.links = links
        self._nodes = nodes
        self._links_before_read = links_before_read
        self._refused: dict[tuple[str, str], float] = {}  # (node, path) → when an agent refused it

    async def provision(
        self, view: NodeView, virtual: Collection[VirtualLink], apps: Collection[AppRecord]
    ) -> bool:
        """Write what the node's agent (and KME) lacks, given the relayed associations and the admitted
        applications. True if the agent's tree was written."""
        tree = view.tree
        assert tree is not None
        node = view.node_id
        held = {link.qkdl_id for link in tree.links}  # the links the agent holds once these writes are done
        wrote = False
        pending: list[tuple[UUID, dict[str, Any]]] = []
        for link in self.links:
            if node not in link.nodes:
                continue
            other = self._nodes.get(link.nodes[1] if link.nodes[0] == node else link.nodes[0])
            if other is None or (other.tree is None and not self._links_before_read):
                continue  # provisioned once the other end has called home and been read
            here, there = link.end_at(node), link.end_at(other.node_id)
            if tree.interface(here.qkdi_id) is None:
                continue
            if other.tree is not None and other.tree.interface(there.qkdi_id) is None:
                continue
            entry = link.entry(node)
            if needs_write(tree, entry):
                pending.append((link.qkdl_id, entry))
        if len(pending) == 1:
            qkdl_id, entry = pending[0]
            if await self._write(view, f"{_LINKS}={qkdl_id}", _link_body(entry)):
                wrote = True
                held.add(qkdl_id)
        elif pending and await self._write_links(view, [entry for _, entry in pending]):
            # several at once (a retuned switched transmitter: its links change channel together, and
            # an agent refuses one module's enabled links on different channels)
            wrote = True
            held.update(qkdl_id for qkdl_id, _ in pending)
        mine = [association for association in virtual if node in association.path]
        wrote |= await self._provision_virtual(view, tree, mine, held)
        present = {app.app_id for app in tree.apps}
        for app in apps:
            if node not in (app.server_node, app.client_node) or app.app_id in present:
                continue
            if app.qkdl_id not in held:
                continue  # its link is not there yet (being relayed anew, or its other end unread)
            body = _app_body(app_entry(app, node))
            wrote |= await self._write(view, f"{_APPS}={app.app_id}", body)
        return wrote

    async def _provision_virtual(
        self, view: NodeView, tree: NodeTree, mine: list[VirtualLink], held: set[UUID]
    ) -> bool:
        """Make the node's agent and KME hold exactly the virtual links ``mine`` (and their INTERNAL
        applications); ``held`` gains the links written. True if the agent's tree was written."""
        node = view.node_id
        await self._provision_kme(view, mine)
        wrote = False
        for association in mine:
            entry = association.entry(node)
            path = f"{_LINKS}={association.qkdl_id}"
            if needs_write(tree, entry) and await self._write(view, path, _link_body(entry)):
                wrote = True
                held.add(association.qkdl_id)
        # per hop of each association, an INTERNAL app that reserves the association's rate
        wanted_apps = {
            app_id: (entry, association.reserved_bps)
            for association in mine
            for app_id, entry in association.internal_apps(node).items()
        }
        held_apps = {app.app_id: app for app in tree.apps if app.app_type is AppType.INTERNAL}
        for app_id, (entry, reserved_bps) in wanted_apps.items():
            found = held_apps.get(app_id)
            if found is None or found.app_qos.min_bandwidth != reserved_bps:
                wrote |= await self._write(view, f"{_APPS}={app_id}", _app_body(entry))
        for app_id in held_apps.keys() - wanted_apps.keys():
            wrote |= await self._remove(view, f"{_APPS}={app_id}")
        wanted_links = {association.qkdl_id for association in mine}
        for link in tree.links:
            if link.virtual and link.qkdl_id not in wanted_links:
                wrote |= await self._remove(view, f"{_LINKS}={link.qkdl_id}")
        return wrote

    async def _provision_kme(self, view: NodeView, mine: list[VirtualLink]) -> None:
        """Make the node's KME hold exactly the virtual links ``mine`` (if it has a KME, read)."""
        if not view.record.kme_url or view.kme_virtual is None:
            return
        for association in mine:
            await self._put_kme(view, association)
        wanted = {association.id for association in mine}
        for virtual_id in [v for v in view.kme_virtual if v not in wanted and v.startswith("v-")]:
            try:
                await self.southbound.delete_kme_virtual_link(view.record.kme_url, virtual_id)
                del view.kme_virtual[virtual_id]
            except AgentUnavailable as exc:
                log.warning("controller: KME %s kept virtual link %s: %s", view.node_id, virtual_id, exc)

    async def _put_kme(self, view: NodeView, association: VirtualLink) -> None:
        """Write the virtual link into the node's KME unless it holds it as it should (a KME that does
        not take it is told again at the node's next read)."""
        if not view.record.kme_url or view.kme_virtual is None:
            return
        node = view.node_id
        body = association.kme_body(node)
        found = view.kme_virtual.get(association.id)
        if found is not None and all(found.get(k) == body[k] for k in ("path", "prev_hop", "next_hop")):
            return
        try:
            await self.southbound.put_kme_virtual_link(view.record.kme_url, body)
            view.kme_virtual[association.id] = body
            log.info("controller: virtual link %s via %s at KME %s", association.id, body["path"], node)
        except AgentUnavailable as exc:
            log.warning("controller: KME %s did not take virtual link %s: %s", node, association.id, exc)

    # Writes an admission waits for ------------------------------------------------------------------------

    async def ensure_virtual(self, association: VirtualLink) -> None:
        """Write the virtual link into the KME and the agent of every node of its path that does not
        hold it yet (as last read), so that an application it backs can be written next.

        Raises:
            AgentUnavailable, RestconfError: an agent did not take it.
        """
        for node in association.path:
            view = self._nodes[node]
            if view.tree is not None and not needs_write(view.tree, association.entry(node)):
                continue
            await self._put_kme(view, association)  # the KME first, as at every read
            body = _link_body(association.entry(node))
            await self.southbound.put(view.record.agent_url, f"{_LINKS}={association.qkdl_id}", body)
            log.info("controller: provisioned %s at %s (for an admission)", association.id, node)

    async def put_app(self, app: AppRecord) -> None:
        """Write ``app`` into the agents of both its nodes, all or nothing.

        Raises:
            AgentUnavailable, RestconfError: an agent did not take it (it is removed from the other).
        """
        written: list[NodeView] = []
        try:
            for node in (app.server_node, app.client_node):
                view = self._nodes[node]
                body = _app_body(app_entry(app, node))
                await self.southbound.put(view.record.agent_url, f"{_APPS}={app.app_id}", body)
                written.append(view)
        except (AgentUnavailable, RestconfError):
            for view in written:
                await self._remove(view, f"{_APPS}={app.app_id}")
            raise

    async def remove_app(self, app: AppRecord) -> None:
        """Remove ``app`` from the agents of both its nodes; an agent that does not answer is told again
        at its next read (the registry no longer has the app)."""
        for node in (app.server_node, app.client_node):
            view = self._nodes.get(node)
            if view is not None:
                await self._remove(view, f"{_APPS}={app.app_id}")

    # One write --------------------------------------------------------------------------------------------

    async def _remove(self, view: NodeView, path: str) -> bool:
        try:
            removed = await self.southbound.delete(view.record.agent_url, path)
        except (AgentUnavailable, RestconfError) as exc:
            name = path.rsplit("/", 1)[-1]
            log.warning("controller: removing %s at %s failed: %s", name, view.node_id, exc)
            return False
        if removed:
            log.info("controller: removed %s at %s", path.rsplit("/", 1)[-1], view.node_id)
        return removed

    async def _write_links(self, view: NodeView, entries: list[dict[str, Any]]) -> bool:
        """Write several ``qkd_link`` entries in one RESTCONF plain PATCH of ``qkd_links`` (RFC 8040
        §4.6.1: merged into the list, all or nothing)."""
        path = f"{QKD_NODE}/qkd_links"
        key = (view.node_id, path)
        refused_at = self._refused.get(key)
        if refused_at is not None and time.monotonic() - refused_at < _PROVISION_RETRY_S:
            return False
        try:
            await self.southbound.patch(
                view.record.agent_url, path, {f"{NODE_MODULE}:qkd_links": {"qkd_link": entries}}
            )
        except RestconfError as exc:
            self._refused[key] = time.monotonic()
            log.error(
                "controller: agent %s refused %s: %s: %s",
                view.node_id,
                path,
                exc.error_tag,
                exc.error_message,
            )
            return False
        except AgentUnavailable as exc:
            log.warning("controller: writing %s to %s failed: %s", path, view.node_id, exc)
            return False
        self._refused.pop(key, None)
        log.info("controller: provisioned %d links at %s in one patch", len(entries), view.node_id)
        return True

    async def _write(self, view: NodeView, path: str, body: dict[str, Any]) -> bool:
        key = (view.node_id, path)
        refused_at = self._refused.get(key)
        if refused_at is not None and time.monotonic() - refused_at < _PROVISION_RETRY_S:
            return False
        try:
            await self.southbound.put(view.record.agent_url, path, body)
        except RestconfError as exc:
            self._refused[key] = time.monotonic()
            tag, message = exc.error_tag, exc.error_message
            log.error("controller: agent %s refused %s: %s: %s", view.node_id, path, tag, message)
            return False
        except AgentUnavailable as exc:
            log.warning("controller: writing %s to %s failed: %s", path, view.node_id, exc)
            return False
        self._refused.pop(key, None)
        log.info("controller: provisioned %s at %s", path.rsplit("/", 1)[-1], view.node_id)
        return True
