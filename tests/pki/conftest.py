"""Fixtures for the PKI tests: the session's CA (keys generated at run time, never committed), and a
CA of its own for each test that reads or damages a CA's files; real HTTPS servers on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from sdqkd.pki import CertificateAuthority
from tls_support import LoopbackTlsServer, serving


@pytest.fixture(scope="session")
def ca(ca_issuing_into: Callable[[str], CertificateAuthority]) -> CertificateAuthority:
    """The session's CA, for the tests that only issue certificates from it."""
    return ca_issuing_into("pki")


@pytest.fixture
def fresh_ca_dir(tmp_path: Path) -> Path:
    """A directory holding a CA of its own, for tests that read or damage its files."""
    CertificateAuthority.create(tmp_path)
    return tmp_path


@pytest.fixture
def tls_server() -> Iterator[Callable[[Callable[[], ssl.SSLContext]], LoopbackTlsServer]]:
    """Start loopback HTTPS servers (stopped at the end of the test)."""
    with ExitStack() as stack:
        yield lambda contexts: stack.enter_context(serving(contexts))
