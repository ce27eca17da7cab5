"""Toeplitz privacy amplification: bit for bit against a direct mod-2 matrix product, an integer
(Kronecker) product, integer dot products at 2^24, and the GPU path against the CPU path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdqkd.errors import ConfigError
from sdqkd.postproc import pa_output_length, toeplitz_hash
from sdqkd.postproc.privacy import _fft_plan, _transform, gpu_available


def _direct(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """T·bits mod 2 from the dense m × n matrix T[i, j] = seed[i − j + n − 1] (uint8 matmul mod 2)."""
    n = bits.size
    rows = np.arange(m)[:, None] - np.arange(n)[None, :] + n - 1
    matrix = seed[rows].astype(np.uint8)
    # uint8 products summed in int64 so no wrap-around, then reduced mod 2.
    return (matrix.astype(np.int64) @ bits.astype(np.int64) % 2).astype(np.uint8)


def _kronecker(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """T·bits mod 2 by one exact integer product (Kronecker substitution, Python ints, no FFT).

    bits and seed become the integers Σ b_j·2^{s·j}; with 2^s > n no slot overflows, so slot k of
    their product holds the convolution value c[k] and its lowest bit the parity of c[k].
    """
    n = bits.size
    slot = n.bit_length() + 1

    def as_integer(vector: np.ndarray) -> int:
        spread = np.zeros(vector.size * slot, np.uint8)
        spread[::slot] = vector
        return int.from_bytes(np.packbits(spread, bitorder="little").tobytes(), "little")

    product = as_integer(bits) * as_integer(seed)
    width = (product.bit_length() + 7) // 8
    product_bits = np.unpackbits(
        np.frombuffer(product.to_bytes(width, "little"), np.uint8), bitorder="little"
    )
    return product_bits[slot * (np.arange(m) + n - 1)]


def _row_parities(bits: np.ndarray, seed: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows of T·bits mod 2 by pure-integer dot products: row i of T is seed[i + n − 1], …, seed[i]."""
    n = bits.size
    reversed_bits = bits[::-1].astype(np.int64)
    return np.array(
        [int(np.dot(seed[i : i + n].astype(np.int64), reversed_bits)) & 1 for i in rows], np.uint8
    )


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
    # m = 300 of n = 2^13 hashes in chunks of 1645 columns (FFTs of 1944 points): 5 chunks, the last padded.
    n, m = 2**13, 300
    chunk, _ = _fft_plan(n, m)
    assert n % chunk != 0
    assert n // chunk > 2
    bits, toeplitz = _random(np.random.default_rng(11), n, m)
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m), _direct(bits, toeplitz, m))


@pytest.mark.parametrize(("n", "m"), [(70_000, 35_000), (100_003, 50_001), (2**17 + 5, 2**15)])
def test_four_step_transform_equals_an_integer_product(n: int, m: int) -> None:
    # FFTs of 2^16 points and more run as four-step (rows × columns) transforms.
    assert _transform(_fft_plan(n, m)[1]).rows > 1
    bits, toeplitz = _random(np.random.default_rng(n), n, m)
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m), _kronecker(bits, toeplitz, m))


def test_four_step_transform_with_several_chunks() -> None:
    n, m = 2**20, 30_000  # chunks of 174 801 columns, FFTs of 204 800 = 128 × 1600 points
    chunk, size = _fft_plan(n, m)
    assert n // chunk > 2
    assert n % chunk != 0
    assert _transform(size).rows > 1
    rng = np.random.default_rng(31)
    bits, toeplitz = _random(rng, n, m)
    out = toeplitz_hash(bits, toeplitz, m)
    rows = np.concatenate([np.arange(40), rng.integers(0, m, 40), np.arange(m - 40, m)])
    assert np.array_equal(out[rows], _row_parities(bits, toeplitz, rows))


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
    rows = np.concatenate([np.arange(64), rng.integers(0, m, 64), np.arange(m - 64, m)])
    assert np.array_equal(out[rows], _row_parities(bits, seed, rows))
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


@pytest.mark.parametrize("options", [{"workers": 0}, {"workers": 1.5}, {"backend": "tpu"}])
def test_bad_options_raise_config_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        toeplitz_hash(np.ones(8, np.uint8), np.ones(11, np.uint8), 4, **options)  # type: ignore[arg-type]


def test_cpu_backend_and_threads_give_the_same_bits(rng: np.random.Generator) -> None:
    n, m = 2**18 + 7, 2**16
    bits, toeplitz = _random(rng, n, m)
    single = toeplitz_hash(bits, toeplitz, m, backend="cpu")
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m, backend="cpu", workers=2), single)
    assert np.array_equal(toeplitz_hash(bits, toeplitz, m, backend="cpu", workers=-1), single)
    rows = np.concatenate([np.arange(20), rng.integers(0, m, 20), np.arange(m - 20, m)])
    assert np.array_equal(single[rows], _row_parities(bits, toeplitz, rows))


@pytest.mark.skipif(gpu_available(), reason="a GPU is present: backend='gpu' is allowed here")
def test_gpu_backend_without_a_gpu_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="CuPy"):
        toeplitz_hash(np.ones(8, np.uint8), np.ones(11, np.uint8), 4, backend="gpu")


@pytest.mark.parametrize(("n", "m"), [(1, 1), (600, 250), (2**14 + 1, 2**13), (2**20, 2**19), (2**22, 2**19)])
def test_gpu_backend_equals_cpu_backend_bit_for_bit(n: int, m: int) -> None:
    pytest.importorskip("cupy")
    if not gpu_available():
        pytest.skip("CuPy imports but sees no CUDA device")
    bits, toeplitz = _random(np.random.default_rng(n + 3 * m), n, m)
    on_gpu = toeplitz_hash(bits, toeplitz, m, backend="gpu")
    assert on_gpu.dtype == np.uint8
    assert np.array_equal(on_gpu, toeplitz_hash(bits, toeplitz, m, backend="cpu"))
    assert np.array_equal(
        toeplitz_hash(np.ones(n, np.uint8), np.ones(n + m - 1, np.uint8), m, backend="gpu"),
        np.full(m, n % 2, np.uint8),
    )


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
    # The module's error bound needs L ≥ c_len + m − 1, L ≤ 2^28, and L ≤ 4·c_len unless one chunk;
    # the four-step layout needs L = rows × columns with a power-of-two number of rows.
    m = max(1, round(n * fraction))
    chunk, size = _fft_plan(n, m)
    assert 1 <= chunk <= n
    assert chunk + m - 1 <= size <= 2**28
    assert size <= 4 * chunk or chunk == n
    transform = _transform(size)
    assert transform.rows * transform.cols == size
    assert transform.rows & (transform.rows - 1) == 0
    assert transform.cols % transform.block == 0


def test_fft_lengths_are_short() -> None:
    # 2^a·3^b·5^c lengths: one chunk of 2^24 bits with m = n/2 needs 3·2^23 points, not 2^25.
    n = 2**24
    assert _fft_plan(n, n // 2) == (n, 3 * 2**23)
