"""Fixtures for the PKI tests: one CA per test session (keys generated at run time, never committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdqkd.pki import CertificateAuthority


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """A CA shared by the tests that only issue certificates from it."""
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def fresh_ca_dir(tmp_path: Path) -> Path:
    """A directory holding a CA of its own, for tests that read or damage its files."""
    CertificateAuthority.create(tmp_path)
    return tmp_path
