"""CV-QKD post-processing (DESIGN §1/§2): simulated GG02 quadratures, parameter estimation and privacy
amplification by exact Toeplitz hashing (reconciliation joins them later, issue 15). numpy only, no I/O.

It sits at the same layer as :mod:`sdqkd.physics` and does not import it: where a step needs the
key-rate formulas (the secret fraction), the caller passes them in (:class:`KeyFormulas`).
"""

from __future__ import annotations

from sdqkd.postproc.estimation import (
    ChannelEstimate,
    DetectorModel,
    HolevoBound,
    KeyFormulas,
    MutualInformation,
    confidence_factor,
    estimate_channel,
    secret_fraction,
    split_for_estimation,
)
from sdqkd.postproc.privacy import MAX_BITS, pa_output_length, toeplitz_hash
from sdqkd.postproc.quadratures import (
    Detection,
    LinkParameters,
    Quadratures,
    Seed,
    rng_from_seed,
    simulate_quadratures,
)

__all__ = [
    "MAX_BITS",
    "ChannelEstimate",
    "Detection",
    "DetectorModel",
    "HolevoBound",
    "KeyFormulas",
    "LinkParameters",
    "MutualInformation",
    "Quadratures",
    "Seed",
    "confidence_factor",
    "estimate_channel",
    "pa_output_length",
    "rng_from_seed",
    "secret_fraction",
    "simulate_quadratures",
    "split_for_estimation",
    "toeplitz_hash",
]
