"""The record of what the optical layer did: each action (a power lowered or raised back, a channel
moved or restored, a quantum channel retuned, a switch moved) with its time, fibre, target, the value
before and after, why, and the key rate of the link it was for — predicted before and after, measured
before, and measured after once the link has settled (filled in later). Kept in the controller's store,
so the record survives a restart; ``GET /api/v1/optical/actions`` shows it (docs/optical.md)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from sdqkd.controller.links import PlannedLink
from sdqkd.controller.network import Network
from sdqkd.controller.store import ControllerStore

__all__ = ["MEASURE_WITHIN_S", "ActionLog"]

log = logging.getLogger(__name__)

MEASURE_WITHIN_S = 120.0
"""An action's measured-after rate is taken within this long of it, or never."""


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ActionLog:
    """Records optical actions and completes them with the measured rate once their link settles.

    Args:
        store: where actions are kept.
        network: the QKD links.
        measured_bps: a link's key rate as its agents report it (None unless up).
        settled: whether a link's measurement counts now (no recent change on its fibre).
    """

    def __init__(
        self,
        store: ControllerStore,
        network: Network,
        measured_bps: Callable[[PlannedLink], int | None],
        settled: Callable[[PlannedLink, float], bool],
    ) -> None:
        self.store = store
        self.network = network
        self.measured_bps = measured_bps
        self.settled = settled

    def record(
        self,
        kind: str,
        fibre: str | None,
        target: str,
        before: Any,
        after: Any,
        *,
        link: PlannedLink | None,
        reason: str,
        predicted_before_bps: float | None = None,
        predicted_after_bps: float | None = None,
    ) -> None:
        """Record one action (``kind`` as in docs/optical.md) for ``link``."""
        record = {
            "time": _now_iso(),
            "fibre": fibre,
            "kind": kind,
            "target": target,
            "before": before,
            "after": after,
            "link": link.id if link else None,
            "reason": reason,
            "predicted_before_bps": None if predicted_before_bps is None else round(predicted_before_bps, 1),
            "predicted_after_bps": None if predicted_after_bps is None else round(predicted_after_bps, 1),
            "measured_before_bps": self.measured_bps(link) if link else None,
            "measured_after_bps": None,
            "_at": time.monotonic(),  # this process's clock: when the measurement after may be taken
        }
        self.store.add_action(record)
        log.info("controller: optical %s %s/%s: %s → %s", kind, fibre, target, before, after)

    def fill_measured(self, now: float, settle_s: float = 0.0) -> None:
        """Give recent actions whose link has settled their measured-after rate."""
        for action in self.store.actions(limit=50):
            if action.get("measured_after_bps") is not None or action.get("link") is None:
                continue
            at = action.get("_at")
            if not isinstance(at, float) or not settle_s <= now - at <= MEASURE_WITHIN_S:
                continue
            link = self.network.link(action["link"])
            if not self.settled(link, now):
                continue
            measured = self.measured_bps(link)
            if measured is not None:
                action_id = action.pop("id")
                self.store.update_action(action_id, {**action, "measured_after_bps": measured})

    def json(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest ``limit`` actions, oldest first (bookkeeping members left out)."""
        return [{k: v for k, v in a.items() if not k.startswith("_")} for a in self.store.actions(limit)]
