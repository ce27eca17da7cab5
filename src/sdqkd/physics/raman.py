"""Spontaneous Raman scattering from classical DWDM channels into a CV-QKD channel, and the
excess noise it adds.

Sources: Eraerds, Walenta, Legré, Gisin, Zbinden, NJP 12, 063027 (2010) (forward and backward
Raman power, measured cross-sections); Kumar, Qin, Alléaume, NJP 17, 043027 (2015) (conversion to
CV-QKD excess noise, eqs. 6–7).

Forward (classical light launched at the transmitter's end, travelling with the quantum signal):
    P_f = P_in · e^(−αL) · ρ · L · Δλ
Backward (launched at the receiver's end, travelling against it):
    P_b = P_in · ρ · Δλ · (1 − e^(−2αL)) / (2α)
with α the attenuation in 1/km and ρ the effective Raman cross-section in 1/(km·nm).

A coherent receiver selects one spectro-temporal mode. Raman light of power P in a bandwidth Δλ
holds ``n̄ = (P/Δλ)·λ³/(h·c²)`` photons per mode, summed over both polarisations. Raman light is
unpolarised, so n̄/2 sits in the local oscillator's polarisation, and a thermal mode with n photons
adds 2n SNU to the quadrature variance: the noise at Bob's input is n̄ SNU, which referred to the
channel input is ``ξ_R = n̄ / T``. (Kumar 2015 uses the same one-polarisation convention; papers
that count both polarisations get twice this.) n̄ does not depend on Δλ: a wider filter passes more
Raman power but spreads it over more modes.

ρ depends on the detuning Δν between pump (classical) and signal (quantum). sdqkd models the
spectrum as the silica Raman gain in the triangular approximation (linear to its peak at 13.2 THz,
then down to zero at 40 THz) times the Bose–Einstein occupation: ``g(|Δν|)·(n_th + 1)`` on the
Stokes side (quantum channel red of the pump) and ``g(|Δν|)·n_th`` on the anti-Stokes side,
``n_th = 1/(exp(h|Δν|/kT) − 1)``. The shape is scaled so that ρ equals a reference value at a
reference detuning; the default, 3e-9 /(km·nm) at 2 THz Stokes detuning, is the worst C-band value
Kumar 2015 uses (from Eraerds 2010's measured spectrum). Published fits span ~5e-10 to 2.5e-8, so
keep ρ a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics._arrays import Array, as_array, require
from sdqkd.units import BOLTZMANN_J_PER_K, PLANCK_J_S, SPEED_OF_LIGHT_M_PER_S

__all__ = [
    "RamanModel",
    "backward_raman_power_w",
    "forward_raman_power_w",
    "raman_excess_noise_snu",
    "raman_photons_per_mode",
]

_GAIN_PEAK_THZ = 13.2
_GAIN_END_THZ = 40.0


def _attenuation_per_km(attenuation_db_per_km: Array) -> Array:
    return as_array(attenuation_db_per_km * (np.log(10.0) / 10.0))


@dataclass(frozen=True)
class RamanModel:
    """Detuning-dependent Raman cross-section ρ(Δν).

    Attributes:
        reference_cross_section_per_km_nm: ρ at the reference detuning, 1/(km·nm).
        reference_detuning_thz: detuning of that reference, THz; positive = Stokes side.
        fibre_temperature_k: fibre temperature for the phonon occupation, K.
        source: where the reference value comes from (shown in plans).
    """

    reference_cross_section_per_km_nm: float = 3e-9
    reference_detuning_thz: float = 2.0
    fibre_temperature_k: float = 300.0
    source: str = "Kumar, Qin, Alléaume, NJP 17, 043027 (2015): worst C-band value, after Eraerds 2010"

    def __post_init__(self) -> None:
        require(self.reference_cross_section_per_km_nm >= 0, "Raman cross-section must be >= 0")
        require(self.reference_detuning_thz != 0, "reference detuning must be non-zero")
        require(self.fibre_temperature_k > 0, "fibre temperature must be > 0 K")

    def _shape(self, detuning_thz: Array) -> Array:
        """Unnormalised spontaneous Raman spectrum at pump-minus-signal detuning (THz)."""
        # Below ~1 GHz the product gain × occupation is flat (both go as Δν and 1/Δν): floor there.
        offset = np.maximum(np.abs(detuning_thz), 1e-3)
        gain = np.where(
            offset <= _GAIN_PEAK_THZ,
            offset / _GAIN_PEAK_THZ,
            np.clip((_GAIN_END_THZ - offset) / (_GAIN_END_THZ - _GAIN_PEAK_THZ), 0.0, None),
        )
        x = PLANCK_J_S * offset * 1e12 / (BOLTZMANN_J_PER_K * self.fibre_temperature_k)
        occupation = 1.0 / np.expm1(x)
        return gain * np.where(detuning_thz > 0, occupation + 1.0, occupation)

    def cross_section_per_km_nm(self, pump_thz: ArrayLike, signal_thz: ArrayLike) -> Array:
        """ρ in 1/(km·nm) for a classical channel at ``pump_thz`` into a quantum channel at
        ``signal_thz`` (both THz)."""
        detuning = as_array(pump_thz) - as_array(signal_thz)
        reference = self._shape(np.asarray(self.reference_detuning_thz, dtype=np.float64))
        return self.reference_cross_section_per_km_nm * self._shape(detuning) / reference


def forward_raman_power_w(
    launch_power_w: ArrayLike,
    length_km: ArrayLike,
    attenuation_db_per_km: ArrayLike,
    cross_section_per_km_nm: ArrayLike,
    bandwidth_nm: ArrayLike,
) -> Array:
    """Co-propagating Raman power reaching the receiver, W (Eraerds 2010, eq. 1)."""
    p, length = as_array(launch_power_w), as_array(length_km)
    alpha = _attenuation_per_km(as_array(attenuation_db_per_km))
    return p * np.exp(-alpha * length) * as_array(cross_section_per_km_nm) * length * as_array(bandwidth_nm)


def backward_raman_power_w(
    launch_power_w: ArrayLike,
    length_km: ArrayLike,
    attenuation_db_per_km: ArrayLike,
    cross_section_per_km_nm: ArrayLike,
    bandwidth_nm: ArrayLike,
) -> Array:
    """Counter-propagating Raman power scattered back into the receiver, W (Eraerds 2010, eq. 2).
    Tends to ``P·ρ·L·Δλ`` for a lossless fibre."""
    p, length = as_array(launch_power_w), as_array(length_km)
    alpha = _attenuation_per_km(as_array(attenuation_db_per_km))
    with np.errstate(divide="ignore", invalid="ignore"):
        span = np.where(
            alpha > 0, -np.expm1(-2.0 * alpha * length) / (2.0 * np.where(alpha > 0, alpha, 1.0)), length
        )
    return p * as_array(cross_section_per_km_nm) * as_array(bandwidth_nm) * span


def raman_photons_per_mode(power_w: ArrayLike, wavelength_nm: ArrayLike, bandwidth_nm: ArrayLike) -> Array:
    """Mean Raman photons per mode, both polarisations: ``n̄ = (P/Δλ)·λ³/(h·c²)``."""
    wavelength_m = as_array(wavelength_nm) * 1e-9
    bandwidth_m = as_array(bandwidth_nm) * 1e-9
    require(bandwidth_m > 0, "receiver bandwidth must be > 0 nm")
    return as_array(power_w) / bandwidth_m * wavelength_m**3 / (PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S**2)


def raman_excess_noise_snu(photons_per_mode: ArrayLike, transmittance: ArrayLike) -> Array:
    """Excess noise referred to the channel input, ``ξ_R = n̄ / T`` (one LO polarisation, n̄/2
    photons adding 2·n̄/2 SNU; Kumar 2015 eqs. 6–7). Infinite at T = 0."""
    t = as_array(transmittance)
    with np.errstate(divide="ignore"):
        return np.where(t > 0, as_array(photons_per_mode) / np.where(t > 0, t, 1.0), np.inf)
