"""The nodes that called home, and following each one.

A node registers when its agent calls home (``PUT /api/v1/nodes/{id}``); the registration is kept in
the :class:`~sdqkd.controller.store.ControllerStore`, so a restarted controller follows the same nodes
at once. Per registered node, two tasks run:

- a *watcher* calls the controller's ``refresh`` for the node every ``poll_interval_s``, and at once
  when it is woken (a notification came, or the relay plan changed what the node should hold);
- a *listener* follows the agent's notification stream (RFC 8040 §6) and wakes the watcher on each
  ``sdqkdn_interface_down``, ``sdqkdn_link_down`` or other change of state, so a failure reaches the
  controller's view within one round trip of the event, not of the poll.

What was read last of each node (its agent's tree, its KME's pools and virtual links, whether it
answers) is kept in its :class:`NodeView`; none of it is persisted, since it is read again anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore, NodeRecord
from sdqkd.errors import AgentUnavailable, ConfigError, RestconfError
from sdqkd.etsi015 import NodeTree, qkdn_id
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.loops import describe_failure
from sdqkd.server.request_id import without_request_id

__all__ = ["NodeView", "Registry"]

log = logging.getLogger(__name__)

_WAKE_DELAY_S = 0.1  # after a notification: the agent publishes it, then refreshes its datastore
_STREAM_RETRY_S = (0.2, 5.0)  # first and longest wait before re-opening a broken event stream
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

Refresh = Callable[[str], Awaitable[None]]
"""Reads a node (by id) and acts on what it says: the controller's round for one node."""

NotificationHook = Callable[["NodeView", dict[str, Any]], None]
"""Sees each notification of a node's agent as it comes."""


@dataclass
class NodeView:
    """A registered node as the controller sees it now.

    Attributes:
        record: its registration.
        reachable: whether its agent answered the last read (None: not read yet).
        error: why it did not.
        failed_reads: reads in a row that failed.
        last_seen: when its agent last answered.
        tree: its agent's ``qkd_node`` at the last read (None: not read, or no answer).
        pools: its KME's pool levels per link id.
        kme_virtual: its KME's virtual links per id (None: not read).
        wake: set to make the watcher read the node now.
        tasks: the watcher and the listener.
    """

    record: NodeRecord
    reachable: bool | None = None
    error: str | None = None
    failed_reads: int = 0
    last_seen: dt.datetime | None = None
    tree: NodeTree | None = None
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    kme_virtual: dict[str, dict[str, Any]] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return self.record.node_id


class Registry:
    """The registered nodes, each followed by a watcher and a listener.

    Args:
        store: where the registrations are kept.
        southbound: HTTPS to the agents and KMEs.
        poll_interval_s: how often each node is read when nothing wakes it.
        refresh: the controller's round for one node (the watcher calls it).
        notified: sees every notification (the listener calls it before waking the watcher).
    """

    def __init__(
        self,
        store: ControllerStore,
        southbound: Southbound,
        poll_interval_s: float,
        refresh: Refresh,
        notified: NotificationHook,
    ) -> None:
        self.store = store
        self.southbound = southbound
        self.poll_interval_s = poll_interval_s
        self.nodes: dict[str, NodeView] = {}
        self._refresh = refresh
        self._notified = notified
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------------------------

    def resume(self) -> None:
        """Follow every node registered before."""
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

    def register(self, record: NodeRecord) -> bool:
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
            self._expect(record)
            view.record = record
            view.wake.set()
        log.info(
            "node %s %s at %s", record.node_id, "registered" if new else "re-registered", record.agent_url
        )
        return new

    def wake(self, node_ids: Iterable[str]) -> None:
        """Make the watchers of these nodes read them now."""
        for node_id in node_ids:
            if (view := self.nodes.get(node_id)) is not None:
                view.wake.set()

    def _expect(self, record: NodeRecord) -> None:
        # the node called home with its agent certificate: its addresses are its agent's and KME's
        self.southbound.expect(record.agent_url, Identity(Role.AGENT, record.node_id))
        if record.kme_url:
            self.southbound.expect(record.kme_url, Identity(Role.KME, record.node_id))

    def _follow(self, record: NodeRecord) -> None:
        self._expect(record)
        view = NodeView(record)
        self.nodes[record.node_id] = view
        # started by a registration, they outlive it: their records are not that request's
        node = record.node_id
        view.tasks = [
            asyncio.create_task(work, name=f"controller-{kind}-{node}", context=without_request_id())
            for kind, work in (("watch", self._watch(view)), ("listen", self._listen(view)))
        ]

    # Reading a node ---------------------------------------------------------------------------------------

    async def read(self, view: NodeView) -> None:
        """Read the node's agent: its tree, and whether it answers.

        Raises:
            AgentUnavailable: no answer, or a tree that is not an ETSI 015 ``qkd_node`` (the tree is
                then forgotten and the failure counted).
            RestconfError: the agent refused.
        """
        try:
            view.tree = await self._tree(view)
        except (AgentUnavailable, RestconfError) as exc:
            if view.reachable is not False:
                log.warning("controller: agent %s does not answer: %s", view.node_id, exc)
            view.reachable, view.error = False, str(exc)
            view.tree = None
            view.failed_reads += 1
            raise
        view.reachable, view.error, view.last_seen = True, None, dt.datetime.now(dt.UTC)
        view.failed_reads = 0

    async def read_again(self, view: NodeView) -> None:
        """Read the agent's tree after writing to it; on failure, keep the last one (the next round
        will tell)."""
        with contextlib.suppress(AgentUnavailable, RestconfError):
            view.tree = await self._tree(view)

    async def read_kme(self, view: NodeView) -> None:
        """Read the node's KME (if it has one): its pool levels and virtual links."""
        if not view.record.kme_url:
            return
        try:
            view.pools, view.kme_virtual = await self.southbound.kme_state(view.record.kme_url)
        except AgentUnavailable as exc:
            log.debug("controller: KME of %s: %s", view.node_id, exc)
            view.pools, view.kme_virtual = {}, None

    async def _tree(self, view: NodeView) -> NodeTree:
        url = view.record.agent_url
        raw = await self.southbound.node_tree(url)
        try:
            return NodeTree.parse(raw)
        except ConfigError as exc:  # answered, but not as ETSI 015 says: as good as no answer
            raise AgentUnavailable(f"{url}: not an ETSI 015 qkd_node: {exc}") from exc

    # Following an agent -----------------------------------------------------------------------------------

    async def _watch(self, view: NodeView) -> None:
        while not self._stopping:
            view.wake.clear()
            try:
                await self._refresh(view.node_id)
            except Exception:  # a bug must not stop following the node
                if self._stopping:
                    return
                log.exception("controller: reading node %s failed", view.node_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(view.wake.wait(), self.poll_interval_s)

    async def _listen(self, view: NodeView) -> None:
        """Follow the agent's notifications; wake the watcher on every change of state."""
        wait_s = _STREAM_RETRY_S[0]
        while not self._stopping:
            try:
                async for notification in self.southbound.notifications(view.record.agent_url):
                    wait_s = _STREAM_RETRY_S[0]
                    self._notified(view, notification)
                    if any(member.split(":", 1)[-1] in _STATE_CHANGES for member in notification):
                        asyncio.get_running_loop().call_later(_WAKE_DELAY_S, view.wake.set)
            except (AgentUnavailable, RestconfError) as exc:
                log.debug("controller: event stream of %s: %s", view.node_id, exc)
            except Exception as exc:  # a bug must not stop following the node: logged, retried below
                log.warning(
                    "controller: following %s's events failed: %s", view.node_id, describe_failure(exc)
                )
            if self._stopping:
                return
            view.wake.set()  # a stream that ended may mean the agent restarted: read it now
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, _STREAM_RETRY_S[1])
