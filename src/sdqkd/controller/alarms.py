"""Alarms from the state of nodes, interfaces and links.

Alarms follow state, not events: an alarm is raised when a link goes from up (or standby) to down,
when an interface is FAILED, when an agent stops answering (two reads in a row, not one blip), when a
link carries more reserved key rate than it makes; and cleared when that is over. At most one alarm
of a kind is active per source (``node:ID``, ``interface:NODE/QKDI_ID``, ``link:ID``); the store keeps
them, raised and cleared, so a restarted controller has them all.

An agent's ``sdqkdn_link_down`` carries a reason the link's state does not ("fibre cut"): it names
the cause of the LINK_DOWN alarm, whether the notification or the state change reaches the controller
first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from sdqkd.controller.links import LinkState, PlannedLink
from sdqkd.controller.store import Alarm, AlarmKind, ControllerStore, Severity
from sdqkd.etsi015 import InterfaceStatus, NodeTree

__all__ = ["Alarms"]

log = logging.getLogger(__name__)

_REASON_FRESH_S = 10.0  # how long a sdqkdn_link_down reason may explain a link found down
_UNREACHABLE_AFTER = 2  # failed reads in a row before an agent is reported unreachable (not one blip)


class Alarms:
    """Raises and clears the network's alarms in ``store`` as the state the controller reads changes."""

    def __init__(self, store: ControllerStore) -> None:
        self.store = store
        # the last sdqkdn_link_down reason per link id, and when it came (monotonic s)
        self._link_reasons: dict[str, tuple[str, float]] = {}

    def raise_alarm(self, kind: AlarmKind, source: str, severity: Severity, message: str) -> Alarm | None:
        """Raise an alarm unless one of that kind is active for ``source``; the new one, if raised."""
        alarm = self.store.raise_alarm(kind, source, severity, message)
        if alarm is not None:
            log.warning("alarm %s (%s) %s: %s", alarm.id, severity, kind, message)
        return alarm

    # Nodes and interfaces ---------------------------------------------------------------------------------

    def node_unanswered(self, node_id: str, failed_reads: int, error: Exception) -> None:
        """The agent of ``node_id`` did not answer ``failed_reads`` reads in a row."""
        if failed_reads >= _UNREACHABLE_AFTER:
            message = f"agent of {node_id}: {error}"
            self.raise_alarm(AlarmKind.NODE_UNREACHABLE, f"node:{node_id}", Severity.CRITICAL, message)

    def node_answered(self, node_id: str) -> None:
        self.store.clear_alarms(AlarmKind.NODE_UNREACHABLE, f"node:{node_id}")

    def interfaces(self, node_id: str, tree: NodeTree) -> None:
        """An alarm per FAILED interface of the node; cleared for the others."""
        for interface in tree.interfaces:
            source = f"interface:{node_id}/{interface.qkdi_id}"
            if interface.qkdi_status is InterfaceStatus.FAILED:
                model = interface.qkdi_model or "?"
                message = f"QKD interface {interface.qkdi_id} ({model}) at {node_id} failed"
                self.raise_alarm(AlarmKind.INTERFACE_DOWN, source, Severity.CRITICAL, message)
            else:
                self.store.clear_alarms(AlarmKind.INTERFACE_DOWN, source)

    # Links ------------------------------------------------------------------------------------------------

    def link(
        self,
        link: PlannedLink,
        previous: LinkState | None,
        state: LinkState,
        reserved_bps: int,
        capacity_bps: int,
    ) -> None:
        """The link's state was evaluated again: ``previous`` → ``state``, with the key rate it makes
        and what the applications reserve on it."""
        source = f"link:{link.id}"
        if state is LinkState.DOWN and previous in (LinkState.UP, LinkState.STANDBY):
            said, at = self._link_reasons.get(link.id, ("", 0.0))
            # the agent's reason, if it came lately: the notification and the state change may reach
            # the controller in either order, and the ends' trees at different reads
            reason = said if said and time.monotonic() - at < _REASON_FRESH_S else "not generating key"
            message = f"QKD link {link.id} down: {reason}"
            self.raise_alarm(AlarmKind.LINK_DOWN, source, Severity.MAJOR, message)
        elif state in (LinkState.UP, LinkState.STANDBY):
            self.store.clear_alarms(AlarmKind.LINK_DOWN, source)
        if state is LinkState.UP and reserved_bps > capacity_bps:
            message = (
                f"QKD link {link.id} makes {capacity_bps} bit/s of key, {reserved_bps} bit/s are reserved"
            )
            self.raise_alarm(AlarmKind.LINK_OVERLOADED, source, Severity.WARNING, message)
        elif state is LinkState.UP:
            self.store.clear_alarms(AlarmKind.LINK_OVERLOADED, source)

    def raise_optical(self, source: str, message: str) -> None:
        """A link the optical layer cannot bring to its target (``optical_target_missed``); an active
        alarm gets the latest figures."""
        if self.raise_alarm(AlarmKind.OPTICAL_TARGET_MISSED, source, Severity.MAJOR, message) is None:
            self.store.describe_alarm(AlarmKind.OPTICAL_TARGET_MISSED, source, message)

    def clear_optical(self, source: str) -> None:
        self.store.clear_alarms(AlarmKind.OPTICAL_TARGET_MISSED, source)

    def notified(self, notification: dict[str, Any], links: Iterable[PlannedLink]) -> None:
        """Keep the reason of an ``sdqkdn_link_down`` for the LINK_DOWN alarm of its link, and name it
        in the alarm already raised (the state may have been read before the notification came)."""
        for member, body in notification.items():
            if member.split(":", 1)[-1] != "sdqkdn_link_down" or not isinstance(body, dict):
                continue
            qkd_link = body.get("qkd_link", {})
            for link in links:
                if str(link.qkdl_id) == qkd_link.get("qkdl_id"):
                    reason = str(qkd_link.get("reason") or "link down")
                    self._link_reasons[link.id] = (reason, time.monotonic())
                    message = f"QKD link {link.id} down: {reason}"
                    self.store.describe_alarm(AlarmKind.LINK_DOWN, f"link:{link.id}", message)
