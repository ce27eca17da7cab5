"""Fixtures for the KME tests: the session's CA with a certificate for every caller, and a two-node
network (emulator, KMEs of n1 and n2 over mutual TLS on loopback) shared by the tests of a module,
which use fresh key requests rather than fresh servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from kms_support import POOL_TARGET_BLOCKS, KmsPki, Network, running_network

from sdqkd.pki import CertificateAuthority, Role


@pytest.fixture(scope="session")
def kms_pki(
    ca_issuing_into: Callable[[str], CertificateAuthority], tmp_path_factory: pytest.TempPathFactory
) -> KmsPki:
    ca = ca_issuing_into("kms")
    # deliberately a second CA, not the session's: the tests prove its certificates are refused
    foreign = CertificateAuthority.create(tmp_path_factory.mktemp("kms-foreign-ca"), name="foreign CA")
    return KmsPki(
        ca=ca,
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        kme_n1=ca.issue(Role.KME, "n1"),
        kme_n2=ca.issue(Role.KME, "n2"),
        kme_n3=ca.issue(Role.KME, "n3"),
        n1_app=ca.issue(Role.SAE, "n1-app"),
        n2_app=ca.issue(Role.SAE, "n2-app"),
        n1_other=ca.issue(Role.SAE, "n1-other"),
        n2_other=ca.issue(Role.SAE, "n2-other"),
        stranger=ca.issue(Role.SAE, "stranger"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        foreign_ca=foreign,
        foreign_sae=foreign.issue(Role.SAE, "n1-app"),
    )


@pytest.fixture(scope="module")
def network(kms_pki: KmsPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """The module's network, both KMEs' pools full."""
    with running_network(kms_pki, tmp_path_factory.mktemp("kms-network")) as running:
        running.wait_for_ready_blocks(POOL_TARGET_BLOCKS)
        yield running
