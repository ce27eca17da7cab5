"""Finite-size GG02 key (Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010))."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sdqkd.errors import PhysicsError
from sdqkd.physics import (
    Detection,
    DetectorModel,
    FiniteSizeSecurity,
    evaluate_key_rate,
    privacy_amplification_penalty,
    worst_case_channel,
)

LINK: dict[str, Any] = {
    "transmittance": 0.1,
    "excess_noise_snu": 0.02,
    "modulation_variance_snu": 4.0,
    "efficiency": 0.6,
    "electronic_noise_snu": 0.1,
    "reconciliation_efficiency": 0.95,
    "symbol_rate_bd": 1e8,
}

devices = st.fixed_dictionaries(
    {
        "modulation_variance_snu": st.floats(0.5, 40.0),
        "efficiency": st.floats(0.3, 1.0),
        "electronic_noise_snu": st.floats(0.0, 0.3),
        "reconciliation_efficiency": st.floats(0.8, 1.0),
        "detection": st.sampled_from(["homodyne", "heterodyne"]),
        "detector": st.sampled_from(["trusted", "untrusted"]),
    }
)
securities = st.builds(
    FiniteSizeSecurity,
    block_size=st.sampled_from([1e6, 1e8, 1e10, 1e12]),
    pe_fraction=st.floats(0.05, 0.95),
)


def _two_sided_gaussian_quantile(epsilon: float) -> float:
    """z with P(|N(0,1)| > z) = ε, by bisection on math.erfc (independent of scipy's erfinv)."""
    low, high = 0.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if math.erfc(middle / math.sqrt(2.0)) > epsilon:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def test_confidence_factor_is_6_467_for_epsilon_pe_of_1e_10() -> None:
    z = FiniteSizeSecurity(block_size=1e10, epsilon_pe=1e-10).z
    assert_allclose(z, 6.466951, rtol=1e-6)
    # 1 − 1e-10 carries only ~6 significant digits of ε in float64, so erfinv(1 − ε) is good to ~1e-7.
    assert_allclose(z, _two_sided_gaussian_quantile(1e-10), rtol=1e-7)


@pytest.mark.parametrize("epsilon_pe", [1e-3, 1e-6, 1e-9])
def test_confidence_factor_is_the_two_sided_gaussian_quantile(epsilon_pe: float) -> None:
    z = FiniteSizeSecurity(block_size=1e10, epsilon_pe=epsilon_pe).z
    assert_allclose(z, _two_sided_gaussian_quantile(epsilon_pe), rtol=1e-7)


def test_privacy_amplification_penalty_at_1e8_key_symbols_matches_a_hand_computation() -> None:
    # Δ(n) = 7·√(log2(2/ε̄)/n) + (2/n)·log2(1/ε_PA), with ε̄ = ε_PA = 1e-10 and n = 1e8:
    # log2(2e10) = 34.219281, √(34.219281e-8) = 5.8497249e-4, × 7 = 4.0948074e-3;
    # (2/1e8)·log2(1e10) = 2e-8 × 33.219281 = 6.6438562e-7; Δ = 4.0954718e-3.
    security = FiniteSizeSecurity(block_size=2e8)
    assert_allclose(privacy_amplification_penalty(1e8, security), 4.0954718e-3, rtol=1e-7)


def test_privacy_amplification_penalty_shrinks_as_one_over_root_n() -> None:
    security = FiniteSizeSecurity(block_size=1e10)
    ratio = privacy_amplification_penalty(1e8, security) / privacy_amplification_penalty(1e10, security)
    assert_allclose(ratio, 10.0, rtol=1e-3)  # the (2/n)·log2(1/ε_PA) term is 1e-4 of the total


def test_block_is_split_into_estimation_and_key_symbols() -> None:
    security = FiniteSizeSecurity(block_size=1e9, pe_fraction=0.25)
    assert security.estimation_symbols == 2.5e8
    assert security.key_symbols == 7.5e8


@settings(max_examples=200, deadline=None)
@given(
    device=devices,
    log10_t=st.floats(-3.0, 0.0),
    xi=st.floats(0.0, 0.2),
    security=securities,
)
def test_worst_case_channel_is_lossier_and_noisier_than_the_true_one(
    device: dict[str, Any], log10_t: float, xi: float, security: FiniteSizeSecurity
) -> None:
    t = 10.0**log10_t
    t_min, xi_max = worst_case_channel(
        device["modulation_variance_snu"],
        t,
        xi,
        device["efficiency"],
        device["electronic_noise_snu"],
        device["detection"],
        device["detector"],
        security,
    )
    # Untrusted: the worst case is of Eve's equivalent channel, whose transmittance is ηT ≤ T.
    assert 0.0 <= t_min < t
    assert xi_max > xi


def test_worst_case_channel_of_a_typical_link_matches_a_hand_computation() -> None:
    # Homodyne, trusted, N = 1e10, m = 5e9: t = √(ηT) = √0.06, σ² = 1 + 0.1 + 0.06 × 0.02 = 1.1012,
    # t_min = √0.06 − z·√(1.1012/(5e9 × 4)), σ²_max = 1.1012·(1 + z·√2/√5e9),
    # T_min = t_min²/η, ξ_max = (σ²_max − 1 − v_el)/t_min².
    security = FiniteSizeSecurity(block_size=1e10)
    z = _two_sided_gaussian_quantile(1e-10)
    t_min = math.sqrt(0.06) - z * math.sqrt(1.1012 / 2e10)
    sigma2_max = 1.1012 * (1.0 + z * math.sqrt(2.0) / math.sqrt(5e9))
    expected = (t_min**2 / 0.6, (sigma2_max - 1.1) / t_min**2)
    got = worst_case_channel(4.0, 0.1, 0.02, 0.6, 0.1, "homodyne", "trusted", security)
    assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
@pytest.mark.parametrize("detector", ["trusted", "untrusted"])
def test_a_tiny_block_proves_no_key(detection: Detection, detector: DetectorModel) -> None:
    result = evaluate_key_rate(
        **LINK,
        detection=detection,
        detector=detector,
        finite_size=FiniteSizeSecurity(block_size=100),
    )
    assert float(result.key_bits_per_symbol) == -np.inf
    assert float(result.secret_key_rate_bps) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    device=devices,
    log10_t=st.floats(-4.0, float(np.log10(0.95))),
    xi=st.floats(0.0, 0.1),
    security=securities,
)
def test_finite_size_key_never_exceeds_the_asymptotic_key(
    device: dict[str, Any], log10_t: float, xi: float, security: FiniteSizeSecurity
) -> None:
    link = {**device, "transmittance": 10.0**log10_t, "excess_noise_snu": xi, "symbol_rate_bd": 1e9}
    asymptotic = evaluate_key_rate(**link)
    finite = evaluate_key_rate(**link, finite_size=security)
    assert float(finite.secret_key_rate_bps) <= float(asymptotic.secret_key_rate_bps)
    # On the key itself the claim holds where a key exists: (n/N)·K of a negative K is above K.
    assert float(finite.key_bits_per_symbol) <= max(float(asymptotic.key_bits_per_symbol), 0.0)


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
@pytest.mark.parametrize("detector", ["trusted", "untrusted"])
def test_finite_size_key_grows_towards_the_asymptotic_key_with_block_size(
    detection: Detection, detector: DetectorModel
) -> None:
    # A short, quiet link, so that a key survives even when Eve is credited with the detector's noise.
    quiet = {"transmittance": 0.4, "excess_noise_snu": 0.01, "electronic_noise_snu": 0.01}
    link = {**LINK, **quiet, "detection": detection, "detector": detector}
    asymptotic = float(evaluate_key_rate(**link).key_bits_per_symbol)
    pe_fraction = 0.1
    keys = [
        float(evaluate_key_rate(**link, finite_size=FiniteSizeSecurity(n, pe_fraction)).key_bits_per_symbol)
        for n in (1e8, 1e10, 1e12, 1e15)
    ]
    assert keys[-1] > 0
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # Every disclosed symbol is lost, so the limit is (n/N)·K, reached to ~1e-3 at 1e15 symbols.
    assert_allclose(keys[-1], (1.0 - pe_fraction) * asymptotic, rtol=1e-3)


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param({"block_size": 1}, id="block-of-one-symbol"),
        pytest.param({"block_size": 1e9, "pe_fraction": 0.0}, id="nothing-disclosed"),
        pytest.param({"block_size": 1e9, "pe_fraction": 1.0}, id="everything-disclosed"),
        pytest.param({"block_size": 1e9, "epsilon_pe": 0.0}, id="zero-epsilon-pe"),
        pytest.param({"block_size": 1e9, "epsilon_pa": 1.0}, id="epsilon-pa-of-one"),
        pytest.param({"block_size": 1e9, "epsilon_smooth": -1e-10}, id="negative-epsilon-smooth"),
    ],
)
def test_finite_size_security_rejects_impossible_parameters(parameters: dict[str, float]) -> None:
    with pytest.raises(PhysicsError):
        FiniteSizeSecurity(**parameters)
