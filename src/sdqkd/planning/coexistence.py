"""Coexistence algebra: what each classical channel of a fibre costs a quantum channel, and how much
Raman noise a QKD link can take before its key rate falls below a target.

Raman noise is linear in launch power (``sdqkd.physics.raman``), so for a link ``l`` and the classical
channels ``i`` of its fibre the Raman excess noise at the channel input is

    ξ_R,l = Σ_i r_il · P_i          (r_il in SNU per watt, P_i the launch power in W)

with ``r_il`` depending only on the channel's frequency and direction, the quantum channel, the fibre and
the device profile (:func:`raman_snu_per_watt`). The key rate falls as ξ grows, so a target rate is one
bound on ξ_R (:func:`raman_budget_snu`, Brent's method on the GG02 key per symbol). Deciding powers is
then arithmetic on these numbers, not a key-rate evaluation per candidate.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from sdqkd.planning.budget import ClassicalLoad, key_rate_for, load_noise
from sdqkd.topology.models import ClassicalChannel, DeviceProfile, Direction, Fibre
from sdqkd.topology.transceivers import power_floor_dbm
from sdqkd.units import dwdm_channel_to_frequency_thz, wavelength_nm_to_frequency_thz

__all__ = [
    "GRID_SLOT_THZ",
    "channel_floor_dbm",
    "grid_channels_in",
    "occupied",
    "raman_budget_snu",
    "raman_snu_per_watt",
    "travels_forward",
]

#: Half the 100 GHz grid spacing: two carriers closer than this share a grid slot, THz.
GRID_SLOT_THZ = 0.05


def channel_floor_dbm(channel: ClassicalChannel, fibre: Fibre) -> float:
    """The lowest launch power ``channel`` may run at on ``fibre``, dBm (sensitivity + span loss +
    margin, :func:`sdqkd.topology.transceivers.power_floor_dbm`)."""
    return power_floor_dbm(channel.transceiver, fibre.loss_db)


def raman_snu_per_watt(
    frequencies_thz: list[float],
    forward: list[bool],
    fibre: Fibre,
    profile: DeviceProfile,
    quantum_channel: int,
    transmittance: float,
) -> list[float]:
    """``r_il`` of each classical channel: the Raman excess noise (SNU, at the channel input) it puts on
    the quantum channel per watt of launch power.

    Args:
        frequencies_thz: each classical channel's centre frequency, THz.
        forward: whether each travels with the quantum signal (from the transmitter's node).
        fibre: the span.
        profile: the QKD link's device profile (its Raman model and receiver bandwidth).
        quantum_channel: the quantum channel's grid number.
        transmittance: the link's transmittance T, all losses included (refers noise to the input).
    """
    if not frequencies_thz:
        return []
    load = ClassicalLoad(
        channel_ids=tuple(str(i) for i in range(len(frequencies_thz))),
        frequency_thz=np.asarray(frequencies_thz, dtype=np.float64),
        launch_power_w=np.ones(len(frequencies_thz), dtype=np.float64),
        forward=np.asarray([1.0 if f else 0.0 for f in forward], dtype=np.float64),
    )
    noise = load_noise(load, fibre, profile, quantum_channel, transmittance)
    return [float(x) for x in np.asarray(noise.raman_per_channel_snu).reshape(-1)]


def travels_forward(channel: ClassicalChannel, fibre: Fibre, transmitter_node: str) -> bool:
    """Whether ``channel`` travels from the QKD transmitter's node, with the quantum signal."""
    return (channel.direction is Direction.A_TO_B) == (transmitter_node == fibre.a)


def raman_budget_snu(profile: DeviceProfile, transmittance: float, target_rate_bps: float) -> float | None:
    """The largest Raman excess noise (SNU) at which the link still makes ``target_rate_bps``.

    Returns:
        the budget; ``math.inf`` for a target of 0 or one kept at any noise; None when the link
        misses the target even without classical light.
    """
    if target_rate_bps <= 0:
        return math.inf
    per_symbol = profile.symbol_rate_bd * (1.0 - profile.frame_error_rate)
    needed = target_rate_bps / per_symbol

    def surplus(raman_snu: float) -> float:
        total = profile.excess_noise_snu + raman_snu
        key = float(key_rate_for(profile, transmittance, total).key_bits_per_symbol)
        return max(key, -1e3) - needed  # -inf (nothing proven) → finite for the root finder

    if surplus(0.0) < 0:
        return None
    high = 1e-3
    while surplus(high) >= 0:
        high *= 4.0
        if high > 1e3:
            return math.inf
    low = high / 4.0 if high > 1e-3 else 0.0
    return float(brentq(surplus, low, high, xtol=1e-12, rtol=1e-10))


def grid_channels_in(low_nm: float, high_nm: float) -> list[int]:
    """The 100 GHz grid channels (1–99) whose centre wavelength lies in [low_nm, high_nm]."""
    low_thz = float(wavelength_nm_to_frequency_thz(high_nm))
    high_thz = float(wavelength_nm_to_frequency_thz(low_nm))
    return [n for n in range(1, 100) if low_thz - 1e-9 <= dwdm_channel_to_frequency_thz(n) <= high_thz + 1e-9]


def occupied(frequency_thz: float, others_thz: list[float]) -> bool:
    """Whether a carrier at ``frequency_thz`` would share a grid slot with one of ``others_thz``."""
    return any(abs(frequency_thz - other) < GRID_SLOT_THZ for other in others_thz)
