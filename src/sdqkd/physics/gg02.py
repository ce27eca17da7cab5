"""Asymptotic secret key of the GG02 protocol (Gaussian-modulated coherent states, reverse
reconciliation, collective attacks), in closed form.

Sources:
    Lodewyck et al., PRA 76, 042305 (2007) — homodyne detection with trusted detector noise;
    Fossier, Diamanti, Debuisschert, Tualle-Brouri, Grangier, J. Phys. B 42, 114014 (2009) —
    heterodyne detection; Laudenbach et al., Adv. Quantum Technol. 1, 1800011 (2018),
    arXiv:1703.09278, §4.

Every function broadcasts over numpy arrays, so a million link configurations are evaluated in
one call. ``covariance.py`` computes the same quantities through the covariance matrix; the tests
check that both routes agree.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics._arrays import Array, as_array, require
from sdqkd.physics.channel import Detection

__all__ = [
    "DetectorModel",
    "equivalent_untrusted_channel",
    "holevo_bound",
    "holevo_g",
    "key_bits_per_symbol",
    "mutual_information",
    "validate_gg02_parameters",
]

#: ``"trusted"``: Eve cannot touch Bob's detector inefficiency and electronic noise (the usual
#: assumption for a calibrated receiver); ``"untrusted"``: both are attributed to Eve.
DetectorModel = Literal["trusted", "untrusted"]


def validate_gg02_parameters(
    modulation_variance_snu: ArrayLike,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
) -> None:
    """Raise :class:`~sdqkd.errors.PhysicsError` for parameters outside the model's domain."""
    for name, value in (
        ("modulation variance V_A", modulation_variance_snu),
        ("excess noise ξ", excess_noise_snu),
        ("electronic noise v_el", electronic_noise_snu),
    ):
        require(np.isfinite(as_array(value)), f"{name} must be finite")
    require(as_array(modulation_variance_snu) > 0, "modulation variance V_A must be > 0 SNU")
    t = as_array(transmittance)
    require((t >= 0) & (t <= 1), "transmittance T must be in [0, 1]")
    require(as_array(excess_noise_snu) >= 0, "excess noise ξ must be >= 0 SNU")
    eta = as_array(efficiency)
    require((eta > 0) & (eta <= 1), "detector efficiency η must be in (0, 1]")
    require(as_array(electronic_noise_snu) >= 0, "electronic noise v_el must be >= 0 SNU")


def holevo_g(nu: ArrayLike) -> Array:
    """Von Neumann entropy of a thermal mode with symplectic eigenvalue ν ≥ 1, in bits:
    ``G(ν) = ((ν+1)/2)·log2((ν+1)/2) − ((ν−1)/2)·log2((ν−1)/2)``, with ``G(1) = 0``.

    Eigenvalues a hair below 1 from rounding are treated as 1.
    """
    nu = np.maximum(as_array(nu), 1.0)
    plus = (nu + 1.0) / 2.0
    minus = (nu - 1.0) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        minus_term = np.where(minus > 0, minus * np.log2(np.where(minus > 0, minus, 1.0)), 0.0)
    return plus * np.log2(plus) - minus_term


def _detector_noise(efficiency: Array, electronic_noise_snu: Array, detection: Detection) -> Array:
    """Noise of Bob's detector referred to its input: ``χ_hom = (1 + v_el)/η − 1`` or
    ``χ_het = (2 − η + 2 v_el)/η`` (Lodewyck 2007 eq. 7; Fossier 2009 eq. 10)."""
    if detection == "homodyne":
        return (1.0 + electronic_noise_snu) / efficiency - 1.0
    return (2.0 - efficiency + 2.0 * electronic_noise_snu) / efficiency


def equivalent_untrusted_channel(
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    detection: Detection,
) -> tuple[Array, Array]:
    """The channel ``(T', ξ')`` that, followed by an ideal detector, gives Bob the same data as
    ``(T, ξ)`` followed by a detector of efficiency η and electronic noise v_el.

    ``T' = η T`` and ``ξ' = ξ + k·v_el/(η T)`` with k = 1 for homodyne and k = 2 for heterodyne
    (each heterodyne quadrature carries the electronic noise against half the signal), so Bob's
    SNR — and I_AB — are unchanged while Eve is credited with the detector's imperfections.
    """
    t, xi = as_array(transmittance), as_array(excess_noise_snu)
    eta, v_el = as_array(efficiency), as_array(electronic_noise_snu)
    k = 1.0 if detection == "homodyne" else 2.0
    t_eff = eta * t
    with np.errstate(divide="ignore", invalid="ignore"):
        xi_eff = np.where(t_eff > 0, xi + k * v_el / np.where(t_eff > 0, t_eff, 1.0), np.inf)
    return t_eff, xi_eff


def mutual_information(
    modulation_variance_snu: ArrayLike,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    detection: Detection,
) -> Array:
    """Alice–Bob mutual information I_AB in bits per symbol.

    Homodyne ``½·log2(1 + SNR)``, heterodyne ``log2(1 + SNR)`` with the per-quadrature SNR of
    :func:`sdqkd.physics.channel.snr`; equivalently ``½·log2((V + χ_tot)/(1 + χ_tot))``
    (Laudenbach 2018 eqs. 37, 44).
    """
    from sdqkd.physics.channel import snr

    ratio = snr(
        modulation_variance_snu,
        transmittance,
        excess_noise_snu,
        efficiency,
        electronic_noise_snu,
        detection,
    )
    bits = np.log2(1.0 + ratio)
    return 0.5 * bits if detection == "homodyne" else bits


def holevo_bound(
    modulation_variance_snu: ArrayLike,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    detection: Detection,
    detector: DetectorModel = "trusted",
) -> Array:
    """Holevo bound χ_BE on Eve's information about Bob's data, bits per symbol.

    With ``V = V_A + 1``, ``χ_line = 1/T − 1 + ξ``, ``χ_tot = χ_line + χ_det/T``:
    Eve's entropy from the eigenvalues λ1,2 of the Alice–Bob state,
    ``A = V²(1 − 2T) + 2T + T²(V + χ_line)²``, ``B = T²(V χ_line + 1)²``,
    ``λ1,2² = ½[A ± √(A² − 4B)]``; her entropy given Bob's measurement from λ3,4 with
    ``λ3,4² = ½[C ± √(C² − 4D)]`` where (homodyne, Lodewyck 2007 eqs. 11–13)
    ``C = [V√B + T(V + χ_line) + A χ_hom] / [T(V + χ_tot)]``,
    ``D = √B [V + √B χ_hom] / [T(V + χ_tot)]``, and (heterodyne, Fossier 2009 eq. 13)
    ``C = [A χ_het² + B + 1 + 2χ_het(V√B + T(V + χ_line)) + 2T(V² − 1)] / [T(V + χ_tot)]²``,
    ``D = [(V + √B χ_het) / (T(V + χ_tot))]²``;
    ``χ_BE = G(λ1) + G(λ2) − G(λ3) − G(λ4)`` (the fifth eigenvalue is 1).

    For an untrusted detector the same formulas run on :func:`equivalent_untrusted_channel`
    with an ideal detector. χ_BE is 0 at T = 0 (nothing reaches Bob, nothing to learn).

    Args:
        modulation_variance_snu: V_A, SNU.
        transmittance: T.
        excess_noise_snu: ξ at the channel input, SNU.
        efficiency: detector efficiency η.
        electronic_noise_snu: v_el, SNU.
        detection: ``"homodyne"`` or ``"heterodyne"``.
        detector: ``"trusted"`` or ``"untrusted"`` detector noise.
    """
    v_a, t, xi = as_array(modulation_variance_snu), as_array(transmittance), as_array(excess_noise_snu)
    eta, v_el = as_array(efficiency), as_array(electronic_noise_snu)
    if detector == "untrusted":
        t, xi = equivalent_untrusted_channel(t, xi, eta, v_el, detection)
        eta, v_el = np.ones_like(eta), np.zeros_like(v_el)

    alive = t > 0
    t = np.where(alive, t, 1.0)  # placeholder value where T = 0; masked out at the end
    xi = np.where(alive, xi, 0.0)
    v = v_a + 1.0
    chi_line = 1.0 / t - 1.0 + xi
    chi_det = _detector_noise(eta, v_el, detection)
    chi_tot = chi_line + chi_det / t

    a = v**2 * (1.0 - 2.0 * t) + 2.0 * t + t**2 * (v + chi_line) ** 2
    b = t**2 * (v * chi_line + 1.0) ** 2
    sqrt_b = np.sqrt(b)
    root_ab = np.sqrt(np.maximum(a**2 - 4.0 * b, 0.0))
    lambda1 = np.sqrt(np.maximum(0.5 * (a + root_ab), 0.0))
    lambda2 = np.sqrt(np.maximum(0.5 * (a - root_ab), 0.0))

    bob = t * (v + chi_tot)
    if detection == "homodyne":
        c = (v * sqrt_b + t * (v + chi_line) + a * chi_det) / bob
        d = sqrt_b * (v + sqrt_b * chi_det) / bob
    else:
        c = (
            a * chi_det**2
            + b
            + 1.0
            + 2.0 * chi_det * (v * sqrt_b + t * (v + chi_line))
            + 2.0 * t * (v**2 - 1.0)
        ) / bob**2
        d = ((v + sqrt_b * chi_det) / bob) ** 2
    root_cd = np.sqrt(np.maximum(c**2 - 4.0 * d, 0.0))
    lambda3 = np.sqrt(np.maximum(0.5 * (c + root_cd), 0.0))
    lambda4 = np.sqrt(np.maximum(0.5 * (c - root_cd), 0.0))

    chi_be = holevo_g(lambda1) + holevo_g(lambda2) - holevo_g(lambda3) - holevo_g(lambda4)
    return np.where(alive, chi_be, 0.0)


def key_bits_per_symbol(
    modulation_variance_snu: ArrayLike,
    transmittance: ArrayLike,
    excess_noise_snu: ArrayLike,
    efficiency: ArrayLike,
    electronic_noise_snu: ArrayLike,
    reconciliation_efficiency: ArrayLike,
    detection: Detection,
    detector: DetectorModel = "trusted",
) -> Array:
    """Asymptotic secret key ``K = β·I_AB − χ_BE`` in bits per symbol (may be negative).

    Args:
        reconciliation_efficiency: β in (0, 1].
        (others as in :func:`holevo_bound`)
    """
    beta = as_array(reconciliation_efficiency)
    require((beta > 0) & (beta <= 1), "reconciliation efficiency β must be in (0, 1]")
    validate_gg02_parameters(
        modulation_variance_snu, transmittance, excess_noise_snu, efficiency, electronic_noise_snu
    )
    i_ab = mutual_information(
        modulation_variance_snu,
        transmittance,
        excess_noise_snu,
        efficiency,
        electronic_noise_snu,
        detection,
    )
    chi_be = holevo_bound(
        modulation_variance_snu,
        transmittance,
        excess_noise_snu,
        efficiency,
        electronic_noise_snu,
        detection,
        detector,
    )
    return beta * i_ab - chi_be
