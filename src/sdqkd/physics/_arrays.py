"""Small array helpers shared by the physics modules (not part of the public API)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sdqkd.errors import PhysicsError

Array: TypeAlias = NDArray[np.float64]


def as_array(x: ArrayLike) -> Array:
    """``x`` as a float64 array (0-d for a scalar)."""
    return np.asarray(x, dtype=np.float64)


def require(condition: NDArray[np.bool_] | bool, message: str) -> None:
    """Raise :class:`PhysicsError` unless ``condition`` holds everywhere (NaN fails it)."""
    if not np.all(condition):
        raise PhysicsError(message)
