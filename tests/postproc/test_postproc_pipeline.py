"""The block pipeline end to end: keys that exist only because reconciliation succeeded, with a
length that follows from what the block measured."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sdqkd.errors import ConfigError
from sdqkd.physics import (
    FiniteSizeSecurity,
    holevo_bound,
    mutual_information,
    privacy_amplification_penalty,
    worst_case_channel,
)
from sdqkd.postproc.pipeline import ProtocolSettings, predicted_key_bits_per_symbol, run_block
from sdqkd.postproc.quadratures import LinkParameters
from sdqkd.postproc.reconciliation import TAG_BITS

# A short link at the Madrid links' SNR (≈ 1) with a smaller V_A, so a 2·10⁶-symbol block keeps key.
LINK = LinkParameters(
    modulation_variance_snu=2.0,
    transmittance=0.9,
    excess_noise_snu=0.01,
    efficiency=0.6,
    electronic_noise_snu=0.05,
)
SETTINGS = ProtocolSettings(block_symbols=2_000_000, frame_bits=1 << 14, target_efficiency=0.8)


@pytest.fixture(scope="module")
def block():  # type: ignore[no-untyped-def]
    return run_block(LINK, SETTINGS, seed=7)


def test_both_ends_hold_the_same_key_and_it_is_not_trivial(block) -> None:  # type: ignore[no-untyped-def]
    assert block.abort is None
    assert block.key_bits > 0
    assert block.alice_key.size == block.bob_key.size == block.key_bits
    assert np.array_equal(block.alice_key, block.bob_key)
    assert 0.4 < float(block.bob_key.mean()) < 0.6


def test_the_block_measures_the_channel_and_the_reconciliation(block) -> None:  # type: ignore[no-untyped-def]
    assert block.estimate.snr == pytest.approx(LINK.snr("homodyne"), rel=0.02)
    assert block.estimate.transmittance == pytest.approx(LINK.transmittance, rel=0.02)
    reconciled = block.reconciled
    assert reconciled is not None
    assert reconciled.frames == (SETTINGS.key_values // SETTINGS.frame_bits)
    assert block.efficiency == pytest.approx(reconciled.code_rate / block.mutual_information)
    assert 0.79 < block.efficiency <= 0.8  # the code rate is rounded down from β_target·I_AB
    assert block.frame_error_rate is not None
    assert block.frame_error_rate < 0.5


def test_the_key_length_is_eq_8_with_the_measured_values(block) -> None:  # type: ignore[no-untyped-def]
    # Recompute ℓ from the block's own estimate with the physics formulas, independently of the
    # pipeline's code path: ⌊kept·(β̂·I_AB − χ_BE(T_min, ξ_max) − Δ_√) − 2·log2(1/ε_PA)⌋ − tags.
    e = block.estimate
    security = FiniteSizeSecurity(block_size=SETTINGS.block_symbols, pe_fraction=SETTINGS.pe_fraction)
    root = float(
        privacy_amplification_penalty(security.key_symbols, security)
    ) - 2 / security.key_symbols * math.log2(1e10)
    i_ab = float(mutual_information(2.0, e.transmittance, e.excess_noise_snu, 0.6, 0.05, "homodyne"))
    chi = float(holevo_bound(2.0, e.transmittance_min, e.excess_noise_max_snu, 0.6, 0.05, "homodyne"))
    kept = block.reconciled.bob_key.size
    bits = kept * (block.efficiency * i_ab - chi - root) - 2 * math.log2(1e10)
    assert block.key_bits == math.floor(bits) - TAG_BITS * block.reconciled.kept_frames


def test_the_same_seed_gives_the_same_block_and_no_seed_a_fresh_one() -> None:
    small = ProtocolSettings(block_symbols=1_000_000, frame_bits=1 << 12, target_efficiency=0.8)
    first, again = run_block(LINK, small, seed=3), run_block(LINK, small, seed=3)
    fresh = run_block(LINK, small)
    assert first.key_bits > 0
    assert np.array_equal(first.bob_key, again.bob_key)
    assert fresh.key_bits == 0 or not np.array_equal(fresh.bob_key[:64], first.bob_key[:64])


def test_a_link_that_proves_no_key_aborts_with_a_reason() -> None:
    far = LinkParameters(
        modulation_variance_snu=4.0, transmittance=0.01, excess_noise_snu=0.05, efficiency=0.6
    )
    result = run_block(far, ProtocolSettings(block_symbols=200_000, frame_bits=1 << 12))
    assert result.key_bits == 0
    assert result.abort is not None
    assert "rate" in result.abort  # I_AB ≈ 0.02 bit: below the lowest code rate the project builds
    assert result.alice_key.size == result.bob_key.size == 0


def test_heterodyne_blocks_reconcile_both_quadratures() -> None:
    settings = ProtocolSettings(
        detection="heterodyne", block_symbols=300_000, frame_bits=1 << 12, target_efficiency=0.85
    )
    result = run_block(LINK, settings, seed=5)
    assert result.reconciled is not None
    assert result.reconciled.frames == (2 * 150_000) // (1 << 12)
    assert result.estimate.snr == pytest.approx(LINK.snr("heterodyne"), rel=0.03)


def test_the_formula_prediction_is_eq_8_for_the_link_and_the_settings() -> None:
    # (1 − FER)·(n/N)·[β·I_AB − χ_BE(T_min, ξ_max) − Δ(n)], written out from the physics' parts.
    predicted = predicted_key_bits_per_symbol(LINK, SETTINGS, efficiency=0.95, frame_error_rate=0.1)
    security = FiniteSizeSecurity(block_size=SETTINGS.block_symbols)
    t_min, xi_max = worst_case_channel(2.0, 0.9, 0.01, 0.6, 0.05, "homodyne", "trusted", security)
    i_ab = float(mutual_information(2.0, 0.9, 0.01, 0.6, 0.05, "homodyne"))
    chi = float(holevo_bound(2.0, float(t_min), float(xi_max), 0.6, 0.05, "homodyne"))
    delta = float(privacy_amplification_penalty(security.key_symbols, security))
    assert predicted == pytest.approx(0.9 * 0.5 * (0.95 * i_ab - chi - delta), rel=1e-9)
    assert predicted > 0
    lower = predicted_key_bits_per_symbol(LINK, SETTINGS, efficiency=0.9, frame_error_rate=0.1)
    assert lower == pytest.approx(predicted - 0.9 * 0.5 * 0.05 * i_ab, rel=1e-9)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"target_efficiency": 1.2}, "target efficiency"),
        ({"frame_bits": 100}, "multiple of 8"),
        ({"block_symbols": 10**9}, "privacy amplification"),
        ({"pe_fraction": 1.5}, "fraction"),
        ({"detection": "bogus"}, "detection"),
    ],
)
def test_bad_settings_are_refused_clearly(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProtocolSettings(**arguments)  # type: ignore[arg-type]
