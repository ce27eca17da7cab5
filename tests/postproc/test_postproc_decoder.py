"""Layered syndrome decoder: recovers Bob's bits on a BIAWGN channel, never claims a wrong convergence,
agrees with the `ldpc` library's sum-product, and its check-node rules match their closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from ldpc import BpDecoder

from sdqkd.errors import ConfigError
from sdqkd.postproc import DecodeResult, SyndromeDecoder
from sdqkd.postproc.decoder import _min_sum_row, _sum_product_row

N = 2**12
METHODS = ["sum-product", "min-sum"]


def _regular_code(n: int, rng: np.random.Generator, dv: int = 3, dc: int = 6) -> sp.csr_matrix:
    """A (dv, dc)-regular code by a random permutation of the edge sockets (duplicate edges dropped)."""
    checks = n * dv // dc
    rows = np.repeat(np.arange(checks), dc)
    cols = rng.permutation(np.repeat(np.arange(n), dv))
    code = sp.csr_matrix((np.ones(rows.size, dtype=np.uint8), (rows, cols)), shape=(checks, n))
    code.sum_duplicates()
    code.data[:] = 1
    return code


@pytest.fixture(scope="module")
def code() -> sp.csr_matrix:
    return _regular_code(N, np.random.default_rng(7))


def _frames(
    code: sp.csr_matrix, snr_db: float, frames: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bob's bits b, Alice's LLRs of b over BPSK + AWGN at ``snr_db`` (1/σ²), and s = H·b."""
    sigma2 = 10 ** (-snr_db / 10)
    bits = rng.integers(0, 2, (frames, code.shape[1]), dtype=np.uint8)
    received = 1.0 - 2.0 * bits + rng.normal(0.0, math.sqrt(sigma2), bits.shape)
    syndromes = (np.asarray(code @ bits.T.astype(np.int64)).T & 1).astype(np.uint8)
    return bits, 2.0 * received / sigma2, syndromes


def _parity(code: sp.csr_matrix, bits: np.ndarray) -> np.ndarray:
    return (np.asarray(code @ bits.astype(np.int64)) & 1).astype(np.uint8)


@pytest.mark.parametrize("method", METHODS)
def test_recovers_bobs_bits_well_below_threshold(
    code: sp.csr_matrix, method: str, rng: np.random.Generator
) -> None:
    # (3,6) BIAWGN threshold: SNR ≈ 1.1 dB; at 2.5 dB the channel still flips ~4 % of the hard decisions.
    bits, llrs, syndromes = _frames(code, 2.5, 4, rng)
    decoder = SyndromeDecoder(code, method=method)  # type: ignore[arg-type]
    for b, llr, s in zip(bits, llrs, syndromes, strict=True):
        assert np.count_nonzero((llr < 0) != b) > 50
        result = decoder.decode(llr, s)
        assert result.converged
        assert 0 < result.iterations < 30
        assert np.array_equal(result.bits, b)
        assert np.array_equal(_parity(code, result.bits), s)


@pytest.mark.parametrize("method", METHODS)
def test_reports_no_convergence_at_hopeless_noise(
    code: sp.csr_matrix, method: str, rng: np.random.Generator
) -> None:
    _, llrs, syndromes = _frames(code, -6.0, 3, rng)
    decoder = SyndromeDecoder(code, method=method, max_iterations=15)  # type: ignore[arg-type]
    for llr, s in zip(llrs, syndromes, strict=True):
        result = decoder.decode(llr, s)
        assert not result.converged
        assert result.iterations == 15
        assert not np.array_equal(_parity(code, result.bits), s)


@pytest.mark.parametrize("method", METHODS)
def test_convergence_is_claimed_exactly_when_the_syndrome_holds(
    code: sp.csr_matrix, method: str, rng: np.random.Generator
) -> None:
    # Around the threshold some frames decode and some do not; the flag must match H·bits = s on each.
    bits, llrs, syndromes = _frames(code, 1.0, 8, rng)
    decoder = SyndromeDecoder(code, method=method, max_iterations=20)  # type: ignore[arg-type]
    for b, result, s in zip(bits, decoder.decode_many(llrs, syndromes, workers=2), syndromes, strict=True):
        assert result.converged == np.array_equal(_parity(code, result.bits), s)
        if result.converged:
            assert np.array_equal(result.bits, b)


def test_a_frame_whose_hard_decisions_already_hold_takes_no_iteration(code: sp.csr_matrix) -> None:
    bits = np.zeros(N, dtype=np.uint8)
    bits[::3] = 1
    llrs = np.where(bits == 1, -4.0, 4.0)
    result = SyndromeDecoder(code).decode(llrs, _parity(code, bits))
    assert result == DecodeResult(bits=result.bits, converged=True, iterations=0)
    assert np.array_equal(result.bits, bits)


def test_a_weight_one_check_fixes_its_bit_against_the_channel() -> None:
    # Check 0 says b0 = 1 outright, check 1 says b1 ⊕ b2 = 0; the channel leans towards b = (0, 1, 1).
    code = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1]], dtype=np.uint8))
    for method in METHODS:
        result = SyndromeDecoder(code, method=method).decode(  # type: ignore[arg-type]
            np.array([3.0, -2.0, -1.0]), np.array([1, 0], dtype=np.uint8)
        )
        assert result.converged
        assert result.bits.tolist() == [1, 1, 1]


def test_decode_many_matches_decode_frame_by_frame(code: sp.csr_matrix, rng: np.random.Generator) -> None:
    _, llrs, syndromes = _frames(code, 1.6, 6, rng)
    decoder = SyndromeDecoder(code, max_iterations=30)
    alone = [decoder.decode(llr, s) for llr, s in zip(llrs, syndromes, strict=True)]
    for workers in (1, 3):
        together = decoder.decode_many(llrs, syndromes, workers=workers)
        assert [(r.converged, r.iterations) for r in together] == [(r.converged, r.iterations) for r in alone]
        assert all(np.array_equal(a.bits, b.bits) for a, b in zip(alone, together, strict=True))


def test_agrees_with_ldpc_sum_product_and_needs_fewer_iterations(
    code: sp.csr_matrix, rng: np.random.Generator
) -> None:
    bits, llrs, syndromes = _frames(code, 1.8, 6, rng)
    ours = SyndromeDecoder(code, method="sum-product")
    reference = BpDecoder(
        code, error_rate=0.1, max_iter=100, bp_method="product_sum", input_vector_type="syndrome"
    )
    both = 0
    our_iterations = their_iterations = 0
    for b, llr, s in zip(bits, llrs, syndromes, strict=True):
        # As reconciliation.py drives it: decode e = b ⊕ hard(L) from s ⊕ H·hard(L), p_i = 1/(1 + e^|L_i|).
        hard = (llr < 0).astype(np.uint8)
        reference.update_channel_probs(1.0 / (1.0 + np.exp(np.abs(llr))))
        theirs = hard ^ np.asarray(reference.decode(s ^ _parity(code, hard)), dtype=np.uint8)
        result = ours.decode(llr, s)
        if result.converged and reference.converge:
            both += 1
            assert np.array_equal(result.bits, theirs)
            assert np.array_equal(result.bits, b)
            our_iterations += result.iterations
            their_iterations += int(reference.iter)
    assert both >= 5
    # The layered schedule: about half the iterations of flooding (Sharon et al. 2007).
    assert our_iterations < 0.75 * their_iterations


def _one_check(values: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One check over len(values) fresh variables with posteriors ``values`` and no previous messages."""
    degree = len(values)
    return (
        np.arange(degree, dtype=np.int32),
        np.array(values, dtype=np.float64),
        np.zeros(degree),
        np.empty(degree),
    )


@pytest.mark.parametrize(
    "values",
    [[0.3, -1.2, 2.5, 0.01, -7.0], [0.0, 1.0, -2.0], [0.0, 0.0, 3.0], [40.0, 50.0, -60.0], [1e-40, 2.0, 3.0]],
)
@pytest.mark.parametrize("flip", [False, True])
def test_sum_product_row_equals_the_tanh_rule(values: list[float], flip: bool) -> None:
    cols, posterior, messages, scratch = _one_check(values)
    factors = np.empty(len(values))
    _sum_product_row(0, len(values), int(flip), cols, posterior, messages, scratch, factors)
    t = np.array(values)
    expected = []
    for v in range(t.size):
        product = np.prod(np.tanh(np.delete(t, v) / 2)) * (-1.0 if flip else 1.0)
        expected.append(2 * np.arctanh(np.clip(product, -1 + 2**-52, 1 - 2**-52)))
    np.testing.assert_allclose(messages, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(posterior, t + messages, rtol=1e-15)
    assert np.all(np.abs(messages) <= 36.8)


@pytest.mark.parametrize("flip", [False, True])
def test_min_sum_row_equals_the_scaled_minimum_rule(flip: bool) -> None:
    values = [0.3, -1.2, 2.5, 0.05, -7.0]
    cols, posterior, messages, scratch = _one_check(values)
    _min_sum_row(0, len(values), int(flip), 0.75, cols, posterior, messages, scratch)
    t = np.array(values)
    expected = [
        0.75 * np.prod(np.sign(np.delete(t, v))) * np.min(np.abs(np.delete(t, v))) * (-1.0 if flip else 1.0)
        for v in range(t.size)
    ]
    np.testing.assert_allclose(messages, expected, rtol=1e-15)


@pytest.mark.parametrize(
    ("llrs", "syndrome"),
    [
        (np.zeros(N - 1), np.zeros(N // 2, dtype=np.uint8)),  # too few LLRs
        (np.zeros((2, N)), np.zeros(N // 2, dtype=np.uint8)),  # a batch given to decode
        (np.zeros(N), np.zeros(N // 2 + 1, dtype=np.uint8)),  # syndrome length
        (np.full(N, np.nan), np.zeros(N // 2, dtype=np.uint8)),
        (np.r_[np.inf, np.zeros(N - 1)], np.zeros(N // 2, dtype=np.uint8)),
        (np.zeros(N), np.full(N // 2, 2, dtype=np.uint8)),  # not a bit
        (np.zeros(N), np.full(N // 2, 0.5)),  # not an integer
    ],
)
def test_decode_refuses_bad_inputs(code: sp.csr_matrix, llrs: np.ndarray, syndrome: np.ndarray) -> None:
    with pytest.raises(ConfigError):
        SyndromeDecoder(code).decode(llrs, syndrome)


def test_decode_many_refuses_mismatched_batches(code: sp.csr_matrix) -> None:
    decoder = SyndromeDecoder(code)
    with pytest.raises(ConfigError):
        decoder.decode_many(np.zeros((3, N)), np.zeros((2, N // 2), dtype=np.uint8))
    with pytest.raises(ConfigError):
        decoder.decode_many(np.zeros(N), np.zeros(N // 2, dtype=np.uint8))
    with pytest.raises(ConfigError):
        decoder.decode_many(np.zeros((1, N)), np.zeros((1, N // 2), dtype=np.uint8), workers=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_iterations": 0},
        {"method": "bit-flip"},
        {"scaling": 0.0},
        {"scaling": 1.5},
        {"scaling": math.nan},
    ],
)
def test_constructor_refuses_bad_settings(code: sp.csr_matrix, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SyndromeDecoder(code, **kwargs)  # type: ignore[arg-type]


def test_constructor_refuses_a_matrix_that_is_not_binary() -> None:
    with pytest.raises(ConfigError):
        SyndromeDecoder(sp.csr_matrix(np.array([[1, 2, 0], [0, 1, 1]], dtype=np.uint8)))
    with pytest.raises(ConfigError):
        SyndromeDecoder(np.array([[1, 0, 1]], dtype=np.uint8))  # type: ignore[arg-type]
