"""Multidimensional reconciliation: the octonion algebra it rests on, and the binary-input channel
it makes (Leverrier et al., PRA 77, 042325 (2008))."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from sdqkd.errors import ConfigError
from sdqkd.postproc.multidim import alice_llrs, bob_rotations, octonion_conjugate, octonion_product

RNG = np.random.default_rng(20261203)


def _norms(values: np.ndarray) -> np.ndarray:
    return np.linalg.norm(values, axis=-1)


def test_the_octonion_norm_is_multiplicative() -> None:
    a, b = RNG.standard_normal((100, 8)), RNG.standard_normal((100, 8))
    assert np.allclose(_norms(octonion_product(a, b)), _norms(a) * _norms(b))


def test_octonions_are_alternative_so_the_rotation_lands_on_u() -> None:
    a, b = RNG.standard_normal((100, 8)), RNG.standard_normal((100, 8))
    assert np.allclose(
        octonion_product(octonion_product(a, octonion_conjugate(b)), b), a * _norms(b)[:, None] ** 2
    )


def test_octonions_are_not_associative() -> None:
    a, b, c = (RNG.standard_normal((1, 8)) for _ in range(3))
    assert not np.allclose(
        octonion_product(octonion_product(a, b), c), octonion_product(a, octonion_product(b, c))
    )


def test_the_unit_octonions_have_the_real_unit_as_identity() -> None:
    a = RNG.standard_normal((10, 8))
    one = np.zeros((1, 8))
    one[0, 0] = 1.0
    assert np.allclose(octonion_product(one, a), a)
    assert np.allclose(octonion_product(a, one), a)


def test_bobs_rotation_takes_his_direction_onto_his_bits() -> None:
    y = RNG.standard_normal(8 * 50)
    bits = RNG.integers(0, 2, y.size, dtype=np.uint8)
    alpha = bob_rotations(y, bits)
    unit = y.reshape(-1, 8) / _norms(y.reshape(-1, 8))[:, None]
    u = octonion_product(alpha, unit)
    assert np.allclose(u, (1 - 2 * bits.reshape(-1, 8).astype(float)) / math.sqrt(8))
    assert np.allclose(_norms(alpha), 1.0)


def test_alice_sees_bobs_bits_through_a_binary_awgn_channel_of_the_same_snr() -> None:
    # y = t·x + z at SNR 1: Alice's hard decisions on Bob's bits err about as often as BPSK at SNR 1
    # (erfc of √SNR): the norm of Bob's data, which she never learns, costs a little.
    t, sigma2, v_a, n = 0.5, 1.0, 4.0, 8 * 100_000
    x = RNG.standard_normal(n) * math.sqrt(v_a)
    y = t * x + RNG.standard_normal(n) * math.sqrt(sigma2)
    bits = RNG.integers(0, 2, n, dtype=np.uint8)
    llrs = alice_llrs(x, bob_rotations(y, bits), t, sigma2)
    snr = t * t * v_a / sigma2
    errors = float(np.mean((llrs < 0) != (bits == 1)))
    assert norm.sf(math.sqrt(snr)) < errors < norm.sf(math.sqrt(snr)) + 0.03
    # LLRs are calibrated: their mean in the direction of the bit is 2·SNR for BPSK.
    assert float(np.mean(llrs * (1 - 2 * bits.astype(float)))) == pytest.approx(2 * snr, rel=0.05)


def test_the_rotation_says_nothing_about_the_bits() -> None:
    # With the same data and opposite bits, the rotations are equally distributed: their first
    # component has the same spread (a unit octonion's coordinates, uniform on the sphere).
    y = RNG.standard_normal(8 * 20_000)
    zeros = bob_rotations(y, np.zeros(y.size, dtype=np.uint8))
    ones = bob_rotations(y, np.ones(y.size, dtype=np.uint8))
    assert float(np.var(zeros[:, 0])) == pytest.approx(1 / 8, rel=0.05)
    assert float(np.var(ones[:, 0])) == pytest.approx(1 / 8, rel=0.05)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.zeros(7), "multiple of 8"),
        (np.full(8, np.nan), "finite"),
        (np.zeros(8), "all zero"),
    ],
)
def test_bad_data_is_refused_clearly(values: np.ndarray, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        bob_rotations(values, np.zeros(values.size, dtype=np.uint8))


def test_alice_needs_a_channel() -> None:
    with pytest.raises(ConfigError, match="t > 0"):
        alice_llrs(np.ones(8), np.ones((1, 8)), 0.0, 1.0)
