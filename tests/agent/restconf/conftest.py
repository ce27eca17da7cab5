"""Fixtures for the RESTCONF server tests: the ETSI GS QKD 015 data model shipped with
sdqkd, a datastore holding a realistic node, the session's CA with a certificate for each kind of
caller, in-process clients that present one, and the app served with mutual TLS on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from restconf_support import BASE_URL, YANG_DIR, CallAs, Pki, node_tree

from asgi_support import clients_presenting
from sdqkd.agent.datastore import Datastore
from sdqkd.agent.restconf import create_restconf_app, restconf_table
from sdqkd.etsi015 import load_data_model
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.restconf.notifications import NotificationStream
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.server.authz import allow

WRITERS = frozenset({Role.OPERATOR, Role.CONTROLLER})
READERS = frozenset({Role.AGENT})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model() -> Any:
    """The yangson model of the ETSI GS QKD 015 modules shipped with sdqkd."""
    return load_data_model(YANG_DIR)


@pytest.fixture
def datastore(model: Any) -> Datastore:
    """A fresh datastore: a node with two CV-QKD interfaces, no links, no applications."""
    return Datastore(model, node_tree())


@pytest.fixture
def stream(model: Any) -> NotificationStream:
    return NotificationStream(model=model)


@pytest.fixture
def app(datastore: Datastore, stream: NotificationStream) -> FastAPI:
    table = restconf_table("test", readers=allow(*READERS, *WRITERS), writers=allow(*WRITERS))
    return create_restconf_app(datastore, table=table, stream=stream)


@pytest.fixture(scope="session")
def pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Pki:
    ca = ca_issuing_into("restconf")
    return Pki(
        ca=ca,
        server=ca.issue(Role.AGENT, "norte"),
        controller=ca.issue(Role.CONTROLLER, "controller"),
        operator=ca.issue(Role.OPERATOR, "operator"),
        reader=ca.issue(Role.AGENT, "quintin"),
        sae=ca.issue(Role.SAE, "alice"),
    )


@pytest.fixture
async def call_as(app: FastAPI) -> AsyncIterator[CallAs]:
    """``call_as(certificate)``: an in-process client presenting ``certificate`` (None: none)."""
    async with clients_presenting(app, BASE_URL) as make:
        yield make


@pytest.fixture
def controller(call_as: CallAs, pki: Pki) -> httpx.AsyncClient:
    """The SDN controller, in process."""
    return call_as(pki.controller)


@pytest.fixture
def server(app: FastAPI, pki: Pki) -> Iterator[BackgroundServer]:
    """The app served by the agent ``norte`` with mutual TLS on a loopback port."""
    tls = TlsFiles(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert_path)
    with BackgroundServer(app, tls) as running:
        yield running
