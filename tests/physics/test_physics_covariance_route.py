"""The closed-form GG02 figures (``gg02.py``) against the covariance-matrix route (``covariance.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sdqkd.errors import PhysicsError
from sdqkd.physics import (
    Detection,
    DetectorModel,
    covariance_matrix_gg02,
    holevo_bound,
    mutual_information,
    symplectic_eigenvalues,
)

# Both routes are exact; what separates them is rounding, so they must agree to ~1e-10 relative. The
# absolute floor covers symplectic eigenvalues that are exactly 1 (at ξ = 0 Eve's state is pure): the
# eigen-solver returns them slightly off, and the infinite slope of G(ν) at ν = 1 turns that into up to
# ~2e-11 bits, worst with a noisy near-ideal detector whose model EPR variance 1 + 2v_el/(1 − η) reaches 61
# (checked against a 60-digit evaluation: there the covariance route is the one off). 1e-10 bits per symbol
# is no key that matters.
RTOL, ATOL = 1e-10, 1e-10

# A real detector (η < 1, with or without electronic noise) or the ideal one (η = 1 forbids v_el > 0).
detectors = st.one_of(
    st.tuples(st.floats(0.3, 0.99), st.floats(0.0, 0.3)),
    st.just((1.0, 0.0)),
)


@settings(max_examples=200, deadline=None)
@given(
    v_a=st.floats(0.5, 40.0),
    # T over the whole range up to 1 (lossless), where the closed form once lost
    # precision, see test_closed_form_keeps_its_precision_near_a_pure_state below.
    log10_t=st.floats(-3.0, 0.0),
    xi=st.floats(0.0, 0.2),
    detector_parameters=detectors,
    detection=st.sampled_from(["homodyne", "heterodyne"]),
    detector=st.sampled_from(["trusted", "untrusted"]),
)
def test_closed_form_equals_covariance_matrix_route(
    v_a: float,
    log10_t: float,
    xi: float,
    detector_parameters: tuple[float, float],
    detection: Detection,
    detector: DetectorModel,
) -> None:
    t = 10.0**log10_t
    eta, v_el = detector_parameters
    i_ab_cm, chi_be_cm = covariance_matrix_gg02(v_a, t, xi, eta, v_el, detection, detector)

    i_ab = float(mutual_information(v_a, t, xi, eta, v_el, detection))
    chi_be = float(holevo_bound(v_a, t, xi, eta, v_el, detection, detector))
    assert_allclose(i_ab, i_ab_cm, rtol=RTOL, atol=ATOL)
    assert_allclose(chi_be, chi_be_cm, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("detection", ["homodyne", "heterodyne"])
def test_both_routes_agree_with_the_ideal_detector_at_a_typical_point(detection: Detection) -> None:
    # physics.md: at η = 1, v_el = 0 the two routes must agree to ~1e-12.
    i_ab_cm, chi_be_cm = covariance_matrix_gg02(4.0, 0.1, 0.02, 1.0, 0.0, detection)
    assert_allclose(float(mutual_information(4.0, 0.1, 0.02, 1.0, 0.0, detection)), i_ab_cm, rtol=1e-12)
    assert_allclose(float(holevo_bound(4.0, 0.1, 0.02, 1.0, 0.0, detection)), chi_be_cm, rtol=1e-12)


# Near a pure state (T → 1, ξ → 0) the textbook discriminants A² − 4B and C² − 4D cancel catastrophically, and
# G(ν)'s infinite slope at ν = 1 amplifies the rounding (it once gave χ_BE = −1.5e-7 bits in the first case
# below). holevo_bound now uses cancellation-free forms; the covariance route is exact there.
@pytest.mark.parametrize(
    ("v_a", "t", "xi", "eta", "v_el", "detection"),
    [
        pytest.param(40.0, 1.0, 0.0, 0.6, 0.1, "heterodyne", id="lossless-noiseless-heterodyne"),
        pytest.param(40.0, 1.0, 1e-6, 1.0, 0.0, "homodyne", id="lossless-homodyne"),
        pytest.param(0.5, 1.0, 1e-6, 1.0, 0.0, "heterodyne", id="lossless-heterodyne"),
    ],
)
def test_closed_form_keeps_its_precision_near_a_pure_state(
    v_a: float, t: float, xi: float, eta: float, v_el: float, detection: Detection
) -> None:
    _, chi_be_cm = covariance_matrix_gg02(v_a, t, xi, eta, v_el, detection)
    chi_be = float(holevo_bound(v_a, t, xi, eta, v_el, detection))
    assert chi_be >= 0.0
    assert_allclose(chi_be, chi_be_cm, rtol=RTOL, atol=ATOL)


def test_symplectic_eigenvalues_of_a_thermal_two_mode_state_are_its_variances() -> None:
    gamma = np.diag([3.0, 3.0, 1.5, 1.5])
    assert_allclose(symplectic_eigenvalues(gamma), [1.5, 3.0], rtol=1e-12)


def test_symplectic_eigenvalues_of_a_pure_epr_state_are_one() -> None:
    v = 5.0
    c = np.sqrt(v**2 - 1.0)
    z = np.diag([1.0, -1.0])
    gamma = np.block([[v * np.eye(2), c * z], [c * z, v * np.eye(2)]])
    assert_allclose(symplectic_eigenvalues(gamma), [1.0, 1.0], rtol=1e-9)


@pytest.mark.parametrize(
    ("t", "eta", "v_el"),
    [
        pytest.param(0.0, 0.6, 0.1, id="no-transmission"),
        pytest.param(0.5, 1.0, 0.1, id="lossless-detector-with-electronic-noise"),
    ],
)
def test_covariance_route_refuses_points_it_cannot_model(t: float, eta: float, v_el: float) -> None:
    with pytest.raises(PhysicsError):
        covariance_matrix_gg02(4.0, t, 0.02, eta, v_el, "homodyne")
