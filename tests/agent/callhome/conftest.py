"""Fixtures for the agent's call-home over real mutual TLS: the session's CA, a fake controller served on
loopback for each test, and for the tests that run an agent the ETSI GS QKD 015 data model shipped with
sdqkd and an emulated Madrid."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from callhome_support import SPECS, CallHomePki, FakeController

from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi015 import load_data_model
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server import BackgroundServer
from sdqkd.topology.loader import load_topology


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> CallHomePki:
    ca = ca_issuing_into("callhome")
    return CallHomePki(
        ca=ca,
        controller=ca.issue(Role.CONTROLLER, "controller"),
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        norte=ca.issue(Role.AGENT, "norte"),
        quintin=ca.issue(Role.AGENT, "quintin"),
    )


@pytest.fixture
def fake() -> FakeController:
    return FakeController()


@pytest.fixture
def controller_url(fake: FakeController, pki: CallHomePki) -> Iterator[str]:
    """The fake controller, served with the controller's certificate."""
    with BackgroundServer(fake.app(), pki.tls(pki.controller)) as server:
        yield server.url


@pytest.fixture(scope="module")
def model() -> Any:
    """The yangson model of the ETSI GS QKD 015 modules shipped with sdqkd."""
    return load_data_model(SPECS)


@pytest.fixture(scope="module")
def emulator_url(pki: CallHomePki) -> Iterator[str]:
    """An emulated Madrid (nothing configured), served with the emulator's certificate."""
    emulator = Emulator(load_topology("madrid"), time_scale=50.0)
    with BackgroundServer(create_emulator_app(emulator), pki.tls(pki.emulator)) as server:
        yield server.url
