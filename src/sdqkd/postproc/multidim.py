"""Multidimensional reconciliation (d = 8): a Gaussian channel made into a binary-input one.

Reverse reconciliation: Bob's data are the reference. Bob's Gaussian values come in groups of eight
(``y ∈ ℝ⁸``); for each group he draws eight key bits ``b``, maps them to ``u = (1 − 2b)/√8`` on the
unit sphere and discloses the rotation that takes his normalised data ``y' = y/‖y‖`` onto ``u``. In
dimension 8 that rotation is a left multiplication by a unit octonion (Leverrier, Alléaume, Boutros,
Zémor, Grangier, PRA 77, 042325 (2008)):

    α = u · ȳ',      α · y' = (u · ȳ') · y' = u · (ȳ' · y') = u      (octonions are alternative).

α is uniformly distributed whatever u is, because y' is uniform on the sphere and independent of
‖y‖ (Gaussian data are isotropic), so disclosing α says nothing about the key bits. Alice applies
the same rotation to her own values ``x``: with ``y = t·x + z`` (:mod:`sdqkd.postproc.quadratures`),

    α · x = (‖y‖·u − α · z)/t,

and left multiplication by a unit octonion is orthogonal, so ``α · z`` is again N(0, σ²·I): Alice
sees each ±1/√8 component of u through an additive white Gaussian noise channel (the BIAWGN channel
the LDPC codes are built for). Her log-likelihood ratio of ``b_i = 0`` is

    L_i = 2·t·‖y‖·(α·x)_i / (√8·σ²),

where she stands in for Bob's norm (which she never learns) by its expectation given her data,
``‖y‖ ≈ √(t²‖x‖² + 8σ²)``; a uniform scale error in LLRs costs belief propagation little, and the
frame error rate measured by the pipeline includes whatever it costs. The octonion product is the
Cayley–Dickson doubling of the quaternions, vectorised over groups.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from sdqkd.errors import ConfigError

__all__ = ["DIMENSION", "alice_llrs", "bob_rotations", "octonion_conjugate", "octonion_product"]

DIMENSION = 8
"""Real values per group (octonions)."""

Floats = NDArray[np.float64]


def _quaternion_product(p: Floats, q: Floats) -> Floats:
    a1, b1, c1, d1 = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    a2, b2, c2, d2 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        (
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ),
        axis=-1,
    )


def _quaternion_conjugate(p: Floats) -> Floats:
    out = -p
    out[..., 0] = p[..., 0]
    return out


def octonion_product(x: Floats, y: Floats) -> Floats:
    """``x · y`` for octonions stored as rows of 8 reals (shapes broadcast, last axis 8).

    Cayley–Dickson: ``(p, q)·(r, s) = (p·r − s̄·q, s·p + q·r̄)`` over quaternion halves.
    """
    p, q = x[..., :4], x[..., 4:]
    r, s = y[..., :4], y[..., 4:]
    first = _quaternion_product(p, r) - _quaternion_product(_quaternion_conjugate(s), q)
    second = _quaternion_product(s, p) + _quaternion_product(q, _quaternion_conjugate(r))
    return np.concatenate((first, second), axis=-1)


def octonion_conjugate(x: Floats) -> Floats:
    """``x̄``: the real part kept, the seven imaginary parts negated."""
    out = -x
    out[..., 0] = x[..., 0]
    return out


def _groups(name: str, values: NDArray[np.floating] | Floats) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size % DIMENSION:
        raise ConfigError(f"{name} must be a flat array whose length is a multiple of {DIMENSION}")
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{name} must be finite")
    return array.reshape(-1, DIMENSION)


def bob_rotations(bob: Floats, bits: NDArray[np.uint8]) -> Floats:
    """Bob's disclosed rotations α, shape (len/8, 8), one unit octonion per group of eight values.

    ``bits``: Bob's key bits, one per value (0 → +1/√8, 1 → −1/√8).
    """
    y = _groups("bob", bob)
    key = np.asarray(bits)
    if key.shape != (y.size,):
        raise ConfigError(f"bits must have one entry per value ({y.size}), not shape {key.shape}")
    norms = np.linalg.norm(y, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ConfigError("a group of Bob's values is all zero; it has no direction to rotate")
    u = (1.0 - 2.0 * key.reshape(-1, DIMENSION).astype(np.float64)) / math.sqrt(DIMENSION)
    rotation: Floats = octonion_product(u, octonion_conjugate(y / norms))
    return rotation


def alice_llrs(alice: Floats, rotations: Floats, gain: float, noise_variance: float) -> Floats:
    """Alice's log-likelihood ratios ``log P(b=0)/P(b=1)`` of Bob's key bits, one per value.

    ``gain`` and ``noise_variance``: t and σ² of ``y = t·x + z`` from parameter estimation.
    """
    x = _groups("alice", alice)
    if rotations.shape != x.shape:
        raise ConfigError(f"rotations must have shape {x.shape}, not {rotations.shape}")
    if not (gain > 0 and noise_variance > 0 and math.isfinite(gain) and math.isfinite(noise_variance)):
        raise ConfigError(f"the channel needs t > 0 and σ² > 0, not t={gain!r}, σ²={noise_variance!r}")
    rotated = octonion_product(rotations, x)
    x_norm2 = np.einsum("ij,ij->i", x, x)[:, None]
    bob_norm = np.sqrt(gain * gain * x_norm2 + DIMENSION * noise_variance)
    llrs: Floats = (2.0 * gain / (math.sqrt(DIMENSION) * noise_variance)) * bob_norm * rotated
    return llrs.reshape(-1)
