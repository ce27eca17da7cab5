"""Fixtures shared by the whole test suite: a seeded RNG, and the session's one certificate authority
(its key made at run time, never committed)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import numpy as np
import pytest

from sdqkd.pki import CertificateAuthority

# The files of a CA directory (see CertificateAuthority): what a copy of the CA needs.
_CA_FILES = ("ca.crt", "ca.key")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: random test data are the same on every run."""
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """The test session's certificate authority: every service and client of the suite trusts it.
    Folders issue their certificates through :func:`ca_issuing_into`, never into this directory."""
    return CertificateAuthority.create(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture(scope="session")
def ca_issuing_into(
    test_ca: CertificateAuthority, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], CertificateAuthority]:
    """``ca_issuing_into("kms")``: the session's CA (same certificate, same key) loaded from a fresh
    directory of its own (``kms-ca0``, ...), where the certificates issued through it are written.

    ``issue`` names its files ``ROLE-NAME.crt``/``.key`` in the CA's directory, so two folders
    issuing the same identity (``agent:norte``) from one directory would overwrite each other's key
    under a running server; in a directory per caller each keeps its own files.
    """

    def load_in(label: str) -> CertificateAuthority:
        directory = tmp_path_factory.mktemp(f"{label}-ca")
        for name in _CA_FILES:
            shutil.copy2(test_ca.directory / name, directory / name)  # keeps the key's 0600
        return CertificateAuthority.load(directory)

    return load_in
