"""Raman noise from co-propagating classical channels (Eraerds 2010; Kumar, Qin, Alléaume 2015)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sdqkd.errors import PhysicsError
from sdqkd.physics import (
    RamanModel,
    backward_raman_power_w,
    forward_raman_power_w,
    raman_excess_noise_snu,
    raman_photons_per_mode,
)

# SI 2019 exact constants, written out here rather than imported from sdqkd.units.
PLANCK = 6.62607015e-34  # J·s
LIGHT = 299_792_458.0  # m/s
BOLTZMANN = 1.380649e-23  # J/K

QUANTUM_THZ = 193.1  # the quantum channel sits on DWDM channel 31


def test_forward_raman_power_matches_a_hand_computation() -> None:
    # P_f = P·e^(−αL)·ρ·L·Δλ with 1 mW, 25 km at 0.2 dB/km (5 dB, e^(−αL) = 10^(−0.5) = 0.31622777),
    # ρ = 3e-9 /(km·nm), Δλ = 0.1 nm: 1e-3 × 0.31622777 × 3e-9 × 25 × 0.1 = 2.3717082e-12 W.
    assert_allclose(forward_raman_power_w(1e-3, 25.0, 0.2, 3e-9, 0.1), 2.3717082e-12, rtol=1e-7)


def test_backward_raman_power_matches_a_hand_computation() -> None:
    # P_b = P·ρ·Δλ·(1 − e^(−2αL))/(2α), α = 0.2·ln(10)/10 = 0.046051702 /km, e^(−2αL) = 10^(−1):
    # (1 − 0.1)/0.092103404 = 9.7716258 km; 1e-3 × 3e-9 × 0.1 × 9.7716258 = 2.9314878e-12 W.
    assert_allclose(backward_raman_power_w(1e-3, 25.0, 0.2, 3e-9, 0.1), 2.9314878e-12, rtol=1e-7)


@settings(max_examples=100, deadline=None)
@given(
    length_km=st.floats(0.1, 200.0),
    attenuation_db_per_km=st.floats(0.0, 1e-7, allow_subnormal=False),
)
def test_backward_raman_power_tends_to_p_rho_l_bandwidth_in_a_lossless_fibre(
    length_km: float, attenuation_db_per_km: float
) -> None:
    lossless = 1e-3 * 3e-9 * length_km * 0.1  # P·ρ·L·Δλ
    # Relative deviation is ~αL ≤ 2.3e-8/km × 200 km.
    assert_allclose(
        backward_raman_power_w(1e-3, length_km, attenuation_db_per_km, 3e-9, 0.1), lossless, rtol=1e-5
    )
    assert_allclose(
        forward_raman_power_w(1e-3, length_km, attenuation_db_per_km, 3e-9, 0.1), lossless, rtol=1e-5
    )


def test_backward_raman_power_is_p_rho_l_bandwidth_at_exactly_zero_attenuation() -> None:
    assert_allclose(backward_raman_power_w(2e-3, 40.0, 0.0, 3e-9, 0.5), 2e-3 * 3e-9 * 40.0 * 0.5, rtol=1e-15)


def test_backward_raman_power_saturates_on_a_long_fibre() -> None:
    # 1 − e^(−2αL) → 1: the power tends to P·ρ·Δλ/(2α).
    alpha_per_km = 0.2 * math.log(10.0) / 10.0
    assert_allclose(
        backward_raman_power_w(1e-3, 1000.0, 0.2, 3e-9, 0.1),
        1e-3 * 3e-9 * 0.1 / (2 * alpha_per_km),
        rtol=1e-12,
    )


def test_photons_per_mode_match_a_hand_computation() -> None:
    # n̄ = (P/Δλ)·λ³/(h·c²): 1 pW in 0.1 nm at 1550 nm is (1e-12/1e-10)·(1.55e-6)³/(6.62607015e-34 × c²)
    # = 1e-2 × 3.723875e-18/5.9552149e-17 = 6.2531329e-4 photons per mode.
    assert_allclose(raman_photons_per_mode(1e-12, 1550.0, 0.1), 6.2531329e-4, rtol=1e-7)
    assert_allclose(
        raman_photons_per_mode(1e-12, 1550.0, 0.1),
        (1e-12 / 1e-10) * 1.55e-6**3 / (PLANCK * LIGHT**2),
        rtol=1e-14,
    )


@settings(max_examples=100, deadline=None)
@given(bandwidth_nm=st.floats(1e-4, 10.0), power_per_nm_w=st.floats(1e-15, 1e-6))
def test_photons_per_mode_do_not_depend_on_bandwidth_once_power_scales_with_it(
    bandwidth_nm: float, power_per_nm_w: float
) -> None:
    # A wider filter passes proportionally more Raman power but spreads it over as many more modes.
    reference = raman_photons_per_mode(power_per_nm_w * 0.1, 1550.0, 0.1)
    assert_allclose(
        raman_photons_per_mode(power_per_nm_w * bandwidth_nm, 1550.0, bandwidth_nm), reference, rtol=1e-12
    )


def test_excess_noise_is_photons_per_mode_over_transmittance() -> None:
    assert_allclose(raman_excess_noise_snu(1e-3, 0.1), 1e-2, rtol=1e-15)
    assert raman_excess_noise_snu(1e-3, 0.0) == np.inf


def _raman_excess_noise_snu(
    launch_power_w: np.ndarray, length_km: float, direction: str, bandwidth_nm: float
) -> np.ndarray:
    """ξ_R at the quantum receiver for a classical channel of launch power P, 2 THz from the quantum one."""
    rho = RamanModel().cross_section_per_km_nm(QUANTUM_THZ + 2.0, QUANTUM_THZ)
    raman_power = forward_raman_power_w if direction == "forward" else backward_raman_power_w
    power_w = raman_power(launch_power_w, length_km, 0.2, rho, bandwidth_nm)
    return np.asarray(
        raman_excess_noise_snu(
            raman_photons_per_mode(power_w, 1552.52, bandwidth_nm), 10 ** (-0.02 * length_km)
        )
    )


@settings(max_examples=100, deadline=None)
@given(
    powers_uw=st.lists(st.integers(1, 100_000), min_size=2, max_size=10, unique=True),
    length_km=st.floats(0.1, 100.0),
    direction=st.sampled_from(["forward", "backward"]),
    bandwidth_nm=st.floats(0.01, 1.0),
)
def test_raman_excess_noise_grows_linearly_with_launch_power(
    powers_uw: list[int], length_km: float, direction: str, bandwidth_nm: float
) -> None:
    powers = np.sort(np.asarray(powers_uw, dtype=np.float64)) * 1e-6  # 1 µW to 100 mW, at least 1 µW apart
    xi = _raman_excess_noise_snu(powers, length_km, direction, bandwidth_nm)
    assert np.all(np.diff(xi) > 0)
    assert_allclose(xi / powers, np.full_like(powers, xi[0] / powers[0]), rtol=1e-12)


def test_one_milliwatt_forward_at_25_km_adds_a_few_milli_snu() -> None:
    # Sanity of scale: 1 mW (0 dBm) co-propagating 2 THz away over 25 km, ρ = 3e-9: n̄ = P_f·λ³/(h c² Δλ) with
    # P_f = 2.3717e-12 W in 0.1 nm → 1.4917e-3 photons; T = 10^(−0.5) → ξ_R = 4.717e-3 SNU.
    xi = _raman_excess_noise_snu(np.array([1e-3]), 25.0, "forward", 0.1)
    expected = 2.3717082e-12 / 1e-10 * 1.55252e-6**3 / (PLANCK * LIGHT**2) / 10**-0.5
    assert_allclose(xi, [expected], rtol=1e-6)


def test_cross_section_equals_the_reference_at_the_reference_detuning() -> None:
    assert_allclose(RamanModel().cross_section_per_km_nm(QUANTUM_THZ + 2.0, QUANTUM_THZ), 3e-9, rtol=1e-12)
    anti_stokes_reference = RamanModel(reference_cross_section_per_km_nm=5e-10, reference_detuning_thz=-1.5)
    assert_allclose(
        anti_stokes_reference.cross_section_per_km_nm(QUANTUM_THZ - 1.5, QUANTUM_THZ), 5e-10, rtol=1e-12
    )


def test_cross_section_is_finite_and_positive_at_zero_detuning() -> None:
    rho = RamanModel().cross_section_per_km_nm(QUANTUM_THZ, QUANTUM_THZ)
    assert np.isfinite(rho)
    assert rho > 0


@settings(max_examples=100, deadline=None)
@given(offset_thz=st.floats(0.01, 39.0), temperature_k=st.floats(200.0, 350.0))
def test_stokes_side_is_stronger_than_anti_stokes_by_the_bose_einstein_factor(
    offset_thz: float, temperature_k: float
) -> None:
    model = RamanModel(fibre_temperature_k=temperature_k)
    stokes = float(model.cross_section_per_km_nm(QUANTUM_THZ + offset_thz, QUANTUM_THZ))
    anti_stokes = float(model.cross_section_per_km_nm(QUANTUM_THZ - offset_thz, QUANTUM_THZ))
    assert stokes > anti_stokes > 0
    # n_th/(n_th + 1) = exp(−hΔν/kT): the phonon population sets the asymmetry.
    boltzmann_factor = math.exp(-PLANCK * offset_thz * 1e12 / (BOLTZMANN * temperature_k))
    assert_allclose(anti_stokes / stokes, boltzmann_factor, rtol=1e-9)


def test_cross_section_scales_with_the_reference_value() -> None:
    pump, signal = np.array([192.0, 193.5, 195.0]), QUANTUM_THZ
    small = RamanModel(reference_cross_section_per_km_nm=5e-10).cross_section_per_km_nm(pump, signal)
    large = RamanModel(reference_cross_section_per_km_nm=2.5e-8).cross_section_per_km_nm(pump, signal)
    assert_allclose(large / small, 50.0, rtol=1e-12)


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param({"reference_cross_section_per_km_nm": -1e-9}, id="negative-cross-section"),
        pytest.param({"reference_detuning_thz": 0.0}, id="zero-reference-detuning"),
        pytest.param({"fibre_temperature_k": 0.0}, id="absolute-zero"),
    ],
)
def test_raman_model_rejects_unphysical_parameters(parameters: dict[str, float]) -> None:
    with pytest.raises(PhysicsError):
        RamanModel(**parameters)


def test_photons_per_mode_reject_a_zero_bandwidth() -> None:
    with pytest.raises(PhysicsError):
        raman_photons_per_mode(1e-12, 1550.0, 0.0)
