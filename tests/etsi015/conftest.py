"""Fixtures for the conformance of sdqkd's own ETSI GS QKD 015 YANG modules: the packaged model, and the
official one from ``../shared/specs/etsi-gs-qkd-015`` beside the checkout (skipped without it, except in
CI, where its absence fails the tests that need it)."""

from __future__ import annotations

import pytest
from conformance_support import OFFICIAL_DIR, PACKAGED_DIR, load_model, require_official_modules
from yangson import DataModel


@pytest.fixture(scope="session")
def packaged_model() -> DataModel:
    """The yangson model of sdqkd's own modules (package data under ``sdqkd/etsi015/yang``)."""
    return load_model(PACKAGED_DIR)


@pytest.fixture(scope="session")
def official_model() -> DataModel:
    """The yangson model of the official modules, read in place."""
    require_official_modules()
    return load_model(OFFICIAL_DIR)
