"""Fixtures for the relay tests: certificates from the session's CA, and a chain of five KMEs shared
by the tests of a module (fresh key requests, not fresh servers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from relay_support import Chain, RelayPki, running_chain

from sdqkd.pki import CertificateAuthority


@pytest.fixture(scope="session")
def relay_pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> RelayPki:
    return RelayPki.issued_by(ca_issuing_into("relay"))


@pytest.fixture(scope="module")
def chain(relay_pki: RelayPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """n1 … n5, virtual links from n1 to every other node, every pool full."""
    with running_chain(relay_pki, tmp_path_factory.mktemp("relay-chain"), 5) as running:
        running.wait_for_ready_blocks()
        yield running
