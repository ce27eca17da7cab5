"""Density evolution of LDPC codes on the binary-input AWGN channel, Gaussian approximation (GA),
and the design of irregular degree distributions with it.

Channel: BPSK ``x = ±1`` plus Gaussian noise of variance σ², so the channel LLR ``2y/σ²`` is Gaussian
with mean ``m₀ = 2/σ²`` and variance ``2m₀`` (a *symmetric* Gaussian). The GA (S.-Y. Chung,
T. J. Richardson, R. L. Urbanke, "Analysis of sum-product decoding of low-density parity-check codes
using a Gaussian approximation", IEEE Trans. IT 47(2), 2001) keeps every message symmetric Gaussian, so
one number — its mean — describes it. With

    φ(x) = 1 − E[tanh(U/2)],  U ~ N(x, 2x)   (φ(0) = 1; decreasing to 0)

and the edge-perspective distributions λ(x) = Σ λᵢ x^{i−1}, ρ(x) = Σ ρⱼ x^{j−1}, the mean ``r`` of the
check-to-variable messages evolves as (Chung et al., eq. (10) there)

    s_ℓ   = Σᵢ λᵢ φ(m₀ + (i−1) r_ℓ)                         (variable side, the "φ-mass")
    r_ℓ₊₁ = Σⱼ ρⱼ φ⁻¹(1 − (1 − s_ℓ)^{j−1})                  (check side),   r₀ = 0.

The code decodes (in the GA) iff ``r_ℓ → ∞``; the threshold σ* is the largest σ for which it does
(:func:`threshold_sigma`). Eliminating ``r`` gives ``s_ℓ₊₁ = F(s_ℓ) = Σᵢ λᵢ φ(m₀ + (i−1) r(s_ℓ))``,
which is *linear in λ* for fixed ρ and σ: the design (:func:`design_distribution`) asks ``F(s) < s``
on a grid of ``s ∈ (0, φ(m₀))`` in a linear programme that maximises the rate (Chung et al. §IV;
T. Richardson, R. Urbanke, *Modern Coding Theory*, 2008, §4.10), with the stability condition
``λ₂ ρ'(1) < exp(1/(2σ²))`` (Richardson, Shokrollahi, Urbanke, IEEE Trans. IT 47(2), 2001, Thm. 5).

φ is computed from its definition, not from the curve fit ``φ(x) ≈ exp(−0.4527 x^0.86 + 0.0218)``
(x < 10) / ``√(π/x) e^{−x/4} (1 − 10/(7x))`` (x ≥ 10) of Chung et al.: the fit jumps *upward* by 2 % at
x = 10, which breaks φ⁻¹ there, and it is too rough deep in the tail where the stability behaviour is
decided. ``log φ`` is tabulated once (trapezoid rule, exact to double precision, see
:func:`_log_phi_quadrature`) and interpolated; the fit stays as a cross-check in the tests. Everything
is done with ``−log φ`` so that means of thousands (φ ≈ e^{−1000}) do not underflow.

The BIAWGN capacity (:func:`biawgn_capacity`) is the Shannon limit the design is measured against.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, linprog, minimize_scalar
from scipy.special import logsumexp

from sdqkd.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_VARIABLE_DEGREE",
    "MAX_DESIGN_RATE",
    "MIN_DESIGN_RATE",
    "DegreeDistribution",
    "biawgn_capacity",
    "biawgn_sigma_limit",
    "design_distribution",
    "phi",
    "threshold_sigma",
]

FloatArray = npt.NDArray[np.float64]

MIN_DESIGN_RATE = 0.05
"""The lowest rate :func:`design_distribution` designs for. Plain irregular ensembles (no punctured or
degree-1 nodes, i.e. not multi-edge type) fall away from capacity at low rate: GA gap ≈ 0.3 dB at
rate 0.3, 0.6 dB at 0.1, 1.4 dB at 0.05."""

MAX_DESIGN_RATE = 0.95
"""The highest rate :func:`design_distribution` designs for."""

DEFAULT_MAX_VARIABLE_DEGREE = 24
"""λ's largest degree unless asked: at rate 1/2 the GA threshold is within 0.02 of capacity, and degrees
much above ~25 buy little threshold and cost decoding iterations at finite length."""

_X_TABLE_MAX = 5000.0  # φ is tabulated on [0, 5000]; beyond, −log φ(x) grows like x/4
_FIXED_POINT_GRID = np.geomspace(1e-7, 2000.0, 3000)  # −log(s/s₀) where F(s) < s is checked
_RATE_DECIMALS = 4


def _log_phi_quadrature(x: float) -> float:
    """``log φ(x)`` for x > 0 from the definition, by the trapezoid rule.

    ``φ(x) = E[1 − tanh(U/2)] = E[2/(1 + e^U)]``, U ~ N(x, 2x); the second form has no cancellation. The
    integrand ``2/(1+e^u) · N(u; x, 2x)`` is analytic in the strip |Im u| < π, so the trapezoid rule
    converges like ``exp(−2π²/h)`` (≈ 1e-17 at the step h = 1/4 used; the step is also kept under a
    quarter of the Gaussian's standard deviation for small x). Its logarithm falls by at least |u|/2
    either side of u = 0 (for u < 0 the Gaussian's log-slope is ≥ 1/2, for u > 0 the factor e^{−u} wins),
    so ``[−90, 90]`` (intersected with the Gaussian's ±40σ) holds all but e^{−45} of the mass, even for
    x in the thousands where the mass sits far in the Gaussian's tail.
    """
    std = math.sqrt(2.0 * x)
    lo = max(-90.0, min(0.0, x - 40.0 * std))
    hi = min(90.0, x + 40.0 * std)
    step = min(0.25, std / 4.0)
    count = math.ceil((hi - lo) / step) + 1
    u = np.linspace(lo, hi, count)
    log_integrand = (
        math.log(2.0) - np.logaddexp(0.0, u) - (u - x) ** 2 / (4.0 * x) - 0.5 * math.log(4.0 * math.pi * x)
    )
    return float(logsumexp(log_integrand)) + math.log(u[1] - u[0])


@functools.cache
def _phi_table() -> tuple[FloatArray, FloatArray]:
    """``(x, −log φ(x))`` on 0 ≤ x ≤ 5000: steps of 0.005 up to 10, then geometric (ratio 1.004).

    Linear interpolation of the smooth ``log φ`` on this grid is accurate to ~1e-5 (its second derivative
    is O(1) near 0 and ≈ 1/(2x²) for large x). Built once, ~0.2 s.
    """
    x = np.concatenate([np.linspace(0.0, 10.0, 2001), np.geomspace(10.0, _X_TABLE_MAX, 1501)[1:]])
    neg_log = np.zeros_like(x)
    neg_log[1:] = [-_log_phi_quadrature(float(value)) for value in x[1:]]
    if not np.all(np.diff(neg_log) > 0):  # φ is strictly decreasing; the inverse relies on it
        raise ArithmeticError("the tabulated φ is not monotone")
    x.flags.writeable = False
    neg_log.flags.writeable = False
    return x, neg_log


def _neg_log_phi(x: FloatArray) -> FloatArray:
    """``−log φ(x)`` for x ≥ 0 (element-wise), continued by the asymptote ``x/4`` beyond the table."""
    grid, table = _phi_table()
    inside = np.interp(x, grid, table)
    beyond = table[-1] + (x - grid[-1]) / 4.0
    return np.where(x > grid[-1], beyond, inside)


def _phi_inverse_neg_log(y: FloatArray) -> FloatArray:
    """``φ⁻¹(e^{−y})`` for y ≥ 0 (element-wise): the mean whose φ is ``e^{−y}``."""
    grid, table = _phi_table()
    inside = np.interp(y, table, grid)
    beyond = grid[-1] + 4.0 * (y - table[-1])
    return np.where(y > table[-1], beyond, inside)


def phi(x: npt.ArrayLike) -> FloatArray:
    """Chung et al.'s ``φ(x) = 1 − E[tanh(U/2)]``, U ~ N(x, 2x): the GA's map from a message mean to
    the "φ-mass" that check nodes combine (φ(0) = 1, φ(x) ≈ √(π/x) e^{−x/4} for large x).

    Args:
        x: message means (LLR units), ≥ 0.
    """
    values = np.asarray(x, dtype=np.float64)
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ConfigError("φ takes finite non-negative means")
    return np.exp(-_neg_log_phi(values))


@dataclass(frozen=True)
class DegreeDistribution:
    """An LDPC degree distribution in the *edge* perspective: ``variable_fractions[k]`` is the fraction
    λᵢ of edges attached to variable nodes of degree ``variable_degrees[k]``; likewise ρⱼ for checks.

    ``rate`` is the design rate ``1 − ∫ρ/∫λ``; ``sigma_threshold`` the GA density-evolution threshold σ*
    (noise standard deviation for BPSK ±1; computed on first use, then kept) and ``snr_threshold`` the
    matching SNR ``1/σ*²``.
    """

    variable_degrees: tuple[int, ...]
    variable_fractions: tuple[float, ...]
    check_degrees: tuple[int, ...]
    check_fractions: tuple[float, ...]

    def __post_init__(self) -> None:
        for name, degrees, fractions, least in (
            ("variable", self.variable_degrees, self.variable_fractions, 2),
            ("check", self.check_degrees, self.check_fractions, 2),
        ):
            if len(degrees) == 0 or len(degrees) != len(fractions):
                raise ConfigError(f"{name} degrees and fractions must be non-empty and of equal length")
            if list(degrees) != sorted(set(degrees)) or degrees[0] < least:
                raise ConfigError(f"{name} degrees must be increasing integers ≥ {least}")
            if any(not (0.0 < f <= 1.0) for f in fractions) or abs(math.fsum(fractions) - 1.0) > 1e-9:
                raise ConfigError(f"{name} edge fractions must be positive and sum to 1")

    @property
    def rate(self) -> float:
        """Design rate ``1 − Σ ρⱼ/j / Σ λᵢ/i`` (edges per check node over edges per variable node)."""
        return 1.0 - self.check_edges_inverse / self.variable_edges_inverse

    @property
    def variable_edges_inverse(self) -> float:
        """``Σ λᵢ/i = ∫₀¹ λ``: variable nodes per edge (1 / the mean variable degree)."""
        return math.fsum(f / d for d, f in zip(self.variable_degrees, self.variable_fractions, strict=True))

    @property
    def check_edges_inverse(self) -> float:
        """``Σ ρⱼ/j = ∫₀¹ ρ``: check nodes per edge (1 / the mean check degree)."""
        return math.fsum(f / d for d, f in zip(self.check_degrees, self.check_fractions, strict=True))

    @functools.cached_property
    def sigma_threshold(self) -> float:
        """The GA threshold σ* (see :func:`threshold_sigma`)."""
        return threshold_sigma(self)

    @property
    def snr_threshold(self) -> float:
        """``1/σ*²``: the lowest SNR (signal power 1) at which the code decodes in the GA."""
        return 1.0 / self.sigma_threshold**2


def _check_mean(neg_log_s: FloatArray, degrees: FloatArray, fractions: FloatArray) -> FloatArray:
    """``r = Σⱼ ρⱼ φ⁻¹(1 − (1 − s)^{j−1})`` for each ``s = e^{−neg_log_s}`` (shape (K,) → (K,)).

    ``1 − (1−s)^{j−1}`` is ``−expm1((j−1)·log1p(−s))`` (no cancellation); once s < e^{−30} it is
    ``(j−1)s`` to double precision, taken in logs so that s far below the float range still works.
    """
    tiny = neg_log_s[:, None] > 30.0
    s = np.exp(-np.minimum(neg_log_s, 30.0))[:, None]
    direct = -np.expm1((degrees[None, :] - 1.0) * np.log1p(-s))
    neg_log_y = np.where(
        tiny,
        neg_log_s[:, None] - np.log(degrees[None, :] - 1.0),
        -np.log(np.where(tiny, 1.0, direct)),
    )
    result: FloatArray = _phi_inverse_neg_log(neg_log_y) @ fractions
    return result


def _variable_neg_log_s(
    m0: FloatArray, r: FloatArray, degrees: FloatArray, log_fractions: FloatArray
) -> FloatArray:
    """``−log Σᵢ λᵢ φ(m₀ + (i−1) r)`` (shape (K,) → (K,)), a log-sum-exp so nothing underflows."""
    means = m0[:, None] + (degrees[None, :] - 1.0) * r[:, None]
    terms = log_fractions[None, :] - _neg_log_phi(means)
    top = terms.max(axis=1)  # log-sum-exp by hand: scipy's costs ~10x more on these small arrays
    result: FloatArray = -(top + np.log(np.exp(terms - top[:, None]).sum(axis=1)))
    return result


def _fixed_point_free(dist: DegreeDistribution, sigmas: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether GA density evolution of ``dist`` succeeds at each noise level (vectorised over σ).

    The recursion ``s_ℓ₊₁ = F(s_ℓ)`` is monotone and starts at ``s₀ = φ(m₀)``, so ``s_ℓ → 0`` (the mean
    grows without bound) iff F has no fixed point in (0, s₀]: ``F(s) < s`` there. That is checked on a
    geometric grid of ``−log(s/s₀)`` from 1e-7 to 2000 (ratio 1.008 per step; s down to e^{−2000}, means
    in the thousands), in logs, plus the stability condition ``λ₂ρ'(1) < e^{m₀/4}`` for the limit s → 0
    (Richardson, Shokrollahi, Urbanke 2001). Unlike iterating, this costs the same near the threshold,
    where the recursion crawls through a narrow "tunnel" for thousands of iterations.
    """
    dv = np.asarray(dist.variable_degrees, dtype=np.float64)
    log_lam = np.log(np.asarray(dist.variable_fractions, dtype=np.float64))
    dc = np.asarray(dist.check_degrees, dtype=np.float64)
    rho = np.asarray(dist.check_fractions, dtype=np.float64)
    m0 = 2.0 / sigmas**2
    neg_log_s = (_neg_log_phi(m0)[:, None] + _FIXED_POINT_GRID[None, :]).ravel()
    m0_each = np.repeat(m0, _FIXED_POINT_GRID.size)
    neg_log_f = _variable_neg_log_s(m0_each, _check_mean(neg_log_s, dc, rho), dv, log_lam)
    decreasing = (neg_log_f > neg_log_s).reshape(m0.size, _FIXED_POINT_GRID.size).all(axis=1)
    lambda2 = dist.variable_fractions[0] if dist.variable_degrees[0] == 2 else 0.0
    rho_prime = float(np.sum((dc - 1.0) * rho))
    stable = lambda2 * rho_prime < np.exp(m0 / 4.0)
    result: npt.NDArray[np.bool_] = decreasing & stable
    return result


def _evolve(dist: DegreeDistribution, sigma: float, iterations: int, stop: float = 1000.0) -> float:
    """The check-to-variable mean ``r`` after ``iterations`` rounds of the GA recursion, literally
    (stopping once r ≥ ``stop``): the reference the fixed-point test :func:`_fixed_point_free` is held to."""
    dv = np.asarray(dist.variable_degrees, dtype=np.float64)
    log_lam = np.log(np.asarray(dist.variable_fractions, dtype=np.float64))
    dc = np.asarray(dist.check_degrees, dtype=np.float64)
    rho = np.asarray(dist.check_fractions, dtype=np.float64)
    m0, r = np.array([2.0 / sigma**2]), np.zeros(1)
    for _ in range(iterations):
        r = _check_mean(_variable_neg_log_s(m0, r, dv, log_lam), dc, rho)
        if r[0] >= stop:
            break
    return float(r[0])


def threshold_sigma(dist: DegreeDistribution, *, tolerance: float = 1e-5) -> float:
    """The GA density-evolution threshold σ* of ``dist`` on the BIAWGN channel (BPSK ±1, noise std σ).

    The largest σ at which the mean of the messages grows without bound (Chung et al. 2001), located by
    bisection. With φ exact, the regular (3,6) ensemble gets 0.8719; Chung et al.'s curve fit of φ
    gives 0.8745 (their 0.8747), full density evolution 0.8809. Bisection — 32 σ at a time, each
    tested at once by :func:`_fixed_point_free`, so every round divides the bracket by 33.
    The answer is within ``tolerance`` below σ*.

    Args:
        dist: the degree distribution.
        tolerance: width of the final bracket, in σ.
    """
    lo, hi = 0.05, 1.0
    while _fixed_point_free(dist, np.array([hi]))[0]:
        lo, hi = hi, 2.0 * hi
        if hi > 64.0:
            raise ArithmeticError("density evolution decodes at any noise level: not a valid code")
    if not _fixed_point_free(dist, np.array([lo]))[0]:
        raise ArithmeticError("density evolution fails even without noise: not a valid code")
    while hi - lo > tolerance:
        sigmas = np.linspace(lo, hi, 34)[1:-1]
        ok = _fixed_point_free(dist, sigmas)
        # Monotone in σ: the new bracket is [last success, first failure].
        first_fail = int(np.argmin(ok)) if not ok.all() else sigmas.size
        lo = float(sigmas[first_fail - 1]) if first_fail > 0 else lo
        hi = float(sigmas[first_fail]) if first_fail < sigmas.size else hi
    return lo


def biawgn_capacity(snr: float) -> float:
    """Capacity of the binary-input AWGN channel, bits per channel use.

    ``C = 1 − E[log₂(1 + e^{−L})]``, L ~ N(2·snr, 4·snr) the LLR of a transmitted +1 with
    ``snr = 1/σ²`` (signal power 1). The trapezoid rule over L (step ≤ 1/4 and ≤ σ_L/8; the integrand is
    analytic in |Im L| < π, so it is exact to double precision) over ±40 standard deviations, cut to
    [−200, 80]: beyond 80 the loss term is below e^{−80}, below −200 the Gaussian falls faster than e^{L/2}.

    Args:
        snr: signal-to-noise ratio (linear, not dB), ≥ 0.
    """
    if not (snr >= 0.0 and math.isfinite(snr)):
        raise ConfigError(f"the SNR must be finite and non-negative, not {snr}")
    if snr == 0.0:
        return 0.0
    mean, std = 2.0 * snr, 2.0 * math.sqrt(snr)
    lo, hi = max(mean - 40.0 * std, -200.0), min(mean + 40.0 * std, 80.0)
    if lo >= hi:  # snr ≳ 1700: no LLR below 80 within 40 standard deviations
        return 1.0
    llr = np.linspace(lo, hi, math.ceil((hi - lo) / min(0.25, std / 8.0)) + 1)
    density = np.exp(-((llr - mean) ** 2) / (2.0 * std**2)) / (std * math.sqrt(2.0 * math.pi))
    loss_bits = float(np.sum(np.logaddexp(0.0, -llr) * density) * (llr[1] - llr[0])) / math.log(2.0)
    return min(1.0, max(0.0, 1.0 - loss_bits))


def biawgn_sigma_limit(rate: float) -> float:
    """The Shannon limit as a noise level: the σ at which the BIAWGN capacity equals ``rate``."""
    if not (0.0 < rate < 1.0):
        raise ConfigError(f"the rate must lie in (0, 1), not {rate}")
    snr = brentq(lambda value: biawgn_capacity(value) - rate, 1e-8, 1e3, xtol=1e-14, rtol=1e-12)
    return 1.0 / math.sqrt(float(snr))


def _check_fractions(mean_check_degree: float) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """ρ concentrated on two consecutive degrees d, d+1 with the node-average degree ``a``:
    a fraction ``a − d`` of the check *nodes* has degree d+1, so ρ_{d+1} ∝ (d+1)(a−d), ρ_d ∝ d(1−(a−d))."""
    low = math.floor(mean_check_degree)
    upper_nodes = mean_check_degree - low
    if upper_nodes < 1e-9:
        return (low,), (1.0,)
    edges = np.array([low * (1.0 - upper_nodes), (low + 1) * upper_nodes])
    fractions = edges / edges.sum()
    return (low, low + 1), (float(fractions[0]), float(fractions[1]))


@dataclass(frozen=True)
class _Programme:
    """The rate-maximising LP for one check distribution ρ (fixed) and one σ (see the module doc)."""

    check_degrees: tuple[int, ...]
    check_fractions: tuple[float, ...]
    max_variable_degree: int

    _GRID = np.geomspace(1e-4, 32.0, 120)  # −log(s/s₀) on the grid of the constraint F(s) < s
    _MARGIN = 1e-4  # F(s) ≤ (1 − margin)·s: a strict decrease, so DE crosses the grid in finite time

    def solve(self, sigma: float) -> tuple[float, FloatArray] | None:
        """``(rate, λ over degrees 2..D)`` of the best λ at ``sigma``, or None when none decodes."""
        degrees = np.arange(2, self.max_variable_degree + 1, dtype=np.float64)
        m0 = 2.0 / sigma**2
        neg_log_s = float(_neg_log_phi(np.array([m0]))[0]) + self._GRID
        r = _check_mean(neg_log_s, np.asarray(self.check_degrees, float), np.asarray(self.check_fractions))
        means = m0 + (degrees[None, :] - 1.0) * r[:, None]
        a_ub = np.exp(neg_log_s[:, None] - _neg_log_phi(means))  # φ(·)/s: each row scaled to O(1)
        b_ub = np.full(neg_log_s.size, 1.0 - self._MARGIN)
        rho_prime = sum((d - 1) * f for d, f in zip(self.check_degrees, self.check_fractions, strict=True))
        checks_per_edge = sum(f / d for d, f in zip(self.check_degrees, self.check_fractions, strict=True))
        # Stability (λ₂ρ'(1) < e^{1/(2σ²)}) and the degree-2 nodes fitting in a tree (fewer than checks).
        lambda2_max = min(math.exp(m0 / 4.0) / rho_prime, 2.0 * checks_per_edge) * (1.0 - 1e-3)
        bounds = [(0.0, lambda2_max)] + [(0.0, 1.0)] * (degrees.size - 1)
        result = linprog(
            -1.0 / degrees,
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=np.ones((1, degrees.size)),
            b_eq=[1.0],
            bounds=bounds,
            method="highs",
        )
        if result.status != 0:
            return None
        lam = np.clip(np.asarray(result.x, dtype=np.float64), 0.0, None)
        lam /= lam.sum()
        return 1.0 - checks_per_edge / float(np.sum(lam / degrees)), lam

    def rate_at(self, sigma: float) -> float:
        """The LP's best rate at ``sigma`` (−1 when no λ decodes there)."""
        solved = self.solve(sigma)
        return -1.0 if solved is None else solved[0]

    def sigma_for_rate(self, rate: float, guess: float, xtol: float = 5e-4) -> tuple[float, FloatArray]:
        """The largest σ (to ``xtol``, from below) at which the LP still reaches ``rate``, and its λ.

        The LP's rate falls with σ, continuously until the LP becomes infeasible; the root is bracketed
        from ``guess`` outwards, found by Brent's method and, if it lands on the infeasible side of that
        edge, stepped back until the LP is feasible again.
        """

        def excess(sigma: float) -> float:
            return self.rate_at(sigma) - rate

        lo, hi = 0.98 * guess, 1.02 * guess
        while excess(lo) < 0.0:
            lo, hi = 0.9 * lo, lo
            if lo < 0.05:
                raise ArithmeticError(f"no degree distribution reaches rate {rate}")
        while excess(hi) >= 0.0:
            lo, hi = hi, 1.1 * hi
        sigma = float(brentq(excess, lo, hi, xtol=xtol))
        while (solved := self.solve(sigma)) is None or solved[0] < rate - 1e-3:
            sigma -= xtol
        return sigma, solved[1]


def design_distribution(
    rate: float, max_variable_degree: int = DEFAULT_MAX_VARIABLE_DEGREE
) -> DegreeDistribution:
    """An irregular degree distribution for ``rate`` with a GA threshold close to the BIAWGN limit.

    Method (Chung et al. 2001 §IV): ρ concentrated on two consecutive degrees; for a given ρ and σ a
    linear programme finds the λ (degrees 2..``max_variable_degree``) of largest rate whose GA density
    evolution converges (``F(s) < s`` on a grid, plus stability, plus "fewer degree-2 variable nodes than
    check nodes" so that :func:`sdqkd.postproc.codes.parity_check_matrix` can keep them cycle-free);
    σ is solved so that this rate equals ``rate``, and ρ's mean degree is chosen (a bounded 1-D search)
    to make that σ largest. Finally ρ's mean is trimmed so the design rate is exactly ``rate``, and the
    threshold is recomputed by :func:`threshold_sigma` (it is at least the LP's σ, up to the grid).

    Results are cached per (rate rounded to 4 decimals, degree); the rounded rate is the design rate.

    Args:
        rate: the code rate, in [MIN_DESIGN_RATE, MAX_DESIGN_RATE].
        max_variable_degree: the largest variable-node degree, 3..60.
    """
    if not (MIN_DESIGN_RATE <= rate <= MAX_DESIGN_RATE):
        raise ConfigError(f"the rate must lie in [{MIN_DESIGN_RATE}, {MAX_DESIGN_RATE}], not {rate}")
    if not (3 <= max_variable_degree <= 60):
        raise ConfigError(f"the largest variable degree must lie in 3..60, not {max_variable_degree}")
    return _design(round(rate, _RATE_DECIMALS), max_variable_degree)


@functools.lru_cache(maxsize=64)
def _design(rate: float, max_variable_degree: int) -> DegreeDistribution:
    # With λ₂ ≤ 2/a (the tree bound) and the rest on degree 3, the rate is at most 1 − 3/(a+1). Check
    # degree 2 is left out: there the GA is far off (at rate 0.02 it "decodes" beyond capacity).
    a_lo = max(3.0 / (1.0 - rate) - 1.0, 3.0) + 1e-3
    a_hi = 2.0 * (a_lo + 1.0)  # the best mean check degree found lies at 1.0–1.8 × (a_lo + 1)
    sigma_limit = biawgn_sigma_limit(rate)

    def programme(mean_check_degree: float) -> _Programme:
        degrees, fractions = _check_fractions(mean_check_degree)
        return _Programme(degrees, fractions, max_variable_degree)

    # The best ρ at the final σ maximises the LP's rate there (the rate-vs-σ frontier is the envelope
    # over ρ). The rate has a local maximum between each pair of integers (the two check degrees change
    # there): scan at a guess of σ, refine the best, solve for σ, then refine ρ again at that σ.
    sigma = 0.93 * sigma_limit
    scan = np.linspace(a_lo, a_hi, 9)
    while max(scan_rates := [programme(float(a)).rate_at(sigma) for a in scan]) < 0.0:
        sigma *= 0.9
    best = int(np.argmax(scan_rates))
    bounds = (float(scan[max(best - 1, 0)]), float(scan[min(best + 1, scan.size - 1)]))
    for _ in range(2):
        search = minimize_scalar(
            lambda a, at_sigma=sigma: -programme(a).rate_at(at_sigma),
            bounds=bounds,
            method="bounded",
            options={"xatol": 0.05},
        )
        sigma, lam = programme(float(search.x)).sigma_for_rate(rate, sigma)
    keep = lam > 1e-6
    degrees = tuple(int(d) for d in np.arange(2, max_variable_degree + 1)[keep])
    fractions = lam[keep] / lam[keep].sum()
    variable_nodes_per_edge = float(np.sum(fractions / np.asarray(degrees)))
    # Exact design rate: the check nodes' mean degree a satisfies 1 − (1/a)/∫λ = rate.
    check_degrees, check_fractions = _check_fractions(1.0 / (variable_nodes_per_edge * (1.0 - rate)))
    dist = DegreeDistribution(degrees, tuple(float(f) for f in fractions), check_degrees, check_fractions)
    _ = dist.sigma_threshold  # computed here, so the cached design carries it
    return dist
