"""Parameter estimation: the channel (T̂, ξ̂, SNR) from a disclosed subset, its worst case at
confidence ε_PE, and the secret fraction those bounds allow.

Alice and Bob disclose m of the N symbols of a block (:func:`split_for_estimation`). On those
pairs of the linear channel ``y = t·x + z`` (:mod:`sdqkd.postproc.quadratures`) the maximum-
likelihood estimators are (Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010), eq. 11)

    t̂ = ⟨xy⟩/⟨x²⟩,        σ̂² = ⟨y²⟩ − t̂²⟨x²⟩   (= (1/m)·Σ(y − t̂x)²),

and the channel follows with Bob's calibrated η and v_el: ``T̂ = t̂²/(s·η)``,
``ξ̂ = (σ̂² − 1 − v_el)/t̂²``, ``SNR = t̂²·V_A/σ̂²``, with s = 1 (homodyne) or ½ (heterodyne).

Confidence bounds are the Gaussian-tail ones of Leverrier 2010, eqs. 12–13: with
``z = √2·erfinv(1 − ε_PE)`` (so a standard normal leaves [−z, z] with probability ε_PE),

    t ∈ t̂ ± z·√(σ̂²/(m·V_A)),        σ² ∈ σ̂² ± z·σ̂²·√2/√m,

the normal approximations of t̂ (variance σ²/(m·V_A)) and of σ̂² (χ² with m degrees of freedom,
variance 2σ⁴/m). They are exactly the bounds :func:`sdqkd.physics.worst_case_channel` applies
to a planned link (the tests hold the two to each other); here they are taken around the measured
values. The worst case for the key is ``T_min`` from ``t_min`` and ``ξ_max`` from ``(t_min,
σ²_max)``; where ``t_min`` reaches 0 the block proves nothing and there is no key.

The secret fraction is Leverrier 2010, eq. 8: ``(n/N)·[β·I_AB − χ_BE(T_min, ξ_max) − Δ(n)]``,
with I_AB from the estimated channel. The formulas for I_AB and χ_BE are the project's physics
(:func:`sdqkd.physics.mutual_information`, :func:`sdqkd.physics.holevo_bound`), which this package sits on
(DESIGN §1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdqkd.errors import ConfigError
from sdqkd.physics import DetectorModel, FiniteSizeSecurity, holevo_bound, mutual_information
from sdqkd.postproc.quadratures import Detection, Quadratures, Seed, rng_from_seed

__all__ = [
    "ChannelEstimate",
    "DetectorModel",
    "Moments",
    "estimate_channel",
    "secret_fraction",
    "split_for_estimation",
]


def _confidence_factor(epsilon_pe: float) -> float:
    """``z = √2·erfinv(1 − ε_PE)``: :attr:`sdqkd.physics.FiniteSizeSecurity.z` (≈ 6.5 for 1e-10)."""
    if not (isinstance(epsilon_pe, int | float) and 0 < epsilon_pe < 1):
        raise ConfigError(f"epsilon_pe must be in (0, 1), not {epsilon_pe!r}")
    return FiniteSizeSecurity(block_size=2.0, epsilon_pe=float(epsilon_pe)).z


@dataclass(frozen=True)
class ChannelEstimate:
    """What the disclosed symbols say about the channel.

    Attributes:
        detection: how Bob measured.
        detector: whose the detector's noise is.
        samples: m, the number of (x, y) pairs used (2 per symbol for heterodyne).
        modulation_variance_snu, efficiency, electronic_noise_snu: the calibration the channel was
            mapped with (η = 1, v_el = 0 for an untrusted detector).
        epsilon_pe: failure probability of the bounds; z: its confidence factor.
        gain, noise_variance: t̂ and σ̂² of ``y = t·x + z``.
        transmittance, excess_noise_snu, snr: T̂, ξ̂ and Bob's SNR per quadrature.
        transmittance_min, transmittance_max: T's confidence interval (two-sided, level 1 − ε_PE).
        excess_noise_min_snu, excess_noise_max_snu: ξ's interval, from the joint bounds on t and σ²
            (conservative: it misses with probability at most about 2·ε_PE).
    """

    detection: Detection
    detector: DetectorModel
    samples: int
    modulation_variance_snu: float
    efficiency: float
    electronic_noise_snu: float
    epsilon_pe: float
    z: float
    gain: float
    noise_variance: float
    transmittance: float
    excess_noise_snu: float
    snr: float
    transmittance_min: float
    transmittance_max: float
    excess_noise_min_snu: float
    excess_noise_max_snu: float

    @property
    def proven(self) -> bool:
        """Whether the worst case still has a channel (``t_min > 0``); otherwise no key."""
        return self.transmittance_min > 0


def split_for_estimation(
    quadratures: Quadratures, fraction: float, seed: Seed
) -> tuple[Quadratures, Quadratures]:
    """``(disclosed, kept)``: a uniformly random ``round(fraction·N)`` symbols to disclose, the rest.

    Raises:
        ConfigError: ``fraction`` outside (0, 1), or a split that leaves either side empty.
    """
    if not (isinstance(fraction, int | float) and 0 < fraction < 1):
        raise ConfigError(f"the disclosed fraction must be in (0, 1), not {fraction!r}")
    n = len(quadratures)
    m = round(fraction * n)
    if not 0 < m < n:
        raise ConfigError(f"disclosing {fraction} of {n} symbols leaves nothing on one side")
    chosen = np.zeros(n, dtype=np.bool_)
    chosen[rng_from_seed(seed).choice(n, size=m, replace=False)] = True
    return quadratures.subset(chosen), quadratures.subset(~chosen)


@dataclass(frozen=True)
class Moments:
    """The sums parameter estimation needs, so that a block can be estimated chunk by chunk.

    Attributes:
        detection: how Bob measured; samples: m, the (x, y) pairs summed;
        sum_xx, sum_xy, sum_yy: Σx², Σxy and Σy² over them.
    """

    detection: Detection
    samples: int
    sum_xx: float
    sum_xy: float
    sum_yy: float

    @classmethod
    def of(cls, disclosed: Quadratures) -> Moments:
        """The moments of ``disclosed``'s pairs (:meth:`Quadratures.correlated`)."""
        x, y = disclosed.correlated()
        return cls(
            detection=disclosed.detection,
            samples=int(x.size),
            sum_xx=float(np.dot(x, x)),
            sum_xy=float(np.dot(x, y)),
            sum_yy=float(np.dot(y, y)),
        )

    def __add__(self, other: Moments) -> Moments:
        if other.detection != self.detection:
            raise ConfigError("moments of homodyne and heterodyne data do not add up")
        return Moments(
            detection=self.detection,
            samples=self.samples + other.samples,
            sum_xx=self.sum_xx + other.sum_xx,
            sum_xy=self.sum_xy + other.sum_xy,
            sum_yy=self.sum_yy + other.sum_yy,
        )


def estimate_channel(
    disclosed: Quadratures | Moments,
    *,
    modulation_variance_snu: float,
    efficiency: float,
    electronic_noise_snu: float,
    epsilon_pe: float,
    detector: DetectorModel = "trusted",
) -> ChannelEstimate:
    """Estimate T, ξ and the SNR from ``disclosed`` and bound them at confidence ε_PE.

    Args:
        disclosed: the disclosed symbols (Alice's and Bob's values), or their summed
            :class:`Moments`.
        modulation_variance_snu: V_A, which Alice knows (it sizes the interval on t, eq. 12).
        efficiency, electronic_noise_snu: Bob's calibrated η and v_el.
        epsilon_pe: failure probability of the bounds, in (0, 1).
        detector: ``"trusted"`` or ``"untrusted"`` (then T and ξ are those of the equivalent channel
            ending at an ideal detector, as in :func:`sdqkd.physics.equivalent_untrusted_channel`).

    Raises:
        ConfigError: bad calibration, ε_PE outside (0, 1), fewer than 2 samples, or an unknown
            detector model.
    """
    if detector not in ("trusted", "untrusted"):
        raise ConfigError(f"detector must be 'trusted' or 'untrusted', not {detector!r}")
    for name, value, low, high, low_open in (
        ("modulation_variance_snu", modulation_variance_snu, 0.0, math.inf, True),
        ("efficiency", efficiency, 0.0, 1.0, True),
        ("electronic_noise_snu", electronic_noise_snu, 0.0, math.inf, False),
    ):
        number = isinstance(value, int | float) and math.isfinite(value)
        if not (number and (value > low if low_open else value >= low) and value <= high):
            raise ConfigError(f"{name} out of range: {value!r}")
    z = _confidence_factor(epsilon_pe)
    moments = disclosed if isinstance(disclosed, Moments) else Moments.of(disclosed)
    m = moments.samples
    if m < 2:
        raise ConfigError("parameter estimation needs at least 2 disclosed samples")

    xx = moments.sum_xx / m
    xy = moments.sum_xy / m
    yy = moments.sum_yy / m
    if xx <= 0:
        raise ConfigError("the disclosed symbols carry no modulation (⟨x²⟩ = 0)")
    t_hat = xy / xx
    sigma2 = max(yy - t_hat * xy, 0.0)  # ⟨y²⟩ − t̂²⟨x²⟩, never negative from rounding

    eta, v_el = (1.0, 0.0) if detector == "untrusted" else (float(efficiency), float(electronic_noise_snu))
    share = 1.0 if moments.detection == "homodyne" else 0.5
    dt = z * math.sqrt(sigma2 / (m * modulation_variance_snu))
    dsigma2 = z * sigma2 * math.sqrt(2.0) / math.sqrt(m)
    t_min, t_max = t_hat - dt, t_hat + dt
    sigma2_min, sigma2_max = max(sigma2 - dsigma2, 0.0), sigma2 + dsigma2

    def channel(t: float) -> float:
        return t * t / (share * eta)

    def excess(t: float, s2: float) -> float:
        return (s2 - 1.0 - v_el) / (t * t) if t > 0 else math.inf

    return ChannelEstimate(
        detection=moments.detection,
        detector=detector,
        samples=m,
        modulation_variance_snu=float(modulation_variance_snu),
        efficiency=eta,
        electronic_noise_snu=v_el,
        epsilon_pe=float(epsilon_pe),
        z=z,
        gain=t_hat,
        noise_variance=sigma2,
        transmittance=channel(t_hat),
        excess_noise_snu=excess(t_hat, sigma2),
        snr=t_hat * t_hat * modulation_variance_snu / sigma2 if sigma2 > 0 else math.inf,
        transmittance_min=channel(t_min) if t_min > 0 else 0.0,
        transmittance_max=channel(t_max),
        excess_noise_min_snu=excess(t_max, sigma2_min),
        excess_noise_max_snu=excess(t_min, sigma2_max),
    )


def secret_fraction(
    estimate: ChannelEstimate,
    *,
    reconciliation_efficiency: float,
    key_fraction: float,
    penalty_bits: float = 0.0,
) -> float:
    """Secret bits per exchanged symbol the estimate allows, ``max(0, (n/N)·[β·I_AB − χ_BE − Δ])``.

    I_AB is taken at the estimated channel, χ_BE at its worst case ``(T_min, ξ_max)`` (Leverrier
    2010, eq. 8). Returns 0 — abort — when the worst case proves no channel or the bracket is not
    positive.

    Args:
        estimate: the channel estimate of the block.
        reconciliation_efficiency: β in (0, 1].
        key_fraction: n/N, the share of the block's symbols that make the key, in (0, 1].
        penalty_bits: Δ(n), bits per key symbol (:func:`sdqkd.physics.privacy_amplification_penalty`).

    Raises:
        ConfigError: β, n/N or Δ out of range.
    """
    beta = reconciliation_efficiency
    if not (isinstance(beta, int | float) and 0 < beta <= 1):
        raise ConfigError(f"reconciliation efficiency β must be in (0, 1], not {beta!r}")
    if not (isinstance(key_fraction, int | float) and 0 < key_fraction <= 1):
        raise ConfigError(f"key fraction n/N must be in (0, 1], not {key_fraction!r}")
    if not (isinstance(penalty_bits, int | float) and math.isfinite(penalty_bits) and penalty_bits >= 0):
        raise ConfigError(f"penalty Δ(n) must be finite and >= 0, not {penalty_bits!r}")
    if not estimate.proven or not math.isfinite(estimate.excess_noise_max_snu):
        return 0.0
    v_a, eta, v_el = estimate.modulation_variance_snu, estimate.efficiency, estimate.electronic_noise_snu
    # The data fix T̂ and ξ̂ only within [0, 1] and [0, ∞): clip what sampling noise pushed outside.
    t_hat = min(max(estimate.transmittance, 0.0), 1.0)
    xi_hat = max(estimate.excess_noise_snu, 0.0)
    t_min = min(estimate.transmittance_min, 1.0)
    xi_max = max(estimate.excess_noise_max_snu, 0.0)
    i_ab = float(mutual_information(v_a, t_hat, xi_hat, eta, v_el, estimate.detection))
    # As in sdqkd.physics.evaluate_key_rate: with an untrusted detector the estimate is already the
    # equivalent channel ending at an ideal detector, which the "trusted" formula then evaluates.
    chi_be = float(holevo_bound(v_a, t_min, xi_max, eta, v_el, estimate.detection, "trusted"))
    bits = key_fraction * (beta * i_ab - chi_be - penalty_bits)
    return bits if bits > 0 else 0.0
