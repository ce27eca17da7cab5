"""CV-QKD post-processing (DESIGN §1/§2): simulated GG02 quadratures, parameter estimation, LDPC codes
for reconciliation (GA-designed for the BIAWGN channel) and their syndrome decoding (numba), and privacy
amplification by exact Toeplitz hashing. No I/O.

It sits just above :mod:`sdqkd.physics`, whose GG02 formulas give the secret fraction.
"""

from __future__ import annotations

from sdqkd.postproc.codes import node_degree_counts, parity_check_matrix
from sdqkd.postproc.decoder import DecodeResult, SyndromeDecoder
from sdqkd.postproc.density import (
    DegreeDistribution,
    biawgn_capacity,
    design_distribution,
    threshold_sigma,
)
from sdqkd.postproc.estimation import (
    ChannelEstimate,
    DetectorModel,
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
    "DecodeResult",
    "DegreeDistribution",
    "Detection",
    "DetectorModel",
    "LinkParameters",
    "Quadratures",
    "Seed",
    "SyndromeDecoder",
    "biawgn_capacity",
    "design_distribution",
    "estimate_channel",
    "node_degree_counts",
    "pa_output_length",
    "parity_check_matrix",
    "rng_from_seed",
    "secret_fraction",
    "simulate_quadratures",
    "split_for_estimation",
    "threshold_sigma",
    "toeplitz_hash",
]
