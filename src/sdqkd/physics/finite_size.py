"""Finite-size secret key of GG02 (Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010)).

Of N exchanged symbols, m are disclosed to estimate the channel and n = N − m make the key. The
channel is bounded by worst-case estimators at confidence ε_PE, and a penalty Δ(n) accounts for
privacy amplification on a finite block:

    K_n = (n/N)·[β·I_AB − χ_BE(T_min, ξ_max) − Δ(n)]                    (Leverrier 2010, eq. 8)
    Δ(n) = (2·dim H_X + 3)·√(log2(2/ε̄)/n) + (2/n)·log2(1/ε_PA)          (eq. 9, dim H_X = 2)

Bob's data follow y = t·x + z with ``t = √(ηT)`` and ``σ² = 1 + v_el + ηTξ`` for homodyne (per
heterodyne quadrature: ``t = √(ηT/2)``, ``σ² = 1 + v_el + ηTξ/2`` and 2m samples). For planning,
the estimates equal their expected values, and the worst cases at z = √2·erfinv(1 − ε_PE) are
(eqs. 12–13)

    t_min = t − z·√(σ²/(m·V_A)),        σ²_max = σ² + z·σ²·√2/√m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erfinv

from sdqkd.physics._arrays import Array, as_array, require
from sdqkd.physics.channel import Detection
from sdqkd.physics.gg02 import DetectorModel

__all__ = ["FiniteSizeSecurity", "privacy_amplification_penalty", "worst_case_channel"]

_DIM_HX = 2  # binary raw key per symbol after slice/multidimensional reconciliation


@dataclass(frozen=True)
class FiniteSizeSecurity:
    """Security parameters of a finite-size key.

    Attributes:
        block_size: N, symbols exchanged per block.
        pe_fraction: m/N, the share of symbols disclosed for parameter estimation.
        epsilon_pe: failure probability of parameter estimation.
        epsilon_smooth: smoothing parameter ε̄.
        epsilon_pa: failure probability of privacy amplification.
    """

    block_size: float
    pe_fraction: float = 0.5
    epsilon_pe: float = 1e-10
    epsilon_smooth: float = 1e-10
    epsilon_pa: float = 1e-10

    def __post_init__(self) -> None:
        require(2 <= self.block_size < np.inf, "block size must be finite and at least 2 symbols")
        require(0 < self.pe_fraction < 1, "parameter-estimation fraction must be in (0, 1)")
        for name in ("epsilon_pe", "epsilon_smooth", "epsilon_pa"):
            value = getattr(self, name)
            require(0 < value < 1, f"{name} must be in (0, 1)")

    @property
    def estimation_symbols(self) -> float:
        """m, symbols disclosed for parameter estimation."""
        return self.block_size * self.pe_fraction

    @property
    def key_symbols(self) -> float:
        """n = N − m, symbols that make the key."""
        return self.block_size - self.estimation_symbols

    @property
    def z(self) -> float:
        """Confidence factor ``√2·erfinv(1 − ε_PE)`` (≈ 6.5 for 1e-10)."""
        return float(np.sqrt(2.0) * erfinv(1.0 - self.epsilon_pe))


def privacy_amplification_penalty(key_symbols: ArrayLike, security: FiniteSizeSecurity) -> Array:
    """Δ(n) in bits per key symbol (Leverrier 2010, eq. 9)."""
    n = as_array(key_symbols)
    root_term = (2 * _DIM_HX + 3) * np.sqrt(np.log2(2.0 / security.epsilon_smooth) / n)
    return as_array(root_term + (2.0 / n) * np.log2(1.0 / security.epsilon_pa))


def worst_case_channel(
    modulation_variance_snu: ArrayLike,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    detection: Detection,
    detector: DetectorModel,
    security: FiniteSizeSecurity,
) -> tuple[Array, Array]:
    """(T_min, ξ_max): the channel the estimators vouch for at confidence ε_PE.

    Where the interval on t reaches 0 the block proves nothing: T_min is 0 and ξ_max infinite
    (the caller then finds no key).
    """
    t, xi = as_array(transmittance), as_array(excess_noise_snu)
    eta, v_el = as_array(efficiency), as_array(electronic_noise_snu)
    v_a = as_array(modulation_variance_snu)

    share = 1.0 if detection == "homodyne" else 0.5  # a heterodyne quadrature sees half the signal
    samples = security.estimation_symbols * (1.0 if detection == "homodyne" else 2.0)
    gain = share * eta * t  # t² of the linear model
    sigma2 = 1.0 + v_el + gain * xi  # the same data whoever is credited with the detector noise
    z = security.z
    t_min = np.sqrt(gain) - z * np.sqrt(sigma2 / (samples * v_a))
    sigma2_max = sigma2 + z * sigma2 * np.sqrt(2.0) / np.sqrt(samples)

    # Map the bounds back onto a channel: a trusted detector keeps η and v_el; an untrusted one is
    # ideal, and Eve is credited with its loss and noise (equivalent_untrusted_channel).
    if detector == "untrusted":
        eta, v_el = np.ones_like(eta), np.zeros_like(v_el)
    proven = t_min > 0
    gain_min = np.where(proven, t_min, 1.0) ** 2
    transmittance_min = np.where(proven, gain_min / (share * eta), 0.0)
    xi_max = np.where(proven, (sigma2_max - 1.0 - v_el) / gain_min, np.inf)
    return transmittance_min, xi_max
