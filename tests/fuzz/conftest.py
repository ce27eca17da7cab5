"""Fixtures for the fuzz tests: the session's CA with a certificate for every kind of caller. Each
service is built in process the way its own tests build it (see the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role


@dataclass(frozen=True)
class FuzzPki:
    """A certificate for every role the services tell apart."""

    ca: CertificateAuthority
    operator: IssuedCertificate
    controller: IssuedCertificate
    emulator: IssuedCertificate
    agent: IssuedCertificate  # agent:n1 (the KME n1's node; a node of the chain topologies)
    kme: IssuedCertificate  # kme:n1
    peer_kme: IssuedCertificate  # kme:n2, n1's peer on the link n1-n2
    sae: IssuedCertificate  # sae:n1-app, attached to n1


@pytest.fixture(scope="session")
def fuzz_pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> FuzzPki:
    ca = ca_issuing_into("fuzz")
    return FuzzPki(
        ca=ca,
        operator=ca.issue(Role.OPERATOR, "operator"),
        controller=ca.issue(Role.CONTROLLER, "controller"),
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        agent=ca.issue(Role.AGENT, "n1"),
        kme=ca.issue(Role.KME, "n1"),
        peer_kme=ca.issue(Role.KME, "n2"),
        sae=ca.issue(Role.SAE, "n1-app"),
    )
