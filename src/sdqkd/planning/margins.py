"""Co-propagation margins: how much classical power a QKD link's fibre can carry.

The classical channels on the fibre keep their relative powers and are scaled together by a factor
s; Raman noise is linear in launch power, so the link's excess noise is ``ξ_dev + s·ξ_R``. The
margin is the total classical launch power at which the key rate falls to a target, and the one at
which it reaches zero (no key). Both are found by root finding on s (Brent's method).

A fibre without classical channels is given a reference load — one 0 dBm channel on DWDM ch 35
travelling with the quantum signal — so that its margin is still meaningful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from sdqkd.planning.budget import ClassicalLoad, LinkBudget, key_rate_for, load_noise
from sdqkd.units import dbm_to_w, dwdm_channel_to_frequency_thz, w_to_dbm

__all__ = ["REFERENCE_CHANNEL", "Margins", "co_propagation_margins", "margin_load", "rate_at_scale"]

#: DWDM channel of the reference load used on fibres that carry no classical channel.
REFERENCE_CHANNEL = 35
_REFERENCE_POWER_DBM = 0.0
_MAX_SCALE = 1e12  # far beyond any fibre's power handling (+120 dB): "tolerates any power"


@dataclass(frozen=True)
class Margins:
    """Largest total classical launch power a link tolerates.

    Attributes:
        max_power_for_target_dbm: total launch power at which the key rate falls to the target;
            None if the link misses the target even without classical light; +inf if never.
        max_power_for_key_dbm: total launch power at which the key rate reaches zero; None if the
            link makes no key even without classical light; +inf if never.
        reference_load: True when the fibre carries no classical channel and the reference load
            was used.
    """

    max_power_for_target_dbm: float | None
    max_power_for_key_dbm: float | None
    reference_load: bool


def margin_load(budget: LinkBudget) -> tuple[ClassicalLoad, bool]:
    """The load margins scale: the fibre's channels, or the reference load (flag True) if none."""
    if budget.load.count:
        return budget.load, False
    reference = ClassicalLoad(
        channel_ids=("reference",),
        frequency_thz=np.array([dwdm_channel_to_frequency_thz(REFERENCE_CHANNEL)]),
        launch_power_w=np.array([dbm_to_w(_REFERENCE_POWER_DBM)]),
        forward=np.array([1.0]),
    )
    return reference, True


def rate_at_scale(
    budget: LinkBudget, scale: float | np.ndarray, load: ClassicalLoad | None = None
) -> np.ndarray:
    """Secret key rate (bit/s) with the link's classical powers multiplied by ``scale``."""
    load = load or margin_load(budget)[0]
    xi = load_noise(
        load, budget.fibre, budget.profile, budget.quantum_channel, budget.transmittance, scale
    ).total_snu
    return np.asarray(key_rate_for(budget.profile, budget.transmittance, xi).secret_key_rate_bps)


def _excess_noise(budget: LinkBudget, load: ClassicalLoad, scale: float | np.ndarray) -> np.ndarray:
    """Total excess noise (SNU) of the link with its classical powers multiplied by ``scale``."""
    b = budget
    return load_noise(load, b.fibre, b.profile, b.quantum_channel, b.transmittance, scale).total_snu


def _key_at_scale(budget: LinkBudget, load: ClassicalLoad, scale: float) -> float:
    xi = load_noise(
        load, budget.fibre, budget.profile, budget.quantum_channel, budget.transmittance, scale
    ).total_snu
    key = float(key_rate_for(budget.profile, budget.transmittance, xi).key_bits_per_symbol)
    return max(key, -1e3)  # -inf (nothing proven) → a finite negative for the root finder


def _threshold_dbm(budget: LinkBudget, load: ClassicalLoad, key_threshold: float) -> float | None:
    """Total launch power (dBm) at which key bits/symbol fall to ``key_threshold``."""

    def excess(scale: float) -> float:
        return _key_at_scale(budget, load, scale) - key_threshold

    if excess(0.0) <= 0:
        return None
    if excess(_MAX_SCALE) > 0:
        return math.inf
    high = 1.0
    while excess(high) > 0:
        high *= 10.0
    low = high / 10.0 if high > 1.0 else 0.0
    scale = brentq(excess, low, high, xtol=1e-12, rtol=1e-10)
    return float(w_to_dbm(scale * float(np.sum(load.launch_power_w))))


def co_propagation_margins(budget: LinkBudget, target_rate_bps: float) -> Margins:
    """The link's margins for a target secret key rate (bit/s).

    Args:
        budget: the link budget at its current load.
        target_rate_bps: the key rate the link must keep, bit/s (≥ 0).
    """
    load, reference = margin_load(budget)
    profile = budget.profile
    # rate = f_sym·(1 − FER)·K  ⇒  the target is a threshold on K (bits/symbol).
    key_for_target = target_rate_bps / (profile.symbol_rate_bd * (1.0 - profile.frame_error_rate))
    return Margins(
        max_power_for_target_dbm=_threshold_dbm(budget, load, key_for_target),
        max_power_for_key_dbm=_threshold_dbm(budget, load, 0.0),
        reference_load=reference,
    )
