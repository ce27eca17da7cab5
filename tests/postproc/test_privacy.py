"""Toeplitz privacy amplification: bit for bit against a direct mod-2 matrix product, and exact at 2^24."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdqkd.errors import ConfigError
from sdqkd.postproc import pa_output_length, toeplitz_hash
from sdqkd.postproc.privacy import _fft_plan


def _direct(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """T·bits mod 2 from the dense m × n matrix T[i, j] = seed[i − j + n − 1] (uint8 matmul mod 2)."""
    n = bits.size
    rows = np.arange(m)[:, None] - np.arange(n)[None, :] + n - 1
    matrix = seed[rows].astype(np.uint8)
    # uint8 products summed in int64 so no wrap-around, then reduced mod 2.
    return (matrix.astype(np.int64) @ bits.astype(np.int64) % 2).astype(np.uint8)


def _random(rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 2, n, dtype=np.uint8), rng.integers(0, 2, n + m - 1, dtype=np.uint8)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 600), ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_equals_direct_product_small(n: int, ratio: float, seed: int) -> None:
    m = max(1, round(n * ratio))
    bits, toeplitz = _random(np.random.default_rng(seed), n, m)
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m), _direct(bits, toeplitz, m))


@pytest.mark.parametrize(
    ("n", "m"),
    [(2**10, 2**9), (2**11 + 3, 1), (2**12, 2**12), (2**13, 700), (2**14, 2**13), (2**14, 2**12 + 1)],
)
def test_equals_direct_product_up_to_2_14(n: int, m: int) -> None:
    bits, toeplitz = _random(np.random.default_rng(n + m), n, m)
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m), _direct(bits, toeplitz, m))


def test_several_chunks_with_a_short_last_one() -> None:
    # m = 700 of n = 2^13 hashes in chunks of 325 columns: 26 chunks, the last one padded.
    n, m = 2**13, 700
    chunk, _ = _fft_plan(n, m)
    assert n % chunk != 0
    assert n // chunk > 2
    bits, toeplitz = _random(np.random.default_rng(11), n, m)
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m), _direct(bits, toeplitz, m))


def test_all_ones_is_the_worst_case_magnitude() -> None:
    # Every convolution value is as large as it can be: row i sums n ones, so each output is n mod 2.
    n, m = 2**14 + 1, 2**13
    out = toeplitz_hash(np.ones(n, np.uint8), np.ones(n + m - 1, np.uint8), m)
    assert np.array_equal(out, np.ones(m, np.uint8))


def test_one_hot_input_selects_a_seed_column() -> None:
    n, m, j = 5000, 300, 1234
    bits = np.zeros(n, np.uint8)
    bits[j] = 1
    seed = np.random.default_rng(7).integers(0, 2, n + m - 1, dtype=np.uint8)
    assert np.array_equal(toeplitz_hash(bits, seed, m), seed[np.arange(m) - j + n - 1])


def test_exact_at_2_24_against_integer_dot_products() -> None:
    n = 2**24
    m = n // 8
    rng = np.random.default_rng(2024)
    bits, seed = _random(rng, n, m)
    out = toeplitz_hash(bits, seed, m)
    assert out.shape == (m,)
    # Row i of T is seed[i + n − 1], seed[i + n − 2], …, seed[i]: a reversed seed slice (no dense matrix).
    rows = np.concatenate([np.arange(64), rng.integers(0, m, 64), np.arange(m - 64, m)])
    reversed_bits = bits[::-1].astype(np.int64)
    for i in rows:
        expected = int(np.dot(seed[i : i + n].astype(np.int64), reversed_bits)) & 1
        assert out[i] == expected, f"row {i}"
    # Balanced output: a systematic error (all zeros, a shifted window) would not be.
    assert abs(int(out.sum()) - m / 2) < 6 * math.sqrt(m)


@pytest.mark.parametrize(
    ("bits", "seed", "m"),
    [
        (np.zeros(0, np.uint8), np.zeros(0, np.uint8), 0),  # empty key
        (np.ones(8, np.uint8), np.ones(10, np.uint8), 4),  # seed of the wrong length (needs 11)
        (np.ones(8, np.uint8), np.ones(16, np.uint8), 9),  # m > n
        (np.ones(8, np.uint8), np.ones(7, np.uint8), -1),  # negative m
        (np.full(8, 2, np.uint8), np.ones(11, np.uint8), 4),  # not bits
        (np.ones((2, 4), np.uint8), np.ones(11, np.uint8), 4),  # not one-dimensional
        (np.ones(8, np.float64), np.ones(11, np.uint8), 4),  # not integers
        (np.ones(8, np.uint8), np.ones(11, np.uint8), 4.0),  # m not an integer
    ],
)
def test_bad_arguments_raise_config_error(bits: np.ndarray, seed: np.ndarray, m: object) -> None:
    with pytest.raises(ConfigError):
        toeplitz_hash(bits, seed, m)  # type: ignore[arg-type]


def test_zero_output_length() -> None:
    assert toeplitz_hash(np.ones(8, np.uint8), np.zeros(0, np.uint8), 0).size == 0


def test_pa_output_length_leftover_hash_lemma() -> None:
    # ⌊n·f − 2·log2(1/ε)⌋ − leak: 10^6 · 0.1 − 2 · log2(2^30) − 100
    assert pa_output_length(10**6, 0.1, 2.0**-30, leaked_bits=100) == 100_000 - 60 - 100
    assert pa_output_length(1000, 0.001, 1e-10) == 0  # no key left
    assert pa_output_length(1000, -0.2) == 0
    assert pa_output_length(1000, 1.0, 0.5) == 998


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0, "secret_fraction": 0.1},
        {"n": 10, "secret_fraction": math.nan},
        {"n": 10, "secret_fraction": 0.1, "epsilon_pa": 0.0},
        {"n": 10, "secret_fraction": 0.1, "epsilon_pa": 1.0},
        {"n": 10, "secret_fraction": 0.1, "leaked_bits": -1},
    ],
)
def test_pa_output_length_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        pa_output_length(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [1, 3, 100, 1000, 2**14, 2**20 + 5, 2**24, 2**26])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_fft_plans_keep_the_exactness_bound(n: int, fraction: float) -> None:
    # The module's error bound needs L ≥ c_len + m − 1, L ≤ 2^28, and L ≤ 4·c_len unless one chunk.
    m = max(1, round(n * fraction))
    chunk, size = _fft_plan(n, m)
    assert 1 <= chunk <= n
    assert chunk + m - 1 <= size <= 2**28
    assert size <= 4 * chunk or chunk == n
