"""``sdqkd keyrate``: the GG02 figures of one link, as JSON or a table."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from sdqkd.physics import (
    holevo_bound,
    key_bits_per_symbol,
    mutual_information,
    plob_bound,
    transmittance_from_loss_db,
)

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]

# Lodewyck et al., PRA 76, 042305 (2007): the 25 km field test, 5.2 dB.
_LODEWYCK = {"va": 18.5, "xi": 0.005, "eta": 0.606, "vel": 0.041, "beta": 0.898}
_LODEWYCK_ARGS = [
    "--va", "18.5", "--xi", "0.005", "--eta", "0.606", "--vel", "0.041", "--beta", "0.898", "--fer", "0",
]  # fmt: skip
_JSON_FIELDS = {
    "transmittance",
    "excess_noise_snu",
    "snr",
    "i_ab",
    "chi_be",
    "key_bits_per_symbol",
    "secret_key_rate_bps",
    "plob_bits_per_use",
}


def _keyrate_json(sdqkd: Sdqkd, *args: str) -> dict[str, Any]:
    result = sdqkd("keyrate", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _g(nu: float) -> float:
    """Von Neumann entropy of a thermal state of symplectic eigenvalue ν, bits."""
    plus, minus = (nu + 1) / 2, (nu - 1) / 2
    return plus * math.log2(plus) - (minus * math.log2(minus) if minus > 0 else 0.0)


def _lodewyck_homodyne_trusted(va: float, t: float, xi: float, eta: float, vel: float) -> tuple[float, float]:
    """(I_AB, χ_BE) of GG02 with homodyne detection and trusted detector noise, written out from
    Lodewyck 2007 eqs. 4–10 independently of sdqkd.physics."""
    v = va + 1
    chi_line = 1 / t - 1 + xi
    chi_hom = (1 + vel) / eta - 1
    chi_tot = chi_line + chi_hom / t
    i_ab = 0.5 * math.log2((v + chi_tot) / (1 + chi_tot))
    a = v**2 * (1 - 2 * t) + 2 * t + t**2 * (v + chi_line) ** 2
    b = t**2 * (v * chi_line + 1) ** 2
    c = (v * math.sqrt(b) + t * (v + chi_line) + a * chi_hom) / (t * (v + chi_tot))
    d = math.sqrt(b) * (v + math.sqrt(b) * chi_hom) / (t * (v + chi_tot))
    nu = [math.sqrt((x + s * math.sqrt(x**2 - 4 * y)) / 2) for x, y in ((a, b), (c, d)) for s in (1, -1)]
    return i_ab, _g(nu[0]) + _g(nu[1]) - _g(nu[2]) - _g(nu[3])


def test_keyrate_json_has_the_figures_of_the_link(sdqkd: Sdqkd) -> None:
    data = _keyrate_json(sdqkd, "--loss-db", "5.2", *_LODEWYCK_ARGS)
    assert _JSON_FIELDS - data.keys() == set()
    assert data["excess_noise_snu"] == 0.005
    assert data["loss_db"] == 5.2


def test_keyrate_matches_the_closed_form_of_sdqkd_physics(sdqkd: Sdqkd) -> None:
    data = _keyrate_json(sdqkd, "--length-km", "25", "--loss-db", "5.2", *_LODEWYCK_ARGS)
    t = 10**-0.52
    p = _LODEWYCK
    i_ab = float(mutual_information(p["va"], t, p["xi"], p["eta"], p["vel"], "homodyne"))
    chi_be = float(holevo_bound(p["va"], t, p["xi"], p["eta"], p["vel"], "homodyne", "trusted"))
    key = float(
        key_bits_per_symbol(p["va"], t, p["xi"], p["eta"], p["vel"], p["beta"], "homodyne", "trusted")
    )
    assert data["transmittance"] == pytest.approx(t, rel=1e-12)
    assert data["i_ab"] == pytest.approx(i_ab, rel=1e-9)
    assert data["chi_be"] == pytest.approx(chi_be, rel=1e-9)
    assert data["key_bits_per_symbol"] == pytest.approx(key, rel=1e-9)
    assert data["plob_bits_per_use"] == pytest.approx(float(plob_bound(t)), rel=1e-12)
    assert data["secret_key_rate_bps"] == pytest.approx(key * 2e6, rel=1e-9)  # default 2 MBd, FER 0


def test_keyrate_matches_the_lodewyck_formulas_written_out(sdqkd: Sdqkd) -> None:
    data = _keyrate_json(sdqkd, "--loss-db", "5.2", *_LODEWYCK_ARGS)
    p = _LODEWYCK
    i_ab, chi_be = _lodewyck_homodyne_trusted(p["va"], 10**-0.52, p["xi"], p["eta"], p["vel"])
    assert data["i_ab"] == pytest.approx(i_ab, rel=1e-9)
    assert data["chi_be"] == pytest.approx(chi_be, rel=1e-9)
    assert data["key_bits_per_symbol"] == pytest.approx(p["beta"] * i_ab - chi_be, rel=1e-9)
    assert data["key_bits_per_symbol"] > 0


def test_loss_db_overrides_length_km(sdqkd: Sdqkd) -> None:
    both = _keyrate_json(sdqkd, "--length-km", "25", "--loss-db", "5.2", *_LODEWYCK_ARGS)
    loss_only = _keyrate_json(sdqkd, "--loss-db", "5.2", *_LODEWYCK_ARGS)
    length_only = _keyrate_json(sdqkd, "--length-km", "25", *_LODEWYCK_ARGS)
    assert both["transmittance"] == pytest.approx(10**-0.52, rel=1e-12)
    assert both == loss_only
    assert length_only["transmittance"] == pytest.approx(10**-0.5, rel=1e-12)  # 25 km at 0.2 dB/km
    assert both["parameters"]["length_km"] is None
    assert length_only["parameters"]["length_km"] == 25.0


def test_attenuation_sets_the_loss_of_a_length(sdqkd: Sdqkd) -> None:
    data = _keyrate_json(sdqkd, "--length-km", "10", "--attenuation", "0.35")
    assert data["loss_db"] == pytest.approx(3.5, rel=1e-12)
    assert data["transmittance"] == pytest.approx(float(transmittance_from_loss_db(3.5)), rel=1e-12)


def test_finite_block_gives_less_key_than_the_asymptotic_limit(sdqkd: Sdqkd) -> None:
    asymptotic = _keyrate_json(sdqkd, "--length-km", "25", *_LODEWYCK_ARGS)
    finite = _keyrate_json(sdqkd, "--length-km", "25", "--block-size", "1e8", *_LODEWYCK_ARGS)
    assert asymptotic["parameters"]["block_size"] is None
    assert finite["parameters"]["block_size"] == 1e8
    assert finite["parameters"]["pe_fraction"] == 0.5
    assert 0 < finite["key_bits_per_symbol"] < asymptotic["key_bits_per_symbol"]
    assert 0 < finite["secret_key_rate_bps"] < asymptotic["secret_key_rate_bps"]


def test_secret_key_rate_is_zero_not_negative_where_no_key_is_made(sdqkd: Sdqkd) -> None:
    data = _keyrate_json(sdqkd, "--length-km", "200", *_LODEWYCK_ARGS)
    assert data["key_bits_per_symbol"] < 0
    assert data["secret_key_rate_bps"] == 0.0
    assert data["plob_fraction"] == 0.0


def test_unproven_finite_size_key_is_reported_as_null_with_a_zero_rate(sdqkd: Sdqkd) -> None:
    # At 100 dB the estimators cannot bound T away from 0: K is −∞, written as null in strict JSON.
    data = _keyrate_json(sdqkd, "--loss-db", "100", "--block-size", "1e6")
    assert data["key_bits_per_symbol"] is None
    assert data["secret_key_rate_bps"] == 0.0


@pytest.mark.parametrize("detector", ["untrusted", "trusted"])
def test_heterodyne_detection_works_with_either_detector_model(sdqkd: Sdqkd, detector: str) -> None:
    # madrid-2018 defaults (V_A 4, ξ 0.01, η 0.6, β 0.84, FER 0.06, 2 MBd) with a noiseless detector
    data = _keyrate_json(
        sdqkd, "--length-km", "5", "--vel", "0", "--detection", "heterodyne", "--detector", detector
    )
    key = float(key_bits_per_symbol(4.0, 10**-0.1, 0.01, 0.6, 0.0, 0.84, "heterodyne", detector))
    assert data["parameters"]["detection"] == "heterodyne"
    assert data["parameters"]["detector"] == detector
    assert data["key_bits_per_symbol"] == pytest.approx(key, rel=1e-9)
    assert data["key_bits_per_symbol"] > 0
    assert data["secret_key_rate_bps"] == pytest.approx(0.94 * 2e6 * key, rel=1e-9)


def test_untrusted_detector_gives_less_key_than_a_trusted_one(sdqkd: Sdqkd) -> None:
    trusted = _keyrate_json(sdqkd, "--length-km", "25", "--detector", "trusted", *_LODEWYCK_ARGS)
    untrusted = _keyrate_json(sdqkd, "--length-km", "25", "--detector", "untrusted", *_LODEWYCK_ARGS)
    assert untrusted["key_bits_per_symbol"] < trusted["key_bits_per_symbol"]


def test_symbol_rate_and_frame_errors_scale_the_key_rate(sdqkd: Sdqkd) -> None:
    base = _keyrate_json(sdqkd, "--length-km", "25", "--fer", "0", "--symbol-rate", "1e6")
    scaled = _keyrate_json(sdqkd, "--length-km", "25", "--fer", "0.2", "--symbol-rate", "5e6")
    assert scaled["key_bits_per_symbol"] == base["key_bits_per_symbol"]
    assert scaled["secret_key_rate_bps"] == pytest.approx(5 * 0.8 * base["secret_key_rate_bps"], rel=1e-12)


def test_keyrate_defaults_to_the_madrid_2018_profile(sdqkd: Sdqkd) -> None:
    parameters = _keyrate_json(sdqkd, "--length-km", "10")["parameters"]
    assert parameters["modulation_variance_snu"] == 4.0
    assert parameters["efficiency"] == 0.6
    assert parameters["reconciliation_efficiency"] == 0.84  # measured (issue 15)
    assert parameters["frame_error_rate"] == 0.06
    assert parameters["symbol_rate_bd"] == 2e6


def test_keyrate_table_names_the_secret_key_rate(sdqkd: Sdqkd) -> None:
    result = sdqkd("keyrate", "--loss-db", "5.2", *_LODEWYCK_ARGS)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "secret key rate" in result.stdout
    assert "GG02 homodyne, trusted detector, asymptotic" in result.stdout


def test_keyrate_table_shows_the_finite_block(sdqkd: Sdqkd) -> None:
    result = sdqkd("keyrate", "--length-km", "25", "--block-size", "1e8")
    assert result.returncode == 0, result.stderr
    assert "finite size" in result.stdout
    assert "N = 1e+08" in result.stdout
