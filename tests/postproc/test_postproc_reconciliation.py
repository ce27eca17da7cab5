"""Reverse reconciliation: frames kept only when both ends agree, and what it costs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ldpc_support import regular_code
from sdqkd.errors import ConfigError
from sdqkd.postproc.reconciliation import TAG_BITS, Reconciler


def _channel(snr: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    rng = np.random.default_rng(seed)
    t, sigma2 = 1.0, 1.0
    x = rng.standard_normal(n) * math.sqrt(snr)
    return x, t * x + rng.standard_normal(n), t, sigma2


def test_frames_well_inside_the_codes_reach_are_all_kept_and_equal() -> None:
    code = regular_code(1 << 12, 3, 6)
    reconciler = Reconciler(code)
    x, y, t, sigma2 = _channel(snr=4.0, n=5 * (1 << 12) + 100, seed=1)
    result = reconciler.run(x, y, gain=t, noise_variance=sigma2, rng=np.random.default_rng(2))
    assert result.frames == 5  # the 100 values past the last whole frame are not used
    assert result.failed == 0
    assert result.frame_error_rate == 0.0
    assert result.bob_key.size == 5 * (1 << 12)
    assert np.array_equal(result.alice_key, result.bob_key)
    assert result.code_rate == pytest.approx(0.5)
    assert result.leaked_bits == 5 * TAG_BITS
    # Bob's bits are uniform: about half are ones.
    assert 0.45 < float(result.bob_key.mean()) < 0.55
    # β against the Gaussian capacity ½·log2(1 + SNR) per value.
    assert result.efficiency(0.5 * math.log2(5.0)) == pytest.approx(0.5 / (0.5 * math.log2(5.0)))


def test_hopeless_frames_are_dropped_and_never_kept_wrong() -> None:
    code = regular_code(1 << 12, 3, 6)
    x, y, t, sigma2 = _channel(snr=0.3, n=3 * (1 << 12), seed=3)
    result = Reconciler(code, max_iterations=20).run(
        x, y, gain=t, noise_variance=sigma2, rng=np.random.default_rng(4)
    )
    assert result.frames == 3
    assert result.failed == 3
    assert result.frame_error_rate == 1.0
    assert result.bob_key.size == result.alice_key.size == 0


def test_a_frame_the_decoder_gets_wrong_is_caught_by_the_verification_tag() -> None:
    # Eight checks on 512 bits at SNR 1: belief propagation satisfies the syndrome at once with
    # a wrong word almost always; only the tags can tell, and no wrong frame may be kept.
    code = regular_code(512, 1, 64)
    x, y, t, sigma2 = _channel(snr=1.0, n=20 * 512, seed=5)
    result = Reconciler(code).run(x, y, gain=t, noise_variance=sigma2, rng=np.random.default_rng(6))
    assert result.failed >= 19
    assert np.array_equal(result.alice_key, result.bob_key)


def test_runs_add_up() -> None:
    code = regular_code(1 << 10, 3, 6)
    reconciler = Reconciler(code)
    x, y, t, sigma2 = _channel(snr=4.0, n=2 * (1 << 10), seed=7)
    first = reconciler.run(x, y, gain=t, noise_variance=sigma2, rng=np.random.default_rng(8))
    both = first + first
    assert (both.frames, both.failed, both.bob_key.size) == (4, 0, 4 * (1 << 10))
    with pytest.raises(ConfigError, match="same code"):
        first + Reconciler(regular_code(1 << 11, 3, 6)).run(
            x, y, gain=t, noise_variance=sigma2, rng=np.random.default_rng(9)
        )


def test_bad_inputs_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="multiple of 8"):
        Reconciler(regular_code(1001, 1, 7))
    reconciler = Reconciler(regular_code(1 << 10, 3, 6))
    with pytest.raises(ConfigError, match="same length"):
        reconciler.run(
            np.zeros(1024), np.zeros(1000), gain=1.0, noise_variance=1.0, rng=np.random.default_rng(0)
        )
