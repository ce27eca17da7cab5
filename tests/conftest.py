"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: random test data are the same on every run."""
    return np.random.default_rng(20240611)
