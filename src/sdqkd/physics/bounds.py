"""Fundamental limits of key generation over a pure-loss channel, bits per channel use."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics._arrays import Array, as_array, require

__all__ = ["plob_bound", "tgw_bound"]


def plob_bound(transmittance: ArrayLike) -> Array:
    """Repeaterless PLOB bound ``−log2(1 − T)`` (Pirandola, Laurenza, Ottaviani, Banchi,
    Nat. Commun. 8, 15043 (2017), eq. 19). Infinite at T = 1.

    Args:
        transmittance: channel transmittance T in [0, 1].
    """
    t = as_array(transmittance)
    require((t >= 0) & (t <= 1), "transmittance must be in [0, 1]")
    with np.errstate(divide="ignore"):
        return -np.log2(1.0 - t)


def tgw_bound(transmittance: ArrayLike) -> Array:
    """Takeoka–Guha–Wilde bound ``log2((1 + T)/(1 − T))`` (Nat. Commun. 5, 5235 (2014)).

    Args:
        transmittance: channel transmittance T in [0, 1].
    """
    t = as_array(transmittance)
    require((t >= 0) & (t <= 1), "transmittance must be in [0, 1]")
    with np.errstate(divide="ignore"):
        return np.log2((1.0 + t) / (1.0 - t))
