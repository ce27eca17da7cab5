"""One call from link parameters to secret key rate: the GG02 figures a plan or a device reports.

This composes ``channel``, ``gg02``, ``finite_size`` and ``bounds``; all inputs broadcast, so the
same call evaluates one link or a million configurations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics._arrays import Array, as_array, require
from sdqkd.physics.bounds import plob_bound
from sdqkd.physics.channel import Detection, snr
from sdqkd.physics.finite_size import (
    FiniteSizeSecurity,
    privacy_amplification_penalty,
    worst_case_channel,
)
from sdqkd.physics.gg02 import (
    DetectorModel,
    holevo_bound,
    mutual_information,
    validate_gg02_parameters,
)

__all__ = ["KeyRateResult", "evaluate_key_rate"]


@dataclass(frozen=True)
class KeyRateResult:
    """The figures of a GG02 link, arrays of the broadcast shape of the inputs.

    Attributes:
        transmittance: T.
        excess_noise_snu: ξ at the channel input, SNU.
        snr: Bob's signal-to-noise ratio (per quadrature for heterodyne).
        i_ab: mutual information, bits per symbol.
        chi_be: Holevo bound on Eve's information, bits per symbol (at the worst-case channel
            when finite-size).
        key_bits_per_symbol: secret key per exchanged symbol; negative where no key can be made.
        secret_key_rate_bps: ``f_sym·(1 − FER)·K``, clipped at 0, bit/s.
        plob_bits_per_use: PLOB bound for T, bits per channel use.
    """

    transmittance: Array
    excess_noise_snu: Array
    snr: Array
    i_ab: Array
    chi_be: Array
    key_bits_per_symbol: Array
    secret_key_rate_bps: Array
    plob_bits_per_use: Array


def evaluate_key_rate(
    *,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    modulation_variance_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    reconciliation_efficiency: ArrayLike,
    symbol_rate_bd: ArrayLike,
    frame_error_rate: ArrayLike = 0.0,
    detection: Detection = "homodyne",
    detector: DetectorModel = "trusted",
    finite_size: FiniteSizeSecurity | None = None,
) -> KeyRateResult:
    """GG02 key figures for the given channel and device.

    Asymptotic: ``K = β·I_AB − χ_BE``. Finite-size (``finite_size`` given): Leverrier 2010,
    ``K = (n/N)[β·I_AB − χ_BE(T_min, ξ_max) − Δ(n)]``. Rate: ``R = f_sym·(1 − FER)·K`` clipped at 0
    (a frame that fails reconciliation is discarded).

    Args:
        transmittance: channel transmittance T in [0, 1].
        excess_noise_snu: ξ at the channel input, SNU (≥ 0).
        modulation_variance_snu: V_A, SNU (> 0).
        efficiency: detector efficiency η in (0, 1].
        electronic_noise_snu: v_el, SNU (≥ 0).
        reconciliation_efficiency: β in (0, 1].
        symbol_rate_bd: symbols per second, Bd (> 0).
        frame_error_rate: FER in [0, 1).
        detection: ``"homodyne"`` or ``"heterodyne"``.
        detector: ``"trusted"`` or ``"untrusted"`` detector noise.
        finite_size: block size and security parameters; ``None`` for the asymptotic key.

    Raises:
        PhysicsError: a parameter is outside its domain.
    """
    v_a, t, xi = as_array(modulation_variance_snu), as_array(transmittance), as_array(excess_noise_snu)
    eta, v_el = as_array(efficiency), as_array(electronic_noise_snu)
    beta, f_sym, fer = (
        as_array(reconciliation_efficiency),
        as_array(symbol_rate_bd),
        as_array(frame_error_rate),
    )
    validate_gg02_parameters(v_a, t, xi, eta, v_el)
    require((beta > 0) & (beta <= 1), "reconciliation efficiency β must be in (0, 1]")
    require((f_sym > 0) & np.isfinite(f_sym), "symbol rate must be finite and > 0 Bd")
    require((fer >= 0) & (fer < 1), "frame error rate must be in [0, 1)")

    i_ab = mutual_information(v_a, t, xi, eta, v_el, detection)
    if finite_size is None:
        chi_be = holevo_bound(v_a, t, xi, eta, v_el, detection, detector)
        key = beta * i_ab - chi_be
    else:
        t_min, xi_max = worst_case_channel(v_a, t, xi, eta, v_el, detection, detector, finite_size)
        proven = t_min > 0
        worst_eta = np.ones_like(eta) if detector == "untrusted" else eta
        worst_v_el = np.zeros_like(v_el) if detector == "untrusted" else v_el
        chi_be = holevo_bound(
            v_a,
            np.where(proven, t_min, 1.0),
            np.where(proven, xi_max, 0.0),
            worst_eta,
            worst_v_el,
            detection,
            "trusted",  # the worst-case channel is already the untrusted-equivalent one
        )
        n_over_big_n = 1.0 - finite_size.pe_fraction
        delta = privacy_amplification_penalty(finite_size.key_symbols, finite_size)
        key = np.where(proven, n_over_big_n * (beta * i_ab - chi_be - delta), -np.inf)
        chi_be = np.where(proven, chi_be, np.nan)

    rate = np.where(key > 0, f_sym * (1.0 - fer) * np.where(key > 0, key, 0.0), 0.0)
    return KeyRateResult(
        transmittance=t * np.ones_like(key),
        excess_noise_snu=xi * np.ones_like(key),
        snr=snr(v_a, t, xi, eta, v_el, detection) * np.ones_like(key),
        i_ab=i_ab * np.ones_like(key),
        chi_be=chi_be * np.ones_like(key),
        key_bits_per_symbol=key,
        secret_key_rate_bps=rate,
        plob_bits_per_use=plob_bound(t) * np.ones_like(key),
    )
