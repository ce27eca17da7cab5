"""Switched transmitters under the controller: what each receiver needs, measured, fed to its
:class:`~sdqkd.controller.optical.switching.SwitchSchedule`, and the cross-connect moved at the plant.

Per receiver (a QKD link through one port of the switch):

- pool: the lower of its two KMEs' ready key (``ready_blocks`` × 256 bits, read at every node round);
- demand: the growth of the KMEs' consumption counters (``blocks_used_for_keys`` and
  ``blocks_used_for_relay`` at both ends) over the last :data:`DEMAND_WINDOW_S` seconds, bit/s;
- rate: the key rate the plan predicts for the pair while connected, times the world's time scale
  (an emulated world running faster makes key faster per wall-clock second);
- available: its fibre is not cut, no interface of its modules failed, and it would make key.

The dead time after a move is the device profile's ``resync_time_s`` over the world's time scale.
A move the controller did not make (``sdqkd plant switch …``) is recorded as one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from sdqkd.controller.links import PlannedLink
from sdqkd.controller.network import Network
from sdqkd.controller.optical.plant import PlantClient, PlantState
from sdqkd.controller.optical.protect import Plan
from sdqkd.controller.optical.switching import ReceiverState, SchedulePolicy, SwitchSchedule
from sdqkd.controller.registry import NodeView
from sdqkd.errors import PlantRefused, PlantUnavailable
from sdqkd.etsi015 import InterfaceStatus
from sdqkd.topology.models import OpticalSwitch, Topology

__all__ = ["DEMAND_WINDOW_S", "Switching"]

log = logging.getLogger(__name__)

DEMAND_WINDOW_S = 10.0
"""The span of KME readings a receiver's demand is averaged over, seconds."""

_BLOCK_BITS = 256
_COUNTERS = ("blocks_used_for_keys", "blocks_used_for_relay")


class Switching:
    """The schedules of a network's switched transmitters.

    Args:
        topology: the network as planned (its switches and the links through them).
        network: the QKD links as the agents report them.
        nodes: the registered nodes (their KMEs' pools and counters).
        time_scale: how much faster than wall-clock time the (emulated) world runs.
        policy: the schedules' knobs (the dead time is set per switch from its modules' profile).
    """

    def __init__(
        self,
        topology: Topology,
        network: Network,
        nodes: Mapping[str, NodeView],
        time_scale: float = 1.0,
        policy: SchedulePolicy | None = None,
    ) -> None:
        self.topology = topology
        self.network = network
        self.nodes = nodes
        self.time_scale = time_scale
        self.policy = policy or SchedulePolicy()
        self.schedules: dict[str, SwitchSchedule] = {}
        self.receivers: dict[str, list[ReceiverState]] = {}
        self.transmitters: dict[str, str] = {}
        self._readings: dict[str, deque[tuple[float, float]]] = {}
        self._started_at: dict[str, dt.datetime] = {}

    def _ports(self, switch: OpticalSwitch) -> dict[str, PlannedLink]:
        """The switch's ports that a QKD link goes through, with that link."""
        found: dict[str, PlannedLink] = {}
        for link in self.network.links:
            qkd_link = self.topology.link(link.id)
            _, hops = self.topology.link_path(qkd_link)
            for hop_switch, port in hops:
                if hop_switch.id == switch.id:
                    found[port.id] = link
        return found

    def _dead_time_s(self, links: list[PlannedLink]) -> float:
        profiles = [
            self.topology.profile(self.topology.module(link.transmitter.module).profile) for link in links
        ]
        return max((p.resync_time_s for p in profiles), default=0.0) / self.time_scale

    # Measurements -----------------------------------------------------------------------------------------

    def _consumed_bits(self, link: PlannedLink) -> float | None:
        """The KMEs' consumption counters of ``link``, summed over both ends, bits (None: unread)."""
        total = 0.0
        for node in link.nodes:
            view = self.nodes.get(node)
            pools = view.pools.get(link.id) if view is not None else None
            if pools is None:
                return None
            total += sum(float(pools.get(name, 0)) for name in _COUNTERS) * _BLOCK_BITS
        return total

    def demand_bps(self, link: PlannedLink, now: float) -> float:
        """The link's consumption over the last :data:`DEMAND_WINDOW_S`, bit/s."""
        consumed = self._consumed_bits(link)
        readings = self._readings.setdefault(link.id, deque())
        if consumed is None:
            return 0.0
        if readings and consumed < readings[-1][1]:
            readings.clear()  # a KME whose store was replaced: start afresh
        if not readings or readings[-1][1] != consumed or now - readings[-1][0] >= 1.0:
            readings.append((now, consumed))
        while len(readings) > 2 and now - readings[1][0] >= DEMAND_WINDOW_S:
            readings.popleft()
        first_s, first_bits = readings[0]
        return (consumed - first_bits) / (now - first_s) if now - first_s > 0.5 else 0.0

    def _available(self, link: PlannedLink, state: PlantState) -> bool:
        if link.fibre in state.cut_fibres:
            return False
        for end in self.network.ends(link).values():
            if end is not None and end.interface_status is InterfaceStatus.FAILED:
                return False
        return True

    # A round ----------------------------------------------------------------------------------------------

    async def step(
        self, state: PlantState, plan: Plan, plant: PlantClient, *, act: bool = True, now: float | None = None
    ) -> list[tuple[str, str | None, str]]:
        """Follow the plant's cross-connects, measure the receivers, and (with ``act``) move the
        switches as their schedules decide; the moves made, as ``(switch, from port, to port)``."""
        now = time.monotonic() if now is None else now
        moves = []
        for switch in state.topology.switches:
            ports = self._ports(switch)
            if len(ports) < 2:
                continue
            schedule = self.schedules.get(switch.id)
            if schedule is None:
                policy = SchedulePolicy(
                    low_water_bits=self.policy.low_water_bits,
                    min_dwell_s=self.policy.min_dwell_s,
                    dead_time_s=self._dead_time_s(list(ports.values())),
                    window_s=self.policy.window_s,
                    max_dead_fraction=self.policy.max_dead_fraction,
                )
                schedule = SwitchSchedule(
                    switch.id, [p.id for p in switch.ports], policy, now, switch.connected_port
                )
                self.schedules[switch.id] = schedule
                self._started_at[switch.id] = dt.datetime.now(dt.UTC)
                self.transmitters[switch.id] = next(iter(ports.values())).transmitter.module
            if switch.connected_port != schedule.port:
                schedule.moved(now, switch.connected_port)  # moved at the plant, not by us
            receivers = [
                ReceiverState(
                    port=port,
                    link=link.id,
                    pool_bits=self.network.ready_bits(link),
                    demand_bps=self.demand_bps(link, now),
                    rate_bps=max(0.0, plan.predicted_bps.get(link.id, 0.0)) * self.time_scale,
                    available=self._available(link, state),
                )
                for port, link in ports.items()
            ]
            self.receivers[switch.id] = receivers
            target = schedule.decide(now, receivers) if act else None
            if target is None or target == schedule.port:
                continue
            try:
                await plant.set_switch(switch.id, target)
            except (PlantRefused, PlantUnavailable) as exc:
                log.warning("controller: switch %s not moved to %s: %s", switch.id, target, exc)
                continue
            moves.append((switch.id, schedule.port, target))
            schedule.moved(now, target)
        return moves

    # What the API shows -----------------------------------------------------------------------------------

    def switches_json(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.monotonic() if now is None else now
        found = []
        for switch_id, schedule in self.schedules.items():
            receivers = self.receivers.get(switch_id, [])
            shares = schedule.shares(now)
            targets = schedule.target_shares(receivers) if receivers else {}
            since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=now - schedule.since_s)
            switch = self.topology.switch(switch_id)
            found.append(
                {
                    "id": switch_id,
                    "node": switch.node,
                    "transmitter": self.transmitters.get(switch_id),
                    "port": schedule.port,
                    "since": since.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "moves": schedule.moves,
                    "schedule": {
                        "low_water_bits": schedule.policy.low_water_bits,
                        "min_dwell_s": schedule.policy.min_dwell_s,
                        "dead_time_s": round(schedule.policy.dead_time_s, 3),
                        "window_s": schedule.policy.window_s,
                    },
                    "receivers": [
                        {
                            "port": receiver.port,
                            "link": receiver.link,
                            "node": self._receiver_node(receiver.link),
                            "connected": receiver.port == schedule.port,
                            "share": round(shares.get(receiver.port, 0.0), 4),
                            "target_share": round(targets.get(receiver.port, 0.0), 4),
                            "demand_bps": round(receiver.demand_bps, 1),
                            "rate_bps": round(receiver.rate_bps, 1),
                            "pool_bits": receiver.pool_bits,
                            "available": receiver.available,
                            "status": str(self.network.state_of(self.network.link(receiver.link))),
                        }
                        for receiver in receivers
                    ],
                }
            )
        return found

    def _receiver_node(self, link_id: str) -> str:
        return self.network.link(link_id).receiver.node
