"""Unit conversions and physical constants.

Physical quantities in sdqkd carry their unit in their name (``length_km``, ``loss_db``,
``launch_power_dbm``, ``wavelength_nm``); this module converts between them. All functions accept
scalars or numpy arrays and broadcast.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BOLTZMANN_J_PER_K",
    "DWDM_ANCHOR_THZ",
    "PLANCK_J_S",
    "SPEED_OF_LIGHT_M_PER_S",
    "db_to_linear",
    "dbm_to_w",
    "dwdm_channel_to_frequency_thz",
    "frequency_thz_to_dwdm_channel",
    "frequency_thz_to_wavelength_nm",
    "linear_to_db",
    "w_to_dbm",
    "wavelength_nm_to_frequency_thz",
]

# CODATA 2018 exact values (SI 2019 redefinition).
PLANCK_J_S = 6.62607015e-34
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
BOLTZMANN_J_PER_K = 1.380649e-23

# ITU-T G.694.1: the DWDM frequency grid is anchored at 193.1 THz.
DWDM_ANCHOR_THZ = 193.1
# Channel numbering is vendor practice, not ITU: the common C-band convention numbers the
# 100 GHz grid as f = 190.0 THz + n × 0.1 THz (ch 21 = 192.1 THz, ch 31 = 193.1 THz,
# ch 59 = 195.9 THz). sdqkd uses that convention for ``dwdm_channel``.
_CHANNEL_ZERO_THZ = 190.0
_CHANNEL_SPACING_THZ = 0.1

FloatOrArray = float | NDArray[np.float64]


@overload
def _as_float(x: float) -> float: ...
@overload
def _as_float(x: NDArray[np.float64]) -> NDArray[np.float64]: ...
def _as_float(x: FloatOrArray) -> FloatOrArray:
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=np.float64)


def db_to_linear(db: FloatOrArray) -> FloatOrArray:
    """Power ratio from decibels: ``10^(dB/10)``."""
    return _as_float(np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0))


def linear_to_db(ratio: FloatOrArray) -> FloatOrArray:
    """Decibels from a power ratio: ``10·log10(ratio)``; ``-inf`` for a ratio of 0."""
    with np.errstate(divide="ignore"):
        return _as_float(10.0 * np.log10(np.asarray(ratio, dtype=np.float64)))


def dbm_to_w(power_dbm: FloatOrArray) -> FloatOrArray:
    """Watts from dBm (0 dBm = 1 mW)."""
    return _as_float(1e-3 * np.power(10.0, np.asarray(power_dbm, dtype=np.float64) / 10.0))


def w_to_dbm(power_w: FloatOrArray) -> FloatOrArray:
    """dBm from watts; ``-inf`` for 0 W."""
    with np.errstate(divide="ignore"):
        return _as_float(10.0 * np.log10(np.asarray(power_w, dtype=np.float64) / 1e-3))


def wavelength_nm_to_frequency_thz(wavelength_nm: FloatOrArray) -> FloatOrArray:
    """Vacuum frequency in THz of a vacuum wavelength in nm (ν = c/λ)."""
    return _as_float(SPEED_OF_LIGHT_M_PER_S / np.asarray(wavelength_nm, dtype=np.float64) * 1e-3)


def frequency_thz_to_wavelength_nm(frequency_thz: FloatOrArray) -> FloatOrArray:
    """Vacuum wavelength in nm of a frequency in THz (λ = c/ν)."""
    return _as_float(SPEED_OF_LIGHT_M_PER_S / np.asarray(frequency_thz, dtype=np.float64) * 1e-3)


def dwdm_channel_to_frequency_thz(channel: int) -> float:
    """Centre frequency of a 100 GHz DWDM channel number (f = 190.0 THz + n × 0.1 THz)."""
    return round(_CHANNEL_ZERO_THZ + channel * _CHANNEL_SPACING_THZ, 6)


def frequency_thz_to_dwdm_channel(frequency_thz: float) -> int:
    """Nearest 100 GHz DWDM channel number of a frequency (inverse of the above)."""
    return round((frequency_thz - _CHANNEL_ZERO_THZ) / _CHANNEL_SPACING_THZ)
