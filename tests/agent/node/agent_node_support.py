"""Test support for the node agent over real mutual TLS (imported by the conftest and the tests): the
module's certificates, the running network (an emulated Madrid and an agent per node), RESTCONF clients,
the links the controller writes, server-sent events, and validation against the official YANG modules."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from yangson.enumerations import ContentType

from polling import wait_for as wait_for
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.agent.kme import KmeReader
from sdqkd.agent.node import NodeAgent
from sdqkd.agent.service import AgentApp
from sdqkd.controller.links import link_entries as qkd_link_entries
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi015 import packaged_yang_dir, qkdi_id
from sdqkd.pki import CertificateAuthority, IssuedCertificate, client_ssl_context
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.models import Topology

SPECS = packaged_yang_dir()
"""The ETSI GS QKD 015 YANG modules shipped with sdqkd (tests/etsi015 checks them against the official)."""

TIME_SCALE = 50.0
NODES = ("concepcion", "norte", "quintin")
MEDIA = "application/yang-data+json"
READ = {"Accept": MEDIA}
WRITE = {"Content-Type": MEDIA, "Accept": MEDIA}
NODE = "etsi-qkd-sdn-node:qkd_node"
TYPES = "etsi-qkd-node-types:"
DATA = "/restconf/data"
STREAM = "/restconf/streams/etsi-qkd-sdn-node/json"

_T = TypeVar("_T")


@dataclass(frozen=True)
class NodePki:
    """A CA and a certificate for every caller of the test network."""

    ca: CertificateAuthority
    emulator: IssuedCertificate
    agents: dict[str, IssuedCertificate]  # agent:NODE, each agent's server and emulator-client certificate
    controller: IssuedCertificate
    operator: IssuedCertificate
    kme: IssuedCertificate  # kme:norte
    sae: IssuedCertificate  # sae:x


@dataclass(frozen=True)
class Network:
    """The emulator and the agents, each served on loopback with mutual TLS."""

    topology: Topology
    emulator_url: str
    agent_urls: dict[str, str]
    agents: dict[str, NodeAgent]


def serve_network(
    stack: ExitStack,
    topology: Topology,
    model: Any,
    pki: NodePki,
    agent_certificates: Mapping[str, IssuedCertificate],
    kme_urls: Mapping[str, str] | None = None,
) -> Network:
    """A fresh emulator of ``topology`` (nothing configured) and an agent for each node of
    ``agent_certificates`` (presenting its certificate to the emulator, its clients and, for the nodes
    of ``kme_urls``, the node's KME it reads), each served on loopback until ``stack`` closes."""
    tls = TlsFiles(pki.emulator.cert, pki.emulator.key, pki.ca.cert_path)
    emulator = Emulator(topology, time_scale=TIME_SCALE)
    emulator_server = stack.enter_context(BackgroundServer(create_emulator_app(emulator), tls))
    agents: dict[str, NodeAgent] = {}
    urls: dict[str, str] = {}
    for node, issued in agent_certificates.items():
        driver = EmulatorDriver(emulator_server.url, issued.cert, issued.key, pki.ca.cert_path, node)
        kme_url = (kme_urls or {}).get(node)
        kme = None if kme_url is None else KmeReader(kme_url, issued.cert, issued.key, pki.ca.cert_path)
        agents[node] = NodeAgent(node, topology.node(node).name, driver, model, kme)
        agent_tls = TlsFiles(issued.cert, issued.key, pki.ca.cert_path)
        urls[node] = stack.enter_context(BackgroundServer(AgentApp(agents[node]), agent_tls)).url
    return Network(topology, emulator_server.url, urls, agents)


def client(url: str, issued: IssuedCertificate, pki: NodePki, read_s: float = 5.0) -> httpx.Client:
    """An HTTPS client of ``url`` presenting ``issued`` (verifying the server against the module's CA)."""
    context = client_ssl_context(issued.cert, issued.key, pki.ca.cert_path)
    return httpx.Client(base_url=url, verify=context, timeout=httpx.Timeout(5.0, read=read_s))


def link_path(link_id: str) -> str:
    return f"{DATA}/{NODE}/qkd_links/qkd_link={link_id}"


def app_path(app_id: str) -> str:
    return f"{DATA}/{NODE}/qkd_applications/qkd_app={app_id}"


def app_body(entry: dict[str, Any]) -> dict[str, Any]:
    """A PUT body for one ``qkd_app`` entry (an array of one, RFC 7951 §5.4)."""
    return {"etsi-qkd-sdn-node:qkd_app": [entry]}


def link_body(entry: dict[str, Any]) -> dict[str, Any]:
    """A PUT body for one ``qkd_link`` entry (an array of one, RFC 7951 §5.4)."""
    return {"etsi-qkd-sdn-node:qkd_link": [entry]}


def link_ids(topology: Topology) -> dict[str, str]:
    """The ``qkdl_id`` of each topology link (by the topology's link id), from the entries the launcher
    writes."""
    ids: dict[str, str] = {}
    for entries in qkd_link_entries(topology).values():
        for link_id, entry in entries:
            ends = {entry["qkdl_local"]["qkdi_id"], entry["qkdl_remote"]["qkdi_id"]}
            for link in topology.qkd_links:
                if ends == {qkdi_id(link.transmitter), qkdi_id(link.receiver)}:
                    ids[link.id] = link_id
    return ids


def provision(network: Network, pki: NodePki) -> dict[str, list[int]]:
    """PUT every link entry of :func:`qkd_link_entries` into its agent as the controller does (with
    the controller's certificate); the status codes per node."""
    codes: dict[str, list[int]] = {}
    for node, entries in qkd_link_entries(network.topology).items():
        with client(network.agent_urls[node], pki.controller, pki) as controller:
            codes[node] = [
                controller.put(link_path(link_id), json=link_body(entry), headers=WRITE).status_code
                for link_id, entry in entries
            ]
    return codes


def pairs(links: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The emulator's ``/api/v1/links`` by (transmitter, receiver)."""
    return {(link["transmitter"], link["receiver"]): link for link in links}


def notifications(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The ``ietf-restconf:notification`` of each server-sent event (WHATWG HTML §9.2.6, RFC 8040
    §6.4); comment lines (``: keep-alive``) skipped."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                envelope = json.loads("\n".join(data))
                assert list(envelope) == ["ietf-restconf:notification"]
                yield envelope["ietf-restconf:notification"]
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def receive(
    received: Iterator[dict[str, Any]],
    name: str,
    accept: Callable[[dict[str, Any]], bool],
    since: float,
    deadline_s: float = 2.0,
) -> dict[str, Any]:
    """The first notification ``name`` whose content ``accept`` approves, arriving within ``deadline_s``
    after ``since`` (others are skipped: link performance updates come every second)."""
    for notification in received:
        if name in notification and accept(notification[name]):
            elapsed = time.monotonic() - since
            assert elapsed < deadline_s, f"{name} after {elapsed:.2f} s"
            return dict(notification)
        assert time.monotonic() - since < deadline_s, f"no {name} within {deadline_s} s"
    raise AssertionError(f"the stream ended before {name}")


def validate_tree(model: Any, tree: dict[str, Any]) -> None:
    """Raise (a yangson error) unless ``tree`` is a valid instance of the data model, state included."""
    model.from_raw(tree).validate(ctype=ContentType.all)


def validate_notification(model: Any, name: str, content: dict[str, Any]) -> None:
    """Raise (a yangson error) unless ``content`` is a valid instance of notification ``name``."""
    model.from_raw(content, subschema=name).validate(ctype=ContentType.all)
