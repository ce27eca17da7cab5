"""Admission of classical channels: before a new channel is lit on a shared fibre, predict what it does
to every quantum channel there and place it where the QKD links keep their targets.

``POST /api/v1/optical/fibres/{fibre}/channels`` with a channel as in a topology file answers:

- ``accepted``: as asked, every link keeps its target with the channels already lit left as they are;
- ``adjusted``: only elsewhere — on another grid channel (if its transceiver tunes) and/or at a lower
  power (not below its floor); the answer says which, and that placement becomes its request;
- ``refused`` (:class:`~sdqkd.errors.ChannelRefused`, 409): wherever it goes, a link falls below its
  target; the details give each link's predicted rate and target.

Links that miss their target without the new channel do not make it refused (the channel did not cause
it), as long as it takes nothing more from them. The channels already on the fibre are never changed
to make room for a newcomer (the ``protect-qkd`` levers are for changes made behind the controller's
back); under either policy the newcomer fits into the room that is left, or is refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sdqkd.controller.optical.manager import OpticalManager
from sdqkd.controller.optical.protect import ChannelKey, ChannelSetting, Plan
from sdqkd.controller.optical.situation import setting_of, settings_of
from sdqkd.errors import ChannelRefused, ConfigError, PlantUnavailable, UnknownResource
from sdqkd.planning.coexistence import channel_floor_dbm, occupied
from sdqkd.topology.models import ClassicalChannel, Topology
from sdqkd.units import dwdm_channel_to_frequency_thz

__all__ = ["admit_channel", "remove_channel"]


def _parse(spec: dict[str, Any]) -> ClassicalChannel:
    try:
        return ClassicalChannel.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"body.{where}: {error['msg']}" if where else f"body: {error['msg']}") from exc


def _with_channel(topology: Topology, fibre_id: str, channel: ClassicalChannel) -> Topology:
    fibres = [
        f.model_copy(update={"classical_channels": [*f.classical_channels, channel]})
        if f.id == fibre_id
        else f
        for f in topology.fibres
    ]
    return topology.model_copy(update={"fibres": fibres})


def _predictions(plan: Plan, manager: OpticalManager, fibre_id: str) -> list[dict[str, Any]]:
    targets = manager.targets_bps()
    return [
        {
            "link": link.id,
            "predicted_skr_bps": round(plan.predicted_bps[link.id], 1),
            "target_bps": round(targets[link.id], 1),
        }
        for link in manager.network.links
        if link.fibre == fibre_id
    ]


def _quantum_taken(manager: OpticalManager, fibre_id: str) -> list[float]:
    quantum = manager.quantum()
    return [
        dwdm_channel_to_frequency_thz(quantum[manager.groups[link.id]])
        for link in manager.network.links
        if link.fibre == fibre_id
    ]


async def admit_channel(manager: OpticalManager, fibre_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Admit a classical channel onto ``fibre_id`` and light it at the plant.

    Raises:
        UnknownResource: no such fibre.
        ConfigError: not a classical channel, or its id is taken on that fibre.
        ChannelRefused: no placement keeps the links at target.
        PlantUnavailable, PlantRefused: the plant did not take it.
    """
    if manager.plant is None:
        raise PlantUnavailable("this controller manages no optical plant (no plant_url)")
    channel = _parse(spec)
    async with manager.lock:
        state = await manager.plant.read(manager.topology)
        try:
            fibre = state.topology.fibre(fibre_id)
        except KeyError:
            raise UnknownResource(f"no fibre {fibre_id!r}") from None
        if any(c.id == channel.id for c in fibre.classical_channels):
            raise ConfigError(f"body.id: fibre {fibre_id!r} already carries a channel {channel.id!r}")
        floor = channel_floor_dbm(channel, fibre)
        key: ChannelKey = (fibre_id, channel.id)
        topology = _with_channel(state.topology, fibre_id, channel)
        # the channels already lit stay as they are: a newcomer is fitted into the room left
        present = settings_of(state.topology)
        existing = set(present)
        quantum = manager.quantum()
        requested = {**present, key: setting_of(channel)}
        before = manager.planner(state.topology, levers=()).evaluate(present, quantum)
        planner = manager.planner(topology, levers=())
        quantum_taken = _quantum_taken(manager, fibre_id)
        others = [c.frequency_thz for c in fibre.classical_channels]
        collides = occupied(channel.frequency_thz, quantum_taken + others)
        adjustments: list[str] = []
        impact = planner.evaluate(requested, quantum)  # lit as asked (on a quantum slot: no key there)
        as_asked = impact if not collides else None
        if channel.launch_power_dbm < floor - 1e-9:
            raise ChannelRefused(
                f"{channel.id}: {channel.launch_power_dbm:g} dBm is below its floor {floor:.1f} dBm "
                f"on {fibre_id} (receiver sensitivity + span loss + margin)",
                [],
            )
        if as_asked is not None and _fits(as_asked, before, fibre_id, manager):
            placed, plan, decision = setting_of(channel), as_asked, "accepted"
        else:
            flexible = manager.planner(topology, fixed=existing, levers=("lower", "move"))
            start = dict(requested)
            if collides:
                slot = _free_slot(manager, channel, fibre_id, quantum_taken + others)
                if slot is None:
                    raise ChannelRefused(
                        f"{channel.id}: its grid slot is taken on {fibre_id} and its transceiver cannot tune",
                        _predictions(impact, manager, fibre_id),
                    )
                start[key] = ChannelSetting.on_grid(channel.launch_power_dbm, slot)
            plan = flexible.plan(start, quantum)
            if not _fits(plan, before, fibre_id, manager):
                worst = impact if as_asked is not None else plan
                raise ChannelRefused(
                    f"{channel.id} on {fibre_id} would take a QKD link below its target wherever it goes",
                    _predictions(worst, manager, fibre_id),
                )
            placed, decision = plan.settings[key], "adjusted"
            adjustments = _adjustments(setting_of(channel), placed)
            if not adjustments:
                decision = "accepted"
        lit = channel.model_dump(mode="json", exclude_none=True, exclude={"provenance"})
        lit["launch_power_dbm"] = round(placed.power_dbm, 4)
        if placed.dwdm_channel is not None and abs(placed.frequency_thz - channel.frequency_thz) > 1e-6:
            lit.pop("wavelength_nm", None)
            lit["dwdm_channel"] = placed.dwdm_channel
        await manager.plant.add_channel(fibre_id, lit)
        manager.admitted(
            key, ChannelSetting(lit["launch_power_dbm"], placed.frequency_thz, placed.dwdm_channel)
        )
    manager.wake()
    answer: dict[str, Any] = {
        "decision": decision,
        "channel": lit,
        "predictions": _predictions(plan, manager, fibre_id),
    }
    if decision == "adjusted":
        answer["adjustments"] = adjustments
    return answer


def _fits(plan: Plan, before: Plan, fibre_id: str, manager: OpticalManager) -> bool:
    """No link of the fibre misses its target that did not before, and those that did lose nothing."""
    for link in manager.network.links:
        if link.fibre != fibre_id or link.id not in plan.missed:
            continue
        if link.id not in before.missed or plan.predicted_bps[link.id] < before.predicted_bps[link.id] - 1e-6:
            return False
    return True


def _free_slot(
    manager: OpticalManager, channel: ClassicalChannel, fibre_id: str, taken: list[float]
) -> int | None:
    if not channel.transceiver.tunable:
        return None
    carriers = manager.carriers_for(fibre_id, channel)
    for slot in carriers:
        if not occupied(dwdm_channel_to_frequency_thz(slot), taken):
            return slot
    return None


def _adjustments(asked: ChannelSetting, placed: ChannelSetting) -> list[str]:
    found = []
    if abs(asked.frequency_thz - placed.frequency_thz) > 1e-6:
        found.append(f"dwdm_channel {asked.dwdm_channel or asked.frequency_thz} → {placed.dwdm_channel}")
    if abs(asked.power_dbm - placed.power_dbm) > 1e-3:
        found.append(f"launch_power_dbm {asked.power_dbm:g} → {placed.power_dbm:.2f}")
    return found


async def remove_channel(manager: OpticalManager, fibre_id: str, channel_id: str) -> None:
    """Take a classical channel off a fibre (and forget its request).

    Raises:
        UnknownResource: no such fibre or channel.
        PlantUnavailable: the plant did not answer.
    """
    if manager.plant is None:
        raise PlantUnavailable("this controller manages no optical plant (no plant_url)")
    async with manager.lock:
        state = await manager.plant.read(manager.topology)
        if (fibre_id, channel_id) not in settings_of(state.topology):
            raise UnknownResource(f"no classical channel {channel_id!r} on fibre {fibre_id!r}")
        await manager.plant.remove_channel(fibre_id, channel_id)
        manager.forget((fibre_id, channel_id))
    manager.wake()
