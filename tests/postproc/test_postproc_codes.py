"""LDPC codes for reconciliation: GA density evolution against independent references (mpmath, the
literature's thresholds), designed distributions against the BIAWGN limit, the random construction
against its own promises, and a real syndrome decoding with ``ldpc``'s belief propagation."""

from __future__ import annotations

import math

import ldpc
import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.sparse.csgraph import connected_components

from sdqkd.errors import ConfigError
from sdqkd.postproc import (
    DegreeDistribution,
    biawgn_capacity,
    design_distribution,
    node_degree_counts,
    parity_check_matrix,
    threshold_sigma,
)
from sdqkd.postproc.density import _evolve, biawgn_sigma_limit, phi

REGULAR_3_6 = DegreeDistribution((3,), (1.0,), (6,), (1.0,))


def _phi_mpmath(x: float) -> float:
    """φ(x) = E[2/(1+e^U)], U ~ N(x, 2x), by mpmath quadrature split where the mass sits."""
    mpmath.mp.dps = 30
    mean = mpmath.mpf(x)

    def integrand(u: mpmath.mpf) -> mpmath.mpf:
        return (
            2
            / (1 + mpmath.exp(u))
            * mpmath.exp(-((u - mean) ** 2) / (4 * mean))
            / mpmath.sqrt(4 * mpmath.pi * mean)
        )

    std = math.sqrt(2 * x)
    points = sorted({-120.0, -40.0, -10.0, 0.0, 10.0, 40.0, 120.0, x - 10 * std, x, x + 10 * std})
    return float(mpmath.quad(integrand, [p for p in points if -120 <= p <= 120 + x]))


@pytest.mark.parametrize("x", [0.01, 0.3, 1.0, 4.0, 12.0, 60.0, 150.0])
def test_phi_equals_its_definition_integrated_by_mpmath(x: float) -> None:
    assert_allclose(phi(x), _phi_mpmath(x), rtol=2e-6)


def test_phi_is_within_chung_curve_fit_accuracy() -> None:
    # Chung et al. 2001: φ(x) ≈ exp(−0.4527 x^0.86 + 0.0218) for 0 < x < 10 (a fit good to ~1 %).
    x = np.linspace(0.2, 9.5, 40)
    assert_allclose(phi(x), np.exp(-0.4527 * x**0.86 + 0.0218), rtol=0.012)
    assert float(phi(0.0)) == 1.0


def test_phi_refuses_negative_means() -> None:
    with pytest.raises(ConfigError):
        phi(-1.0)


def test_regular_3_6_threshold_is_the_literature_ga_value() -> None:
    # GA threshold 0.8747 (Chung et al. 2001, Table I); full density evolution 0.8809.
    assert threshold_sigma(REGULAR_3_6) == pytest.approx(0.8747, abs=0.01)
    assert threshold_sigma(REGULAR_3_6) < 0.8809


@pytest.mark.parametrize("dist", [REGULAR_3_6, design_distribution(0.5)], ids=["(3,6)", "rate 0.5"])
def test_threshold_separates_growing_from_stalling_means_of_the_literal_recursion(
    dist: DegreeDistribution,
) -> None:
    sigma = threshold_sigma(dist)
    # Above r ≈ 100 the bit error rate Q(√(r/2)) is below 1e-12; a design with λ₂ at the stability
    # bound then grows only slowly (by m₀ − 4 ln(λ₂ρ'(1)) per iteration), but it grows.
    assert _evolve(dist, sigma - 0.005, 20_000, stop=200.0) >= 200.0
    stalled = _evolve(dist, sigma + 0.002, 3000)
    assert stalled < 10.0
    assert _evolve(dist, sigma + 0.002, 6000) == pytest.approx(stalled, rel=1e-9)  # a fixed point


def test_biawgn_capacity_known_values() -> None:
    assert biawgn_capacity(0.0) == 0.0
    assert biawgn_capacity(1.0) == pytest.approx(0.48594, abs=2e-5)
    assert biawgn_capacity(1e-6) == pytest.approx(1e-6 / (2 * math.log(2)), rel=1e-5)  # ½log₂(1+snr)
    assert biawgn_capacity(1e6) == 1.0
    assert biawgn_sigma_limit(0.5) == pytest.approx(0.9787, abs=1e-4)  # the rate-½ Shannon limit


@pytest.mark.parametrize("snr", [0.05, 0.4, 2.5, 9.0])
def test_biawgn_capacity_equals_mpmath_integral(snr: float) -> None:
    mpmath.mp.dps = 30
    mean, var = 2 * snr, 4 * snr

    def integrand(llr: mpmath.mpf) -> mpmath.mpf:
        density = mpmath.exp(-((llr - mean) ** 2) / (2 * var)) / mpmath.sqrt(2 * mpmath.pi * var)
        return mpmath.log(1 + mpmath.exp(-llr), 2) * density

    reference = 1 - mpmath.quad(integrand, [-mpmath.inf, mean - 5 * math.sqrt(var), mean, mpmath.inf])
    assert biawgn_capacity(snr) == pytest.approx(float(reference), abs=1e-12)


def test_biawgn_capacity_refuses_negative_snr() -> None:
    with pytest.raises(ConfigError):
        biawgn_capacity(-0.1)


def test_rate_half_design_is_below_capacity_but_within_005() -> None:
    dist = design_distribution(0.5)
    limit = biawgn_sigma_limit(0.5)
    assert dist.rate == pytest.approx(0.5, abs=1e-12)
    assert limit - 0.05 < dist.sigma_threshold < limit
    assert dist.snr_threshold == pytest.approx(1 / dist.sigma_threshold**2)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.47, 0.7, 0.9])
def test_designs_have_their_rate_and_a_threshold_below_capacity(rate: float) -> None:
    dist = design_distribution(rate)
    limit = biawgn_sigma_limit(rate)
    assert dist.rate == pytest.approx(rate, abs=1e-12)
    assert 0.9 * limit < dist.sigma_threshold < limit
    assert math.fsum(dist.variable_fractions) == pytest.approx(1.0)
    assert dist.check_degrees[-1] - dist.check_degrees[0] <= 1  # ρ on two consecutive degrees


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_designs_are_stable_and_leave_room_for_a_degree_2_tree(rate: float) -> None:
    dist = design_distribution(rate)
    assert dist.variable_degrees[0] == 2
    lambda2 = dist.variable_fractions[0]
    rho_prime = sum((d - 1) * f for d, f in zip(dist.check_degrees, dist.check_fractions, strict=True))
    assert lambda2 * rho_prime < math.exp(1 / (2 * dist.sigma_threshold**2))
    assert lambda2 / 2 < dist.check_edges_inverse  # fewer degree-2 variable nodes than check nodes


def test_design_is_cached_on_the_rounded_rate() -> None:
    assert design_distribution(0.47) is design_distribution(0.470001)


@pytest.mark.parametrize(("rate", "degree"), [(0.02, 24), (0.99, 24), (0.5, 2), (0.5, 100)])
def test_design_refuses_out_of_range_arguments(rate: float, degree: int) -> None:
    with pytest.raises(ConfigError):
        design_distribution(rate, degree)


def test_degree_distribution_refuses_fractions_not_summing_to_one() -> None:
    with pytest.raises(ConfigError):
        DegreeDistribution((2, 3), (0.5, 0.4), (6,), (1.0,))


def _degree_histograms(matrix: sp.csr_matrix) -> tuple[dict[int, int], dict[int, int]]:
    columns = np.bincount(matrix.indices, minlength=matrix.shape[1])
    rows = np.diff(matrix.indptr)
    return (
        {int(d): int(c) for d, c in enumerate(np.bincount(columns)) if c},
        {int(d): int(c) for d, c in enumerate(np.bincount(rows)) if c},
    )


@pytest.mark.parametrize(("n", "rate"), [(4096, 0.5), (5000, 0.47), (2000, 0.1), (3000, 0.9), (1 << 16, 0.3)])
def test_matrix_has_the_designed_shape_and_node_degrees_and_no_repeated_edge(n: int, rate: float) -> None:
    matrix = parity_check_matrix(n, rate, seed=11)
    assert matrix.shape == (round((1 - rate) * n), n)
    assert matrix.dtype == np.uint8
    assert _degree_histograms(matrix) == node_degree_counts(n, rate)
    assert sum(node_degree_counts(n, rate)[0].values()) == n
    assert np.all(matrix.data == 1)
    rows = [matrix.indices[a:b] for a, b in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)]
    assert all(np.all(np.diff(columns) > 0) for columns in rows)  # a check meets a variable at most once


def test_degree_2_columns_form_no_cycle() -> None:
    matrix = parity_check_matrix(1 << 14, 0.5, seed=3).tocsc()
    degree2 = np.flatnonzero(np.diff(matrix.indptr) == 2)
    pairs = np.stack(
        [matrix.indices[matrix.indptr[degree2]], matrix.indices[matrix.indptr[degree2] + 1]], axis=1
    )
    checks = matrix.shape[0]
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(checks, checks))
    touched = np.unique(pairs)
    _, labels = connected_components(graph, directed=False)
    # A forest: edges = vertices − components, counted over the checks the degree-2 columns touch.
    touched_components = np.unique(labels[touched]).size
    assert len(pairs) == touched.size - touched_components
    assert len(pairs) > 0.3 * matrix.shape[1]


def test_matrix_is_deterministic_in_its_seed_and_callers_get_their_own_copy() -> None:
    first = parity_check_matrix(4096, 0.5, seed=5)
    again = parity_check_matrix(4096, 0.5, seed=5)
    other = parity_check_matrix(4096, 0.5, seed=6)
    assert (first != again).nnz == 0
    assert (first != other).nnz > 0
    assert first is not again
    first.data[:] = 0  # a caller's copy may be changed without touching the cache
    assert np.all(parity_check_matrix(4096, 0.5, seed=5).data == 1)


@pytest.mark.parametrize(
    ("n", "rate", "seed"), [(10, 0.5, 1), (4096, 1.0, 1), (4096, 0.5, -1), (4096.0, 0.5, 1)]
)
def test_matrix_refuses_bad_arguments(n: int, rate: float, seed: int) -> None:
    with pytest.raises(ConfigError):
        parity_check_matrix(n, rate, seed)


def test_syndrome_decoding_recovers_random_bits_well_below_threshold() -> None:
    """Reverse-reconciliation shape: the sender's syndrome s = H·u, the receiver holds BPSK(u) + noise at
    σ = 0.8 (threshold ≈ 0.95) and belief propagation finds e = u ⊕ hard(y) from s ⊕ H·hard(y)."""
    n, sigma = 1 << 14, 0.8
    matrix = parity_check_matrix(n, 0.5, seed=2024)
    rng = np.random.default_rng(99)
    decoder = ldpc.BpDecoder(
        matrix,
        error_channel=np.full(n, 0.1),
        input_vector_type="syndrome",
        bp_method="product_sum",
        max_iter=200,
    )
    recovered = 0
    for _ in range(10):
        bits = rng.integers(0, 2, n, dtype=np.uint8)
        syndrome = (matrix @ bits) % 2
        received = 1.0 - 2.0 * bits + sigma * rng.standard_normal(n)
        hard = (received < 0).astype(np.uint8)
        llr = 2.0 * received / sigma**2
        decoder.update_channel_probs(1.0 / (1.0 + np.exp(np.abs(llr))))
        error = decoder.decode(((syndrome + matrix @ hard) % 2).astype(np.uint8))
        recovered += int(np.array_equal(hard ^ error.astype(np.uint8), bits))
    assert recovered >= 9
