"""The excess-noise budget: device noise plus the Raman noise of each classical channel."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sdqkd.errors import PhysicsError
from sdqkd.physics import (
    RamanModel,
    backward_raman_power_w,
    forward_raman_power_w,
    noise_budget,
    raman_photons_per_mode,
)
from sdqkd.units import frequency_thz_to_wavelength_nm

QUANTUM_THZ = 195.9
CHANNELS_THZ = np.array([193.5, 193.1, 192.1])
POWERS_W = np.array([1e-3, 0.5e-3, 2e-3])
FORWARD = np.array([1.0, 0.0, 1.0])
FIBRE = {"length_km": 8.1, "attenuation_db_per_km": 0.35}
T = 0.4


def _budget(powers_w: np.ndarray = POWERS_W, forward: np.ndarray = FORWARD, device: float = 0.01):
    return noise_budget(
        device_excess_noise_snu=device,
        transmittance=T,
        quantum_frequency_thz=QUANTUM_THZ,
        classical_frequency_thz=CHANNELS_THZ,
        classical_launch_power_w=powers_w,
        classical_forward=forward,
        receiver_bandwidth_nm=0.8,
        **FIBRE,
    )


def test_total_noise_is_device_noise_plus_the_raman_noise_of_every_channel() -> None:
    budget = _budget()
    assert_allclose(budget.raman_snu, np.sum(budget.raman_per_channel_snu), rtol=1e-14)
    assert_allclose(budget.total_snu, 0.01 + budget.raman_snu, rtol=1e-14)


def test_each_channel_contributes_per_its_direction_and_detuning() -> None:
    rho = RamanModel().cross_section_per_km_nm(CHANNELS_THZ, QUANTUM_THZ)
    args = (POWERS_W, FIBRE["length_km"], FIBRE["attenuation_db_per_km"], rho, 0.8)
    power = np.where(FORWARD == 1, forward_raman_power_w(*args), backward_raman_power_w(*args))
    photons = raman_photons_per_mode(power, frequency_thz_to_wavelength_nm(QUANTUM_THZ), 0.8)
    assert_allclose(_budget().raman_per_channel_snu, photons / T, rtol=1e-12)


def test_a_fibre_without_classical_channels_adds_no_noise() -> None:
    budget = _budget(powers_w=np.zeros(3))
    assert budget.raman_snu == 0.0
    assert budget.total_snu == pytest.approx(0.01)


def test_raman_noise_broadcasts_over_power_scales_and_is_linear_in_them() -> None:
    scales = np.array([0.5, 1.0, 4.0])
    budget = _budget(powers_w=scales[:, None] * POWERS_W)
    assert budget.raman_snu.shape == (3,)
    assert_allclose(budget.raman_snu / budget.raman_snu[1], scales, rtol=1e-12)


def test_backward_over_forward_noise_is_the_ratio_of_their_span_factors() -> None:
    # Eraerds 2010: backward light is scattered over (1 − e^(−2αL))/(2α), forward over L·e^(−αL).
    alpha = FIBRE["attenuation_db_per_km"] * np.log(10) / 10
    length = FIBRE["length_km"]
    expected = (-np.expm1(-2 * alpha * length) / (2 * alpha)) / (length * np.exp(-alpha * length))
    forward = _budget(forward=np.ones(3)).raman_snu
    backward = _budget(forward=np.zeros(3)).raman_snu
    assert_allclose(backward / forward, expected, rtol=1e-12)
    assert backward > forward  # 4.52 km against 4.22 km of effective length on this span


@pytest.mark.parametrize(
    ("powers", "forward"),
    [(np.array([-1e-3, 0, 0]), FORWARD), (POWERS_W, np.array([0.5, 1.0, 0.0]))],
    ids=["negative power", "direction neither forward nor backward"],
)
def test_impossible_loads_are_refused(powers: np.ndarray, forward: np.ndarray) -> None:
    with pytest.raises(PhysicsError):
        _budget(powers_w=powers, forward=forward)
