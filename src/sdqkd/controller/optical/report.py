"""What the optical API shows: each fibre's classical channels (requested and actual power, floor, share
of the Raman noise) and quantum channels (Raman noise, predicted and measured key rate, target), and the
actions taken. The shapes are documented in docs/optical.md."""

from __future__ import annotations

from typing import Any

from sdqkd.controller.optical.manager import OpticalManager
from sdqkd.errors import UnknownResource
from sdqkd.planning.coexistence import channel_floor_dbm
from sdqkd.units import dwdm_channel_to_frequency_thz

__all__ = ["actions_json", "fibre_json", "fibres_json"]


def fibres_json(manager: OpticalManager) -> list[dict[str, Any]]:
    """Every fibre as the optical manager saw it at its last round (empty before the first)."""
    state = manager.state
    if state is None:
        return []
    return [fibre_json(manager, fibre.id) for fibre in state.topology.fibres]


def fibre_json(manager: OpticalManager, fibre_id: str) -> dict[str, Any]:
    """One fibre (see :func:`fibres_json`).

    Raises:
        UnknownResource: no such fibre (or the plant not read yet).
    """
    state, current, planner = manager.state, manager.current, manager.last_planner
    if state is None or current is None or planner is None:
        raise UnknownResource("the optical plant has not been read yet")
    try:
        fibre = state.topology.fibre(fibre_id)
    except KeyError:
        raise UnknownResource(f"no fibre {fibre_id!r}") from None
    shares = planner.raman_shares(current.settings, current.quantum)
    targets = manager.targets_bps()
    classical = []
    for channel in fibre.classical_channels:
        key = (fibre.id, channel.id)
        requested = manager.requests.get(key)
        transceiver = channel.transceiver
        classical.append(
            {
                "id": channel.id,
                "dwdm_channel": channel.dwdm_channel,
                "wavelength_nm": channel.wavelength_nm,
                "frequency_thz": round(channel.frequency_thz, 6),
                "direction": str(channel.direction),
                "label": channel.label,
                "rate_class": str(transceiver.rate_class),
                "tunable": transceiver.tunable,
                "requested_power_dbm": round(requested.power_dbm, 3)
                if requested
                else channel.launch_power_dbm,
                "actual_power_dbm": round(channel.launch_power_dbm, 3),
                "floor_dbm": round(channel_floor_dbm(channel, fibre), 3),
                "requested_dwdm_channel": requested.dwdm_channel if requested else channel.dwdm_channel,
                "raman_share": round(shares.get(key, 0.0), 4),
            }
        )
    quantum = []
    for link in manager.network.links:
        if link.fibre != fibre.id:
            continue
        group = manager.groups[link.id]
        raman = planner.link_raman_snu(link.id, current.settings, current.quantum)
        needs = next(n for n in planner.links if n.id == link.id)
        measured = manager.measured_bps(link)
        predicted = current.predicted_bps[link.id]
        quantum.append(
            {
                "link": link.id,
                "dwdm_channel": current.quantum[group],
                "planned_dwdm_channel": manager.planned_quantum.get(group),
                "frequency_thz": round(dwdm_channel_to_frequency_thz(current.quantum[group]), 6),
                "status": str(manager.network.state_of(link)),
                "raman_noise_snu": round(raman, 6),
                "excess_noise_snu": round(needs.profile.excess_noise_snu + raman, 6),
                "predicted_skr_bps": round(predicted, 1),
                "measured_skr_bps": measured,
                "target_bps": round(targets[link.id], 1),
                "at_target": predicted * needs.calibration >= targets[link.id] - 1e-6
                and (measured is None or measured >= targets[link.id] - 1e-6),
            }
        )
    return {
        "id": fibre.id,
        "a": fibre.a,
        "b": fibre.b,
        "length_km": fibre.length_km,
        "loss_db": round(fibre.loss_db, 3),
        "cut": fibre.id in state.cut_fibres,
        "classical_channels": classical,
        "quantum_channels": quantum,
    }


def actions_json(manager: OpticalManager, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest ``limit`` actions, oldest first."""
    return manager.actions.json(limit)
