"""GG02 through the covariance matrix of the entanglement-based picture — a second, independent
route to I_AB and χ_BE.

Alice's coherent states are modelled by an EPR pair (modes A, B0) of variance V = V_A + 1; B0
crosses the channel (T, ξ) to become B1; Bob's trusted detector is a beam splitter of transmittance
η mixing B1 with one half (F0) of a second EPR pair (F0, G) of variance v, chosen so that the
detector adds exactly its electronic noise (v = 1 + v_el/(1 − η) for homodyne,
1 + 2 v_el/(1 − η) for heterodyne). Eve purifies A B1, so ``S(E) = S(A B1)``, and once Bob has
measured B2, A F G E is pure, so ``S(E | b) = S(A F G | b)``; χ_BE is their difference.
(Lodewyck 2007 §II.C; Fossier 2009 §3; Weedbrook et al., Rev. Mod. Phys. 84, 621 (2012) §II.)

The route is slower than ``gg02.py`` (an eigenvalue problem per point) and exists to check it:
the tests compare both to ~1e-12.
"""

from __future__ import annotations

import numpy as np

from sdqkd.errors import PhysicsError
from sdqkd.physics._arrays import Array
from sdqkd.physics.channel import Detection
from sdqkd.physics.gg02 import DetectorModel, equivalent_untrusted_channel, holevo_g

__all__ = ["covariance_matrix_gg02", "symplectic_eigenvalues"]

_I2 = np.eye(2)
_Z2 = np.diag([1.0, -1.0])


def symplectic_eigenvalues(gamma: Array) -> Array:
    """Symplectic eigenvalues of an n-mode covariance matrix (ordering x1, p1, x2, p2, …):
    the moduli of the eigenvalues of ``iΩγ``, each taken once, sorted ascending."""
    n = gamma.shape[0] // 2
    omega = np.kron(np.eye(n), np.array([[0.0, 1.0], [-1.0, 0.0]]))
    moduli = np.sort(np.abs(np.linalg.eigvals(1j * omega @ gamma)))
    return np.asarray(moduli[::2], dtype=np.float64)


def _entropy_bits(gamma: Array) -> float:
    return float(np.sum(holevo_g(symplectic_eigenvalues(gamma))))


def _epr(variance: float) -> Array:
    c = np.sqrt(max(variance**2 - 1.0, 0.0))
    return np.block([[variance * _I2, c * _Z2], [c * _Z2, variance * _I2]])


def covariance_matrix_gg02(
    modulation_variance_snu: float,
    transmittance: float,
    excess_noise_snu: float,
    efficiency: float,
    electronic_noise_snu: float,
    detection: Detection,
    detector: DetectorModel = "trusted",
) -> tuple[float, float]:
    """(I_AB, χ_BE) in bits per symbol for one operating point, from covariance matrices.

    Args:
        modulation_variance_snu: V_A, SNU.
        transmittance: T in (0, 1].
        excess_noise_snu: ξ at the channel input, SNU.
        efficiency: η in (0, 1]; η = 1 requires v_el = 0 (a lossless detector cannot hide noise).
        electronic_noise_snu: v_el, SNU.
        detection: ``"homodyne"`` or ``"heterodyne"``.
        detector: ``"trusted"`` or ``"untrusted"`` detector noise.
    """
    t, xi, eta, v_el = transmittance, excess_noise_snu, efficiency, electronic_noise_snu
    if detector == "untrusted":
        t_arr, xi_arr = equivalent_untrusted_channel(t, xi, eta, v_el, detection)
        t, xi, eta, v_el = float(t_arr), float(xi_arr), 1.0, 0.0
    if not 0 < t <= 1:
        raise PhysicsError("the covariance route needs 0 < T <= 1")
    if eta >= 1.0 and v_el > 0:
        raise PhysicsError("η = 1 with v_el > 0 has no beam-splitter model")

    v = modulation_variance_snu + 1.0
    # Channel: B0 → B1 with transmittance T and excess noise ξ (referred to the input).
    gamma_ab1 = np.block(
        [
            [v * _I2, np.sqrt(t * (v**2 - 1.0)) * _Z2],
            [np.sqrt(t * (v**2 - 1.0)) * _Z2, (t * (v - 1.0 + xi) + 1.0) * _I2],
        ]
    )
    # Detector: B1 and F0 on a beam splitter of transmittance η; (F0, G) an EPR pair of variance w.
    k = 1.0 if detection == "homodyne" else 2.0
    w = 1.0 if eta >= 1.0 else 1.0 + k * v_el / (1.0 - eta)
    gamma = np.zeros((8, 8))
    gamma[:4, :4] = gamma_ab1
    gamma[4:, 4:] = _epr(w)
    splitter = np.eye(8)
    s, r = np.sqrt(eta), np.sqrt(1.0 - eta)
    splitter[2:6, 2:6] = np.block([[s * _I2, r * _I2], [-r * _I2, s * _I2]])
    gamma = splitter @ gamma @ splitter.T  # modes now A, B2, F, G

    bob = [2, 3]
    rest = [0, 1, 4, 5, 6, 7]
    gamma_b = gamma[np.ix_(bob, bob)]
    sigma = gamma[np.ix_(rest, bob)]
    if detection == "homodyne":
        projector = np.diag([1.0 / gamma_b[0, 0], 0.0])  # measures x of B2 (Moore–Penrose inverse)
    else:
        projector = np.linalg.inv(gamma_b + _I2)
    conditional = gamma[np.ix_(rest, rest)] - sigma @ projector @ sigma.T
    chi_be = _entropy_bits(gamma_ab1) - _entropy_bits(conditional)

    # I_AB: Bob's variance, and the same conditioned on Alice heterodyning A (she knows her
    # displacement), which subtracts c²/(V + 1) — not c²/V.
    var_b = gamma_b[0, 0]
    cov_ab = gamma[0, 2]
    var_b_given_a = var_b - cov_ab**2 / (v + 1.0)
    if detection == "homodyne":
        i_ab = 0.5 * np.log2(var_b / var_b_given_a)
    else:
        i_ab = np.log2((var_b + 1.0) / (var_b_given_a + 1.0))
    return float(i_ab), float(chi_be)
