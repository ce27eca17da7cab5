"""The controller's optical manager: follows the plant, keeps the QKD links at target under the policy,
admits classical channels, and records what it does.

Each *round* (every ``poll_interval_s``, and at once when the plant publishes a change):

1. read the plant (:class:`~sdqkd.controller.optical.plant.PlantClient`); a channel whose power or
   wavelength is not what the controller last set, nor what was requested, was changed behind the
   controller's back: that becomes its new request;
2. plan from the requests (:class:`~sdqkd.controller.optical.protect.Planner`) and compare with the
   plant: under ``protect-qkd``, when a link is predicted or measured below target, or when the plan
   needs fewer levers than what is in place (room returned), apply the difference — lower powers and
   move channels first, retune quantum channels (through the agents: the links' ``phys_wavelength``),
   raise powers back last; every change is an action in the store;
3. raise ``optical_target_missed`` for links the plan cannot bring to target (clear it when it can);
4. schedule the switched transmitters (:mod:`~sdqkd.controller.optical.scheduling`): a move is an
   action too (``switch_port``);
5. fill in the measured key rate of earlier actions once their links have settled.

Targets: ``max(topology target_rate_bps, reserved by admitted applications) × (1 + target_margin)``.
A link's measured rate (the agents' ``skr``) counts once it has settled — up, and no change on its fibre
for :data:`SETTLE_S` — and, when lower than predicted, scales the prediction down (``calibration``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.controller.alarms import Alarms
from sdqkd.controller.links import LinkState, PlannedLink
from sdqkd.controller.network import Network
from sdqkd.controller.optical.actions import ActionLog
from sdqkd.controller.optical.plant import PlantClient, PlantState
from sdqkd.controller.optical.protect import ChannelKey, ChannelSetting, Plan, Planner
from sdqkd.controller.optical.scheduling import Switching
from sdqkd.controller.optical.situation import carriers_of, groups_of, link_needs, settings_of
from sdqkd.controller.store import ControllerStore
from sdqkd.errors import PlantRefused, PlantUnavailable
from sdqkd.planning.coexistence import grid_channels_in
from sdqkd.topology.models import ClassicalChannel, Topology
from sdqkd.topology.transceivers import C_BAND_NM

__all__ = ["SETTLE_S", "OpticalManager", "OpticalPolicy"]

log = logging.getLogger(__name__)

SETTLE_S = 4.0
"""After a change on a link's fibre (or its retune), seconds before its measured rate counts."""

_EVENTS = frozenset(
    {"channel_power", "channel_tuned", "channel_added", "channel_removed", "switch_changed", "fibre_cut",
     "fibre_restored"}
)  # fmt: skip
_RETRY_S = (0.5, 5.0)
_HYSTERESIS = 0.02


class OpticalPolicy(BaseModel):
    """``GET|PUT /api/v1/optical/policy``."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["protect-qkd", "observe"] = "protect-qkd"
    target_margin: float = Field(default=0.05, ge=0, le=1)


def _setting_json(setting: ChannelSetting) -> dict[str, Any]:
    return {
        "power_dbm": round(setting.power_dbm, 4),
        "frequency_thz": setting.frequency_thz,
        "dwdm_channel": setting.dwdm_channel,
    }


def _same(a: ChannelSetting, b: ChannelSetting) -> bool:
    """Two settings the plant cannot tell apart (powers to 1e-3 dB, frequencies to 1 MHz)."""
    return abs(a.power_dbm - b.power_dbm) < 1e-3 and abs(a.frequency_thz - b.frequency_thz) < 1e-6


def _same_config(a: Plan, b: Plan) -> bool:
    if a.quantum != b.quantum or a.settings.keys() != b.settings.keys():
        return False
    return all(_same(a.settings[key], b.settings[key]) for key in a.settings)


def _setting_from(data: dict[str, Any]) -> ChannelSetting:
    return ChannelSetting(float(data["power_dbm"]), float(data["frequency_thz"]), data.get("dwdm_channel"))


class OpticalManager:
    """The optical layer of one controller.

    Args:
        topology: the network as planned.
        network: the QKD links as the agents report them (their quantum channels are changed here).
        store: where requests, retunes, the policy and actions are kept.
        alarms: the controller's alarms.
        reserved_bps: key rate admitted applications reserve on a link.
        wake: makes the controller read these nodes now (after a retune, for the agents' writes).
        plant: the plant API (None: no optical management; the API reports nothing).
        poll_interval_s: how often the plant is read when nothing is published.
        switching: the schedules of the switched transmitters (None: switches are left alone).
    """

    def __init__(
        self,
        topology: Topology,
        network: Network,
        store: ControllerStore,
        alarms: Alarms,
        reserved_bps: Callable[[str], int],
        wake: Callable[[Iterable[str]], None],
        plant: PlantClient | None,
        poll_interval_s: float = 1.0,
        switching: Switching | None = None,
    ) -> None:
        self.topology = topology
        self.network = network
        self.store = store
        self.alarms = alarms
        self.reserved_bps = reserved_bps
        self.wake_nodes = wake
        self.plant = plant
        self.poll_interval_s = poll_interval_s
        self.switching = switching
        self.policy = OpticalPolicy.model_validate(store.setting("optical:policy") or {})
        self.state: PlantState | None = None
        self.error: str | None = None
        self.groups = groups_of(topology)
        self.planned_quantum = {
            self.groups[link.id]: link.dwdm_channel for link in network.links if link.id in self.groups
        }
        self.requests: dict[ChannelKey, ChannelSetting] = self._load("optical:requests")
        self.applied: dict[ChannelKey, ChannelSetting] = self._load("optical:applied")
        self.last_plan: Plan | None = None
        self.current: Plan | None = None
        self.last_planner: Planner | None = None
        self._changed_at: dict[str, float] = {}  # fibre or group → monotonic time of its last change
        # per channel, the settings the controller wrote last (their events are its own, not requests)
        self._written: dict[ChannelKey, deque[ChannelSetting]] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        for group, channel in (store.setting("optical:quantum") or {}).items():
            self._retune_links(group, int(channel))
        self.actions = ActionLog(store, network, self.measured_bps, self._settled)

    # Persistence ------------------------------------------------------------------------------------------

    def _load(self, name: str) -> dict[ChannelKey, ChannelSetting]:
        stored = self.store.setting(name) or {}
        found: dict[ChannelKey, ChannelSetting] = {}
        for name, value in stored.items():
            fibre, _, channel = name.partition("/")
            found[(fibre, channel)] = _setting_from(value)
        return found

    def _save(self) -> None:
        for name, table in (("optical:requests", self.requests), ("optical:applied", self.applied)):
            self.store.put_setting(name, {f"{f}/{c}": _setting_json(s) for (f, c), s in table.items()})
        retuned = {g: ch for g, ch in self.quantum().items() if ch != self.planned_quantum.get(g)}
        self.store.put_setting("optical:quantum", retuned)

    def set_policy(self, policy: OpticalPolicy) -> OpticalPolicy:
        self.policy = policy
        self.store.put_setting("optical:policy", policy.model_dump())
        self._wake.set()
        return policy

    # Life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.plant is None:
            return
        self._tasks = [
            asyncio.create_task(self._run(), name="controller-optical"),
            asyncio.create_task(self._follow(), name="controller-optical-events"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.plant is not None:
            await self.plant.aclose()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.round()
            except Exception:  # a bug must not stop the optical layer
                log.exception("controller: optical round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)

    async def _follow(self) -> None:
        """Wake a round on every plant change the event stream announces."""
        assert self.plant is not None
        wait_s = _RETRY_S[0]
        while not self._stopping:
            try:
                async for event in self.plant.events():
                    wait_s = _RETRY_S[0]
                    if event.get("type") in _EVENTS:
                        fibre = event.get("fibre")
                        if isinstance(fibre, str):
                            self._changed_at[fibre] = time.monotonic()
                        self.heard(event)
                        self._wake.set()
            except PlantUnavailable as exc:
                log.debug("controller: plant events: %s", exc)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, _RETRY_S[1])

    def heard(self, event: dict[str, Any]) -> None:
        """A channel change the plant published that the controller did not write is the operator's new
        request, taken from the event rather than from the next read: a write of the controller's that
        crosses it at the plant (planned from a read before the operator's change) would otherwise hide
        it, and the operator's change would be lost."""
        if event.get("type") not in ("channel_power", "channel_tuned") or self.state is None:
            return
        fibre, channel, power = event.get("fibre"), event.get("channel"), event.get("launch_power_dbm")
        if not (isinstance(fibre, str) and isinstance(channel, str) and isinstance(power, int | float)):
            return
        key: ChannelKey = (fibre, channel)
        known = settings_of(self.state.topology).get(key)
        if known is None:
            return  # a channel the controller has not read yet: its first read takes it as it is
        grid = event.get("dwdm_channel")
        if event["type"] == "channel_tuned" and isinstance(grid, int):
            setting = ChannelSetting.on_grid(float(power), grid)
        else:
            setting = ChannelSetting(float(power), known.frequency_thz, known.dwdm_channel)
        if any(_same(setting, written) for written in self._written.get(key, ())):
            return
        requested = self.requests.get(key)
        if requested is None or not _same(requested, setting):
            log.info("controller: %s/%s changed at the plant: the new request", *key)
            self.requests[key] = setting
            self._save()

    # Quantum channels -------------------------------------------------------------------------------------

    def quantum(self) -> dict[str, int]:
        """Each group's quantum channel now (as written to the agents)."""
        found: dict[str, int] = {}
        for link in self.network.links:
            found.setdefault(self.groups.get(link.id, link.id), link.dwdm_channel)
        return found

    def _retune_links(self, group: str, channel: int) -> list[PlannedLink]:
        links = [link for link in self.network.links if self.groups.get(link.id) == group]
        for link in links:
            self.network.retune(link.id, channel)
        return links

    # The round --------------------------------------------------------------------------------------------

    def targets_bps(self) -> dict[str, float]:
        """Each link's target: max(topology target, reserved) × (1 + margin)."""
        margin = 1.0 + self.policy.target_margin
        return {
            link.id: max(link.target_rate_bps or 0.0, float(self.reserved_bps(link.id))) * margin
            for link in self.network.links
        }

    def measured_bps(self, link: PlannedLink) -> int | None:
        """The link's key rate as its agents report it (None unless up)."""
        if self.network.state_of(link) is not LinkState.UP:
            return None
        return self.network.capacity_bps(link)

    def _settled(self, link: PlannedLink, now: float) -> bool:
        last = max(self._changed_at.get(link.fibre, 0.0), self._changed_at.get(self.groups[link.id], 0.0))
        return now - last >= SETTLE_S

    def _calibration(self, predicted: dict[str, float], now: float) -> dict[str, float]:
        found = {}
        for link in self.network.links:
            measured = self.measured_bps(link)
            expected = predicted.get(link.id, 0.0)
            if measured is None or expected <= 0 or not self._settled(link, now):
                continue
            ratio = measured / expected
            if ratio < 0.97:
                found[link.id] = max(ratio, 0.0)
        return found

    def planner(
        self, topology: Topology, calibration: dict[str, float] | None = None, **options: Any
    ) -> Planner:
        levers = ("retune", "lower", "move") if self.policy.mode == "protect-qkd" else ()
        options.setdefault("levers", levers)
        options.setdefault("hysteresis", _HYSTERESIS)
        return Planner(
            link_needs(topology, self.targets_bps(), calibration), carriers_of(topology), **options
        )

    async def round(self) -> None:
        """Read the plant, act under the policy, raise or clear alarms, schedule switches."""
        if self.plant is None:
            return
        async with self._lock:
            try:
                state = await self.plant.read(self.topology)
            except PlantUnavailable as exc:
                if self.error is None:
                    log.warning("controller: the optical plant does not answer: %s", exc)
                self.error = str(exc)
                return
            self.error = None
            self._note_changes(state)
            self.state = state
            now = time.monotonic()
            quantum = self.quantum()
            current = self.planner(state.topology).evaluate(settings_of(state.topology), quantum)
            planner = self.planner(state.topology, self._calibration(current.predicted_bps, now))
            self.last_planner = planner
            self.current = planner.evaluate(settings_of(state.topology), quantum)
            desired = planner.plan(self.requested(state), self.planned_quantum)
            self.last_plan = desired
            if self.policy.mode == "protect-qkd" and self._should_act(state, self.current, desired, now):
                await self._apply(state, self.current, desired)
            self._alarm(desired if self.policy.mode == "protect-qkd" else self.current)
            if self.switching is not None:
                await self._schedule(state, desired if self.policy.mode == "protect-qkd" else self.current)
            self.actions.fill_measured(now, SETTLE_S)

    def requested(self, state: PlantState) -> dict[ChannelKey, ChannelSetting]:
        """What each classical channel at the plant was asked to be (its request, or as it is)."""
        present = settings_of(state.topology)
        return {key: self.requests.get(key, setting) for key, setting in present.items()}

    @property
    def lock(self) -> asyncio.Lock:
        """Held by a round and by an admission: one changes the plant at a time."""
        return self._lock

    def admitted(self, key: ChannelKey, setting: ChannelSetting) -> None:
        """A channel admitted and lit: its placement is its request."""
        self.requests[key] = setting
        self.applied.pop(key, None)
        self._changed_at[key[0]] = time.monotonic()
        self._save()

    def forget(self, key: ChannelKey) -> None:
        """A channel taken off its fibre."""
        self.requests.pop(key, None)
        self.applied.pop(key, None)
        self._changed_at[key[0]] = time.monotonic()
        self._save()

    def carriers_for(self, fibre_id: str, channel: ClassicalChannel) -> list[int]:
        """The grid channels a tunable ``channel`` could take on ``fibre_id``, farthest from the
        fibre's quantum channels first."""
        quantum = self.quantum()
        on = [quantum[self.groups[link.id]] for link in self.network.links if link.fibre == fibre_id]
        band = grid_channels_in(*C_BAND_NM) if channel.transceiver.tunable else []
        return sorted(band, key=lambda n: -min((abs(n - q) for q in on), default=0))

    def _note_changes(self, state: PlantState) -> None:
        """Requests follow the plant where someone else changed it; forget channels that are gone."""
        present = settings_of(state.topology)
        previous = settings_of(self.state.topology) if self.state is not None else {}
        changed = False
        for key, setting in present.items():
            if previous.get(key) != setting:
                self._changed_at[key[0]] = time.monotonic()
            mine = self.applied.get(key)
            if mine is not None and _same(mine, setting):
                continue
            requested = self.requests.get(key)
            if requested is not None and _same(requested, setting) and mine is None:
                continue
            if requested is not None or mine is not None:
                log.info("controller: %s/%s changed at the plant: the new request", *key)
            self.requests[key] = setting
            self.applied.pop(key, None)
            changed = True
        for key in set(self.requests) - set(present):
            del self.requests[key]
            self.applied.pop(key, None)
            changed = True
        if changed:
            self._save()

    def _below(self, plan: Plan, now: float) -> list[str]:
        targets = self.targets_bps()
        below = set(plan.missed)
        for link in self.network.links:
            measured = self.measured_bps(link)
            if measured is not None and self._settled(link, now) and measured < targets[link.id] - 1e-6:
                below.add(link.id)
        return sorted(below)

    def _intervention(self, plan: Plan, requested: dict[ChannelKey, ChannelSetting]) -> float:
        """How far a configuration is from the requests: dB off the requested power (either way: a
        channel above its request, as an operator's lower request leaves it, must come down), plus 20 per
        channel moved and per quantum channel retuned."""
        total = 0.0
        for key, setting in plan.settings.items():
            asked = requested.get(key)
            if asked is None:
                continue
            total += abs(asked.power_dbm - setting.power_dbm)
            total += 20.0 if abs(asked.frequency_thz - setting.frequency_thz) > 1e-6 else 0.0
        total += 20.0 * sum(1 for g, ch in plan.quantum.items() if ch != self.planned_quantum.get(g, ch))
        return total

    def _should_act(self, state: PlantState, current: Plan, desired: Plan, now: float) -> bool:
        if _same_config(current, desired):
            return False
        if self._below(current, now):
            return True
        requested = self.requested(state)
        return self._intervention(desired, requested) < self._intervention(current, requested) - 0.05

    # Applying a plan --------------------------------------------------------------------------------------

    async def _apply(self, state: PlantState, current: Plan, desired: Plan) -> None:
        assert self.plant is not None
        changes = [
            (key, current.settings[key], setting)
            for key, setting in desired.settings.items()
            if key in current.settings and not _same(current.settings[key], setting)
        ]
        # safe first: lowering and moving, then retuning, then raising back
        changes.sort(key=lambda change: change[2].power_dbm > change[1].power_dbm)
        raises = [c for c in changes if c[2].power_dbm > c[1].power_dbm + 1e-9]
        for key, before, after in [c for c in changes if c not in raises]:
            await self._set(key, before, after, current, desired)
        for group, channel in desired.quantum.items():
            if channel != current.quantum.get(group):
                self._retune(group, current.quantum[group], channel, current, desired)
        for key, before, after in raises:
            await self._set(key, before, after, current, desired)
        self._save()

    async def _set(
        self, key: ChannelKey, before: ChannelSetting, after: ChannelSetting, current: Plan, desired: Plan
    ) -> None:
        assert self.plant is not None
        fibre, channel = key
        moved = abs(before.frequency_thz - after.frequency_thz) > 1e-6
        powered = abs(before.power_dbm - after.power_dbm) > 1e-6
        if moved and after.dwdm_channel is None:
            return  # only grid channels are planned as moves; never happens
        self._written.setdefault(key, deque(maxlen=8)).append(after)  # before: its event may come first
        try:
            await self.plant.set_channel(
                fibre,
                channel,
                launch_power_dbm=round(after.power_dbm, 4) if powered else None,
                dwdm_channel=after.dwdm_channel if moved else None,
            )
        except (PlantRefused, PlantUnavailable) as exc:
            log.warning("controller: the plant did not take %s/%s: %s", fibre, channel, exc)
            return
        self.applied[key] = after
        self._changed_at[fibre] = time.monotonic()
        requested = self.requests.get(key)
        if moved:
            back = requested is not None and abs(requested.frequency_thz - after.frequency_thz) < 1e-6
            kind = "restore_channel" if back else "move_channel"
            self._note(kind, fibre, channel, before.dwdm_channel, after.dwdm_channel, current, desired)
        if powered:
            kind = "raise_power" if after.power_dbm > before.power_dbm else "lower_power"
            self._note(
                kind, fibre, channel, round(before.power_dbm, 2), round(after.power_dbm, 2), current, desired
            )

    def _retune(self, group: str, before: int, after: int, current: Plan, desired: Plan) -> None:
        links = self._retune_links(group, after)
        self._changed_at[group] = time.monotonic()
        self.wake_nodes({node for link in links for node in link.nodes})
        targets = self.targets_bps()
        worst = min(links, key=lambda link: current.predicted_bps[link.id] / max(targets[link.id], 1.0))
        reason = self._reason(worst, current, targets)
        if len(links) > 1:
            reason += f" (one transmitter for {', '.join(link.id for link in links)})"
        for link in links:
            self._note("retune_quantum", link.fibre, link.id, before, after, current, desired, link, reason)

    def _note(
        self,
        kind: str,
        fibre: str,
        target: str,
        before: Any,
        after: Any,
        current: Plan,
        desired: Plan,
        link: PlannedLink | None = None,
        reason: str | None = None,
    ) -> None:
        """Record a change of a plan's: for the worst link of its fibre (or ``link``)."""
        targets = self.targets_bps()
        link = link or self._worst_on(fibre, current)
        self.actions.record(
            kind,
            fibre,
            target,
            before,
            after,
            link=link,
            reason=reason if reason is not None else self._reason(link, current, targets),
            predicted_before_bps=current.predicted_bps[link.id] if link else None,
            predicted_after_bps=desired.predicted_bps[link.id] if link else None,
        )

    def _reason(self, link: PlannedLink | None, current: Plan, targets: dict[str, float]) -> str:
        if link is None:
            return ""
        predicted, target = current.predicted_bps[link.id], targets[link.id]
        if predicted < target:
            return f"{link.id} predicted {predicted:.0f} < target {target:.0f} bit/s"
        return f"room returned: {link.id} predicted {predicted:.0f} ≥ target {target:.0f} bit/s"

    def _worst_on(self, fibre: str, plan: Plan) -> PlannedLink | None:
        targets = self.targets_bps()
        on = [link for link in self.network.links if link.fibre == fibre]
        if not on:
            return None
        return min(on, key=lambda link: plan.predicted_bps[link.id] / max(targets[link.id], 1.0))

    async def _schedule(self, state: PlantState, plan: Plan) -> None:
        assert self.switching is not None
        assert self.plant is not None
        act = self.policy.mode == "protect-qkd"  # observe: the schedule is shown, the switch not moved
        for switch, before, after in await self.switching.step(state, plan, self.plant, act=act):
            links = [r.link for r in self.switching.receivers.get(switch, []) if r.port == after]
            link = self.network.link(links[0]) if links else None
            self.actions.record(
                "switch_port",
                link.fibre if link else None,
                switch,
                before,
                after,
                link=link,
                reason=self._switch_reason(switch, after),
                predicted_after_bps=plan.predicted_bps[link.id] if link else None,
            )
            if link is not None:
                self._changed_at[link.fibre] = time.monotonic()
            log.info("controller: switch %s moved %s → %s", switch, before, after)

    def _switch_reason(self, switch: str, port: str) -> str:
        assert self.switching is not None
        parts = []
        for receiver in self.switching.receivers.get(switch, []):
            pool_kbit, demand_kbps = receiver.pool_bits / 1000, receiver.demand_bps / 1000
            parts.append(f"{receiver.port}: pool {pool_kbit:.0f} kbit, demand {demand_kbps:.1f} kbit/s")
        return f"to {port} ({'; '.join(parts)})"

    def _alarm(self, plan: Plan) -> None:
        targets = self.targets_bps()
        for link in self.network.links:
            source = f"link:{link.id}"
            if link.id in plan.missed:
                predicted = plan.predicted_bps[link.id]
                message = (
                    f"{link.id}: predicted {predicted:.0f} bit/s < target {targets[link.id]:.0f} bit/s "
                    f"on fibre {link.fibre}; no optical action restores it"
                )
                self.alarms.raise_optical(source, message)
            else:
                self.alarms.clear_optical(source)
