"""Simulated GG02 quadratures: what Alice sends and what Bob measures, symbol by symbol.

Alice draws each coherent state's displacement ``(x_A, p_A)`` from two independent centred
Gaussians of variance V_A (shot-noise units, SNU: vacuum = 1). The state crosses a channel of
transmittance T and excess noise ξ (referred to the channel input) and reaches Bob's detector of
efficiency η and electronic noise v_el. Given Alice's value x, Bob's outcome is the linear
Gaussian channel of Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010), eq. 10,

    y = t·x + z,   z ~ N(0, σ²),

with (Laudenbach et al., Adv. Quantum Technol. 1, 1800011 (2018), eqs. 37 and 44)

* homodyne (one quadrature, chosen at random per symbol): ``t = √(ηT)``, ``σ² = 1 + v_el + ηTξ``;
* heterodyne (both quadratures, each behind a balanced 50:50 split that lets in one vacuum mode, the
  "3 dB" penalty): ``t = √(ηT/2)``, ``σ² = 1 + v_el + ηTξ/2`` per quadrature, in the SNU of each
  output arm.

σ² gathers the shot noise of the coherent state and of the vacuum let in by the losses (which sum to
1), the excess noise seen through the loss (ηTξ, halved by the split) and the detector's electronic
noise. All of them are Gaussian and independent of x, so one draw of total variance σ² has exactly
the distribution of their sum; the simulator draws it once (that is what makes it fast). These are
the same t and σ² that :mod:`sdqkd.physics.finite_size` and :func:`sdqkd.physics.snr` use, so
the simulated SNR is the one the key-rate formula expects.

Everything is vectorised numpy, driven by one seeded :class:`numpy.random.Generator`: the same seed
gives the same arrays, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

from sdqkd.errors import ConfigError

__all__ = ["Detection", "LinkParameters", "Quadratures", "Seed", "rng_from_seed", "simulate_quadratures"]

Detection = Literal["homodyne", "heterodyne"]
"""How Bob measures: one random quadrature (homodyne) or both after a 50:50 split (heterodyne)."""

Seed: TypeAlias = int | np.random.SeedSequence | np.random.Generator
"""What seeds a simulation: an integer, a seed sequence, or a generator to draw from (advanced)."""

_DETECTIONS: tuple[Detection, ...] = ("homodyne", "heterodyne")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class LinkParameters:
    """The physical link a simulation runs on (all variances in SNU).

    Attributes:
        modulation_variance_snu: Alice's modulation variance V_A per quadrature, > 0.
        transmittance: channel transmittance T in [0, 1].
        excess_noise_snu: excess noise ξ at the channel input, >= 0.
        efficiency: Bob's detector efficiency η in (0, 1].
        electronic_noise_snu: Bob's electronic noise v_el, >= 0.
    """

    modulation_variance_snu: float
    transmittance: float
    excess_noise_snu: float
    efficiency: float = 1.0
    electronic_noise_snu: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "modulation_variance_snu",
            "transmittance",
            "excess_noise_snu",
            "efficiency",
            "electronic_noise_snu",
        ):
            value = getattr(self, name)
            _check(
                isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
                f"{name} must be a finite number, not {value!r}",
            )
        _check(self.modulation_variance_snu > 0, "modulation variance V_A must be > 0 SNU")
        _check(0 <= self.transmittance <= 1, "transmittance T must be in [0, 1]")
        _check(self.excess_noise_snu >= 0, "excess noise ξ must be >= 0 SNU")
        _check(0 < self.efficiency <= 1, "detector efficiency η must be in (0, 1]")
        _check(self.electronic_noise_snu >= 0, "electronic noise v_el must be >= 0 SNU")

    def signal_share(self, detection: Detection) -> float:
        """The share of the signal one measured quadrature sees: 1 (homodyne) or ½ (heterodyne)."""
        return 1.0 if detection == "homodyne" else 0.5

    def gain(self, detection: Detection) -> float:
        """t of ``y = t·x + z``: ``√(ηT)`` (homodyne) or ``√(ηT/2)`` (heterodyne)."""
        return math.sqrt(self.signal_share(detection) * self.efficiency * self.transmittance)

    def noise_variance(self, detection: Detection) -> float:
        """σ² of ``y = t·x + z``: ``1 + v_el + ηTξ`` (homodyne) or ``1 + v_el + ηTξ/2`` (heterodyne)."""
        share = self.signal_share(detection)
        return (
            1.0
            + self.electronic_noise_snu
            + share * self.efficiency * self.transmittance * self.excess_noise_snu
        )

    def snr(self, detection: Detection) -> float:
        """Bob's signal-to-noise ratio per measured quadrature, ``t²·V_A/σ²``."""
        return self.gain(detection) ** 2 * self.modulation_variance_snu / self.noise_variance(detection)


@dataclass(frozen=True)
class Quadratures:
    """Alice's and Bob's data of one simulated block of N symbols.

    Attributes:
        detection: how Bob measured.
        alice: shape (N, 2), Alice's displacements ``(x_A, p_A)`` per symbol.
        bob: shape (N,) for homodyne (the quadrature of ``basis``), (N, 2) for heterodyne.
        basis: homodyne only (else None): shape (N,), 0 where Bob measured x, 1 where p.
    """

    detection: Detection
    alice: NDArray[np.float64]
    bob: NDArray[np.float64]
    basis: NDArray[np.int8] | None

    def __len__(self) -> int:
        return int(self.alice.shape[0])

    def correlated(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The paired samples ``(x, y)`` of the linear channel ``y = t·x + z``.

        Homodyne: Alice's quadrature in Bob's basis (she learns it by sifting) against Bob's outcome,
        N pairs. Heterodyne: both quadratures, 2N pairs (symbol by symbol, x then p).
        """
        if self.basis is None:
            return self.alice.reshape(-1), self.bob.reshape(-1)
        return np.where(self.basis == 1, self.alice[:, 1], self.alice[:, 0]), self.bob

    def subset(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Quadratures:
        """The symbols at ``index`` (an index array or boolean mask over the N symbols)."""
        return Quadratures(
            detection=self.detection,
            alice=self.alice[index],
            bob=self.bob[index],
            basis=None if self.basis is None else self.basis[index],
        )


def rng_from_seed(seed: Seed) -> np.random.Generator:
    """A :class:`numpy.random.Generator` for ``seed`` (a generator is used as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.random.SeedSequence):
        raise ConfigError(f"seed must be an integer, a SeedSequence or a Generator, not {seed!r}")
    if isinstance(seed, int) and seed < 0:
        raise ConfigError("seed must be >= 0")
    return np.random.default_rng(seed)


def simulate_quadratures(
    link: LinkParameters,
    symbols: int,
    detection: Detection,
    seed: Seed,
) -> Quadratures:
    """Simulate ``symbols`` GG02 channel uses on ``link``, measured by ``detection``.

    Args:
        link: the channel and detector.
        symbols: N, the number of coherent states Alice sends (>= 1).
        detection: ``"homodyne"`` or ``"heterodyne"``.
        seed: an integer (or seed sequence) for a fresh generator, or a generator to draw from.

    Raises:
        ConfigError: for a non-positive or non-integer ``symbols``, an unknown detection or a bad seed.
    """
    _check(
        isinstance(symbols, int | np.integer) and not isinstance(symbols, bool) and symbols >= 1,
        f"symbols must be a positive integer, not {symbols!r}",
    )
    _check(detection in _DETECTIONS, f"detection must be one of {_DETECTIONS}, not {detection!r}")
    rng = rng_from_seed(seed)
    n = int(symbols)
    t = link.gain(detection)
    sigma = math.sqrt(link.noise_variance(detection))

    alice = rng.standard_normal((n, 2))
    alice *= math.sqrt(link.modulation_variance_snu)
    if detection == "homodyne":
        basis = rng.integers(0, 2, size=n, dtype=np.int8)
        bob = rng.standard_normal(n)
        bob *= sigma
        bob += t * np.where(basis == 1, alice[:, 1], alice[:, 0])
        return Quadratures(detection=detection, alice=alice, bob=bob, basis=basis)
    bob = rng.standard_normal((n, 2))
    bob *= sigma
    bob += t * alice
    return Quadratures(detection=detection, alice=alice, bob=bob, basis=None)
