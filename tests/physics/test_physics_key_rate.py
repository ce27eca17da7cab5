"""GG02 key rate through ``evaluate_key_rate``: bounds, monotonicity, clipping, vectorisation, bad input."""

from __future__ import annotations

import dataclasses
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
    key_bits_per_symbol,
    plob_bound,
    transmittance,
)

# A typical device (physics.md): the baseline that the bad-input tests perturb one parameter at a time.
BASELINE: dict[str, Any] = {
    "transmittance": 0.1,
    "excess_noise_snu": 0.02,
    "modulation_variance_snu": 4.0,
    "efficiency": 0.6,
    "electronic_noise_snu": 0.1,
    "reconciliation_efficiency": 0.95,
    "symbol_rate_bd": 1e8,
    "frame_error_rate": 0.1,
}

# Slack for floating-point noise when comparing keys that should be ordered (bits per symbol).
MONOTONE_ATOL = 1e-12

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
finite_sizes = st.sampled_from([None, FiniteSizeSecurity(1e10), FiniteSizeSecurity(1e13, pe_fraction=0.2)])


@settings(max_examples=200, deadline=None)
@given(device=devices, log10_t=st.floats(-10.0, 0.0), xi=st.floats(0.0, 0.2), finite_size=finite_sizes)
def test_key_rate_never_exceeds_the_plob_bound(
    device: dict[str, Any], log10_t: float, xi: float, finite_size: FiniteSizeSecurity | None
) -> None:
    t = 10.0**log10_t
    result = evaluate_key_rate(
        transmittance=t, excess_noise_snu=xi, symbol_rate_bd=1.0, finite_size=finite_size, **device
    )
    key = float(result.key_bits_per_symbol)
    # Trusted detector noise: Eve only holds the channel, so compare with the channel's T.
    assert key <= float(plob_bound(t))
    if device["detector"] == "untrusted":
        # Untrusted: Eve's channel is ηT, a tighter bound.
        assert key <= float(plob_bound(device["efficiency"] * t))


def test_plob_bound_reported_with_the_key_is_minus_log2_of_one_minus_t() -> None:
    result = evaluate_key_rate(**BASELINE)
    assert_allclose(result.plob_bits_per_use, -np.log2(0.9), rtol=1e-15)


def test_practical_gg02_reaches_a_fraction_of_the_plob_bound() -> None:
    # physics.md: practical GG02 reaches roughly 10–20 % of PLOB; the Lodewyck 2007 device at 25 km
    # (asymptotic, homodyne, trusted) makes 0.0352 of 0.517 bits per use: 6.8 %.
    result = evaluate_key_rate(
        transmittance=0.302,
        excess_noise_snu=0.005,
        modulation_variance_snu=18.5,
        efficiency=0.606,
        electronic_noise_snu=0.041,
        reconciliation_efficiency=0.898,
        symbol_rate_bd=350e3,
    )
    assert 0.05 < float(result.key_bits_per_symbol / result.plob_bits_per_use) < 0.1


@settings(max_examples=100, deadline=None)
@given(
    device=devices,
    xi=st.floats(0.0, 0.1),
    attenuation_db_per_km=st.floats(0.15, 0.4),
    extra_loss_db=st.floats(0.0, 5.0),
    finite_size=finite_sizes,
)
def test_key_rate_never_increases_with_length(
    device: dict[str, Any],
    xi: float,
    attenuation_db_per_km: float,
    extra_loss_db: float,
    finite_size: FiniteSizeSecurity | None,
) -> None:
    lengths_km = np.linspace(0.0, 150.0, 31)
    t = transmittance(lengths_km, attenuation_db_per_km, extra_loss_db)
    result = evaluate_key_rate(
        transmittance=t, excess_noise_snu=xi, symbol_rate_bd=1.0, finite_size=finite_size, **device
    )
    # The claim is about the key that can be made, max(K, 0): a negative K (no key) climbs back towards 0
    # as T → 0, because I_AB and χ_BE both vanish there.
    key = np.maximum(result.key_bits_per_symbol, 0.0)
    assert np.all(key[1:] <= key[:-1] + MONOTONE_ATOL)
    assert np.all(np.diff(result.secret_key_rate_bps) <= MONOTONE_ATOL)


@settings(max_examples=100, deadline=None)
@given(device=devices, log10_t=st.floats(-3.0, float(np.log10(0.95))), finite_size=finite_sizes)
def test_key_rate_never_increases_with_excess_noise(
    device: dict[str, Any], log10_t: float, finite_size: FiniteSizeSecurity | None
) -> None:
    xi = np.linspace(0.0, 0.2, 41)
    key = evaluate_key_rate(
        transmittance=10.0**log10_t,
        excess_noise_snu=xi,
        symbol_rate_bd=1.0,
        finite_size=finite_size,
        **device,
    ).key_bits_per_symbol
    assert np.all(key[1:] <= key[:-1] + MONOTONE_ATOL)


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
@pytest.mark.parametrize("detector", ["trusted", "untrusted"])
def test_key_rate_falls_strictly_with_length_while_a_key_exists(
    detection: Detection, detector: DetectorModel
) -> None:
    # Guards the property test above against a key that is flat (e.g. always 0) and so trivially monotone.
    lengths_km = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
    # Low noise, so that a key survives even when Eve is credited with the detector's noise.
    low_noise = {
        "transmittance": transmittance(lengths_km),
        "excess_noise_snu": 0.01,
        "electronic_noise_snu": 0.01,
    }
    result = evaluate_key_rate(
        **{**BASELINE, **low_noise},
        detection=detection,
        detector=detector,
    )
    assert np.all(result.secret_key_rate_bps > 0)
    assert np.all(np.diff(result.key_bits_per_symbol) < 0)


@settings(max_examples=200, deadline=None)
@given(
    device=devices,
    log10_t=st.floats(-6.0, 0.0),
    xi=st.floats(0.0, 0.5),
    symbol_rate_bd=st.floats(1.0, 1e10),
    frame_error_rate=st.floats(0.0, 0.99),
    finite_size=finite_sizes,
)
def test_secret_key_rate_is_never_negative_and_is_the_clipped_symbol_rate_times_key(
    device: dict[str, Any],
    log10_t: float,
    xi: float,
    symbol_rate_bd: float,
    frame_error_rate: float,
    finite_size: FiniteSizeSecurity | None,
) -> None:
    result = evaluate_key_rate(
        transmittance=10.0**log10_t,
        excess_noise_snu=xi,
        symbol_rate_bd=symbol_rate_bd,
        frame_error_rate=frame_error_rate,
        finite_size=finite_size,
        **device,
    )
    rate = float(result.secret_key_rate_bps)
    assert rate >= 0.0
    expected = symbol_rate_bd * (1.0 - frame_error_rate) * max(float(result.key_bits_per_symbol), 0.0)
    assert_allclose(rate, expected, rtol=1e-15)


def test_a_noisy_channel_makes_no_key_and_a_rate_of_zero() -> None:
    result = evaluate_key_rate(**{**BASELINE, "excess_noise_snu": 0.5})
    assert float(result.key_bits_per_symbol) < 0
    assert float(result.secret_key_rate_bps) == 0.0


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
@pytest.mark.parametrize("detector", ["trusted", "untrusted"])
@pytest.mark.parametrize("finite_size", [None, FiniteSizeSecurity(1e9)], ids=["asymptotic", "finite-size"])
def test_array_inputs_give_the_same_figures_as_scalar_calls(
    rng: np.random.Generator,
    detection: Detection,
    detector: DetectorModel,
    finite_size: FiniteSizeSecurity | None,
) -> None:
    shape = (3, 4)
    # T spans 30 dB to 0.2 dB so that both outcomes, key and no key, occur in every configuration.
    inputs = {
        "transmittance": rng.permutation(np.logspace(-3.0, -0.02, 12)).reshape(shape),
        "excess_noise_snu": rng.uniform(0.0, 0.02, shape),
        "modulation_variance_snu": rng.uniform(1.0, 20.0, shape),
        "efficiency": rng.uniform(0.5, 0.9, shape),
        "electronic_noise_snu": rng.uniform(0.0, 0.01, shape),
        "reconciliation_efficiency": rng.uniform(0.9, 0.99, shape),
        "symbol_rate_bd": rng.uniform(1e6, 1e9, shape),
        "frame_error_rate": rng.uniform(0.0, 0.3, shape),
    }
    options: dict[str, Any] = {"detection": detection, "detector": detector, "finite_size": finite_size}
    vectorised = evaluate_key_rate(**inputs, **options)
    fields = [field.name for field in dataclasses.fields(vectorised)]
    assert np.any(vectorised.secret_key_rate_bps > 0)
    assert np.any(vectorised.secret_key_rate_bps == 0)

    for name in fields:
        assert np.shape(getattr(vectorised, name)) == shape, name
    for index in np.ndindex(shape):
        scalar = evaluate_key_rate(**{k: float(v[index]) for k, v in inputs.items()}, **options)
        for name in fields:
            assert_allclose(getattr(vectorised, name)[index], getattr(scalar, name), rtol=1e-12, err_msg=name)


def test_parameters_broadcast_against_each_other() -> None:
    t = transmittance(np.array([[10.0], [20.0], [40.0]]))  # (3, 1)
    xi = np.array([0.0, 0.01, 0.02, 0.04])  # (4,)
    result = evaluate_key_rate(**{**BASELINE, "transmittance": t, "excess_noise_snu": xi})
    assert result.key_bits_per_symbol.shape == (3, 4)
    assert result.transmittance.shape == (3, 4)
    assert_allclose(result.transmittance[:, 2], t[:, 0], rtol=0)


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"transmittance": 1.01}, id="transmittance-above-one"),
        pytest.param({"transmittance": -0.1}, id="negative-transmittance"),
        pytest.param({"transmittance": float("nan")}, id="nan-transmittance"),
        pytest.param({"transmittance": np.array([0.1, 1.5])}, id="one-bad-element"),
        pytest.param({"excess_noise_snu": -0.01}, id="negative-excess-noise"),
        pytest.param({"modulation_variance_snu": 0.0}, id="zero-modulation-variance"),
        pytest.param({"modulation_variance_snu": -1.0}, id="negative-modulation-variance"),
        pytest.param({"efficiency": 0.0}, id="zero-efficiency"),
        pytest.param({"efficiency": 1.01}, id="efficiency-above-one"),
        pytest.param({"electronic_noise_snu": -0.01}, id="negative-electronic-noise"),
        pytest.param({"reconciliation_efficiency": 1.01}, id="beta-above-one"),
        pytest.param({"reconciliation_efficiency": 0.0}, id="zero-beta"),
        pytest.param({"frame_error_rate": 1.0}, id="every-frame-fails"),
        pytest.param({"frame_error_rate": -0.1}, id="negative-fer"),
        pytest.param({"symbol_rate_bd": 0.0}, id="zero-symbol-rate"),
    ],
)
def test_evaluate_key_rate_rejects_parameters_outside_the_physical_domain(override: dict[str, Any]) -> None:
    with pytest.raises(PhysicsError):
        evaluate_key_rate(**{**BASELINE, **override})


@pytest.mark.parametrize(
    ("transmittance_value", "efficiency", "reconciliation_efficiency"),
    [
        pytest.param(1.5, 0.6, 0.95, id="transmittance-above-one"),
        pytest.param(0.1, 0.0, 0.95, id="zero-efficiency"),
        pytest.param(0.1, 0.6, 1.2, id="beta-above-one"),
    ],
)
def test_key_bits_per_symbol_rejects_parameters_outside_the_physical_domain(
    transmittance_value: float, efficiency: float, reconciliation_efficiency: float
) -> None:
    with pytest.raises(PhysicsError):
        key_bits_per_symbol(
            4.0, transmittance_value, 0.02, efficiency, 0.1, reconciliation_efficiency, "homodyne"
        )


@pytest.mark.parametrize("t", [-0.1, 1.1])
def test_plob_bound_rejects_a_transmittance_outside_zero_to_one(t: float) -> None:
    with pytest.raises(PhysicsError):
        plob_bound(t)


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
@pytest.mark.parametrize("detector", ["trusted", "untrusted"])
def test_a_channel_that_transmits_nothing_gives_no_key(detection: Detection, detector: DetectorModel) -> None:
    result = evaluate_key_rate(
        **{**BASELINE, "transmittance": 0.0},
        detection=detection,
        detector=detector,
    )
    assert float(result.i_ab) == 0.0
    if detector == "trusted":
        # Nothing reaches Bob but vacuum and his own trusted noise: Eve learns nothing.
        assert float(result.chi_be) == pytest.approx(0.0, abs=1e-14)
    else:
        # The electronic noise is credited to Eve and still reaches Bob: she learns something of his data.
        assert float(result.chi_be) > 0.0
    assert float(result.key_bits_per_symbol) <= 1e-14
    assert float(result.secret_key_rate_bps) == 0.0


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
def test_a_finite_block_over_a_channel_that_transmits_nothing_proves_no_key(detection: Detection) -> None:
    result = evaluate_key_rate(
        **{**BASELINE, "transmittance": 0.0},
        detection=detection,
        finite_size=FiniteSizeSecurity(1e10),
    )
    assert float(result.key_bits_per_symbol) == -np.inf
    assert float(result.secret_key_rate_bps) == 0.0


# At T = 0 the untrusted-equivalent channel has ξ' = ∞; the estimators must not form 0·∞ (a RuntimeWarning,
# an error under this suite's settings) and the block must prove no key.
@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
def test_a_finite_block_over_a_dark_channel_proves_no_key_with_an_untrusted_detector(
    detection: Detection,
) -> None:
    result = evaluate_key_rate(
        **{**BASELINE, "transmittance": 0.0},
        detection=detection,
        detector="untrusted",
        finite_size=FiniteSizeSecurity(1e10),
    )
    assert float(result.key_bits_per_symbol) == -np.inf
    assert float(result.secret_key_rate_bps) == 0.0


# For 0 < T ≲ 1e-154 (e.g. 8000 km of fibre) the textbook form overflows (χ_line ≈ 1/T, (V + χ_line)²
# > 1.8e308)
# and once gave K = nan; the key must stay finite, ≈ 0 and below PLOB.
def test_key_stays_finite_and_below_plob_for_a_vanishing_transmittance() -> None:
    result = evaluate_key_rate(**{**BASELINE, "transmittance": 1e-200})
    key = float(result.key_bits_per_symbol)
    assert np.isfinite(key)
    assert key <= float(plob_bound(1e-200))
