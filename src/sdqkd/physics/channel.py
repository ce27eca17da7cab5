"""The optical channel: fibre loss and the signal-to-noise ratio at Bob's coherent receiver.

Conventions (Laudenbach et al., Adv. Quantum Technol. 1, 1800011 (2018), arXiv:1703.09278, §2–3):
quadrature variances in shot-noise units (SNU, vacuum = 1); the excess noise ξ is referred to the
channel input; Bob's detector has efficiency η and electronic noise v_el (SNU, per quadrature).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics._arrays import Array, as_array, require

__all__ = ["Detection", "loss_db", "snr", "transmittance", "transmittance_from_loss_db"]

Detection = Literal["homodyne", "heterodyne"]

#: Attenuation of standard single-mode fibre (ITU-T G.652) near 1550 nm, dB/km.
SMF28_ATTENUATION_DB_PER_KM = 0.2


def loss_db(
    length_km: ArrayLike,
    attenuation_db_per_km: ArrayLike = SMF28_ATTENUATION_DB_PER_KM,
    extra_loss_db: ArrayLike = 0.0,
) -> Array:
    """Total channel loss ``α·L + loss_extra`` in dB.

    Args:
        length_km: fibre length, km (≥ 0).
        attenuation_db_per_km: fibre attenuation α, dB/km (≥ 0).
        extra_loss_db: lumped losses (connectors, multiplexers, switches), dB (≥ 0).
    """
    length = as_array(length_km)
    alpha = as_array(attenuation_db_per_km)
    extra = as_array(extra_loss_db)
    require(length >= 0, "fibre length must be >= 0 km")
    require(alpha >= 0, "attenuation must be >= 0 dB/km")
    require(extra >= 0, "extra loss must be >= 0 dB")
    return alpha * length + extra


def transmittance_from_loss_db(total_loss_db: ArrayLike) -> Array:
    """Channel transmittance ``T = 10^(−loss_dB/10)``, in [0, 1]."""
    loss = as_array(total_loss_db)
    require(loss >= 0, "total loss must be >= 0 dB")
    return np.power(10.0, -loss / 10.0)


def transmittance(
    length_km: ArrayLike,
    attenuation_db_per_km: ArrayLike = SMF28_ATTENUATION_DB_PER_KM,
    extra_loss_db: ArrayLike = 0.0,
) -> Array:
    """Channel transmittance ``T = 10^(−(α·L + loss_extra)/10)``.

    Args:
        length_km: fibre length, km.
        attenuation_db_per_km: fibre attenuation α, dB/km.
        extra_loss_db: lumped extra losses, dB.
    """
    return transmittance_from_loss_db(loss_db(length_km, attenuation_db_per_km, extra_loss_db))


def snr(
    modulation_variance_snu: ArrayLike,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    detection: Detection,
) -> Array:
    """Signal-to-noise ratio of Bob's measurement (per quadrature for heterodyne).

    Homodyne: ``η T V_A / (1 + v_el + η T ξ)``; heterodyne: ``η T V_A / (2 + 2 v_el + η T ξ)``
    (Laudenbach 2018, eqs. 37 and 44).

    Args:
        modulation_variance_snu: Alice's modulation variance V_A, SNU.
        transmittance: channel transmittance T.
        excess_noise_snu: excess noise ξ at the channel input, SNU.
        efficiency: detector efficiency η.
        electronic_noise_snu: detector electronic noise v_el, SNU.
        detection: ``"homodyne"`` or ``"heterodyne"``.
    """
    v_a, t, xi = as_array(modulation_variance_snu), as_array(transmittance), as_array(excess_noise_snu)
    eta, v_el = as_array(efficiency), as_array(electronic_noise_snu)
    signal = eta * t * v_a
    if detection == "homodyne":
        return signal / (1.0 + v_el + eta * t * xi)
    return signal / (2.0 + 2.0 * v_el + eta * t * xi)
