"""From a network's optical plant as it is now (a topology whose fibres carry the live classical
channels) to what the planner works on: the links with their noise budgets' inputs, the classical
channels with their floors and tuning, and the groups of links that share a quantum channel.

Links share a quantum channel when they share a module (a transmitter behind an optical switch has one
laser): such a group is retuned as one, to a grid channel free on every fibre it reaches.
"""

from __future__ import annotations

from collections.abc import Mapping

from sdqkd.controller.optical.protect import Carrier, ChannelKey, ChannelSetting, LinkNeeds
from sdqkd.planning.budget import link_budget
from sdqkd.planning.coexistence import channel_floor_dbm, grid_channels_in
from sdqkd.topology.models import ClassicalChannel, Direction, Topology
from sdqkd.topology.transceivers import C_BAND_NM

__all__ = ["carriers_of", "groups_of", "link_needs", "setting_of", "settings_of"]


def groups_of(topology: Topology) -> dict[str, str]:
    """Each QKD link's group: the smallest link id among the links it shares modules with,
    transitively."""
    parent = {link.id: link.id for link in topology.qkd_links}

    def root(link_id: str) -> str:
        while parent[link_id] != link_id:
            link_id = parent[link_id]
        return link_id

    by_module: dict[str, str] = {}
    for link in topology.qkd_links:
        for module in (link.transmitter, link.receiver):
            if module in by_module:
                a, b = root(link.id), root(by_module[module])
                parent[max(a, b)] = min(a, b)
            else:
                by_module[module] = link.id
    return {link_id: root(link_id) for link_id in parent}


def link_needs(
    topology: Topology,
    targets_bps: Mapping[str, float],
    calibration: Mapping[str, float] | None = None,
) -> list[LinkNeeds]:
    """The planner's view of every QKD link of ``topology`` (the plant's fibres in it).

    Args:
        topology: the network with its fibres as the plant reports them.
        targets_bps: each link's target key rate, margin included (missing: 0, nothing to protect).
        calibration: measured ÷ predicted key rate per link, where known and below 1.
    """
    groups = groups_of(topology)
    found = []
    for link in topology.qkd_links:
        budget = link_budget(topology, link)
        profiles = [topology.profile(topology.module(m).profile) for m in (link.transmitter, link.receiver)]
        low = max(p.quantum_wavelength_min_nm for p in profiles)
        high = min(p.quantum_wavelength_max_nm for p in profiles)
        found.append(
            LinkNeeds(
                id=link.id,
                fibre=budget.fibre,
                transmitter_node=budget.transmitter_node,
                profile=budget.profile,
                transmittance=budget.transmittance,
                group=groups[link.id],
                target_bps=float(targets_bps.get(link.id, 0.0)),
                calibration=float((calibration or {}).get(link.id, 1.0)),
                tuning=tuple(grid_channels_in(low, high)),
            )
        )
    return found


def _launched_from(channel: ClassicalChannel, a: str, b: str) -> str:
    return a if channel.direction is Direction.A_TO_B else b


def carriers_of(topology: Topology) -> dict[ChannelKey, Carrier]:
    """Every classical channel of the topology's fibres, as the planner sees its transceiver."""
    band = tuple(grid_channels_in(*C_BAND_NM))
    return {
        (fibre.id, channel.id): Carrier(
            key=(fibre.id, channel.id),
            forward_from=_launched_from(channel, fibre.a, fibre.b),
            floor_dbm=channel_floor_dbm(channel, fibre),
            tunable=channel.transceiver.tunable,
            tuning=band if channel.transceiver.tunable else (),
        )
        for fibre in topology.fibres
        for channel in fibre.classical_channels
    }


def setting_of(channel: ClassicalChannel) -> ChannelSetting:
    """Where a classical channel sits now."""
    return ChannelSetting(channel.launch_power_dbm, channel.frequency_thz, channel.dwdm_channel)


def settings_of(topology: Topology) -> dict[ChannelKey, ChannelSetting]:
    """Every classical channel's setting as the topology has it."""
    return {
        (fibre.id, channel.id): setting_of(channel)
        for fibre in topology.fibres
        for channel in fibre.classical_channels
    }
