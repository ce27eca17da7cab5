"""Fibre loss, transmittance and Bob's SNR."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sdqkd.errors import PhysicsError
from sdqkd.physics import loss_db, snr, transmittance, transmittance_from_loss_db


@settings(max_examples=200, deadline=None)
@given(
    length_km=st.floats(0.0, 1e6),
    attenuation_db_per_km=st.floats(0.0, 10.0),
    extra_loss_db=st.floats(0.0, 100.0),
)
def test_transmittance_lies_between_zero_and_one_for_any_length_and_attenuation(
    length_km: float, attenuation_db_per_km: float, extra_loss_db: float
) -> None:
    t = transmittance(length_km, attenuation_db_per_km, extra_loss_db)
    assert 0.0 <= t <= 1.0


@settings(max_examples=50, deadline=None)
@given(
    lengths_km=st.lists(st.floats(0.0, 500.0), min_size=2, max_size=20),
    attenuation_db_per_km=st.floats(0.01, 1.0),
)
def test_transmittance_decreases_with_length(lengths_km: list[float], attenuation_db_per_km: float) -> None:
    lengths = np.sort(np.asarray(lengths_km))
    t = transmittance(lengths, attenuation_db_per_km)
    assert np.all(np.diff(t) <= 0.0)


def test_transmittance_is_ten_to_the_minus_loss_over_ten() -> None:
    # 50 km × 0.2 dB/km = 10 dB → T = 0.1; 25 km × 0.2 dB/km + 1.5 dB = 6.5 dB → T = 10^(−0.65).
    assert_allclose(transmittance(50.0, 0.2), 0.1, rtol=1e-15)
    assert_allclose(transmittance(25.0, 0.2, 1.5), 10**-0.65, rtol=1e-15)
    assert_allclose(loss_db(25.0, 0.2, 1.5), 6.5, rtol=1e-15)
    assert_allclose(transmittance_from_loss_db(3.0), 0.501187233627272, rtol=1e-14)


def test_a_zero_length_fibre_without_extra_loss_transmits_everything() -> None:
    assert transmittance(0.0) == 1.0


def test_transmittance_defaults_to_standard_single_mode_fibre_at_0_2_db_per_km() -> None:
    assert_allclose(transmittance(100.0), 0.01, rtol=1e-15)


def test_snr_follows_the_homodyne_and_heterodyne_formulas() -> None:
    v_a, t, xi, eta, v_el = 4.0, 0.1, 0.02, 0.6, 0.1
    signal = 0.6 * 0.1 * 4.0  # η T V_A = 0.24
    assert_allclose(
        snr(v_a, t, xi, eta, v_el, "homodyne"), signal / (1.0 + 0.1 + 0.6 * 0.1 * 0.02), rtol=1e-15
    )
    assert_allclose(
        snr(v_a, t, xi, eta, v_el, "heterodyne"), signal / (2.0 + 0.2 + 0.6 * 0.1 * 0.02), rtol=1e-15
    )


@pytest.mark.parametrize(
    ("length_km", "attenuation_db_per_km", "extra_loss_db"),
    [
        pytest.param(-1.0, 0.2, 0.0, id="negative-length"),
        pytest.param(10.0, -0.2, 0.0, id="negative-attenuation"),
        pytest.param(10.0, 0.2, -1.0, id="negative-extra-loss"),
        pytest.param(float("nan"), 0.2, 0.0, id="nan-length"),
    ],
)
def test_transmittance_rejects_unphysical_fibres(
    length_km: float, attenuation_db_per_km: float, extra_loss_db: float
) -> None:
    with pytest.raises(PhysicsError):
        transmittance(length_km, attenuation_db_per_km, extra_loss_db)


def test_transmittance_rejects_a_negative_loss_anywhere_in_an_array() -> None:
    with pytest.raises(PhysicsError):
        transmittance_from_loss_db(np.array([3.0, -0.1, 10.0]))
