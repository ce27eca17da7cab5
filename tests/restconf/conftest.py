"""Fixtures for the RESTCONF machinery tests: asyncio, and the official ETSI GS QKD 015 data model for
what walks a schema (the tests that need it skip without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sdqkd.etsi015 import load_data_model
from sdqkd.restconf.notifications import NotificationStream

# The official modules, beside the repository (never copied into it).
YANG_DIR = Path(__file__).parents[2] / ".." / "shared" / "specs" / "etsi-gs-qkd-015"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model() -> Any:
    """The yangson model of the official modules in ``../shared/specs/etsi-gs-qkd-015``."""
    if not (YANG_DIR / "yang-library.json").is_file():
        pytest.skip(f"the ETSI GS QKD 015 YANG modules are not at {YANG_DIR.resolve()}")
    return load_data_model(YANG_DIR)


@pytest.fixture
def stream(model: Any) -> NotificationStream:
    return NotificationStream(model=model)
