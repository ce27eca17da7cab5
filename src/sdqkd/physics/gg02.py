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
    with an ideal detector. At T = 0 χ_BE is 0 with a trusted detector (only vacuum and trusted
    noise reach Bob); with an untrusted one the electronic noise, credited to Eve, still does.

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
    # Evaluated in a form free of cancellation and of 1/T (derived from the formulas above, checked
    # symbolically and against the covariance route): with w = 1 − T and e = T·ξ (both ≥ 0), each
    # pair of squared eigenvalues is 1 + y with y² − s·y + p = 0, where s and p are sums of
    # non-negative terms. The textbook forms subtract nearly equal numbers near a pure state
    # (T → 1, ξ → 0), where G's infinite slope at ν = 1 magnifies the rounding, and overflow for
    # T < 1e-154.
    k_het = 1.0 if detection == "homodyne" else 2.0
    if detector == "untrusted":  # equivalent_untrusted_channel, with T·ξ formed without dividing by T
        t, e = eta * t, eta * t * xi + k_het * v_el
        eta, v_el = np.ones_like(eta), np.zeros_like(v_el)
    else:
        e = t * xi
    w = 1.0 - t

    # λ1,2 (Alice–Bob state): s = A − 2, p = B − A + 1.
    s_ab = (v_a * w - e) ** 2 + 2.0 * (v_a * w + (v_a + 1.0) * e)
    p_ab = v_a * (v_a + 2.0) * e * (2.0 * w + e)

    # λ3,4 (given Bob's measurement): s = C − 2, p = D − C + 1.
    if detection == "homodyne":
        chi = _detector_noise(eta, v_el, detection)  # χ_hom ≥ 0
        bob = t * v_a + 1.0 + e + chi  # T(V + χ_tot)
        s_cond = (
            v_a**2 * (chi * w**2 + e + w) + 2.0 * v_a * (chi * e * t + chi * w + e + w) + chi * e * (e + 2.0)
        ) / bob
        p_cond = v_a * (v_a + 2.0) * chi * (2.0 * w + e) * e / bob
    else:
        k = 2.0 * (1.0 - eta + v_el) / eta  # χ_het − 1 ≥ 0
        bob = t * v_a + 2.0 + e + k
        s_cond = (
            v_a**2 * (e**2 + 2.0 * e * w + 2.0 * e + 4.0 * w)
            + v_a * (2.0 * e**2 + 4.0 * e * w + 4.0 * e + 8.0 * w)
            + k
            * (
                2.0 * v_a**2 * (e + w**2 + w)
                + 4.0 * v_a * e * (1.0 + t)
                + 8.0 * v_a * w
                + 2.0 * e**2
                + 4.0 * e
            )
            + k**2 * (v_a**2 * w**2 + 2.0 * v_a * e * t + 2.0 * v_a * w + e**2 + 2.0 * e)
        ) / bob**2
        p_cond = v_a * (v_a + 2.0) * k * (k + 2.0) * (2.0 * w + e) * e / bob**2

    y1, y2 = _shifted_roots(s_ab, p_ab)
    y3, y4 = _shifted_roots(s_cond, p_cond)
    return _g_shifted(y1) + _g_shifted(y2) - _g_shifted(y3) - _g_shifted(y4)


def _shifted_roots(total: Array, product: Array) -> tuple[Array, Array]:
    """Roots y1 ≥ y2 ≥ 0 of y² − total·y + product (the larger by the quadratic formula, the smaller
    from the product, Vieta, so neither suffers cancellation)."""
    y1 = 0.5 * (total + np.sqrt(np.maximum(total**2 - 4.0 * product, 0.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        y2 = np.where(y1 > 0, product / np.where(y1 > 0, y1, 1.0), 0.0)
    return y1, y2


def _g_shifted(y: Array) -> Array:
    """G(ν) for ν² = 1 + y, from m = (ν − 1)/2 = y / (2(√(1 + y) + 1)) without forming ν − 1:
    ``G = (1 + m)·log2(1 + m) − m·log2(m)``."""
    m = np.maximum(y, 0.0) / (2.0 * (np.sqrt(1.0 + np.maximum(y, 0.0)) + 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        m_log_m = np.where(m > 0, m * np.log2(np.where(m > 0, m, 1.0)), 0.0)
    return as_array((1.0 + m) * np.log1p(m) / np.log(2.0) - m_log_m)


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
