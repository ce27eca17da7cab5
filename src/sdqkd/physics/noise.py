"""The excess-noise budget of a quantum channel that shares its fibre with classical channels.

Total excess noise at the channel input = the devices' own excess noise + the Raman noise of every
classical channel on the fibre (forward or backward, each with the cross-section of its detuning);
see ``raman.py`` for the physics and its sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics._arrays import Array, as_array, require
from sdqkd.physics.raman import (
    RamanModel,
    backward_raman_power_w,
    forward_raman_power_w,
    raman_excess_noise_snu,
    raman_photons_per_mode,
)
from sdqkd.units import frequency_thz_to_wavelength_nm

__all__ = ["NoiseBudget", "noise_budget"]


@dataclass(frozen=True)
class NoiseBudget:
    """Excess noise of a quantum channel, referred to the channel input (SNU).

    Attributes:
        device_snu: the devices' own excess noise.
        raman_per_channel_snu: the Raman noise of each classical channel (last axis: channels).
        raman_photons_per_mode: total Raman photons per mode at the receiver (both polarisations).
        raman_snu: the Raman noise of all classical channels.
        total_snu: device + Raman.
    """

    device_snu: Array
    raman_per_channel_snu: Array
    raman_photons_per_mode: Array
    raman_snu: Array
    total_snu: Array


def noise_budget(
    *,
    device_excess_noise_snu: ArrayLike,
    transmittance: ArrayLike,
    length_km: ArrayLike,
    attenuation_db_per_km: ArrayLike,
    quantum_frequency_thz: float,
    classical_frequency_thz: ArrayLike,
    classical_launch_power_w: ArrayLike,
    classical_forward: ArrayLike,
    receiver_bandwidth_nm: float,
    raman: RamanModel | None = None,
) -> NoiseBudget:
    """The excess-noise budget of one quantum channel.

    Args:
        device_excess_noise_snu: the devices' own excess noise at the channel input, SNU.
        transmittance: channel transmittance T (all losses), which refers Raman noise to the input.
        length_km: fibre length over which Raman light is generated, km.
        attenuation_db_per_km: fibre attenuation, dB/km.
        quantum_frequency_thz: frequency of the quantum channel, THz.
        classical_frequency_thz: frequency of each classical channel, THz (last axis: channels).
        classical_launch_power_w: launch power of each classical channel, W; broadcasts against
            the frequencies, so leading axes sweep loads (e.g. power scales).
        classical_forward: 1 (True) for a channel travelling with the quantum signal, 0 for one
            travelling against it.
        receiver_bandwidth_nm: optical bandwidth in front of the receiver, nm.
        raman: the Raman cross-section model (default: :class:`RamanModel`'s defaults).
    """
    raman = raman or RamanModel()
    frequency = as_array(classical_frequency_thz)
    power = as_array(classical_launch_power_w)
    forward = as_array(classical_forward)
    require(power >= 0, "classical launch power must be >= 0 W")
    require((forward == 0) | (forward == 1), "classical_forward must be 0 or 1 per channel")
    rho = raman.cross_section_per_km_nm(frequency, quantum_frequency_thz)
    args = (power, length_km, attenuation_db_per_km, rho, receiver_bandwidth_nm)
    raman_power_w = forward * forward_raman_power_w(*args) + (1.0 - forward) * backward_raman_power_w(*args)
    wavelength_nm = frequency_thz_to_wavelength_nm(quantum_frequency_thz)
    photons = raman_photons_per_mode(raman_power_w, wavelength_nm, receiver_bandwidth_nm)
    per_channel = raman_excess_noise_snu(photons, np.expand_dims(as_array(transmittance), -1))
    total_photons = np.sum(photons, axis=-1)
    raman_snu = np.sum(per_channel, axis=-1)
    device = as_array(device_excess_noise_snu)
    return NoiseBudget(
        device_snu=device,
        raman_per_channel_snu=per_channel,
        raman_photons_per_mode=total_photons,
        raman_snu=raman_snu,
        total_snu=device + raman_snu,
    )
