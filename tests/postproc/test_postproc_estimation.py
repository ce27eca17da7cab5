"""Parameter estimation: the estimators recover T and ξ, their intervals cover at the stated rate,
the bounds are those of sdqkd.physics.finite_size, and the secret fraction is the physics' key."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from sdqkd import physics
from sdqkd.errors import ConfigError
from sdqkd.postproc import (
    ChannelEstimate,
    Detection,
    DetectorModel,
    LinkParameters,
    estimate_channel,
    secret_fraction,
    simulate_quadratures,
    split_for_estimation,
)
from sdqkd.postproc.estimation import _confidence_factor

LINK = LinkParameters(
    modulation_variance_snu=4.0,
    transmittance=0.5,
    excess_noise_snu=0.02,
    efficiency=0.6,
    electronic_noise_snu=0.05,
)
DETECTIONS: tuple[Detection, ...] = ("homodyne", "heterodyne")


def _estimate(
    link: LinkParameters,
    symbols: int,
    detection: Detection,
    seed: int,
    epsilon_pe: float,
    detector: DetectorModel = "trusted",
) -> ChannelEstimate:
    disclosed = simulate_quadratures(link, symbols, detection, seed)
    return estimate_channel(
        disclosed,
        modulation_variance_snu=link.modulation_variance_snu,
        efficiency=link.efficiency,
        electronic_noise_snu=link.electronic_noise_snu,
        epsilon_pe=epsilon_pe,
        detector=detector,
    )


def _binomial_band(trials: int, p: float, sigmas: float = 4.5) -> tuple[float, float]:
    mean, sd = trials * p, math.sqrt(trials * p * (1 - p))
    return mean - sigmas * sd, mean + sigmas * sd


@pytest.mark.parametrize("detection", DETECTIONS)
def test_the_intervals_cover_t_and_xi_at_the_stated_rate_over_many_seeds(detection: Detection) -> None:
    """With ε_PE = 0.2 (z ≈ 1.28) T falls outside [T_min, T_max] in about 20 % of blocks, below
    T_min in about 10 %; ξ exceeds the worst case ξ_max in at most about 10 %."""
    seeds, epsilon = 400, 0.2
    estimates = [_estimate(LINK, 4000, detection, seed, epsilon) for seed in range(seeds)]
    t, xi = LINK.transmittance, LINK.excess_noise_snu

    outside = sum(not (e.transmittance_min <= t <= e.transmittance_max) for e in estimates)
    below = sum(t < e.transmittance_min for e in estimates)
    xi_above = sum(xi > e.excess_noise_max_snu for e in estimates)
    xi_outside = sum(not (e.excess_noise_min_snu <= xi <= e.excess_noise_max_snu) for e in estimates)

    low, high = _binomial_band(seeds, epsilon)
    assert low <= outside <= high
    low, high = _binomial_band(seeds, epsilon / 2)
    assert low <= below <= high
    assert xi_above <= _binomial_band(seeds, epsilon / 2)[1]
    assert xi_outside <= _binomial_band(seeds, epsilon)[1]  # conservative: joint bounds on t and σ²
    assert xi_outside >= 1  # ... but not vacuous at this ε


@pytest.mark.parametrize("detection", DETECTIONS)
def test_the_estimators_recover_t_xi_and_the_snr(detection: Detection) -> None:
    estimates = [_estimate(LINK, 20_000, detection, seed, 1e-10) for seed in range(100, 160)]

    assert all(e.transmittance_min <= LINK.transmittance <= e.transmittance_max for e in estimates)
    assert all(e.excess_noise_min_snu <= LINK.excess_noise_snu <= e.excess_noise_max_snu for e in estimates)
    mean_t = np.mean([e.transmittance for e in estimates])
    mean_xi = np.mean([e.excess_noise_snu for e in estimates])
    mean_snr = np.mean([e.snr for e in estimates])
    spread_t = np.std([e.transmittance for e in estimates]) / math.sqrt(len(estimates))
    spread_xi = np.std([e.excess_noise_snu for e in estimates]) / math.sqrt(len(estimates))
    assert abs(mean_t - LINK.transmittance) < 5 * spread_t
    assert abs(mean_xi - LINK.excess_noise_snu) < 5 * spread_xi
    assert mean_snr == pytest.approx(LINK.snr(detection), rel=0.01)
    assert estimates[0].samples == (20_000 if detection == "homodyne" else 40_000)


@pytest.mark.parametrize("detection", DETECTIONS)
@pytest.mark.parametrize("detector", ["trusted", "untrusted"])
def test_the_worst_case_is_physics_worst_case_channel_at_the_estimated_values(
    detection: Detection, detector: DetectorModel
) -> None:
    """physics.finite_size bounds a planned channel; here the same bounds, taken around the estimate."""
    estimate = _estimate(LINK, 50_000, detection, 21, 1e-10, detector)
    physical = _estimate(LINK, 50_000, detection, 21, 1e-10, "trusted")  # the same data, T̂ and ξ̂ at η
    t_hat, xi_hat = physical.transmittance, physical.excess_noise_snu
    eta, v_el = LINK.efficiency, LINK.electronic_noise_snu
    security = physics.FiniteSizeSecurity(block_size=100_000, pe_fraction=0.5, epsilon_pe=1e-10)

    t_min, xi_max = physics.worst_case_channel(
        LINK.modulation_variance_snu, t_hat, xi_hat, eta, v_el, detection, detector, security
    )

    assert estimate.z == pytest.approx(security.z, rel=1e-15)
    assert estimate.transmittance_min == pytest.approx(float(t_min), rel=1e-12)
    assert estimate.excess_noise_max_snu == pytest.approx(float(xi_max), rel=1e-12)


def test_an_untrusted_detector_is_credited_to_eve() -> None:
    trusted = _estimate(LINK, 50_000, "homodyne", 4, 1e-10, "trusted")
    untrusted = _estimate(LINK, 50_000, "homodyne", 4, 1e-10, "untrusted")
    t_eq, xi_eq = physics.equivalent_untrusted_channel(
        trusted.transmittance,
        trusted.excess_noise_snu,
        LINK.efficiency,
        LINK.electronic_noise_snu,
        "homodyne",
    )

    assert untrusted.transmittance == pytest.approx(float(t_eq), rel=1e-12)
    assert untrusted.excess_noise_snu == pytest.approx(float(xi_eq), rel=1e-12)
    assert untrusted.snr == pytest.approx(trusted.snr, rel=1e-12)


@pytest.mark.parametrize("epsilon", [1e-10, 1e-3, 0.05])
def test_the_confidence_factor_is_the_physics_one(epsilon: float) -> None:
    assert _confidence_factor(epsilon) == pytest.approx(
        physics.FiniteSizeSecurity(block_size=1e6, epsilon_pe=epsilon).z, rel=1e-15
    )


@pytest.mark.parametrize("detection", DETECTIONS)
def test_the_secret_fraction_is_the_physics_finite_size_key_at_the_estimate(detection: Detection) -> None:
    block = 2_000_000
    quadratures = simulate_quadratures(LINK, block, detection, seed=31)
    disclosed, kept = split_for_estimation(quadratures, 0.5, seed=32)
    estimate = estimate_channel(
        disclosed,
        modulation_variance_snu=LINK.modulation_variance_snu,
        efficiency=LINK.efficiency,
        electronic_noise_snu=LINK.electronic_noise_snu,
        epsilon_pe=1e-10,
    )
    security = physics.FiniteSizeSecurity(block_size=block, pe_fraction=0.5, epsilon_pe=1e-10)
    penalty = float(physics.privacy_amplification_penalty(security.key_symbols, security))

    fraction = secret_fraction(
        estimate,
        reconciliation_efficiency=0.95,
        key_fraction=len(kept) / block,
        penalty_bits=penalty,
    )
    expected = physics.evaluate_key_rate(
        transmittance=estimate.transmittance,
        excess_noise_snu=estimate.excess_noise_snu,
        modulation_variance_snu=LINK.modulation_variance_snu,
        efficiency=LINK.efficiency,
        electronic_noise_snu=LINK.electronic_noise_snu,
        reconciliation_efficiency=0.95,
        symbol_rate_bd=1.0,
        detection=detection,
        finite_size=security,
    ).key_bits_per_symbol

    assert float(expected) > 0
    assert fraction == pytest.approx(float(expected), rel=1e-10)


def test_no_key_aborts_to_zero() -> None:
    noisy = LinkParameters(4.0, 0.5, 0.3, 0.6, 0.05)  # ξ far above what GG02 tolerates
    tiny = LinkParameters(4.0, 0.001, 0.02, 0.6, 0.05)  # 20 samples at T = 1e-3: t_min ≤ 0
    noisy_estimate = _estimate(noisy, 100_000, "homodyne", 1, 1e-10)
    tiny_estimate = _estimate(tiny, 20, "homodyne", 1, 1e-10)

    assert noisy_estimate.proven
    assert secret_fraction(noisy_estimate, reconciliation_efficiency=0.95, key_fraction=0.5) == 0.0
    assert not tiny_estimate.proven
    assert tiny_estimate.transmittance_min == 0.0
    assert math.isinf(tiny_estimate.excess_noise_max_snu)
    assert secret_fraction(tiny_estimate, reconciliation_efficiency=0.95, key_fraction=0.5) == 0.0


def test_the_split_is_a_random_partition_fixed_by_its_seed() -> None:
    q = simulate_quadratures(LINK, 1000, "homodyne", seed=2)
    disclosed, kept = split_for_estimation(q, 0.3, seed=3)
    again, _ = split_for_estimation(q, 0.3, seed=3)
    other, _ = split_for_estimation(q, 0.3, seed=4)

    assert (len(disclosed), len(kept)) == (300, 700)
    together = np.sort(np.concatenate([disclosed.bob, kept.bob]))
    np.testing.assert_array_equal(together, np.sort(q.bob))
    np.testing.assert_array_equal(disclosed.bob, again.bob)
    assert not np.array_equal(disclosed.bob, other.bob)
    assert disclosed.basis is not None
    assert disclosed.basis.shape == (300,)


@pytest.mark.parametrize(
    "changes",
    [
        {"epsilon_pe": 0.0},
        {"epsilon_pe": 1.0},
        {"modulation_variance_snu": 0.0},
        {"efficiency": 1.5},
        {"electronic_noise_snu": -0.1},
        {"detector": "honest"},
    ],
)
def test_bad_estimation_arguments_raise_config_error(changes: dict[str, Any]) -> None:
    disclosed = simulate_quadratures(LINK, 100, "homodyne", seed=1)
    arguments: dict[str, Any] = {
        "modulation_variance_snu": 4.0,
        "efficiency": 0.6,
        "electronic_noise_snu": 0.05,
        "epsilon_pe": 1e-10,
    } | changes

    with pytest.raises(ConfigError):
        estimate_channel(disclosed, **arguments)


def test_too_few_samples_or_a_bad_split_raise_config_error() -> None:
    one = simulate_quadratures(LINK, 1, "homodyne", seed=1)
    q = simulate_quadratures(LINK, 10, "homodyne", seed=1)

    with pytest.raises(ConfigError):
        estimate_channel(
            one, modulation_variance_snu=4.0, efficiency=0.6, electronic_noise_snu=0.0, epsilon_pe=0.1
        )
    for fraction in (0.0, 1.0, 0.01, 0.99):
        with pytest.raises(ConfigError):
            split_for_estimation(q, fraction, seed=1)


@pytest.mark.parametrize(
    "changes",
    [
        {"reconciliation_efficiency": 0.0},
        {"reconciliation_efficiency": 1.1},
        {"key_fraction": 0.0},
        {"key_fraction": 1.5},
        {"penalty_bits": -0.1},
        {"penalty_bits": math.nan},
    ],
)
def test_bad_secret_fraction_arguments_raise_config_error(changes: dict[str, Any]) -> None:
    estimate = _estimate(LINK, 1000, "homodyne", 1, 1e-3)
    arguments: dict[str, Any] = {"reconciliation_efficiency": 0.95, "key_fraction": 0.5} | changes

    with pytest.raises(ConfigError):
        secret_fraction(estimate, **arguments)
