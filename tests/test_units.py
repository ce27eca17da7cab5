"""Unit conversions of ``sdqkd.units``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sdqkd.units import (
    db_to_linear,
    dbm_to_w,
    dwdm_channel_to_frequency_thz,
    frequency_thz_to_dwdm_channel,
    frequency_thz_to_wavelength_nm,
    linear_to_db,
    w_to_dbm,
    wavelength_nm_to_frequency_thz,
)


@settings(max_examples=100, deadline=None)
@given(db=st.floats(-200.0, 200.0))
def test_decibels_survive_a_round_trip_through_linear(db: float) -> None:
    assert_allclose(linear_to_db(db_to_linear(db)), db, rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(ratio=st.floats(1e-20, 1e20))
def test_linear_ratios_survive_a_round_trip_through_decibels(ratio: float) -> None:
    assert_allclose(db_to_linear(linear_to_db(ratio)), ratio, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(power_dbm=st.floats(-150.0, 60.0))
def test_dbm_survive_a_round_trip_through_watts(power_dbm: float) -> None:
    assert_allclose(w_to_dbm(dbm_to_w(power_dbm)), power_dbm, rtol=1e-12, atol=1e-12)


def test_zero_dbm_is_one_milliwatt() -> None:
    assert_allclose(dbm_to_w(0.0), 1e-3, rtol=1e-15)
    assert_allclose(w_to_dbm(1e-3), 0.0, atol=1e-15)


def test_familiar_decibel_values() -> None:
    assert_allclose(db_to_linear(10.0), 10.0, rtol=1e-15)
    assert_allclose(db_to_linear(-3.0), 0.501187233627272, rtol=1e-14)
    assert_allclose(dbm_to_w(20.0), 0.1, rtol=1e-15)
    assert_allclose(w_to_dbm(1.0), 30.0, rtol=1e-15)


def test_zero_power_is_minus_infinity_decibels() -> None:
    assert linear_to_db(0.0) == -np.inf
    assert w_to_dbm(0.0) == -np.inf


def test_conversions_broadcast_over_arrays() -> None:
    powers_dbm = np.array([[-10.0, 0.0], [10.0, 20.0]])
    assert_allclose(dbm_to_w(powers_dbm), [[1e-4, 1e-3], [1e-2, 1e-1]], rtol=1e-15)


def test_dwdm_channel_31_is_193_1_thz() -> None:
    assert dwdm_channel_to_frequency_thz(31) == 193.1
    assert frequency_thz_to_dwdm_channel(193.1) == 31


@pytest.mark.parametrize(("channel", "frequency_thz"), [(21, 192.1), (59, 195.9)])
def test_dwdm_channels_lie_on_the_100_ghz_grid(channel: int, frequency_thz: float) -> None:
    assert dwdm_channel_to_frequency_thz(channel) == frequency_thz


def test_193_1_thz_is_1552_52_nm() -> None:
    # λ = c/ν = 299 792 458 m/s / 193.1e12 Hz = 1552.5244 nm.
    assert_allclose(frequency_thz_to_wavelength_nm(193.1), 1552.5244, rtol=1e-7)
    assert_allclose(wavelength_nm_to_frequency_thz(1552.5244), 193.1, rtol=1e-7)


@settings(max_examples=100, deadline=None)
@given(wavelength_nm=st.floats(1260.0, 1675.0))
def test_wavelength_survives_a_round_trip_through_frequency(wavelength_nm: float) -> None:
    assert_allclose(
        frequency_thz_to_wavelength_nm(wavelength_nm_to_frequency_thz(wavelength_nm)), wavelength_nm
    )


@pytest.mark.parametrize("channel", range(-20, 100))
def test_dwdm_channel_survives_a_round_trip_through_frequency(channel: int) -> None:
    assert frequency_thz_to_dwdm_channel(dwdm_channel_to_frequency_thz(channel)) == channel


def test_frequency_off_the_grid_rounds_to_the_nearest_channel() -> None:
    assert frequency_thz_to_dwdm_channel(193.14) == 31
    assert frequency_thz_to_dwdm_channel(193.16) == 32
