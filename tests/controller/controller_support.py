"""Test support for the controller (imported by the conftest and the tests): the certificates of a
test network, the running network (an emulated Madrid, an agent per node, the controller), API
clients, and polling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from polling import wait_for as wait_for
from sdqkd.controller.api import create_controller_app
from sdqkd.controller.core import Controller
from sdqkd.controller.optical.plant import PlantClient
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore
from sdqkd.etsi015 import packaged_yang_dir, qkdn_id
from sdqkd.pki import CertificateAuthority, IssuedCertificate, client_ssl_context
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.models import Topology

SPECS = packaged_yang_dir()
"""The ETSI GS QKD 015 YANG modules shipped with sdqkd (tests/etsi015 checks them against the official)."""

TIME_SCALE = 50.0
NODES = ("concepcion", "norte", "quintin")
POLL_S = 0.5  # the controller's poll interval in these tests

_T = TypeVar("_T")


@dataclass(frozen=True)
class Pki:
    ca: CertificateAuthority
    emulator: IssuedCertificate
    agents: dict[str, IssuedCertificate]
    controller: IssuedCertificate
    operator: IssuedCertificate
    kme: IssuedCertificate
    sae: IssuedCertificate


@dataclass
class Net:
    """The emulator and the agents on loopback; the controller's URL changes when it restarts."""

    topology: Topology
    emulator_url: str
    agent_urls: dict[str, str]
    database: Path
    controller_url: str = ""


@contextmanager
def api(url: str, holder: IssuedCertificate, pki: Pki, timeout_s: float = 10.0) -> Iterator[httpx.Client]:
    """An HTTPS client of ``url`` presenting ``holder``'s certificate."""
    verify = client_ssl_context(holder.cert, holder.key, pki.ca.cert_path)
    with httpx.Client(base_url=url, verify=verify, timeout=timeout_s) as client:
        yield client


def registration(net: Net, node: str) -> dict[str, Any]:
    return {"qkdn_id": str(qkdn_id(node)), "agent_url": net.agent_urls[node], "location": node.title()}


def call_home(net: Net, pki: Pki, node: str) -> httpx.Response:
    """Register ``node`` as its agent does (its own certificate)."""
    with api(net.controller_url, pki.agents[node], pki) as client:
        return client.put(f"/api/v1/nodes/{node}", json=registration(net, node))


def links_by_id(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/links")
    assert response.status_code == 200, response.text
    return {link["id"]: link for link in response.json()}


def active_alarms(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/alarms", params={"active": "true"})
    assert response.status_code == 200, response.text
    return list(response.json())


@contextmanager
def serve_controller(net: Net, pki: Pki, *, optical: bool = False) -> Iterator[Controller]:
    """A controller on ``net.database`` served on loopback (sets ``net.controller_url``); with
    ``optical``, managing the emulator's optical plant (at the network's time scale)."""
    store = ControllerStore(net.database)
    southbound = Southbound(pki.controller.cert, pki.controller.key, pki.ca.cert_path)
    plant = (
        PlantClient(net.emulator_url, pki.controller.cert, pki.controller.key, pki.ca.cert_path)
        if optical
        else None
    )
    controller = Controller(
        net.topology,
        store,
        southbound,
        poll_interval_s=POLL_S,
        plant=plant,
        world_time_scale=TIME_SCALE,
    )
    tls = TlsFiles(pki.controller.cert, pki.controller.key, pki.ca.cert_path)
    try:
        with BackgroundServer(create_controller_app(controller), tls) as server:
            net.controller_url = server.url
            yield controller
    finally:
        store.close()
