"""Fixtures for the service manager tests: the session's CA with a certificate for each kind of
caller, and a manager of node ``norte`` served with mutual TLS on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from nfv_support import NODE, Manager, Pki, start_manager

from sdqkd.pki import CertificateAuthority, Role


@pytest.fixture(scope="session")
def pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Pki:
    ca = ca_issuing_into("nfv")
    return Pki(
        ca=ca,
        server=ca.issue(Role.AGENT, NODE),
        controller=ca.issue(Role.CONTROLLER, "controller"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        own_agent=ca.issue(Role.AGENT, NODE),
        other_agent=ca.issue(Role.AGENT, "quintin"),
    )


@pytest.fixture
def manager(pki: Pki, tmp_path: Path) -> Iterator[Manager]:
    running = start_manager(pki, tmp_path)
    try:
        yield running
    finally:
        running.server.stop()


@pytest.fixture
def controller(manager: Manager) -> Iterator[httpx.Client]:
    with manager.client(manager.pki.controller) as client:
        yield client
