"""The GG02 quadrature simulator: reproducible, the variances and SNR the physics expects, and
bad arguments refused with ConfigError."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from sdqkd.errors import ConfigError
from sdqkd.physics import snr as physics_snr
from sdqkd.postproc import Detection, LinkParameters, simulate_quadratures

LINK = LinkParameters(
    modulation_variance_snu=4.0,
    transmittance=0.3,
    excess_noise_snu=0.05,
    efficiency=0.6,
    electronic_noise_snu=0.1,
)
DETECTIONS: tuple[Detection, ...] = ("homodyne", "heterodyne")


@pytest.mark.parametrize("detection", DETECTIONS)
def test_the_same_seed_gives_the_same_arrays_and_another_seed_others(detection: Detection) -> None:
    first = simulate_quadratures(LINK, 1000, detection, seed=7)
    again = simulate_quadratures(LINK, 1000, detection, seed=7)
    other = simulate_quadratures(LINK, 1000, detection, seed=8)

    np.testing.assert_array_equal(first.alice, again.alice)
    np.testing.assert_array_equal(first.bob, again.bob)
    assert not np.array_equal(first.bob, other.bob)
    if detection == "homodyne":
        assert first.basis is not None
        assert again.basis is not None
        np.testing.assert_array_equal(first.basis, again.basis)


def test_a_generator_passed_in_is_drawn_from_not_restarted() -> None:
    rng = np.random.default_rng(3)
    first = simulate_quadratures(LINK, 100, "homodyne", seed=rng)
    second = simulate_quadratures(LINK, 100, "homodyne", seed=rng)

    assert not np.array_equal(first.alice, second.alice)


def test_shapes_homodyne_one_quadrature_per_symbol_heterodyne_both() -> None:
    hom = simulate_quadratures(LINK, 500, "homodyne", seed=1)
    het = simulate_quadratures(LINK, 500, "heterodyne", seed=1)

    assert hom.alice.shape == (500, 2)
    assert hom.bob.shape == (500,)
    assert hom.basis is not None
    assert hom.basis.shape == (500,)
    assert set(np.unique(hom.basis)) == {0, 1}
    assert het.alice.shape == (500, 2)
    assert het.bob.shape == (500, 2)
    assert het.basis is None
    assert [a.size for a in hom.correlated()] == [500, 500]
    assert [a.size for a in het.correlated()] == [1000, 1000]
    assert len(hom) == len(het) == 500


@pytest.mark.parametrize("detection", DETECTIONS)
def test_the_variances_and_covariance_match_theory(detection: Detection) -> None:
    """Alice: V_A per quadrature. Bob, per measured quadrature: s·ηT·(V_A + ξ) + 1 + v_el with
    s = 1 (homodyne) or ½ (heterodyne: the 3 dB split); ⟨xy⟩ = √(s·ηT)·V_A."""
    n = 1_000_000
    q = simulate_quadratures(LINK, n, detection, seed=11)
    x, y = q.correlated()
    share = 1.0 if detection == "homodyne" else 0.5
    eta_t = LINK.efficiency * LINK.transmittance
    v_a, xi, v_el = LINK.modulation_variance_snu, LINK.excess_noise_snu, LINK.electronic_noise_snu
    expected_bob = share * eta_t * (v_a + xi) + 1.0 + v_el
    expected_cov = math.sqrt(share * eta_t) * v_a

    # Sample variance of a Gaussian: relative standard error √(2/m); allow 5 of them.
    tolerance = 5 * math.sqrt(2 / x.size)
    assert np.var(q.alice) == pytest.approx(v_a, rel=tolerance)
    assert np.mean(y * y) == pytest.approx(expected_bob, rel=tolerance)
    assert np.mean(x * y) == pytest.approx(expected_cov, rel=tolerance)
    assert abs(np.mean(y)) < 5 * math.sqrt(expected_bob / x.size)


def test_heterodyne_sees_half_the_signal_of_homodyne_per_quadrature() -> None:
    hom_x, hom_y = simulate_quadratures(LINK, 400_000, "homodyne", seed=5).correlated()
    het_x, het_y = simulate_quadratures(LINK, 400_000, "heterodyne", seed=5).correlated()

    hom_gain = np.dot(hom_x, hom_y) / np.dot(hom_x, hom_x)
    het_gain = np.dot(het_x, het_y) / np.dot(het_x, het_x)

    assert het_gain**2 / hom_gain**2 == pytest.approx(0.5, rel=0.02)


def test_homodyne_bob_is_uncorrelated_with_the_quadrature_he_did_not_measure() -> None:
    q = simulate_quadratures(LINK, 200_000, "homodyne", seed=9)
    assert q.basis is not None
    other = np.where(q.basis == 1, q.alice[:, 0], q.alice[:, 1])

    assert abs(np.corrcoef(other, q.bob)[0, 1]) < 5 / math.sqrt(q.bob.size)
    assert abs(np.mean(q.basis) - 0.5) < 5 * 0.5 / math.sqrt(q.bob.size)


@pytest.mark.parametrize("detection", DETECTIONS)
def test_the_link_snr_is_the_physics_snr(detection: Detection) -> None:
    expected = physics_snr(
        LINK.modulation_variance_snu,
        LINK.transmittance,
        LINK.excess_noise_snu,
        LINK.efficiency,
        LINK.electronic_noise_snu,
        detection,
    )

    assert LINK.snr(detection) == pytest.approx(float(expected), rel=1e-14)


@pytest.mark.parametrize(
    "changes",
    [
        {"modulation_variance_snu": 0.0},
        {"modulation_variance_snu": -1.0},
        {"modulation_variance_snu": math.inf},
        {"transmittance": 1.5},
        {"transmittance": -0.1},
        {"transmittance": math.nan},
        {"excess_noise_snu": -0.01},
        {"efficiency": 0.0},
        {"efficiency": 1.2},
        {"electronic_noise_snu": -0.1},
        {"electronic_noise_snu": "0.1"},
        {"efficiency": True},
    ],
)
def test_bad_link_parameters_raise_config_error(changes: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "modulation_variance_snu": 4.0,
        "transmittance": 0.5,
        "excess_noise_snu": 0.01,
        "efficiency": 0.6,
        "electronic_noise_snu": 0.1,
    } | changes

    with pytest.raises(ConfigError):
        LinkParameters(**values)


@pytest.mark.parametrize(
    ("symbols", "detection", "seed"),
    [
        (0, "homodyne", 1),
        (-5, "homodyne", 1),
        (10.0, "homodyne", 1),
        (True, "homodyne", 1),
        (10, "balanced", 1),
        (10, "homodyne", -1),
        (10, "homodyne", "seed"),
        (10, "homodyne", 1.5),
    ],
)
def test_bad_simulation_arguments_raise_config_error(symbols: Any, detection: Any, seed: Any) -> None:
    with pytest.raises(ConfigError):
        simulate_quadratures(LINK, symbols, detection, seed)
